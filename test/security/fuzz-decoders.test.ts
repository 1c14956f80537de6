import { describe, it, expect } from 'vitest';
import { unpack } from 'msgpackr';
import { decodeControl, encodeControl, MAX_CONTROL_BYTES } from '../../src/config/messages.js';
import { expectHeader, readHeader, HEADER_BYTES, type FrameHeader } from '../../src/transport/frame.js';
import { RingError } from '../../src/errors.js';
import {
  Rng,
  mutateBytes,
  mutateMessage,
  referenceValid,
  DEFAULTS,
  tryPack,
  validMessages,
  validHeader,
  headerBytes,
  HEADER_FIELDS,
  FIELD_AT,
  otherValue,
  type HeaderField,
} from './cases.js';
import { expectNoProcessErrors } from './watch.js';

/**
 * In-process fuzzing of the pure decoders every byte from a neighbour goes through first:
 * decodeControl (msgpack + zod) and readHeader/expectHeader (the 32-byte data-frame header).
 * Each case is checked against an independent reference, not just "did not crash".
 */
const KEYS = { secret: 'fuzz-secret', configHash: 'c0ffee'.repeat(10) + 'abcd' };
const SEED = 0x5eed0007;

expectNoProcessErrors();

/** What msgpack alone makes of the bytes: the value, or 'unreadable'. */
function referenceUnpack(bytes: Uint8Array): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: unpack(bytes) };
  } catch {
    return { ok: false };
  }
}

interface Tally {
  cases: number;
  accepted: number;
  refused: number;
}

/** decodeControl must refuse with E_FRAME exactly when the reference says the bytes are not a valid message. */
function checkControl(bytes: Uint8Array, t: Tally, what: string): void {
  t.cases++;
  const ref = referenceUnpack(bytes);
  const shouldAccept = bytes.byteLength <= MAX_CONTROL_BYTES && ref.ok && referenceValid(ref.value);
  let got: unknown;
  try {
    got = decodeControl(bytes, 'fuzzer');
  } catch (e) {
    if (!(e instanceof RingError) || e.code !== 'E_FRAME') {
      throw new Error(`${what}: decodeControl threw ${String(e)} (not E_FRAME) for ${Buffer.from(bytes).toString('hex').slice(0, 200)}`);
    }
    if (shouldAccept) throw new Error(`${what}: refused a valid message ${JSON.stringify(ref.ok ? ref.value : null)}: ${e.message}`);
    t.refused++;
    return;
  }
  if (!shouldAccept) throw new Error(`${what}: accepted an invalid message: ${Buffer.from(bytes).toString('hex').slice(0, 200)} -> ${JSON.stringify(got)}`);
  expect(got).toEqual(withDefaults(ref.ok ? ref.value : undefined));
  t.accepted++;
}

/** The message as the decoder returns it: absent optional fields filled with their defaults. */
function withDefaults(v: unknown): unknown {
  const o = { ...(v as Record<string, unknown>) };
  for (const [k, d] of Object.entries(DEFAULTS[o.t as string] ?? {})) if (o[k] === undefined) o[k] = d;
  return o;
}

/** After a refused case the decoder must be unharmed (msgpackr keeps module-level state). */
function sentinel(rng: Rng): void {
  const msgs = validMessages(rng, KEYS);
  for (const m of Object.values(msgs)) expect(decodeControl(encodeControl(m as never), 'sentinel')).toEqual(withDefaults(m));
}

