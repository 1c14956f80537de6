import { describe, it, expect } from 'vitest';
import { StochasticCodec, STOCHASTIC_FORM_PACKED, STOCHASTIC_FORM_SPARSE } from '../../src/codec/stochastic.js';
import { RingError } from '../../src/errors.js';
import { ctxFor, edgeVectors, expectCodecError, gaussianVector, refVarintSize, sparseVector, unaligned } from './util.js';

const storedNorm = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset).getFloat32(4, true);

function f64Norm(v: Float32Array, r?: Float32Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) {
    const u = v[i] + (r ? r[i] : 0);
    s += u * u;
  }
  return Math.sqrt(s);
}

/** Every decoded value is 0 or ±N·l/s or ±N·(l+1)/s with l = ⌊s|v_i|/N⌋ and the sign of v_i. */
function expectOnLevels(v: Float32Array, decoded: Float32Array, N: number, s: number): void {
  for (let i = 0; i < v.length; i++) {
    const d = decoded[i];
    if (v[i] === 0) {
      if (d !== 0) expect.fail(`index ${i}: zero input decoded to ${d}`);
      continue;
    }
    const l = Math.floor((Math.abs(v[i]) / N) * s);
    const allowed = [0, Math.fround((N * l) / s), Math.fround((N * Math.min(l + 1, s)) / s)];
    if (d !== 0 && Math.sign(d) !== Math.sign(v[i])) expect.fail(`index ${i}: sign of ${d} differs from ${v[i]}`);
    if (!allowed.includes(Math.abs(d)) || (Math.abs(d) === 0 && l > 0)) {
      expect.fail(`index ${i}: ${d} is not on the levels ${allowed} (v = ${v[i]}, N = ${N}, s = ${s})`);
    }
  }
}

/** Both form sizes from the decoded levels, computed naively. */
function refSize(decoded: Float32Array, s: number): { packed: number; sparse: number } {
  const n = decoded.length;
  const bp = 1 + Math.ceil(Math.log2(s + 1));
  const bs = 1 + Math.ceil(Math.log2(s));
  let k = 0, gaps = 0, prev = -1;
  for (let i = 0; i < n; i++) {
    if (decoded[i] !== 0) {
      gaps += refVarintSize(i - prev - 1);
      prev = i;
      k++;
    }
  }
  return { packed: 8 + Math.ceil((n * bp) / 8), sparse: 12 + gaps + Math.ceil((k * bs) / 8) };
}

