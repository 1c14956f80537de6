import { describe, it, expect } from 'vitest';
import { StochasticCodec, type StochasticImpl } from '../../src/codec/stochastic.js';
import { stochasticKernel } from '../../src/codec/stochastic-kernel.js';
import { Prng, PrngStream } from '../../src/codec/prng.js';
import { RingError } from '../../src/errors.js';
import type { EncodeContext } from '../../src/codec/codec.js';
import { ctxFor, expectSameBits, gaussianVector, mixedVector, rng, sameFrameBytes, sparseVector, unaligned } from './util.js';

/**
 * The stochastic codec's frames, residuals and decoded values are pinned to what the codec
 * produced before it got a WebAssembly kernel: `Reference` below is that code, copied unchanged
 * (with the byte helpers it used), so the codec is compared with independent code. Both of the
 * codec's paths (the JS loops and the kernel) must give the reference's bits, and reject exactly
 * the frames it rejects, with the same message, leaving out untouched.
 */
const hasKernel = stochasticKernel() !== null;
const FLT_MAX = 3.4028234663852886e38;

// ---- The reference: stochastic.ts and the bytes.ts helpers it used, before the kernel ----

const codecErr = (message: string): RingError => new RingError('E_CODEC', message);
const refBitsFor = (x: number): number => (x === 0 ? 0 : 32 - Math.clz32(x));
const refPackedBytes = (count: number, width: number): number => Math.ceil((count * width) / 8);
const refVarintSize = (x: number): number => 1 + +(x >= 0x80) + +(x >= 0x4000) + +(x >= 0x200000) + +(x >= 0x10000000);

function refWriteVarint(buf: Uint8Array, pos: number, x: number): number {
  while (x >= 0x80) {
    buf[pos++] = (x & 0x7f) | 0x80;
    x >>>= 7;
  }
  buf[pos++] = x;
  return pos;
}

class RefVarintReader {
  constructor(private readonly bytes: Uint8Array, public pos: number, private readonly end: number, private readonly what: string) {}
  next(max: number, maxBytes: number): number {
    const bytes = this.bytes;
    let pos = this.pos;
    let x = 0;
    let mul = 1;
    for (let k = 0; ; k++) {
      if (pos >= this.end) throw codecErr(`${this.what}: varint runs past the end of the frame`);
      if (k >= maxBytes) throw codecErr(`${this.what}: varint longer than ${maxBytes} bytes`);
      const b = bytes[pos++];
      x += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (b === 0 && k > 0) throw codecErr(`${this.what}: overlong varint at byte ${pos - 1}`);
        break;
      }
      mul *= 128;
    }
    if (x > max) throw codecErr(`${this.what}: varint value ${x} exceeds the limit ${max}`);
    this.pos = pos;
    return x;
  }
}

function refPackFields(src: Uint32Array, width: number, buf: Uint8Array, pos: number): number {
  if (width === 8) {
    buf.set(src, pos);
    return pos + src.length;
  }
  const split = width > 24;
  const lo = split ? 16 : width;
  const hi = split ? width - 16 : 0;
  const loMask = lo === 0 ? 0 : (1 << lo) - 1;
  let acc = 0;
  let nbits = 0;
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    acc |= (v & loMask) << nbits;
    nbits += lo;
    while (nbits >= 8) {
      buf[pos++] = acc;
      acc >>>= 8;
      nbits -= 8;
    }
    if (split) {
      acc |= (v >>> 16) << nbits;
      nbits += hi;
      while (nbits >= 8) {
        buf[pos++] = acc;
        acc >>>= 8;
        nbits -= 8;
      }
    }
  }
  if (nbits > 0) buf[pos++] = acc;
  return pos;
}

function refUnpackFields(buf: Uint8Array, pos: number, width: number, dst: Uint32Array): number {
  if (width === 8) {
    dst.set(buf.subarray(pos, pos + dst.length));
    return 0;
  }
  const split = width > 24;
  const lo = split ? 16 : width;
  const hi = split ? width - 16 : 0;
  const loMask = lo === 0 ? 0 : (1 << lo) - 1;
  const hiMask = (1 << hi) - 1;
  let acc = 0;
  let nbits = 0;
  for (let i = 0; i < dst.length; i++) {
    while (nbits < lo) {
      acc |= buf[pos++] << nbits;
      nbits += 8;
    }
    let v = acc & loMask;
    acc >>>= lo;
    nbits -= lo;
    if (split) {
      while (nbits < hi) {
        acc |= buf[pos++] << nbits;
        nbits += 8;
      }
      v += (acc & hiMask) * 0x10000;
      acc >>>= hi;
      nbits -= hi;
    }
    dst[i] = v;
  }
  return acc;
}

