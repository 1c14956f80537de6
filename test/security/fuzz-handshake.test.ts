import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { pack } from 'msgpackr';
import type { RingPeer } from '../../src/membership/ring-peer.js';
import { handshakeMac } from '../../src/membership/handshake.js';
import { rawClient, encodeWsFrame, closePayload, Op, type RawConn, type Ending } from './raw-ws.js';
import { Rng, mutateBytes, mutateMessage, tryPack, controlBytes, validMessages, validHeader, headerBytes, tallyByCategory } from './cases.js';
import { SECRET, CONFIG_HASH, listenAll, controlOf, writeSplit, pool, checkAllreduce } from './peers.js';
import { watchProcess, type ProcessWatch } from './watch.js';

/**
 * Hostile dialers against a real RingPeer listener (127.0.0.1, port 0). The target is rank 0 of a
 * ring of 3 that is waiting for its successor (rank 1) while the storm runs; rank 1 connects only
 * afterwards, so every hostile connection meets a listener that would accept a successor.
 *
 * Every case must end with the listener closing the link with a close code (or, before the
 * WebSocket upgrade, an HTTP error), no hostile connection may ever receive a `welcome`, the
 * process must see no uncaught exception, and afterwards the real ring must form and sum exactly.
 */
const MAX_FRAME = 256 * 1024;
const APP_CODES = [4001, 4003, 4004];
const HANDSHAKE_TIMEOUT_MS = 10_000;

let watch: ProcessWatch;
let peers: RingPeer[] = [];
const refusedLog: string[] = [];
beforeAll(() => {
  watch = watchProcess();
});
afterAll(async () => {
  await Promise.all(peers.map((p) => p.close()));
  watch.stop();
  expect(watch.errors).toEqual([]);
});

interface Case {
  category: string;
  /** Raw bytes to write after the challenge arrived (already framed). */
  bytes: Buffer;
  /** Close codes that count as a correct refusal for this case. */
  codes: number[];
  /** Pongs we must have received (ping cases). */
  pongs?: number;
}

const mask = true;
const bin = (payload: Uint8Array, o: { mask?: boolean } = {}) => encodeWsFrame(Op.binary, payload, { mask: o.mask ?? mask });

/** A hello that claims to be rank 1 but cannot prove the secret (the fuzzer does not know it). */
function forgedHello(rng: Rng, challengeNonce: string): Record<string, unknown> {
  const base = validMessages(rng, { secret: SECRET, configHash: CONFIG_HASH }, challengeNonce).hello;
  switch (rng.int(6)) {
    case 0:
      return { ...base, mac: handshakeMac('wrong-secret', challengeNonce, 1, CONFIG_HASH, 'dialer') };
    case 1:
      return { ...base, mac: '' };
    case 2:
      // Replay: a genuine MAC, but for another challenge.
      return { ...base, mac: handshakeMac(SECRET, rng.hex(32), 1, CONFIG_HASH, 'dialer') };
    case 3:
      // Reflection: the listener-role MAC of the same nonce.
      return { ...base, mac: handshakeMac(SECRET, challengeNonce, 1, CONFIG_HASH, 'listener') };
    case 4:
      // A genuine MAC for rank 2, presented as rank 1.
      return { ...base, mac: handshakeMac(SECRET, challengeNonce, 2, CONFIG_HASH, 'dialer') };
    default:
      return { ...base, mac: rng.hex(64) };
  }
}