describe('StochasticCodec', () => {
  it('decodes onto the QSGD levels, with the norm rounded up to f32, at exact sizes', () => {
    const vectors: Array<[string, Float32Array]> = [
      ...edgeVectors(),
      ['sparse 1%', sparseVector(3000, 0.01, 3)],
      ['gaussian n=2^20', gaussianVector(2 ** 20, 4)],
    ];
    for (const s of [1, 2, 3, 4, 7, 16, 255, 65535]) {
      const codec = new StochasticCodec(s);
      for (const [name, v] of vectors) {
        if (v.length === 2 ** 20 && s !== 1 && s !== 4) continue;
        const norm = f64Norm(v);
        if (norm > 3.4028234663852886e38) {
          // ±FLT_MAX entries: the norm itself is not a float32.
          expectCodecError(() => codec.encode(v, ctxFor(s)), /beyond float32/);
          continue;
        }
        const bytes = codec.encode(v, ctxFor(s));
        const N = storedNorm(bytes);
        expect(N, name).toBeGreaterThanOrEqual(norm);
        expect(N, name).toBeLessThanOrEqual(norm * (1 + 2 ** -23) + 1e-45);
        const out = new Float32Array(v.length);
        codec.decodeInto(unaligned(bytes), out, 'set');
        expectOnLevels(v, out, N, s);
        const ref = refSize(out, s);
        expect(bytes.length, `${name} s=${s}`).toBe(Math.min(ref.packed, ref.sparse));
        expect(bytes[0]).toBe(ref.sparse < ref.packed ? STOCHASTIC_FORM_SPARSE : STOCHASTIC_FORM_PACKED);
      }
    }
  });

  it('is unbiased: the mean over many seeds converges to v (s = 1 and s = 4)', () => {
    const d = 32;
    const v = gaussianVector(d, 5);
    v[3] = 0;
    v[7] = -0;
    for (const [s, M] of [
      [1, 20_000],
      [4, 10_000],
    ]) {
      const codec = new StochasticCodec(s);
      const sum = new Float64Array(d);
      const out = new Float32Array(d);
      let N = 0;
      for (let k = 0; k < M; k++) {
        const bytes = codec.encode(v, { seed: k, step: 3, rank: 0, chunk: 0, segment: 0 });
        N = storedNorm(bytes);
        codec.decodeInto(bytes, out, 'add');
        for (let i = 0; i < d; i++) sum[i] += out[i];
        out.fill(0);
      }
      let z2 = 0, counted = 0;
      for (let i = 0; i < d; i++) {
        const x = (Math.abs(v[i]) / N) * s;
        const p = x - Math.floor(x);
        const sigma = Math.sqrt(((N / s) ** 2 * p * (1 - p)) / M);
        const err = sum[i] / M - v[i];
        expect(Math.abs(err), `s=${s} i=${i}`).toBeLessThanOrEqual(6 * sigma + 1e-6 * N);
        if (sigma > 0) (z2 += (err / sigma) ** 2), counted++;
      }
      // The spread matches the binomial variance too (flips independent across seeds).
      expect(z2 / counted).toBeGreaterThan(0.4);
      expect(z2 / counted).toBeLessThan(1.8);
    }
  });

  it('uses the PRNG keyed by the context: same key, same bytes; other keys, other bytes', () => {
    const v = gaussianVector(500, 6);
    const codec = new StochasticCodec(2);
    const a = codec.encode(v, ctxFor(9));
    expect(codec.encode(v, ctxFor(9))).toEqual(a);
    expect(codec.encode(v, { ...ctxFor(9), rank: 2 })).not.toEqual(a);
    expect(codec.encode(v, ctxFor(9, undefined, 1))).not.toEqual(a);
  });

  it('error feedback: residual = u - decoded, the residual stays bounded, the sums track each other', () => {
    const d = 300;
    const T = 1000;
    const codec = new StochasticCodec(1);
    const residual = new Float32Array(d);
    const sumIn = new Float64Array(d);
    const sumOut = new Float64Array(d);
    const out = new Float32Array(d);
    let maxResidual = 0;
    let maxResidualFirstHalf = 0;
    for (let t = 0; t < T; t++) {
      if (t === T / 2) maxResidualFirstHalf = maxResidual;
      const v = gaussianVector(d, 500 + t);
      const before = residual.slice();
      const bytes = codec.encode(v, ctxFor(2, residual, t));
      const N = storedNorm(bytes);
      // Sent scale α·||u|| with 0 < α ≤ 1 (the contraction that keeps the residual bounded).
      expect(N).toBeLessThanOrEqual(f64Norm(v, before) * (1 + 2 ** -23));
      expect(N).toBeGreaterThan(0);
      codec.decodeInto(bytes, out, 'set');
      for (let i = 0; i < d; i++) {
        const expected = Math.fround(v[i] + before[i] - out[i]);
        if (residual[i] !== expected) expect.fail(`t=${t} i=${i}: residual ${residual[i]} vs ${expected}`);
        sumIn[i] += v[i];
        sumOut[i] += out[i];
        maxResidual = Math.max(maxResidual, Math.abs(residual[i]));
      }
    }
    let err = 0;
    for (let i = 0; i < d; i++) err = Math.max(err, Math.abs(sumOut[i] - sumIn[i] + residual[i]));
    expect(err).toBeLessThan(1e-3);
    expect(maxResidual).toBeLessThan(2 * maxResidualFirstHalf);
  });

  it('with s = 1 on n = 2^20 sends ~√n nonzeros in the sparse form', () => {
    const n = 2 ** 20;
    const bytes = new StochasticCodec(1).encode(gaussianVector(n, 8), ctxFor(1));
    expect(bytes[0]).toBe(STOCHASTIC_FORM_SPARSE);
    // E[#nonzero] = Σ|v_i|/||v|| ≈ √(2n/π) ≈ 817; each costs ≤ 3 varint bytes + 1 bit.
    expect(bytes.length).toBeLessThan(12 + 1200 * 3.2);
    expect(bytes.length).toBeLessThan((8 + n / 4) / 50);
  });

  it('rejects bad levels at construction', () => {
    for (const s of [0, -1, 1.5, 65536, Number.NaN]) expect(() => new StochasticCodec(s)).toThrow(RingError);
  });

  it('rejects malformed frames and leaves out unchanged', () => {
    const out = new Float32Array(3).fill(9);
    const dec = (b: number[] | Uint8Array, n = 3) => () =>
      new StochasticCodec(1).decodeInto(b instanceof Uint8Array ? b : new Uint8Array(b), n === 3 ? out : new Float32Array(n), 'add');
    const head = (form: number, s: number, norm: number) => {
      const b = new Uint8Array(8);
      const dv = new DataView(b.buffer);
      b[0] = form;
      dv.setUint16(2, s, true);
      dv.setFloat32(4, norm, true);
      return Array.from(b);
    };
    const u32 = (x: number) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24];
    expectCodecError(dec([0, 0, 1, 0, 0, 0, 0]), /shorter than its header/);
    // s = 4: 4-bit codes, n = 3 → 2 bytes after the header
    expectCodecError(dec([...head(0, 4, 1), 0x00, 0x00].map((x, i) => (i === 1 ? 1 : x))), /reserved/);
    expectCodecError(dec([...head(0, 0, 1), 0x00, 0x00]), /s = 0/);
    expectCodecError(dec([...head(0, 4, Number.NaN), 0x00, 0x00]), /norm/);
    expectCodecError(dec([...head(0, 4, -1), 0x00, 0x00]), /norm/);
    expectCodecError(dec([...head(0, 4, Infinity), 0x00, 0x00]), /norm/);
    expectCodecError(dec([...head(2, 4, 1), 0x00, 0x00]), /unknown form 2/);
    expectCodecError(dec([...head(0, 4, 1), 0x00]), /expected 10/);
    expectCodecError(dec([...head(0, 4, 1), 0x00, 0x00, 0x00]), /expected 10/);
    expectCodecError(dec([...head(0, 4, 1), 0x0a, 0x00]), /level 5 at position 0 exceeds s = 4/);
    expectCodecError(dec([...head(0, 4, 1), 0x10, 0x00]), /zero level with a sign at position 1/);
    expectCodecError(dec([...head(0, 4, 1), 0x00, 0x10]), /padding/);
    // sparse form, s = 3: 3-bit codes (level - 1) << 1 | negative
    expectCodecError(dec([...head(1, 3, 1), 1, 0, 0]), /sparse header/);
    expectCodecError(dec([...head(1, 3, 1), ...u32(4), 0, 0, 0, 0, 0]), /count 4 exceeds/);
    expectCodecError(dec([...head(1, 3, 1), ...u32(0xffffffff), 0, 0, 0, 0, 0]), /count 4294967295/);
    expectCodecError(dec([...head(1, 3, 1), ...u32(2), 0]), /cannot hold/);
    expectCodecError(dec([...head(1, 3, 1), ...u32(1), 3, 0]), /outside the segment/);
    expectCodecError(dec([...head(1, 3, 1), ...u32(1), 0x80, 0]), /overlong|past the end/);
    expectCodecError(dec([...head(1, 3, 1), ...u32(1), 1, 0, 0]), /expected 14/);
    expectCodecError(dec([...head(1, 3, 1), ...u32(1), 1, 6]), /level 4 exceeds s = 3/);
    expectCodecError(dec([...head(1, 3, 1), ...u32(1), 1, 0x08]), /padding/);
    expect(Array.from(out)).toEqual([9, 9, 9]);
    // ... and a good sparse frame of another s decodes: position 1, level 3 of 3, negative
    const good = new Float32Array(3);
    new StochasticCodec(1).decodeInto(new Uint8Array([...head(1, 3, 1.5), ...u32(1), 1, 5]), good, 'set');
    expect(Array.from(good)).toEqual([0, -1.5, 0]);
  });
});
