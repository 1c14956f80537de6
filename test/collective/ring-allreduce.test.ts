import { describe, it, expect } from 'vitest';
import { startRing, stopRing, seededVector, sameBytes } from '../helpers/ring.js';

const EPS32 = 2 ** -24;

/** Naive float64 sum of the inputs, and the float32 rounding bound a ring sum must meet. */
function checkAgainstNaiveSum(inputs: Float32Array[], result: Float32Array): void {
  const n = inputs.length;
  for (let i = 0; i < result.length; i++) {
    let ref = 0;
    let abs = 0;
    for (const v of inputs) {
      ref += v[i];
      abs += Math.abs(v[i]);
    }
    const bound = (n + 1) * EPS32 * abs + 1e-30;
    if (!(Math.abs(result[i] - ref) <= bound)) {
      throw new Error(`element ${i}: ring ${result[i]} vs naive ${ref} (bound ${bound})`);
    }
  }
}

describe('ring allreduce over real WebSocket peers (dense f32)', () => {
  for (let n = 1; n <= 8; n++) {
    it(`N=${n}: lengths 0, 1, <N, not divisible by N, multi-segment; bit-identical and equal to the naive sum`, async () => {
      // A small segment size forces many pipelined segments per chunk.
      const peers = await startRing(n, { segmentBytes: 4096 });
      try {
        const lengths = [0, 1, Math.max(0, n - 1), 3 * n + 1, 10_007, 65_537];
        for (const [t, d] of lengths.entries()) {
          const inputs = peers.map((_, r) => seededVector(d, 1000 * t + r + 1, 10));
          const bufs = inputs.map((v) => v.slice());
          await Promise.all(peers.map((p, r) => p.allreduce(bufs[r])));
          for (let r = 1; r < n; r++) expect(sameBytes(bufs[r], bufs[0]), `rank ${r} vs rank 0 at d=${d}`).toBe(true);
          checkAgainstNaiveSum(inputs, bufs[0]);
        }
      } finally {
        await stopRing(peers);
      }
    });
  }

  it('16 Mi floats on 4 peers', async () => {
    const n = 4;
    const d = 16 * 1024 * 1024 + 3;
    const peers = await startRing(n, { segmentBytes: 1 << 20 });
    try {
      const inputs = peers.map((_, r) => seededVector(d, 77 + r));
      const bufs = inputs.map((v) => v.slice());
      await Promise.all(peers.map((p, r) => p.allreduce(bufs[r])));
      for (let r = 1; r < n; r++) expect(sameBytes(bufs[r], bufs[0])).toBe(true);
      checkAgainstNaiveSum(inputs, bufs[0]);
      // Bandwidth-optimal: each peer sends 2(N-1)/N of the vector, plus 32-byte headers.
      const theory = (2 * (n - 1) * d * 4) / n;
      for (const p of peers) expect(p.bytesSent / theory).toBeLessThan(1.01);
    } finally {
      await stopRing(peers);
    }
  }, 120_000);

  it('float64 vectors are summed exactly (integer values)', async () => {
    const n = 5;
    const peers = await startRing(n);
    try {
      const d = 1001;
      const bufs = peers.map((_, r) => Float64Array.from({ length: d }, (_, i) => (i * 7919 + r * 104729) % 1_000_003));
      const ref = new Float64Array(d);
      for (const b of bufs) for (let i = 0; i < d; i++) ref[i] += b[i];
      await Promise.all(peers.map((p, r) => p.allreduce(bufs[r])));
      for (const b of bufs) expect(Array.from(b)).toEqual(Array.from(ref));
    } finally {
      await stopRing(peers);
    }
  });

  it('a frame for another vector length is refused, never summed', async () => {
    const n = 3;
    const peers = await startRing(n, { recvTimeoutMs: 3000 });
    try {
      const results = await Promise.allSettled(peers.map((p, r) => p.allreduce(new Float32Array(r === 1 ? 100 : 99))));
      const codes = results.filter((x) => x.status === 'rejected').map((x) => ((x as PromiseRejectedResult).reason as { code: string }).code);
      expect(codes).toContain('E_FRAME_MISMATCH');
    } finally {
      await stopRing(peers);
    }
  });

  it('a silent predecessor: the receive times out with E_PEER_TIMEOUT after recvTimeoutMs (at most 1.25× later)', async () => {
    const timeout = 400;
    const peers = await startRing(2, { recvTimeoutMs: timeout });
    try {
      // Rank 1 never joins this allreduce, so rank 0 waits for a frame that never comes.
      const t0 = performance.now();
      const err = await peers[0].allreduce(new Float32Array(100_000)).then(() => null, (e: { code: string }) => e);
      const waited = performance.now() - t0;
      expect(err?.code).toBe('E_PEER_TIMEOUT');
      expect(waited).toBeGreaterThanOrEqual(timeout - 5);
      // At most 1.25× by design; the rest is room for a loaded CI machine delaying timers.
      expect(waited).toBeLessThan(1.25 * timeout + 2000);
    } finally {
      await stopRing(peers);
    }
  });
});