function refCodeValues(norm: number, s: number): Float32Array {
  const value = new Float32Array(2 * s + 2);
  for (let l = 1; l <= s; l++) {
    value[2 * l] = (norm * l) / s;
    value[2 * l + 1] = -value[2 * l];
  }
  return value;
}

function refRoundUpToF32(x: number): number {
  const f = Math.fround(x);
  if (f >= x || !Number.isFinite(f)) return f;
  const bits = new Uint32Array(new Float32Array([f]).buffer);
  bits[0] += 1;
  return new Float32Array(bits.buffer)[0];
}

const TWO_POW_32 = 4294967296;

/** The encoder and decoder as they were (fresh arrays instead of scratch: same values). */
class Reference {
  constructor(readonly levels: number) {}

  encode(values: Float32Array, ctx: EncodeContext): Uint8Array {
    const n = values.length;
    const s = this.levels;
    const res = ctx.residual;
    let u: Float32Array | Float64Array = values;
    if (res !== undefined) {
      u = new Float64Array(n);
      for (let i = 0; i < n; i++) u[i] = values[i] + res[i];
    }
    let sumSq = 0;
    for (let i = 0; i < n; i++) sumSq += u[i] * u[i];
    const norm = refRoundUpToF32(Math.sqrt(sumSq));
    if (!Number.isFinite(norm)) {
      throw codecErr(`stochastic encode: the norm of the segment is ${Math.sqrt(sumSq)}, beyond float32; only finite values can be sent`);
    }
    const codes = new Uint32Array(n);
    let count = 0;
    let gapBytes = 0;
    let prev = -1;
    let variance = 0;
    if (norm > 0) {
      const draws = new Uint32Array(n);
      Prng.fromKey(ctx, PrngStream.stochastic).fillUint32(draws);
      for (let i = 0; i < n; i++) {
        const x = u[i];
        const a = (Math.abs(x) / norm) * s;
        const floor = Math.floor(a);
        const p = a - floor;
        variance += p * (1 - p);
        let level = floor + +(draws[i] < p * TWO_POW_32);
        if (level > s) level = s;
        codes[i] = (level << 1) | (+(x < 0) & +(level > 0));
        if (level !== 0) {
          gapBytes += refVarintSize(i - prev - 1);
          prev = i;
          count++;
        }
      }
    }
    let sent = norm;
    if (res !== undefined && sumSq > 0) {
      const varianceAbs = variance * (norm / s) ** 2;
      sent = Math.fround((norm * sumSq) / (sumSq + varianceAbs));
      const value = refCodeValues(sent, s);
      for (let i = 0; i < n; i++) res[i] = u[i] - value[codes[i]];
    }
    const bp = 1 + refBitsFor(s);
    const bs = 1 + refBitsFor(s - 1);
    const packedSize = 8 + refPackedBytes(n, bp);
    const sparseSize = 12 + gapBytes + refPackedBytes(count, bs);
    const sparse = sparseSize < packedSize;
    const bytes = new Uint8Array(sparse ? sparseSize : packedSize);
    const dv = new DataView(bytes.buffer);
    bytes[0] = sparse ? 1 : 0;
    dv.setUint16(2, s, true);
    dv.setFloat32(4, sent, true);
    if (!sparse) {
      refPackFields(codes, bp, bytes, 8);
      return bytes;
    }
    dv.setUint32(8, count, true);
    let pos = 12;
    const nonzero = new Uint32Array(count);
    let j = 0;
    prev = -1;
    for (let i = 0; i < n; i++) {
      const c = codes[i];
      if (c !== 0) {
        pos = refWriteVarint(bytes, pos, i - prev - 1);
        prev = i;
        nonzero[j++] = c - 2;
      }
    }
    refPackFields(nonzero, bs, bytes, pos);
    return bytes;
  }