/** Builds the case for one connection, given the challenge that listener sent. */
function makeCase(rng: Rng, kind: string, nonce: string): Case {
  switch (kind) {
    case 'random-binary': {
      const b = rng.bytes(1 + rng.length(2048));
      return { category: kind, bytes: bin(b), codes: APP_CODES };
    }
    case 'random-control':
      return { category: kind, bytes: bin(controlBytes(rng.bytes(rng.length(1024)))), codes: APP_CODES };
    case 'forged-hello': {
      const m = forgedHello(rng, nonce);
      const body = rng.chance(0.5) ? pack(m) : mutateBytes(rng, pack(m));
      return { category: kind, bytes: bin(controlBytes(body)), codes: APP_CODES };
    }
    case 'mutated-message': {
      const msgs = validMessages(rng, { secret: 'not-the-secret', configHash: CONFIG_HASH }, nonce);
      const pickOne = rng.pick(Object.values(msgs));
      const value = rng.chance(0.5) ? mutateMessage(rng, pickOne) : pickOne;
      const body = tryPack(value) ?? pack(pickOne);
      return { category: kind, bytes: bin(controlBytes(rng.chance(0.3) ? mutateBytes(rng, body) : body)), codes: APP_CODES };
    }
    case 'authentic-inconsistent': {
      // Knows the secret, but claims something the listener must refuse.
      const variants: Array<() => Record<string, unknown>> = [
        () => ({ rank: 1, size: rng.pick([1, 2, 4, 100]) }),
        () => ({ rank: 1, version: rng.pick([0, 2, 99, -1]) }),
        () => ({ rank: 0 }),
        () => ({ rank: rng.range(3, 1000) }),
        () => ({ rank: 2, generation: 0 }),
      ];
      const over = rng.pick(variants)();
      const rank = over.rank as number;
      const m: Record<string, unknown> = { ...validMessages(rng, { secret: SECRET, configHash: CONFIG_HASH }, nonce).hello, generation: 0, intent: 'ring', ...over };
      m.mac = handshakeMac(SECRET, nonce, rank, CONFIG_HASH, 'dialer');
      return { category: kind, bytes: bin(controlBytes(pack(m))), codes: [4004] };
    }
    case 'control-bomb': {
      // A big msgpack array as a control message: refused by size, never unpacked.
      const n = rng.range(20_000, MAX_FRAME - 64);
      const body = Buffer.alloc(5 + n + (rng.chance(0.5) ? 1 : 0));
      body[0] = 0xdd;
      body.writeUInt32BE(n, 1);
      return { category: kind, bytes: bin(controlBytes(body)), codes: [4001] };
    }
    case 'text': {
      const text = rng.chance(0.5) ? JSON.stringify({ t: 'hello', rank: 1 }) : rng.hex(rng.length(512));
      return { category: kind, bytes: encodeWsFrame(Op.text, Buffer.from(text), { mask }), codes: [4001] };
    }
    case 'data-before-handshake': {
      const frames: Buffer[] = [];
      const n = rng.range(1, 20);
      for (let i = 0; i < n; i++) {
        const h = headerBytes(validHeader(rng), 4 * rng.int(64));
        frames.push(bin(h, { mask: rng.chance(0.8) }));
      }
      return { category: kind, bytes: Buffer.concat(frames), codes: [4001] };
    }
    case 'oversized': {
      const announce = rng.pick([MAX_FRAME + 1, MAX_FRAME + rng.int(1 << 20), 2 ** 31, 2 ** 32 + 5, 2 ** 52]);
      const masked = rng.chance(0.8);
      const body = rng.chance(0.3) ? Buffer.alloc(Math.min(announce, MAX_FRAME + 1), 0xa7) : rng.bytes(rng.int(64));
      // An unmasked client frame is a protocol error (1002) before its length is looked at.
      return { category: kind, bytes: encodeWsFrame(Op.binary, body, { mask: masked, announce }), codes: masked ? [1009] : [1009, 1002] };
    }
    case 'ws-protocol': {
      const p = rng.bytes(rng.int(40));
      const variants: Array<() => [Buffer, number[]]> = [
        () => [encodeWsFrame(Op.binary, p, { mask, rsv: rng.range(1, 7) }), [1002]],
        () => [encodeWsFrame(rng.pick([3, 4, 5, 6, 7, 11, 12, 13, 14, 15]), p, { mask }), [1002]],
        () => [encodeWsFrame(Op.ping, p, { mask, fin: false }), [1002]],
        () => [encodeWsFrame(Op.ping, rng.bytes(126 + rng.int(100)), { mask }), [1002]],
        () => [encodeWsFrame(Op.cont, p, { mask }), [1002]],
        () => [Buffer.concat([encodeWsFrame(Op.binary, p, { mask, fin: false }), encodeWsFrame(Op.text, p, { mask })]), [1002]],
        () => [encodeWsFrame(Op.close, closePayload(rng.pick([0, 999, 1004, 1005, 1006, 1015, 2000, 5000])), { mask }), [1002]],
        () => [encodeWsFrame(Op.close, Buffer.from([3]), { mask }), [1002]],
        () => [encodeWsFrame(Op.text, Buffer.from([0xc3, 0x28, 0xff]), { mask }), [1007]],
        () => [encodeWsFrame(Op.binary, p, { mask, lengthForm: 64 }), [...APP_CODES, 1002]],
        () => [encodeWsFrame(rng.pick([Op.text, Op.close, Op.ping]), p, { mask: false }), [1002]],
        // Unmasked binary from a client: a protocol error, or read as a bad message.
        () => [encodeWsFrame(Op.binary, Buffer.concat([Buffer.from([rng.pick([0x00, 0xc7, 0xa7])]), p]), { mask: false }), [...APP_CODES, 1002]],
      ];
      const [bytes, codes] = rng.pick(variants)();
      return { category: kind, bytes, codes };
    }
    case 'close-by-hostile': {
      // A well-formed close: the listener answers with the same code and lets go.
      const code = rng.pick([1000, 1001, 1003, 3000, 4000, 4999]);
      return { category: kind, bytes: encodeWsFrame(Op.close, closePayload(code, 'bye'), { mask }), codes: [code] };
    }
    case 'ping-then-bad': {
      const n = rng.range(1, 5);
      const pings = Array.from({ length: n }, () => encodeWsFrame(Op.ping, rng.bytes(rng.int(20)), { mask }));
      return { category: kind, bytes: Buffer.concat([...pings, bin(controlBytes(rng.bytes(8)))]), codes: APP_CODES, pongs: n };
    }
    default:
      throw new Error(kind);
  }
}