describe('fuzz: control-message decoder (msgpack + zod)', () => {
  it('random bytes: refused with E_FRAME unless they happen to be a valid message', () => {
    const rng = new Rng(SEED);
    const t: Tally = { cases: 0, accepted: 0, refused: 0 };
    for (let i = 0; i < 20_000; i++) {
      const bytes = rng.chance(0.2) ? Buffer.concat([Buffer.from([rng.int(256)]), rng.bytes(rng.length(2048))]) : rng.bytes(rng.length(512));
      checkControl(bytes, t, `random #${i}`);
      if (i % 1000 === 0) sentinel(rng);
    }
    console.log(`[fuzz] decodeControl random bytes: ${t.cases} cases, ${t.refused} refused, ${t.accepted} accepted`);
    expect(t.cases).toBe(20_000);
  });

  it('byte-mutated valid challenge/hello/welcome/refuse messages', () => {
    const rng = new Rng(SEED + 1);
    const t: Tally = { cases: 0, accepted: 0, refused: 0 };
    // Valid messages to start from (each needs HMACs, so a pool is made once).
    const pool = Array.from({ length: 300 }, () => Object.values(validMessages(rng, KEYS)).map((m) => encodeControl(m as never))).flat();
    for (let i = 0; i < 30_000; i++) {
      const base = rng.pick(pool);
      checkControl(mutateBytes(rng, base), t, `byte-mutation #${i}`);
      if (i % 1000 === 0) sentinel(rng);
    }
    console.log(`[fuzz] decodeControl byte mutations: ${t.cases} cases, ${t.refused} refused, ${t.accepted} accepted (mutations that kept a valid message)`);
    expect(t.refused).toBeGreaterThan(t.cases / 2);
  });

  it('structural mutations: wrong types, missing/extra keys, huge strings and arrays, deep nesting, ext types', () => {
    const rng = new Rng(SEED + 2);
    const t: Tally = { cases: 0, accepted: 0, refused: 0 };
    let unpackable = 0;
    const pool = Array.from({ length: 300 }, () => Object.values(validMessages(rng, KEYS))).flat();
    for (let i = 0; i < 25_000; i++) {
      const value = mutateMessage(rng, rng.pick(pool));
      const bytes = tryPack(value);
      if (!bytes) {
        unpackable++;
        i--;
        continue;
      }
      checkControl(bytes, t, `structural #${i}`);
      if (i % 1000 === 0) sentinel(rng);
    }
    console.log(`[fuzz] decodeControl structural mutations: ${t.cases} cases, ${t.refused} refused, ${t.accepted} accepted (${unpackable} values msgpackr cannot pack were redrawn)`);
    expect(t.refused).toBeGreaterThan(t.cases * 0.9);
  });

  it('a valid message is accepted however big it is allowed to be, and 1 byte over any limit is refused', () => {
    const max = { t: 'refuse', code: 'E'.repeat(40), reason: 'r'.repeat(500) };
    expect(decodeControl(encodeControl(max as never), 'x')).toEqual(max);
    for (const over of [{ ...max, code: 'E'.repeat(41) }, { ...max, reason: 'r'.repeat(501) }, { t: 'welcome', mac: 'a'.repeat(129) }]) {
      expect(() => decodeControl(encodeControl(over as never), 'x')).toThrow(RingError);
    }
  });

  it('a big control message is refused before it is unpacked (a hostile 30 MB array used to cost seconds and gigabytes)', () => {
    const n = 30_000_000;
    const bomb = Buffer.alloc(5 + n + 1); // array32 of n zeros, plus one trailing byte
    bomb[0] = 0xdd;
    bomb.writeUInt32BE(n, 1);
    for (const bytes of [bomb, tryPack({ t: 'welcome', mac: 'a'.repeat(8 << 20) })!, Buffer.alloc(MAX_CONTROL_BYTES + 1, 0x90)]) {
      const t0 = performance.now();
      expect(() => decodeControl(bytes, 'x')).toThrow(/over the 16384-byte limit/);
      expect(performance.now() - t0).toBeLessThan(50);
    }
  });
});