  decodeInto(bytes: Uint8Array, out: Float32Array, mode: 'set' | 'add'): void {
    const n = out.length;
    if (bytes.length < 8) throw codecErr(`stochastic frame: ${bytes.length} bytes is shorter than its header`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const form = bytes[0];
    if (bytes[1] !== 0) throw codecErr('stochastic frame: reserved header byte is not zero');
    const s = dv.getUint16(2, true);
    if (s === 0) throw codecErr('stochastic frame: levels s = 0');
    const norm = dv.getFloat32(4, true);
    if (!(norm >= 0) || !Number.isFinite(norm)) throw codecErr(`stochastic frame: norm must be finite and >= 0, got ${norm}`);
    const codes = new Uint32Array(n);
    if (form === 0) refReadPacked(bytes, s, codes);
    else if (form === 1) refReadSparse(bytes, s, codes);
    else throw codecErr(`stochastic frame: unknown form ${form}`);
    const value = refCodeValues(norm, s);
    if (mode === 'set') {
      for (let i = 0; i < n; i++) out[i] = value[codes[i]];
    } else {
      for (let i = 0; i < n; i++) out[i] += value[codes[i]];
    }
  }
}

function refReadPacked(bytes: Uint8Array, s: number, codes: Uint32Array): void {
  const n = codes.length;
  const bp = 1 + refBitsFor(s);
  const expected = 8 + refPackedBytes(n, bp);
  if (bytes.length !== expected) throw codecErr(`stochastic frame: ${bytes.length} bytes, expected ${expected} for ${n} values at s = ${s}`);
  if (refUnpackFields(bytes, 8, bp, codes) !== 0) throw codecErr('stochastic frame: padding bits after the last code are not zero');
  const maxCode = (s << 1) | 1;
  for (let i = 0; i < n; i++) {
    const c = codes[i];
    if (c > maxCode) throw codecErr(`stochastic frame: level ${c >>> 1} at position ${i} exceeds s = ${s}`);
    if (c === 1) throw codecErr(`stochastic frame: zero level with a sign at position ${i}`);
  }
}

function refReadSparse(bytes: Uint8Array, s: number, codes: Uint32Array): void {
  const n = codes.length;
  if (bytes.length < 12) throw codecErr(`stochastic frame: ${bytes.length} bytes is shorter than its sparse header`);
  const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  if (count > n) throw codecErr(`stochastic frame: count ${count} exceeds the segment length ${n}`);
  const bs = 1 + refBitsFor(s - 1);
  if (bytes.length < 12 + count + refPackedBytes(count, bs)) {
    throw codecErr(`stochastic frame: ${bytes.length} bytes cannot hold ${count} positions and levels`);
  }
  let reader = new RefVarintReader(bytes, 12, bytes.length, 'stochastic frame');
  let prev = -1;
  for (let j = 0; j < count; j++) {
    const i = prev + 1 + reader.next(0xffffffff, 5);
    if (i >= n) throw codecErr(`stochastic frame: position ${i} is outside the segment of ${n} values`);
    prev = i;
  }
  const expected = reader.pos + refPackedBytes(count, bs);
  if (bytes.length !== expected) throw codecErr(`stochastic frame: ${bytes.length} bytes, expected ${expected} for ${count} nonzero levels`);
  const nonzero = new Uint32Array(count);
  if (refUnpackFields(bytes, reader.pos, bs, nonzero) !== 0) throw codecErr('stochastic frame: padding bits after the last code are not zero');
  const maxCode = ((s - 1) << 1) | 1;
  for (let j = 0; j < count; j++) {
    if (nonzero[j] > maxCode) throw codecErr(`stochastic frame: level ${(nonzero[j] >>> 1) + 1} exceeds s = ${s}`);
  }
  codes.fill(0);
  reader = new RefVarintReader(bytes, 12, bytes.length, 'stochastic frame');
  prev = -1;
  for (let j = 0; j < count; j++) {
    const i = prev + 1 + reader.next(0xffffffff, 5);
    codes[i] = nonzero[j] + 2;
    prev = i;
  }
}

// ---- Inputs ----

const LEVELS = [1, 2, 3, 7, 8, 15, 16, 255, 256, 4095, 65535];
const LENGTHS = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 100, 257, 1000, 4097];

