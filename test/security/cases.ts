import { pack } from 'msgpackr';
import { HEADER_BYTES, writeHeader, type FrameHeader } from '../../src/transport/frame.js';
import { handshakeMac } from '../../src/membership/handshake.js';
import { CONTROL_MAGIC } from '../../src/transport/ws-link.js';

/** Seeded PRNG (mulberry32): every fuzz run is reproducible from its seed. */
export class Rng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  /** Mostly short, sometimes long: lengths a fuzzer should try. */
  length(max = 4096): number {
    const r = this.next();
    if (r < 0.5) return this.int(40);
    if (r < 0.85) return this.int(300);
    return this.int(max);
  }
  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[this.int(16)];
    return s;
  }
}

/** Bytes that msgpack, frame headers and length fields treat specially. */
const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc7, 0xc9, 0xca, 0xcb, 0xcf, 0xd4, 0xd8, 0xd9, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff, 0xa7];
/** msgpack ext type bytes msgpackr gives meaning to (records, errors, typed arrays, bundles, dates...). */
const EXT_TYPES = [0x00, 0x42, 0x62, 0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x78, 0xff, 0x40, 0x41];

/** One random byte-level mutation (flip, set, insert, delete, duplicate, truncate, splice). */
export function mutateBytes(rng: Rng, src: Uint8Array): Buffer {
  let b = Buffer.from(src);
  const rounds = rng.chance(0.7) ? 1 : rng.range(2, 8);
  for (let r = 0; r < rounds; r++) {
    const at = b.length ? rng.int(b.length) : 0;
    switch (rng.int(10)) {
      case 0:
        if (b.length) b[at] ^= 1 << rng.int(8);
        break;
      case 1:
        if (b.length) b[at] = rng.pick(INTERESTING_BYTES);
        break;
      case 2:
        if (b.length) b[at] = rng.int(256);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), rng.bytes(rng.range(1, 8)), b.subarray(at)]);
        break;
      case 4:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.range(1, 8)))]);
        break;
      case 5:
        b = b.subarray(0, at);
        break;
      case 6: {
        const n = rng.range(1, 16);
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + n), b.subarray(at)]);
        break;
      }
      case 7:
        b = Buffer.concat([b, rng.bytes(rng.range(1, 32))]);
        break;
      case 8:
        // An ext header with a type msgpackr interprets, spliced in.
        b = Buffer.concat([b.subarray(0, at), Buffer.from([rng.pick([0xd4, 0xd5, 0xd6, 0xc7]), ...(rng.chance(0.5) ? [rng.int(6)] : []), rng.pick(EXT_TYPES)]), rng.bytes(rng.int(9)), b.subarray(at)]);
        break;
      default:
        // A length byte pushed to a big value (str32/array32/map32 headers).
        b = Buffer.concat([b.subarray(0, at), Buffer.from([rng.pick([0xdb, 0xdd, 0xdf, 0xc6, 0xc9]), 0xff, 0xff, rng.int(256), rng.int(256)]), b.subarray(at)]);
    }
  }
  return b;
}

export interface HandshakeKeys {
  secret: string;
  configHash: string;
}

/** The four valid control messages (as the real peers would send them), as JS objects. */
export function validMessages(rng: Rng, k: HandshakeKeys, listenerNonce = rng.hex(32)): Record<string, Record<string, unknown>> {
  return {
    challenge: { t: 'challenge', nonce: rng.hex(32), rank: rng.int(8), version: 1 },
    hello: {
      t: 'hello',
      rank: 1,
      size: 3,
      configHash: k.configHash,
      generation: rng.int(4),
      nonce: rng.hex(32),
      mac: handshakeMac(k.secret, listenerNonce, 1, k.configHash, 'dialer'),
      version: 1,
      ...(rng.chance(0.5) ? { intent: rng.pick(['ring', 'join', 'probe']) } : {}),
      ...(rng.chance(0.3) ? { admit: rng.chance(0.5) } : {}),
    },
    welcome: { t: 'welcome', mac: handshakeMac(k.secret, rng.hex(32), 0, k.configHash, 'listener') },
    refuse: { t: 'refuse', code: 'E_AUTH', reason: 'no' },
    census: { t: 'census', generation: rng.int(9), id: rng.int(8) },
    'join-ack': { t: 'join-ack', generation: rng.int(9) },
  };
}

type FieldKind = 'lit' | 'hex' | 'uint' | 'pos' | 'int' | 'code' | 'reason' | 'intent?' | 'bool?';

