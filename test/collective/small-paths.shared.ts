import { expect } from 'vitest';
import type { RingPeer } from '../../src/membership/ring-peer.js';
import { CHAIN_ALLREDUCE_BYTES, SMALL_ALLREDUCE_BYTES, smallPath } from '../../src/collective/ring-allreduce.js';

/**
 * Runs small allreduces (the latency paths) on real peers and checks every peer against the exact
 * rank-order float32 sum ((x0 + x1) + x2) + …, computed here with Math.fround: both small paths
 * promise those bits, so the reference is exact, not a tolerance.
 */
export async function checkSmallPath(
  startRing: (n: number) => Promise<RingPeer[]>,
  stopRing: (peers: RingPeer[]) => Promise<void>,
  seededVector: (d: number, seed: number, scale?: number) => Float32Array,
  n: number,
): Promise<void> {
  const peers = await startRing(n);
  try {
    // The sizes that take a small path (a loopback ring: the chain is on).
    const small = (d: number) => smallPath(n, 4 * d, SMALL_ALLREDUCE_BYTES, CHAIN_ALLREDUCE_BYTES) !== null;
    const sizes = [1, 7, 64, 1024, 2048, Math.floor(SMALL_ALLREDUCE_BYTES / (n - 1)), CHAIN_ALLREDUCE_BYTES / 4 - 3].filter(small);
    expect(sizes.length).toBeGreaterThanOrEqual(5);
    for (const d of sizes) {
      for (const ringVectors of [false, true]) {
        const inputs = peers.map((_, r) => seededVector(d, 31 * d + r + 1, 1e3));
        const bufs = peers.map((p, r) => {
          const b = ringVectors ? p.allocVector(d) : new Float32Array(d);
          b.set(inputs[r]);
          return b;
        });
        await Promise.all(peers.map((p, r) => p.allreduce(bufs[r])));
        const want = new Float32Array(d);
        for (let i = 0; i < d; i++) {
          let acc = inputs[0][i];
          for (let r = 1; r < n; r++) acc = Math.fround(acc + inputs[r][i]);
          want[i] = acc;
        }
        for (let r = 0; r < n; r++) {
          const got = new Uint32Array(bufs[r].buffer, bufs[r].byteOffset, d);
          const exact = new Uint32Array(want.buffer);
          let bad = -1;
          for (let i = 0; i < d && bad < 0; i++) if (got[i] !== exact[i]) bad = i;
          expect(bad, `N=${n} d=${d} rank ${r}${ringVectors ? ' (ring vector)' : ''}: first differing index`).toBe(-1);
        }
      }
    }
    // f64 (the optimizers' scalars and digests) takes the same path.
    const xs = peers.map((_, r) => Float64Array.of(0.1 * (r + 1), -1e300, 3 ** r));
    await Promise.all(peers.map((p, r) => p.allreduce(xs[r])));
    for (let r = 1; r < n; r++) expect(Array.from(xs[r])).toEqual(Array.from(xs[0]));
  } finally {
    await stopRing(peers);
  }
}