/** [name, values, residual?]: the shapes every path must agree on. */
function inputs(n: number, seed: number): Array<[string, Float32Array, Float32Array?]> {
  const r = rng(seed);
  const denormals = new Float32Array(n).map(() => (r() - 0.5) * 2 ** -140);
  const huge = gaussianVector(n, seed + 1).map((x) => x * 1e37); // the norm overflows f32 from a few values on
  const ints = new Float32Array(n).map(() => Math.round((r() - 0.5) * 8)); // many exact levels (p = 0)
  const g = gaussianVector(n, seed + 2);
  const cancel = g.map((x) => -x); // values + residual = 0: sumSq = 0, the residual stays as it is
  const oneHot = new Float32Array(n);
  if (n > 0) oneHot[n >> 1] = -3;
  return [
    ['gaussian', g],
    ['gaussian + residual', gaussianVector(n, seed + 3), gaussianVector(n, seed + 4, 0.3)],
    ['mixed', mixedVector(n, seed + 5)],
    ['mixed + residual', mixedVector(n, seed + 6), mixedVector(n, seed + 7)],
    ['sparse 2%', sparseVector(n, 0.02, seed + 8)],
    ['zeros', new Float32Array(n)],
    ['negative zeros', new Float32Array(n).fill(-0)],
    ['zeros + residual -0', new Float32Array(n), new Float32Array(n).fill(-0)],
    ['denormals', denormals],
    ['denormals + residual', denormals, denormals.map((x) => x / 2)],
    ['huge', huge],
    ['huge + residual', huge, huge],
    ['integers', ints],
    ['one hot', oneHot],
    ['cancelling residual', g, cancel],
    ['float32 max', new Float32Array(n).map((_, i) => (i === 0 ? FLT_MAX : i === 1 ? -1 : 0))],
  ];
}

const KEYS: EncodeContext[] = [
  { seed: 1, step: 0, rank: 0, chunk: 0, segment: 0 },
  { seed: 7, step: 123456789, rank: 3, chunk: 2, segment: 5 },
  { seed: -2, step: 2 ** 40 + 3, rank: 1, chunk: 0, segment: 1 },
];

type Outcome = { frame: Uint8Array; residual?: Float32Array } | { error: string };

function run(enc: (v: Float32Array, ctx: EncodeContext) => Uint8Array, v: Float32Array, r0: Float32Array | undefined, key: EncodeContext): Outcome {
  const residual = r0?.slice();
  try {
    return { frame: enc(v, { ...key, residual }), residual };
  } catch (e) {
    // The residual must be left alone on an error.
    if (r0) expectSameBits(residual!, r0);
    return { error: `${(e as RingError).code}: ${(e as Error).message}` };
  }
}

function expectSameOutcome(got: Outcome, want: Outcome, what: string): void {
  if ('error' in want) {
    expect('error' in got ? got.error : 'no error', what).toBe(want.error);
    return;
  }
  if ('error' in got) expect.fail(`${what}: threw ${got.error}`);
  if (!sameFrameBytes(got.frame, want.frame)) expect.fail(`${what}: frames differ (${got.frame.length} vs ${want.frame.length} bytes, forms ${got.frame[0]} / ${want.frame[0]})`);
  if (want.residual) expectSameBits(got.residual!, want.residual);
}

/** Decoding `frame` into a copy of `base`: the decoded bits, or the error (and out unchanged). */
function decodeOutcome(decode: (b: Uint8Array, o: Float32Array, m: 'set' | 'add') => void, frame: Uint8Array, base: Float32Array, mode: 'set' | 'add'): Float32Array | string {
  const out = base.slice();
  try {
    decode(frame, out, mode);
    return out;
  } catch (e) {
    expectSameBits(out, base);
    return `${(e as RingError).code}: ${(e as Error).message}`;
  }
}

function expectSameDecode(got: Float32Array | string, want: Float32Array | string, what: string): void {
  if (typeof want === 'string' || typeof got === 'string') {
    expect(typeof got === 'string' ? got : 'decoded', what).toBe(typeof want === 'string' ? want : 'decoded');
    return;
  }
  expectSameBits(got, want);
}

/** A decode target with -0, NaN and ordinary values (add mode turns -0 into +0 at zero codes). */
function target(n: number, seed: number): Float32Array {
  const t = mixedVector(n, seed);
  for (let i = 0; i < n; i += 7) t[i] = -0;
  if (n > 3) t[3] = Number.NaN;
  return t;
}

const IMPLS: StochasticImpl[] = hasKernel ? ['js', 'wasm', 'auto'] : ['js', 'auto'];