/** Independent reading of the 32-byte header (frame.ts layout), or null when it must be refused. */
function referenceHeader(b: Uint8Array): FrameHeader | null {
  if (b.length < HEADER_BYTES) return null;
  if (b[0] !== 0xa7 || b[1] !== 1 || b[3] > 2 || (b[4] !== 1 && b[4] !== 2) || b[5] || b[6] || b[7]) return null;
  const u32 = (at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
  return { codec: b[2], phase: b[3] as 0, dtype: b[4] as 1, generation: u32(8), step: u32(12), chunk: u32(16), segment: u32(20), count: u32(24), origin: u32(28) };
}

function checkHeader(bytes: Uint8Array, what: string): FrameHeader | null {
  const ref = referenceHeader(bytes);
  let got: FrameHeader;
  try {
    got = readHeader(bytes);
  } catch (e) {
    if (!(e instanceof RingError) || e.code !== 'E_FRAME') throw new Error(`${what}: readHeader threw ${String(e)}`);
    if (ref) throw new Error(`${what}: refused a valid header ${Buffer.from(bytes).toString('hex')}`);
    return null;
  }
  if (!ref) throw new Error(`${what}: accepted an invalid header ${Buffer.from(bytes).toString('hex')}`);
  expect(got).toEqual(ref);
  return got;
}

/** expectHeader must throw E_FRAME_MISMATCH naming the first differing field, or pass if none differs. */
function checkExpect(got: FrameHeader, want: FrameHeader, what: string): 'mismatch' | 'same' {
  const first = HEADER_FIELDS.find((f) => got[f] !== want[f]);
  try {
    expectHeader(got, want, 'fuzzer');
  } catch (e) {
    if (!(e instanceof RingError) || e.code !== 'E_FRAME_MISMATCH') throw new Error(`${what}: expectHeader threw ${String(e)}`);
    if (!first) throw new Error(`${what}: expectHeader refused identical headers`);
    expect(e.message).toContain(`has ${first}=`);
    return 'mismatch';
  }
  if (first) throw new Error(`${what}: expectHeader let ${first}=${got[first]} pass where ${want[first]} was expected`);
  return 'same';
}

describe('fuzz: data-frame header (readHeader + expectHeader)', () => {
  it('random bytes of every length around the header size', () => {
    const rng = new Rng(SEED + 3);
    let refused = 0;
    for (let i = 0; i < 5_000; i++) {
      const b = rng.bytes(rng.int(72));
      // Half the time start with the right magic/kind so the deeper checks are reached.
      if (rng.chance(0.5) && b.length >= 2) {
        b[0] = 0xa7;
        b[1] = 1;
        if (rng.chance(0.5) && b.length >= 8) b.fill(0, 5, 8);
      }
      if (checkHeader(b, `random #${i}`) === null) refused++;
    }
    console.log(`[fuzz] readHeader random bytes: 5000 cases, ${refused} refused`);
  });

  it('one byte of a valid header changed: refused, or read back exactly and caught by expectHeader', () => {
    const rng = new Rng(SEED + 4);
    const tally = { refused: 0, mismatch: 0, same: 0 };
    for (let i = 0; i < 10_000; i++) {
      const want = validHeader(rng);
      const b = headerBytes(want, rng.int(16));
      const at = rng.int(HEADER_BYTES);
      b[at] = rng.chance(0.5) ? rng.int(256) : b[at] ^ (1 << rng.int(8));
      const got = checkHeader(b, `byte #${i}`);
      if (!got) tally.refused++;
      else tally[checkExpect(got, want, `byte #${i}`)]++;
    }
    console.log(`[fuzz] header byte mutations: 10000 cases, ${tally.refused} refused by readHeader, ${tally.mismatch} by expectHeader, ${tally.same} unchanged (flip to the same value)`);
    expect(tally.same).toBeLessThan(100);
  });

  it('one field of a valid header set to another value: never summed (wrong generation/step/phase/chunk/segment/origin/codec/dtype/count)', () => {
    const rng = new Rng(SEED + 5);
    const byField = Object.fromEntries(HEADER_FIELDS.map((f) => [f, 0])) as Record<HeaderField, number>;
    for (let i = 0; i < 10_000; i++) {
      const want = validHeader(rng);
      const field = rng.pick(HEADER_FIELDS);
      const b = headerBytes(want);
      const [at, width] = FIELD_AT[field];
      const v = otherValue(rng, field, want[field]);
      if (width === 1) b[at] = v;
      else b.writeUInt32LE(v, at);
      const got = checkHeader(b, `field ${field} #${i}`);
      if (got) expect(checkExpect(got, want, `field ${field} #${i}`)).toBe('mismatch');
      byField[field]++;
    }
    console.log(`[fuzz] header field mutations: 10000 cases ${JSON.stringify(byField)}, all refused`);
  });
});