const KINDS: Array<[string, number]> = [
  ['random-binary', 350],
  ['random-control', 350],
  ['forged-hello', 500],
  ['mutated-message', 300],
  ['authentic-inconsistent', 150],
  ['control-bomb', 30],
  ['text', 150],
  ['data-before-handshake', 200],
  ['oversized', 150],
  ['ws-protocol', 300],
  ['close-by-hostile', 50],
  ['ping-then-bad', 100],
];

interface Outcome {
  category: string;
  ok: boolean;
  detail: string;
  welcomed: boolean;
}

async function runCase(port: number, rng: Rng, kind: string): Promise<Outcome> {
  let conn: RawConn | null = null;
  try {
    conn = await rawClient(port);
    const challenge = controlOf(await conn.nextMessage(10_000));
    if (challenge?.t !== 'challenge' || typeof challenge.nonce !== 'string') return { category: kind, ok: false, detail: `no challenge (${JSON.stringify(challenge)})`, welcomed: false };
    const c = makeCase(rng, kind, challenge.nonce);
    await writeSplit(conn, c.bytes, rng);
    const end: Ending = await conn.ending(10_000);
    const welcomed = conn.frames.some((f) => controlOf(f)?.t === 'welcome');
    const pongs = conn.frames.filter((f) => f.opcode === Op.pong).length;
    const ok = !end.timedOut && end.code !== null && c.codes.includes(end.code) && !welcomed && (c.pongs === undefined || pongs === c.pongs);
    return { category: kind, ok, welcomed, detail: `code ${end.code} (want ${c.codes.join('/')}), timedOut ${end.timedOut}, pongs ${pongs}, bytes ${c.bytes.subarray(0, 48).toString('hex')}` };
  } finally {
    conn?.destroy();
  }
}

