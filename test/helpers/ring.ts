import { RingPeer, type RingPeerOptions } from '../../src/membership/ring-peer.js';
import { createCodec } from '../../src/codec/index.js';
import type { CodecName } from '../../src/codec/codec.js';

/** N real peers in this process, on loopback port 0, joined into a ring. */
export async function startRing(n: number, over: Partial<RingPeerOptions> & { codecName?: CodecName } = {}): Promise<RingPeer[]> {
  const { codecName = 'dense', ...rest } = over;
  const levels = rest.levels ?? 1;
  const peers = await Promise.all(
    Array.from({ length: n }, (_, rank) =>
      RingPeer.listen({
        rank,
        size: n,
        listenHost: '127.0.0.1',
        listenPort: 0,
        secret: '',
        configHash: 'c0ffee',
        connectTimeoutMs: 10_000,
        recvTimeoutMs: 20_000,
        maxFrameBytes: 64 * 1024 * 1024,
        segmentBytes: 256 * 1024,
        seed: 7,
        codec: createCodec(codecName, { levels }),
        ...rest,
      }),
    ),
  );
  const addrs = peers.map((p) => ({ host: '127.0.0.1', port: p.port }));
  await Promise.all(peers.map((p) => p.join(addrs)));
  return peers;
}

export async function stopRing(peers: RingPeer[]): Promise<void> {
  await Promise.all(peers.map((p) => p.close()));
}

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
