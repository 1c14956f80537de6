import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { pack } from 'msgpackr';
import { RingPeer } from '../../src/membership/ring-peer.js';
import { handshakeMac } from '../../src/membership/handshake.js';
import { RingError } from '../../src/errors.js';
import { rawServer, encodeWsFrame, closePayload, Op, type RawConn } from './raw-ws.js';
import { Rng, mutateBytes, mutateMessage, tryPack, controlBytes, validMessages, validHeader, headerBytes, tallyByCategory } from './cases.js';
import { SECRET, CONFIG_HASH, peerOptions, controlOf, writeSplit, checkAllreduce } from './peers.js';
import { watchProcess, type ProcessWatch } from './watch.js';

/**
 * A hostile listener that real RingPeers dial as their predecessor. It answers the upgrade, then
 * says something wrong before or after the peer's hello: garbage, forged or mutated challenges and
 * welcomes, refusals, text, data frames, oversized or malformed WebSocket frames. join() must
 * reject with a RingError, the peer must close the link with a close code, its hello must never
 * carry the secret, and afterwards the same peers must join a real ring and sum exactly.
 */
const MAX_FRAME = 256 * 1024;
const PEERS = 6;
const CASES_PER_PEER = Number(process.env.FUZZ_N ?? 250);

let watch: ProcessWatch;
const cleanup: Array<() => Promise<void>> = [];
beforeAll(() => {
  watch = watchProcess();
});
afterAll(async () => {
  for (const f of cleanup) await f();
  watch.stop();
  expect(watch.errors).toEqual([]);
});

/** What the hostile listener sends: right after the upgrade, and when the peer's hello arrives. */
interface Script {
  category: string;
  first: Buffer;
  afterHello: ((hello: Record<string, unknown>) => Buffer) | null;
}

const frame = (payload: Uint8Array) => encodeWsFrame(Op.binary, payload);
const ctl = (v: unknown) => frame(controlBytes(pack(v)));

function challengeMsg(rng: Rng): Record<string, unknown> {
  return { t: 'challenge', nonce: rng.hex(32), rank: 0, version: 1 };
}

/** Something that must not be accepted as the listener's answer to a hello. */
function badAnswer(rng: Rng, withData = false): { category: string; bytes: (hello: Record<string, unknown>) => Buffer } {
  const keys = { secret: 'not-the-secret', configHash: CONFIG_HASH };
  const variants: Array<[string, (hello: Record<string, unknown>) => Buffer]> = [
    ['forged-welcome', () => ctl({ t: 'welcome', mac: handshakeMac('wrong', rng.hex(32), 0, CONFIG_HASH, 'listener') })],
    ['forged-welcome', () => ctl({ t: 'welcome', mac: '' })],
    // Reflection: hand the peer's own dialer MAC back as the listener's proof.
    ['reflected-welcome', (h) => ctl({ t: 'welcome', mac: h.mac })],
    // Replay: a genuine listener MAC, but for another nonce.
    ['replayed-welcome', () => ctl({ t: 'welcome', mac: handshakeMac(SECRET, rng.hex(32), 0, CONFIG_HASH, 'listener') })],
    // Genuine MAC for the nonce, but as rank 2 (the peer dialled rank 0).
    ['wrong-rank-welcome', (h) => ctl({ t: 'welcome', mac: handshakeMac(SECRET, String(h.nonce), 2, CONFIG_HASH, 'listener') })],
    ['refuse', () => ctl({ t: 'refuse', code: rng.pick(['E_AUTH', 'E_HANDSHAKE', 'E_WHATEVER', '']), reason: rng.hex(rng.int(200)) })],
    ['mutated-answer', () => frame(controlBytes(tryPack(mutateMessage(rng, rng.pick(Object.values(validMessages(rng, keys)))) ) ?? Buffer.from([0xc1])))],
    ['byte-mutated-answer', () => frame(controlBytes(mutateBytes(rng, pack(rng.pick(Object.values(validMessages(rng, keys)))))))],
    ['other-message', () => ctl(rng.pick([challengeMsg(rng), { t: 'census', generation: 0, id: 0 }, { t: 'join-ack', generation: 1 }, { t: 'hello', ...validMessages(rng, keys).hello }]))],
    ['random-binary', () => frame(rng.bytes(1 + rng.length(1024)))],
    ['text', () => encodeWsFrame(Op.text, Buffer.from(rng.hex(rng.length(300))))],
    ['oversized', () => encodeWsFrame(Op.binary, rng.bytes(rng.int(100)), { announce: rng.pick([MAX_FRAME + 1, 2 ** 31, 2 ** 40]) })],
    ['ws-protocol', () => wsViolation(rng)],
    ['close-by-hostile', () => encodeWsFrame(Op.close, closePayload(rng.pick([1000, 1001, 4000, 4003])))],
  ];
  // Data frames instead of an answer are queued by the dialer until the handshake times out
  // (10 s), so they run in a separate, parallel batch.
  if (withData) return { category: 'data-frames', bytes: () => dataFrames(rng) };
  const [category, bytes] = rng.pick(variants);
  return { category, bytes };
}