describe('fuzz: hostile dialers against a RingPeer listener', () => {
  it('every hostile connection is refused with a close code; none is welcomed; the real ring then forms and sums exactly', async () => {
    peers = await listenAll(3, () => ({ connectTimeoutMs: 120_000, maxFrameBytes: MAX_FRAME, log: (event, f) => event === 'refused' && refusedLog.push(String(f?.code)) }));
    const [p0, p1, p2] = peers;
    const addrs = peers.map((p) => ({ host: '127.0.0.1', port: p.port }));
    // Rank 0 joins now: it dials rank 2 and then waits for its successor through the whole storm.
    const join0 = p0.join(addrs);
    join0.catch(() => undefined);

    // Slow hostiles: silent after the upgrade, or stuck inside a frame. They must be cut off
    // when the handshake times out, not kept open for ever.
    const slow = await Promise.all(
      Array.from({ length: 24 }, async (_, i) => {
        const conn = await rawClient(p0.port);
        if (i % 2) conn.write(encodeWsFrame(Op.binary, Buffer.alloc(1000), { mask, announce: 5000 }).subarray(0, 600));
        return conn;
      }),
    );
    const slowEndings = Promise.all(slow.map((c) => c.ending(HANDSHAKE_TIMEOUT_MS + 8000)));

    const rng = new Rng(0xf00d);
    const jobs = KINDS.flatMap(([kind, n]) => Array.from({ length: n }, (_, i) => () => runCase(p0.port, new Rng(rng.int(2 ** 31) + i), kind)));
    // Shuffle so categories interleave on the listener.
    for (let i = jobs.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [jobs[i], jobs[j]] = [jobs[j], jobs[i]];
    }
    const outcomes = await pool(jobs, 12);

    // HTTP-level garbage: never upgraded, answered with an HTTP error or dropped.
    let httpCases = 0;
    const httpBad: string[] = [];
    await pool(
      Array.from({ length: 150 }, (_, i) => async () => {
        const r = new Rng(1000 + i);
        const valid = Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${Buffer.alloc(16, 1).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
        const request = i % 3 === 0 ? Buffer.concat([r.bytes(r.length(600)), Buffer.from('\r\n\r\n')]) : i % 3 === 1 ? mutateBytes(r, valid) : Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Version: ${r.int(20)}\r\n\r\n`);
        const conn = await rawClient(p0.port, { request, timeoutMs: 5000 }).catch(() => null);
        httpCases++;
        if (!conn) return;
        try {
          if (conn.httpStatus === 101) {
            // The mutation left a valid upgrade: then it is just another dialer without the secret.
            const ch = controlOf(await conn.nextMessage(5000));
            if (ch?.t !== 'challenge') httpBad.push(`upgraded but no challenge: ${request.toString('latin1').slice(0, 80)}`);
            conn.write(bin(controlBytes(pack(forgedHello(r, String(ch?.nonce))))));
            const end = await conn.ending(5000);
            // Bytes after the request that are not a valid frame are a protocol error (1002).
            if (end.code === null || ![...APP_CODES, 1002].includes(end.code)) httpBad.push(`upgraded mutated request ended with ${JSON.stringify(end)}`);
          } else if (conn.httpStatus === null) {
            // No HTTP answer at all: the server must at least drop the connection.
            const end = await conn.ending(5000);
            if (end.timedOut) httpBad.push(`garbage request neither answered nor dropped: ${request.toString('latin1').slice(0, 80)}`);
          } else if (conn.httpStatus < 400) {
            httpBad.push(`garbage request answered with ${conn.httpStatus}`);
          }
        } finally {
          conn.destroy();
        }
      }),
      8,
    );

    const ends = await slowEndings;
    for (const c of slow) c.destroy();

    const byCategory = tallyByCategory(outcomes);
    console.log(`[fuzz] listener side: ${outcomes.length} hostile connections + ${httpCases} bad HTTP upgrades + ${slow.length} slow/silent`);
    for (const [k, t] of byCategory) console.log(`[fuzz]   ${k.padEnd(24)} ${String(t.cases).padStart(5)} cases, ${t.refused} refused with the expected close code`);
    console.log(`[fuzz]   refusals logged by the listener: ${refusedLog.length} (${[...new Set(refusedLog)].join(', ')})`);

    for (const o of outcomes.filter((x) => !x.ok).slice(0, 30)) console.log(`[fuzz]   NOT REFUSED ${o.category}: ${o.detail}`);
    expect(outcomes.filter((o) => o.welcomed)).toEqual([]);
    expect(outcomes.filter((o) => !o.ok).slice(0, 10)).toEqual([]);
    expect(httpBad).toEqual([]);
    expect(ends.map((e) => ({ timedOut: e.timedOut, code: e.code }))).toEqual(slow.map(() => ({ timedOut: false, code: 4004 })));

    // The storm changed nothing: rank 1 joins, the ring forms, and sums are exact.
    await Promise.all([p1.join(addrs), p2.join(addrs), join0]);
    await checkAllreduce(peers, 10_007, 42);

    // Once the ring is up, further hostile dialers (even replaying genuine-looking hellos) are
    // refused at every listener and the ring keeps summing correctly.
    let after = 0;
    for (const p of peers) {
      for (let i = 0; i < 20; i++) {
        const o = await runCase(p.port, new Rng(500 + i), i % 2 ? 'forged-hello' : 'data-before-handshake');
        expect(o.ok, o.detail).toBe(true);
        after++;
      }
    }
    await checkAllreduce(peers, 4099, 43);
    console.log(`[fuzz]   after the ring formed: ${after} more hostile connections refused; allreduce still exact`);
  }, 90_000);
});
