import { describe, it, expect } from 'vitest';
import { RingPeer } from '../../src/membership/ring-peer.js';
import { createCodec } from '../../src/codec/index.js';
import { startRing, stopRing, seededVector, sameBytes } from '../helpers/ring.js';

async function allreduceAll(peers: RingPeer[], d: number, seed: number): Promise<Float32Array[]> {
  const bufs = peers.map((p) => seededVector(d, seed + p.id));
  await Promise.all(peers.map((p, i) => p.allreduce(bufs[i])));
  return bufs;
}

describe('ring re-formation after a failure, and rejoin', () => {
  it('a dead peer is detected, survivors re-form without it and keep summing correctly', async () => {
    const peers = await startRing(5, { recvTimeoutMs: 5000 });
    try {
      await allreduceAll(peers, 1000, 1);
      const victim = peers[2];
      const survivors = peers.filter((p) => p !== victim);
      // Survivors start the next collective; the victim dies instead of taking part.
      const inflight = survivors.map((p) => p.allreduce(seededVector(100_000, p.id)).then(() => 'ok', (e: { code: string }) => e.code));
      await victim.close();
      const outcomes = await Promise.all(inflight);
      expect(outcomes.every((o) => o === 'E_PEER_LOST' || o === 'E_PEER_TIMEOUT')).toBe(true);
      const views = await Promise.all(survivors.map((p) => p.reform()));
      for (const v of views) expect(v).toEqual({ generation: 1, members: [0, 1, 3, 4] });
      const bufs = await allreduceAll(survivors, 4099, 7);
      for (const b of bufs) expect(sameBytes(b, bufs[0])).toBe(true);
      const ref = new Float64Array(4099);
      for (const p of survivors) seededVector(4099, 7 + p.id).forEach((x, i) => (ref[i] += x));
      for (let i = 0; i < ref.length; i++) expect(Math.abs(bufs[0][i] - ref[i])).toBeLessThan(1e-5);
      expect(survivors.map((p) => p.rank)).toEqual([0, 1, 2, 3]);
    } finally {
      await stopRing(peers);
    }
  });

  it('a restarted peer asks to join; the ring lets it in at a step boundary', async () => {
    const peers = await startRing(4, { recvTimeoutMs: 5000 });
    const addrs = peers.map((p) => ({ host: '127.0.0.1', port: p.port }));
    let rejoined: RingPeer | null = null;
    try {
      const victim = peers[3];
      const survivors = peers.slice(0, 3);
      await victim.close();
      await Promise.all(survivors.map((p) => p.allreduce(new Float32Array(10)).catch(() => undefined)));
      await Promise.all(survivors.map((p) => p.reform()));
      await allreduceAll(survivors, 100, 3);
      // Rank 3 comes back on its old port and asks to join.
      rejoined = await RingPeer.listen({ ...victim.opts, listenPort: addrs[3].port, codec: createCodec('dense') });
      const joining = rejoined.joinRunningRing(addrs);
      while (!survivors.some((p) => p.joinRequested)) await new Promise((r) => setTimeout(r, 20));
      // At the step boundary every member re-forms (in the trainer the flag travels with the digest check).
      const views = await Promise.all([...survivors.map((p) => p.reform(true)), joining]);
      for (const v of views) expect(v.members).toEqual([0, 1, 2, 3]);
      const all = [...survivors, rejoined];
      const bufs = await allreduceAll(all, 3001, 11);
      for (const b of bufs) expect(sameBytes(b, bufs[0])).toBe(true);
    } finally {
      await stopRing(peers);
      await rejoined?.close();
    }
  });
});