/**
 * The wire protocol as documented (src/config/messages.ts must agree): fields and their kinds per
 * message type. A field whose kind ends in '?' is optional (and gets a default when absent).
 * Keep in step with messages.ts when a message is added.
 */
const SCHEMA: Record<string, Record<string, FieldKind>> = {
  challenge: { t: 'lit', nonce: 'hex', rank: 'uint', version: 'int' },
  hello: { t: 'lit', rank: 'uint', size: 'pos', configHash: 'hex', generation: 'uint', nonce: 'hex', mac: 'hex', version: 'int', intent: 'intent?', admit: 'bool?' },
  welcome: { t: 'lit', mac: 'hex' },
  refuse: { t: 'lit', code: 'code', reason: 'reason' },
  census: { t: 'lit', generation: 'uint', id: 'uint' },
  'join-ack': { t: 'lit', generation: 'uint' },
};

/** Defaults the decoder fills in for absent optional fields. */
export const DEFAULTS: Record<string, Record<string, unknown>> = { hello: { intent: 'ring', admit: false } };

/**
 * Independent reference for messages.ts: is this decoded value a valid control message? Written
 * by hand from the protocol description, not from the zod schema, so the two can disagree.
 */
export function referenceValid(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) return false;
  const o = v as Record<string, unknown>;
  const t = o.t;
  if (typeof t !== 'string' || !Object.hasOwn(SCHEMA, t)) return false;
  const shape = SCHEMA[t];
  for (const key of Object.keys(shape)) if (!shape[key].endsWith('?') && !Object.hasOwn(o, key)) return false;
  for (const key of Object.keys(o)) {
    if (!Object.hasOwn(shape, key)) return false;
    const x = o[key];
    switch (shape[key]) {
      case 'lit':
        break;
      case 'hex':
        if (typeof x !== 'string' || x.length > 128 || !/^[0-9a-f]*$/.test(x)) return false;
        break;
      case 'uint':
      case 'pos':
      case 'int':
        if (typeof x !== 'number' || !Number.isSafeInteger(x)) return false;
        if (shape[key] === 'uint' && x < 0) return false;
        if (shape[key] === 'pos' && x <= 0) return false;
        break;
      case 'code':
        if (typeof x !== 'string' || x.length > 40) return false;
        break;
      case 'reason':
        if (typeof x !== 'string' || x.length > 500) return false;
        break;
      case 'intent?':
        // Absent is fine; present must be one of the two intents (undefined counts as absent).
        if (x !== undefined && x !== 'ring' && x !== 'join' && x !== 'probe') return false;
        break;
      case 'bool?':
        if (x !== undefined && typeof x !== 'boolean') return false;
        break;
    }
  }
  return true;
}

/** Values of every msgpack/JS type, and of every size that matters to the schema. */
export function weirdValue(rng: Rng): unknown {
  switch (rng.int(30)) {
    case 0:
      return null;
    case 1:
      return undefined;
    case 2:
      return rng.chance(0.5);
    case 3:
      return -rng.range(1, 1e6);
    case 4:
      return rng.next() * 100;
    case 5:
      return rng.pick([NaN, Infinity, -Infinity, -0, 2 ** 53, 2 ** 64, -(2 ** 63), 2 ** 31, 2 ** 32, 1e308]);
    case 6:
      return '';
    case 7:
      return rng.hex(rng.range(129, 400));
    case 8:
      return 'x'.repeat(rng.pick([41, 129, 501, 4096, 65536]));
    case 9:
      return rng.hex(8).toUpperCase() + 'G';
    case 10:
      return `0x${rng.hex(6)}`;
    case 11:
      return [];
    case 12:
      return {};
    case 13:
      return new Map([[1, 2]]);
    case 14:
      return BigInt(rng.int(1000)) * 10n ** 20n;
    case 15:
      return new Date(rng.int(2 ** 31) * 1000);
    case 16:
      return rng.bytes(rng.int(64));
    case 17:
      return new Float32Array(rng.int(8));
    case 18: {
      let x: unknown = 1;
      for (let i = 0; i < rng.range(10, 3000); i++) x = [x];
      return x;
    }
    case 19:
      return new Array(rng.range(1, 5000)).fill(0);
    case 20:
      return new Set([1, 'a']);
    case 21:
      return /a+$/;
    case 22:
      return new Error('boom');
    case 23:
      return { t: 'hello' };
    case 24:
      return '\u0000\uffff\ud800';
    case 25:
      return rng.hex(rng.pick([0, 1, 31, 32, 33, 64, 127, 128]));
    case 26:
      return rng.range(0, 2 ** 31);
    case 27:
      return 'x'.repeat(rng.pick([40, 500]));
    case 28:
      return rng.pick(['challenge', 'hello', 'welcome', 'refuse', 'census', 'join-ack', 'join', 'ring', 'probe', 'HELLO', 'hello ', '__proto__', 'constructor', 'toString']);
    default:
      return 1;
  }
}

