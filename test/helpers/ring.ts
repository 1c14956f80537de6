import { expect } from 'vitest';
import type { RingPeer } from '../../src/membership/ring-peer.js';
import { startLoopbackRing, stopLoopbackRing, type LoopbackRingOptions } from '../../src/membership/loopback-ring.js';
import { createCodec } from '../../src/codec/index.js';
import type { CodecName } from '../../src/codec/codec.js';

/** N real peers in this process, on loopback port 0, joined into a ring; test timeouts and limits unless `over` says otherwise. */
export function startRing(n: number, over: Partial<LoopbackRingOptions> & { codecName?: CodecName } = {}): Promise<RingPeer[]> {
  const { codecName = 'dense', ...rest } = over;
  const levels = rest.levels ?? 1;
  return startLoopbackRing(n, {
    secret: '',
    configHash: 'c0ffee',
    connectTimeoutMs: 10_000,
    recvTimeoutMs: 20_000,
    maxFrameBytes: 64 * 1024 * 1024,
    segmentBytes: 256 * 1024,
    seed: 7,
    codec: () => createCodec(codecName, { levels }),
    ...rest,
  });
}

export { stopLoopbackRing as stopRing };

/** Deterministic vectors: mulberry32 keyed by (seed, rank). */
export function seededVector(length: number, seed: number, scale = 1): Float32Array {
  let a = seed >>> 0;
  const v = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    v[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * scale;
  }
  return v;
}

export function sameBytes(a: Float32Array | Float64Array, b: Float32Array | Float64Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** A peer's ring vector and, with error feedback, its residual. */
export interface PeerVectors {
  v: Float32Array;
  r?: Float32Array;
}

/**
 * Three steps of seeded gradients allreduced on two rings that must agree (e.g. a codec with a
 * fused receive against one without): after every step each peer's values and residual are the
 * same bytes on both rings, and every peer holds rank 0's values (the identical-weights invariant).
 */
export async function expectRingsAgree(ringA: RingPeer[], a: PeerVectors[], ringB: RingPeer[], b: PeerVectors[]): Promise<void> {
  const n = a.length;
  for (let step = 0; step < 3; step++) {
    for (let r = 0; r < n; r++) {
      const g = seededVector(a[r].v.length, 100 * step + r + 1, 3);
      a[r].v.set(g);
      b[r].v.set(g);
    }
    await Promise.all(ringA.map((p, r) => p.allreduce(a[r].v, a[r].r)));
    await Promise.all(ringB.map((p, r) => p.allreduce(b[r].v, b[r].r)));
    for (let r = 0; r < n; r++) {
      expect(sameBytes(a[r].v, b[r].v), `step ${step} rank ${r}: values`).toBe(true);
      expect(a[r].r === undefined ? b[r].r === undefined : b[r].r !== undefined && sameBytes(a[r].r!, b[r].r!), `step ${step} rank ${r}: residual`).toBe(true);
      expect(sameBytes(a[r].v, a[0].v), `step ${step} rank ${r} vs rank 0`).toBe(true);
    }
  }
}