function dataFrames(rng: Rng): Buffer {
  return Buffer.concat(Array.from({ length: rng.range(1, 10) }, () => frame(headerBytes(validHeader(rng), 4 * rng.int(32)))));
}

/** A server→client WebSocket frame the protocol forbids. */
function wsViolation(rng: Rng): Buffer {
  const p = rng.bytes(rng.int(40));
  return rng.pick([
    () => encodeWsFrame(Op.binary, p, { mask: true }), // servers must not mask
    () => encodeWsFrame(Op.binary, p, { rsv: rng.range(1, 7) }),
    () => encodeWsFrame(rng.pick([3, 7, 11, 15]), p),
    () => encodeWsFrame(Op.ping, rng.bytes(130)),
    () => encodeWsFrame(Op.cont, p),
    () => encodeWsFrame(Op.close, closePayload(rng.pick([0, 1005, 1006, 5000]))),
    () => encodeWsFrame(Op.text, Buffer.from([0xff, 0xfe])),
    () => Buffer.concat([encodeWsFrame(Op.binary, p, { fin: false }), encodeWsFrame(Op.binary, p)]),
    () => encodeWsFrame(Op.binary, p, { announce: 2 ** 63 }),
  ])();
}

function makeScript(rng: Rng, withData = false): Script {
  const r = rng.next();
  if (r < 0.3) {
    // Wrong from the start: no valid challenge (if a mutation left one valid, a bad answer follows the hello).
    const a = badAnswer(rng, withData);
    const mutated = !withData && rng.chance(0.4);
    const first = mutated ? frame(controlBytes(tryPack(mutateMessage(rng, challengeMsg(rng))) ?? Buffer.from([0xc1]))) : a.bytes({ mac: rng.hex(64), nonce: rng.hex(32) });
    return { category: `before-challenge/${mutated ? 'mutated-challenge' : a.category}`, first, afterHello: badAnswer(rng, withData).bytes };
  }
  if (r < 0.4) {
    // A challenge from the wrong rank: the peer must not even say hello.
    return { category: 'challenge-wrong-rank', first: ctl({ ...challengeMsg(rng), rank: rng.pick([1, 2, 3, 99]) }), afterHello: null };
  }
  const a = badAnswer(rng, withData);
  const noise = rng.chance(0.2) ? Buffer.concat([encodeWsFrame(Op.ping, rng.bytes(4)), frame(headerBytes(validHeader(rng), 8))]) : Buffer.alloc(0);
  return { category: `after-hello/${a.category}`, first: Buffer.concat([noise, ctl(challengeMsg(rng))]), afterHello: a.bytes };
}

interface Outcome {
  category: string;
  ok: boolean;
  detail: string;
}

async function hostileListener() {
  let script: Script | null = null;
  let rng = new Rng(1);
  let conns: RawConn[] = [];
  const hellos: Buffer[] = [];
  const srv = await rawServer((conn) => {
    conns.push(conn);
    const s = script;
    if (!s) return;
    void writeSplit(conn, s.first, rng);
    let answered = false;
    const poll = setInterval(() => {
      const hello = conn.frames.map(controlOf).find((m) => m?.t === 'hello');
      if (!hello || answered) return;
      answered = true;
      hellos.push(conn.frames.find((f) => controlOf(f)?.t === 'hello')!.payload);
      clearInterval(poll);
      if (s.afterHello) void writeSplit(conn, s.afterHello(hello), rng);
    }, 1);
    conn.socket.once('close', () => clearInterval(poll));
  });
  return {
    port: srv.port,
    close: srv.close,
    hellos,
    arm(s: Script, r: Rng) {
      script = s;
      rng = r;
      conns = [];
    },
    conns: () => conns,
  };
}

async function runCase(peer: RingPeer, hostile: Awaited<ReturnType<typeof hostileListener>>, rng: Rng, withData = false): Promise<Outcome> {
  const s = makeScript(rng, withData);
  hostile.arm(s, rng);
  const addrs = [{ host: '127.0.0.1', port: hostile.port }, { host: '127.0.0.1', port: peer.port }, { host: '127.0.0.1', port: 1 }];
  let err: unknown = null;
  try {
    await peer.join(addrs);
  } catch (e) {
    err = e;
  }
  const conn = hostile.conns()[0];
  const end = conn ? await conn.ending(8000) : null;
  for (const c of hostile.conns()) c.destroy();
  const isRingError = err instanceof RingError;
  const ok = isRingError && conn !== undefined && end !== null && !end.timedOut && end.code !== null && end.code >= 1000;
  return {
    category: s.category,
    ok,
    detail: `join ${err === null ? 'RESOLVED' : `rejected ${(err as RingError).code ?? ""} ${String((err as Error).message).slice(0, 160)}`}; close code ${end?.code} timedOut ${end?.timedOut}; first ${s.first.subarray(0, 40).toString('hex')}`,
  };
}