/**
 * One structural mutation of a valid message: a field changed to a weird value, removed, an
 * extra key, another message type's `t`, or no object at all. Returns the value to pack.
 */
export function mutateMessage(rng: Rng, msg: Record<string, unknown>): unknown {
  const out: Record<string, unknown> = { ...msg };
  const keys = Object.keys(out);
  const rounds = rng.chance(0.8) ? 1 : rng.range(2, 4);
  for (let r = 0; r < rounds; r++) {
    switch (rng.int(7)) {
      case 0:
      case 1:
      case 2:
        out[rng.pick(keys)] = weirdValue(rng);
        break;
      case 3:
        delete out[rng.pick(keys)];
        break;
      case 4:
        out[rng.pick(['extra', 'secret', '__proto__', 'constructor', 'prototype', 'T', 'mac2', ''])] = weirdValue(rng);
        break;
      case 5:
        out.t = rng.pick(['challenge', 'hello', 'welcome', 'refuse', 'census', 'join-ack', 'probe', 'data', '', 'Hello']);
        break;
      default:
        return rng.pick([weirdValue(rng), [out], Object.values(out), Object.keys(out).join(',')]);
    }
  }
  return out;
}

/** msgpack of a value, tolerating values msgpackr cannot pack (returns null then). */
export function tryPack(v: unknown): Buffer | null {
  try {
    return pack(v);
  } catch {
    return null;
  }
}

/** A control message as it goes on the wire: 0xC7 then msgpack. */
export function controlBytes(body: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([CONTROL_MAGIC]), body]);
}

export function validHeader(rng: Rng): FrameHeader {
  return {
    codec: rng.int(5),
    phase: rng.int(3) as 0 | 1 | 2,
    dtype: rng.chance(0.5) ? 1 : 2,
    generation: rng.int(2 ** 32),
    step: rng.int(1000),
    chunk: rng.int(64),
    segment: rng.int(64),
    count: rng.int(2 ** 20),
    origin: rng.int(64),
  };
}

export function headerBytes(h: FrameHeader, payloadBytes = 0): Buffer {
  const b = Buffer.alloc(HEADER_BYTES + payloadBytes);
  writeHeader(b, h);
  return b;
}

/** The header fields in the order expectHeader compares them. */
export const HEADER_FIELDS = ['generation', 'step', 'phase', 'chunk', 'segment', 'origin', 'codec', 'dtype', 'count'] as const;
export type HeaderField = (typeof HEADER_FIELDS)[number];

/** Byte offset and width of each header field (frame.ts layout). */
export const FIELD_AT: Record<HeaderField, [number, 1 | 4]> = {
  codec: [2, 1],
  phase: [3, 1],
  dtype: [4, 1],
  generation: [8, 4],
  step: [12, 4],
  chunk: [16, 4],
  segment: [20, 4],
  count: [24, 4],
  origin: [28, 4],
};

/** A different value for one field (still within the field's width). */
export function otherValue(rng: Rng, field: HeaderField, was: number): number {
  const width = FIELD_AT[field][1];
  const max = width === 1 ? 255 : 2 ** 32 - 1;
  for (;;) {
    const v = rng.pick([0, 1, 2, 3, max, max - 1, was + 1, was - 1, rng.int(max + 1), 2 ** 31]) >>> 0;
    if (v <= max && v !== was) return v;
  }
}

/** Cases and refusals per category, for the fuzz reports. */
export function tallyByCategory(outcomes: readonly { category: string; ok: boolean }[]): Map<string, { cases: number; refused: number }> {
  const byCategory = new Map<string, { cases: number; refused: number }>();
  for (const o of outcomes) {
    const t = byCategory.get(o.category) ?? { cases: 0, refused: 0 };
    t.cases++;
    if (o.ok) t.refused++;
    byCategory.set(o.category, t);
  }
  return byCategory;
}
