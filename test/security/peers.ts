import { unpack } from 'msgpackr';
import { RingPeer, type RingPeerOptions } from '../../src/membership/ring-peer.js';
import { createCodec } from '../../src/codec/index.js';
import type { RawConn, WsFrame } from './raw-ws.js';
import { Rng } from './cases.js';

export const SECRET = 'fuzz-secret-7';
export const CONFIG_HASH = 'c0ffee'.repeat(10) + 'abcd';

export function peerOptions(rank: number, size: number, over: Partial<RingPeerOptions> = {}): RingPeerOptions {
  return {
    rank,
    size,
    listenHost: '127.0.0.1',
    listenPort: 0,
    secret: SECRET,
    configHash: CONFIG_HASH,
    connectTimeoutMs: 10_000,
    recvTimeoutMs: 10_000,
    maxFrameBytes: 256 * 1024,
    segmentBytes: 4096,
    seed: 7,
    codec: createCodec('dense'),
    ...over,
  };
}

/** Real peers in this process, listening on 127.0.0.1 port 0 (not yet joined). */
export function listenAll(size: number, over: (rank: number) => Partial<RingPeerOptions> = () => ({})): Promise<RingPeer[]> {
  return Promise.all(Array.from({ length: size }, (_, r) => RingPeer.listen(peerOptions(r, size, over(r)))));
}

/** A control message the other side sent (0xC7 + msgpack), decoded without any checks, or null. */
export function controlOf(f: WsFrame | null): Record<string, unknown> | null {
  if (!f || f.opcode !== 2 || f.payload[0] !== 0xc7) return null;
  try {
    const v = unpack(f.payload.subarray(1)) as unknown;
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * Writes bytes in random pieces with event-loop turns between them (exercises reassembly). Only
 * the first ~1 KiB is cut up: a big frame sent in thousands of pieces would take longer than the
 * handshake timeout on a loaded machine.
 */
export async function writeSplit(conn: RawConn, bytes: Uint8Array, rng: Rng): Promise<void> {
  if (bytes.length < 2 || rng.chance(0.7)) {
    conn.write(bytes);
    return;
  }
  let at = 0;
  const cutUntil = Math.min(bytes.length, 1024);
  while (at < bytes.length) {
    if (at >= cutUntil) {
      conn.write(bytes.subarray(at));
      return;
    }
    const n = Math.min(bytes.length - at, 1 + rng.int(rng.chance(0.5) ? 4 : 64));
    conn.write(bytes.subarray(at, at + n));
    at += n;
    await new Promise((r) => setImmediate(r));
  }
}

/** Runs jobs with at most `width` in flight. */
export async function pool<T>(jobs: (() => Promise<T>)[], width: number): Promise<T[]> {
  const out: T[] = new Array(jobs.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, jobs.length) }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await jobs[i]();
      }
    }),
  );
  return out;
}

/** Integer-valued vectors: their sums are exact in f32, so any ring order gives the same bits. */
export function intVector(length: number, seed: number, type: 'f32' | 'f64'): Float32Array | Float64Array {
  const rng = new Rng(seed);
  const v = type === 'f32' ? new Float32Array(length) : new Float64Array(length);
  for (let i = 0; i < length; i++) v[i] = rng.int(2001) - 1000;
  return v;
}

/** Every peer allreduces its own vector; each must end with exactly the plain sum. */
export async function checkAllreduce(peers: RingPeer[], length: number, seed: number): Promise<void> {
  for (const type of ['f32', 'f64'] as const) {
    const vs = peers.map((_, r) => intVector(length, seed + r, type));
    const want = intVector(length, seed, type).fill(0);
    for (const v of vs) for (let i = 0; i < length; i++) want[i] += v[i];
    await Promise.all(peers.map((p, r) => p.allreduce(vs[r])));
    for (const v of vs) {
      for (let i = 0; i < length; i++) {
        if (v[i] !== want[i]) throw new Error(`allreduce (${type}) gave ${v[i]} at ${i}, the plain sum is ${want[i]}`);
      }
    }
  }
}