describe('StochasticCodec: every path gives the reference bits', () => {
  it('encodes bit-identically (frame, form, residual, errors) for every s, length, shape and key', () => {
    for (const s of LEVELS) {
      const ref = new Reference(s);
      const codecs = IMPLS.map((impl) => [impl, new StochasticCodec(s, impl)] as const);
      for (const n of LENGTHS) {
        for (const [name, v, r0] of inputs(n, 31 * s + n)) {
          for (const key of s === 7 || n === 1000 ? KEYS : KEYS.slice(0, 1)) {
            const want = run((x, c) => ref.encode(x, c), v, r0, key);
            for (const [impl, codec] of codecs) {
              expectSameOutcome(run((x, c) => codec.encode(x, c), v, r0, key), want, `${impl} s=${s} n=${n} ${name} seed=${key.seed}`);
            }
          }
        }
      }
    }
  });

  it('decodes bit-identically, set and add, into targets with -0 and NaN, from unaligned frames', () => {
    for (const s of LEVELS) {
      const ref = new Reference(s);
      const codecs = IMPLS.map((impl) => [impl, new StochasticCodec(s, impl)] as const);
      for (const n of LENGTHS) {
        for (const [name, v, r0] of inputs(n, 17 * s + n)) {
          const enc = run((x, c) => ref.encode(x, c), v, r0, KEYS[1]);
          if ('error' in enc) continue;
          for (const mode of ['set', 'add'] as const) {
            const base = target(n, s + n);
            const want = decodeOutcome((b, o, m) => ref.decodeInto(b, o, m), enc.frame, base, mode);
            for (const [impl, codec] of codecs) {
              const what = `${impl} s=${s} n=${n} ${name} ${mode}`;
              expectSameDecode(decodeOutcome((b, o, m) => codec.decodeInto(b, o, m), unaligned(enc.frame), base, mode), want, what);
            }
          }
        }
      }
    }
  });

  it('long segments: 2^17 + 3 values at s = 1, 7, 255 with and without a residual, both forms', () => {
    const n = 2 ** 17 + 3;
    const v = gaussianVector(n, 91);
    const r0 = gaussianVector(n, 92, 0.01);
    for (const s of [1, 7, 255]) {
      const ref = new Reference(s);
      for (const residual of [undefined, r0]) {
        const want = run((x, c) => ref.encode(x, c), v, residual, KEYS[1]);
        const base = target(n, 93);
        const wantDec = 'error' in want ? '' : decodeOutcome((b, o, m) => ref.decodeInto(b, o, m), want.frame, base, 'add');
        for (const impl of IMPLS) {
          const codec = new StochasticCodec(s, impl);
          const got = run((x, c) => codec.encode(x, c), v, residual, KEYS[1]);
          expectSameOutcome(got, want, `${impl} s=${s} residual=${!!residual}`);
          if (!('error' in want)) expectSameDecode(decodeOutcome((b, o, m) => codec.decodeInto(b, o, m), want.frame, base, 'add'), wantDec, `${impl} s=${s}`);
        }
      }
    }
  });

  it('a residual that evolves over many steps stays bit-identical (error feedback in training)', () => {
    for (const s of [1, 7]) {
      const ref = new Reference(s);
      const codecs = IMPLS.map((impl) => new StochasticCodec(s, impl));
      const n = 3001;
      const rs = [ref, ...codecs].map(() => new Float32Array(n));
      for (let t = 0; t < 30; t++) {
        const v = gaussianVector(n, 700 + t);
        const want = ref.encode(v, ctxFor(s, rs[0], t));
        codecs.forEach((c, k) => {
          const got = c.encode(v, ctxFor(s, rs[k + 1], t));
          expect(sameFrameBytes(got, want), `s=${s} t=${t} ${IMPLS[k]}`).toBe(true);
          expectSameBits(rs[k + 1], rs[0]);
        });
      }
    }
  });

  it('rejects exactly the frames the reference rejects, with its message, leaving out unchanged', () => {
    // Mutations of good frames of both forms: every byte changed, truncations, extensions.
    const r = rng(5);
    for (const [s, n, density] of [[1, 300, 1], [7, 97, 1], [7, 2000, 0.05], [255, 200, 1], [65535, 70, 1], [3, 5000, 0.01]] as const) {
      const ref = new Reference(s);
      const codecs = IMPLS.map((impl) => [impl, new StochasticCodec(s, impl)] as const);
      const v = density < 1 ? sparseVector(n, density, s + n) : gaussianVector(n, s + n);
      const good = ref.encode(v, KEYS[0]);
      const frames: Uint8Array[] = [good];
      for (let i = 0; i < good.length; i++) {
        for (const x of [good[i] ^ (1 << Math.floor(r() * 8)), 0, 0xff, 0x80, Math.floor(r() * 256)]) {
          const b = good.slice();
          b[i] = x;
          frames.push(b);
        }
      }
      for (const len of [0, 7, 8, 11, 12, 13, good.length - 2, good.length - 1]) if (len >= 0 && len < good.length) frames.push(good.slice(0, len));
      for (const extra of [[0], [0, 0], [1], [0x80, 0]]) frames.push(Uint8Array.from([...good, ...extra]));
      // The other form of the same s, and frames decoded at the wrong length.
      for (const [frame, len] of [...frames.map((f): [Uint8Array, number] => [f, n]), [good, n - 1], [good, n + 1], [good, 0]] as Array<[Uint8Array, number]>) {
        for (const mode of ['set', 'add'] as const) {
          const base = target(len, 3);
          const want = decodeOutcome((b, o, m) => ref.decodeInto(b, o, m), frame, base, mode);
          for (const [impl, codec] of codecs) {
            expectSameDecode(decodeOutcome((b, o, m) => codec.decodeInto(b, o, m), frame, base, mode), want, `${impl} s=${s} n=${len} frame ${frame.length}B ${mode}`);
          }
        }
      }
    }
  });

  it('random frames (hostile input): same verdict and bits as the reference', () => {
    const r = rng(11);
    const codecs = IMPLS.map((impl) => [impl, new StochasticCodec(1, impl)] as const);
    const ref = new Reference(1);
    for (let k = 0; k < 3000; k++) {
      const n = [64, 65, 100, 333][k & 3];
      const len = 8 + Math.floor(r() * 60);
      const b = new Uint8Array(len).map(() => Math.floor(r() * 256));
      b[0] = r() < 0.5 ? 0 : 1;
      b[1] = 0;
      b[2] = [1, 2, 3, 7, 255][Math.floor(r() * 5)];
      b[3] = 0;
      new DataView(b.buffer).setFloat32(4, r(), true);
      if (b[0] === 1 && len >= 12) new DataView(b.buffer).setUint32(8, Math.floor(r() * 20), true);
      const base = target(n, k);
      const want = decodeOutcome((x, o, m) => ref.decodeInto(x, o, m), b, base, 'add');
      for (const [impl, codec] of codecs) expectSameDecode(decodeOutcome((x, o, m) => codec.decodeInto(x, o, m), b, base, 'add'), want, `${impl} frame ${k}`);
    }
  });
});

