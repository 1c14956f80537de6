/**
 * N real RingPeers in this process on 127.0.0.1, port 0, joined into a ring: what the integration
 * tests and the in-process benchmarks run collectives on. Real peers take their own processes
 * and hosts (src/train/run-peer.ts).
 */
import type { Codec } from '../codec/codec.js';
import { RingPeer, type RingPeerOptions } from './ring-peer.js';

export interface LoopbackRingOptions extends Omit<RingPeerOptions, 'rank' | 'size' | 'listenHost' | 'listenPort' | 'codec'> {
  /** Each peer's codec (codecs keep scratch buffers, so one each): called once per rank. */
  codec: (rank: number) => Codec;
}

export async function startLoopbackRing(n: number, opts: LoopbackRingOptions): Promise<RingPeer[]> {
  const { codec, ...rest } = opts;
  const peers = await Promise.all(
    Array.from({ length: n }, (_, rank) => RingPeer.listen({ ...rest, rank, size: n, listenHost: '127.0.0.1', listenPort: 0, codec: codec(rank) })),
  );
  const addrs = peers.map((p) => ({ host: '127.0.0.1', port: p.port }));
  await Promise.all(peers.map((p) => p.join(addrs)));
  return peers;
}

export async function stopLoopbackRing(peers: RingPeer[]): Promise<void> {
  await Promise.all(peers.map((p) => p.close()));
}