describe('fuzz: hostile listener dialled by RingPeers', () => {
  it('every hostile answer makes join() reject with a RingError and the peer close the link with a code; the peers then join a real ring', async () => {
    const peers = await Promise.all(Array.from({ length: PEERS }, () => RingPeer.listen(peerOptions(1, 3, { connectTimeoutMs: 3000, maxFrameBytes: MAX_FRAME }))));
    const hostiles = await Promise.all(peers.map(() => hostileListener()));
    cleanup.push(async () => {
      await Promise.all(peers.map((p) => p.close()));
      await Promise.all(hostiles.map((h) => h.close()));
    });

    // A listener that upgrades and then says nothing: join must give up after the handshake
    // timeout and close that link with a code (checked at the end, it takes ~10 s).
    const silentPeer = await RingPeer.listen(peerOptions(1, 3, { connectTimeoutMs: 3000 }));
    const silent = await hostileListener();
    cleanup.push(async () => {
      await silentPeer.close();
      await silent.close();
    });
    silent.arm({ category: 'silent', first: Buffer.alloc(0), afterHello: null }, new Rng(3));
    const silentJoin = silentPeer.join([{ host: '127.0.0.1', port: silent.port }, { host: '127.0.0.1', port: silentPeer.port }, { host: '127.0.0.1', port: 1 }]).then(
      () => 'resolved',
      (e: RingError) => e.code,
    );

    // Data frames in place of the challenge or the welcome: the dialler cannot tell them from the
    // ring's first frames until the handshake is done, so it holds them until the handshake times
    // out and then closes with a code. ~10 s each, so they run side by side with the main storm.
    const dataPeers = await Promise.all(Array.from({ length: 24 }, () => RingPeer.listen(peerOptions(1, 3, { connectTimeoutMs: 3000, maxFrameBytes: MAX_FRAME }))));
    const dataHostiles = await Promise.all(dataPeers.map(() => hostileListener()));
    cleanup.push(async () => {
      await Promise.all(dataPeers.map((p) => p.close()));
      await Promise.all(dataHostiles.map((h) => h.close()));
    });
    const dataOutcomes = Promise.all(dataPeers.map((p, k) => runCase(p, dataHostiles[k], new Rng(0xda7a + k), true)));

    const outcomes: Outcome[] = [];
    await Promise.all(
      peers.map(async (peer, k) => {
        for (let i = 0; i < CASES_PER_PEER; i++) outcomes.push(await runCase(peer, hostiles[k], new Rng(0xd1a1 + k * 100_000 + i)));
      }),
    );

    outcomes.push(...(await dataOutcomes));
    const byCategory = tallyByCategory(outcomes);
    console.log(`[fuzz] dialer side: ${outcomes.length} joins against a hostile listener (+1 silent listener)`);
    for (const [k, t] of [...byCategory].sort()) console.log(`[fuzz]   ${k.padEnd(36)} ${String(t.cases).padStart(4)} cases, ${t.refused} refused with a close code`);
    for (const o of outcomes.filter((x) => !x.ok).slice(0, 20)) console.log(`[fuzz]   NOT REFUSED ${o.category}: ${o.detail}`);
    expect(outcomes.filter((o) => !o.ok).slice(0, 10)).toEqual([]);

    // Every hello the peers sent: well formed, the right MAC for its challenge, no secret inside.
    const allHellos = [...hostiles, ...dataHostiles].flatMap((h) => h.hellos);
    expect(allHellos.length).toBeGreaterThan(PEERS * CASES_PER_PEER * 0.4);
    for (const h of allHellos) expect(h.includes(Buffer.from(SECRET))).toBe(false);

    expect(await silentJoin).toBe('E_HANDSHAKE');
    const silentEnd = await silent.conns()[0].ending(3000);
    expect(silentEnd.code).toBe(4004);

    // The same peers, after all that, form real rings (each with two fresh real neighbours) and sum exactly.
    for (const peer of peers.slice(0, 2)) {
      const [p0, p2] = await Promise.all([0, 2].map((r) => RingPeer.listen(peerOptions(r, 3, { maxFrameBytes: MAX_FRAME }))));
      const addrs = [p0, peer, p2].map((p) => ({ host: '127.0.0.1', port: p.port }));
      await Promise.all([p0.join(addrs), peer.join(addrs), p2.join(addrs)]);
      await checkAllreduce([p0, peer, p2], 5003, 9);
      await Promise.all([p0.close(), p2.close()]);
    }
  }, 90_000);
});