describe.skipIf(!hasKernel)('StochasticCodec: the WebAssembly kernel', () => {
  it('runs for segments of 64 values and more under auto, and for any length when forced', () => {
    const auto = new StochasticCodec(7);
    expect(auto.implFor(63)).toBe('js');
    expect(auto.implFor(64)).toBe('wasm');
    expect(new StochasticCodec(7, hasKernel ? 'wasm' : 'js').implFor(0)).toBe(hasKernel ? 'wasm' : 'js');
    expect(new StochasticCodec(7, 'js').implFor(1 << 20)).toBe('js');
  });

  it('codecs of different s share the kernel: interleaved calls keep their own tables and bits', () => {
    const a = new StochasticCodec(3, 'wasm');
    const b = new StochasticCodec(65535, 'wasm');
    const refA = new Reference(3);
    const refB = new Reference(65535);
    const v = gaussianVector(500, 1);
    for (let t = 0; t < 4; t++) {
      const fa = a.encode(v, ctxFor(t));
      const fb = b.encode(v, ctxFor(t));
      expect(sameFrameBytes(fa, refA.encode(v, ctxFor(t)))).toBe(true);
      expect(sameFrameBytes(fb, refB.encode(v, ctxFor(t)))).toBe(true);
      for (const [codec, frame, ref] of [[a, fb, refB], [b, fa, refA], [a, fa, refA], [b, fb, refB]] as const) {
        const out = new Float32Array(500);
        const want = new Float32Array(500);
        codec.decodeInto(frame, out, 'set');
        ref.decodeInto(frame, want, 'set');
        expectSameBits(out, want);
      }
    }
  });
});
