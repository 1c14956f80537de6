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
