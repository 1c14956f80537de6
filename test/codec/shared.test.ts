import { describe, it, expect } from 'vitest';
import {
  MAX_SHARED_INT,
  SHARED_FORM_PACKED,
  SHARED_FORM_VARINT,
  SharedLevelsCodec,
  dequantizeLevels,
  localScale,
  quantizeToLevels,
} from '../../src/codec/shared.js';
import { RingError } from '../../src/errors.js';
import { ctxFor, edgeVectors, expectCodecError, expectSameBits, gaussianVector, intVector, refVarintSize, unaligned } from './util.js';

const codec = new SharedLevelsCodec();

function refSizes(v: Float32Array): { packed: number; varint: number } {
  let maxZ = 0;
  let varint = 0;
  for (const x of v) {
    const z = x >= 0 ? 2 * x : -2 * x - 1;
    maxZ = Math.max(maxZ, z);
    varint += refVarintSize(z);
  }
  let width = 0;
  while (maxZ >= 2 ** width) width++;
  return { packed: 2 + Math.ceil((v.length * width) / 8), varint: 2 + varint };
}

describe('quantizeToLevels', () => {
  it('rounds each value to one of its two neighbouring integers, |q| ≤ levels', () => {
    for (const [name, v] of edgeVectors()) {
      if (!Number.isFinite(localScale(v) * 2)) continue; // ±FLT_MAX: scale·levels overflows below
      for (const levels of [1, 4, 127, 2 ** 22]) {
        const scale = localScale(v);
        const q = quantizeToLevels(v, scale, levels, ctxFor(levels));
        expect(q.length).toBe(v.length);
        for (let i = 0; i < v.length; i++) {
          const x = scale === 0 ? 0 : (v[i] / scale) * levels;
          const ok = q[i] === Math.floor(x) || q[i] === Math.floor(x) + 1;
          if (!ok || Math.abs(q[i]) > levels || Object.is(q[i], -0) || (Number.isInteger(x) && q[i] !== x)) {
            expect.fail(`${name} levels=${levels} i=${i}: q = ${q[i]} for x = ${x}`);
          }
        }
      }
    }
  });

  it('is unbiased over many seeds (levels 1 and 4)', () => {
    const d = 32;
    const v = gaussianVector(d, 12);
    v[5] = 0;
    const scale = localScale(v) * 1.25; // some headroom, as when another peer has the max
    for (const [levels, M] of [
      [1, 20_000],
      [4, 10_000],
    ]) {
      const sum = new Float64Array(d);
      for (let k = 0; k < M; k++) {
        const q = quantizeToLevels(v, scale, levels, { seed: k, step: 0, rank: 0, chunk: 0, segment: 0 });
        dequantizeLevels(q, scale, levels, q);
        for (let i = 0; i < d; i++) sum[i] += q[i];
      }
      let z2 = 0, counted = 0;
      for (let i = 0; i < d; i++) {
        const x = (Math.abs(v[i]) / scale) * levels;
        const p = x - Math.floor(x);
        const sigma = (scale / levels) * Math.sqrt((p * (1 - p)) / M);
        const err = sum[i] / M - v[i];
        expect(Math.abs(err), `levels=${levels} i=${i}`).toBeLessThanOrEqual(6 * sigma + 1e-6 * scale);
        if (sigma > 0) (z2 += (err / sigma) ** 2), counted++;
      }
      expect(z2 / counted).toBeGreaterThan(0.4);
      expect(z2 / counted).toBeLessThan(1.8);
    }
  });

  it('error feedback keeps the residual below one level and the sums together', () => {
    const d = 200;
    const levels = 3;
    const residual = new Float32Array(d);
    const sumIn = new Float64Array(d);
    const sumOut = new Float64Array(d);
    const deq = new Float32Array(d);
    for (let t = 0; t < 500; t++) {
      const v = gaussianVector(d, 900 + t);
      const scale = localScale(v, residual);
      const before = residual.slice();
      const q = quantizeToLevels(v, scale, levels, ctxFor(4, residual, t));
      dequantizeLevels(q, scale, levels, deq);
      for (let i = 0; i < d; i++) {
        const expected = Math.fround(v[i] + before[i] - deq[i]);
        if (residual[i] !== expected) expect.fail(`t=${t} i=${i}: residual ${residual[i]} vs ${expected}`);
        if (Math.abs(residual[i]) > (scale / levels) * (1 + 1e-6)) expect.fail(`t=${t} i=${i}: residual beyond one level`);
        sumIn[i] += v[i];
        sumOut[i] += deq[i];
      }
    }
    for (let i = 0; i < d; i++) expect(Math.abs(sumOut[i] - sumIn[i] + residual[i])).toBeLessThan(1e-3);
  });

  it('throws when the scale is too small, without touching the residual', () => {
    const residual = new Float32Array([0.25, 0.25, 0.25]);
    expectCodecError(() => quantizeToLevels(new Float32Array([1, 2, 3]), 1e-9, 100, ctxFor(1, residual)), /index 0.*beyond 2\^24/);
    expect(Array.from(residual)).toEqual([0.25, 0.25, 0.25]);
    expectCodecError(() => quantizeToLevels(new Float32Array([0, 1]), 0, 4, ctxFor(1)), /index 1/);
    expect(Array.from(quantizeToLevels(new Float32Array([0, -0]), 0, 4, ctxFor(1)))).toEqual([0, 0]);
    expect(() => quantizeToLevels(new Float32Array(2), 1, 0, ctxFor(1))).toThrow(RingError);
    expect(() => quantizeToLevels(new Float32Array(2), Number.NaN, 4, ctxFor(1))).toThrow(RingError);
    expect(() => quantizeToLevels(new Float32Array(2), 1, 4, ctxFor(1, new Float32Array(1)))).toThrow(/residual/);
  });
});

describe('SharedLevelsCodec', () => {
  const vectors: Array<[string, Float32Array]> = [];
  for (const n of [0, 1, 7, 8, 9, 1000]) {
    vectors.push([`zeros n=${n}`, new Float32Array(n)]);
    vectors.push([`small n=${n}`, intVector(n, 3, n + 1)]);
    vectors.push([`wide n=${n}`, intVector(n, 100_000, n + 2)]);
    vectors.push([`max n=${n}`, intVector(n, MAX_SHARED_INT, n + 3)]);
    vectors.push([`all -2^24 n=${n}`, new Float32Array(n).fill(-MAX_SHARED_INT)]);
    vectors.push([`all 2^24 n=${n}`, new Float32Array(n).fill(MAX_SHARED_INT)]);
  }
  const outliers = intVector(5000, 2, 7, 0.5);
  outliers[100] = 5_000_000;
  vectors.push(['rare outlier', outliers]);
  vectors.push(['n=2^20 levels 127', intVector(2 ** 20, 127, 8)]);
  vectors.push(['n=2^20 mostly zero', intVector(2 ** 20, 5, 9, 0.95)]);

  it('round-trips exactly, set and add, at the smaller of the two sizes', () => {
    for (const [name, v] of vectors) {
      const bytes = codec.encode(v);
      const ref = refSizes(v);
      expect(bytes.length, name).toBe(Math.min(ref.packed, ref.varint));
      expect(bytes[0], name).toBe(ref.packed <= ref.varint ? SHARED_FORM_PACKED : SHARED_FORM_VARINT);
      const out = new Float32Array(v.length).fill(0.5);
      codec.decodeInto(unaligned(bytes), out, 'set');
      expectSameBits(out, v);
      const base = intVector(v.length, 1000, 3);
      const expected = new Float32Array(v.length);
      for (let i = 0; i < v.length; i++) expected[i] = base[i] + v[i];
      codec.decodeInto(bytes, base, 'add');
      expectSameBits(base, expected);
    }
  });

  it('maps -0 to +0', () => {
    const out = new Float32Array(2);
    codec.decodeInto(codec.encode(new Float32Array([-0, 1])), out, 'set');
    expect(Object.is(out[0], 0)).toBe(true);
  });

  it('refuses values that are not integers within ±2^24', () => {
    for (const bad of [0.5, -1.25, Number.NaN, Infinity, -Infinity, MAX_SHARED_INT + 2, -MAX_SHARED_INT - 2, 2 ** 31, 1e30]) {
      expectCodecError(() => codec.encode(new Float32Array([1, bad, 2])), /index 1/);
    }
  });

  it('sums exactly in any order around a ring', () => {
    const N = 4;
    const d = 10_000;
    const levels = Math.floor(MAX_SHARED_INT / N);
    const grads = Array.from({ length: N }, (_, r) => gaussianVector(d, 60 + r, r + 1));
    const scale = Math.max(...grads.map((g) => localScale(g)));
    const ints = grads.map((g, r) => quantizeToLevels(g, scale, levels, { seed: 5, step: 1, rank: r, chunk: 0, segment: 0 }));
    const exact = new Float64Array(d);
    for (const q of ints) for (let i = 0; i < d; i++) exact[i] += q[i];
    const sumInOrder = (order: number[]) => {
      const acc = ints[order[0]].slice();
      for (const r of order.slice(1)) {
        // each hop: decode the neighbour's running sum into ours, re-encode, pass on
        codec.decodeInto(codec.encode(ints[r]), acc, 'add');
        const relayed = new Float32Array(d);
        codec.decodeInto(codec.encode(acc), relayed, 'set');
        acc.set(relayed);
      }
      return acc;
    };
    const a = sumInOrder([0, 1, 2, 3]);
    const b = sumInOrder([3, 1, 0, 2]);
    expectSameBits(a, b);
    expectSameBits(a, Float32Array.from(exact));
  });

  it('rejects malformed frames and leaves out unchanged', () => {
    const out = new Float32Array(3).fill(6);
    const dec = (b: number[]) => () => codec.decodeInto(new Uint8Array(b), out, 'add');
    expectCodecError(dec([1]), /shorter than its header/);
    expectCodecError(dec([2, 0, 0]), /unknown form 2/);
    expectCodecError(dec([1, 27, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), /width 27/);
    expectCodecError(dec([1, 2, 0, 0]), /expected 3/); // 3 values × 2 bits = 1 byte
    expectCodecError(dec([1, 2]), /expected 3/);
    expectCodecError(dec([1, 2, 0x40]), /padding/);
    // width 26: 3 × 26 bits = 10 bytes; first value 2^25 + 1 exceeds 2^24 in magnitude
    expectCodecError(dec([1, 26, 0x01, 0x00, 0x00, 0x02, 0, 0, 0, 0, 0, 0]), /position 0 exceeds 2\^24/);
    expectCodecError(dec([0, 1, 0, 0, 0]), /non-zero width/);
    expectCodecError(dec([0, 0, 0, 0]), /cannot hold 3 varints/);
    expectCodecError(dec([0, 0, 0x80, 0x00, 0, 0]), /overlong/);
    expectCodecError(dec([0, 0, 0x80, 0x80, 0x80, 0x80, 0x01, 0, 0]), /longer than 4/);
    expectCodecError(dec([0, 0, 0x81, 0x80, 0x80, 0x10, 0, 0]), /exceeds the limit/); // 2^25 + 1
    expectCodecError(dec([0, 0, 0, 0, 0x81]), /past the end/);
    expectCodecError(dec([0, 0, 0, 0, 0, 0]), /trailing/);
    expect(Array.from(out)).toEqual([6, 6, 6]);
    // the largest magnitudes decode
    const ok = new Float32Array(2);
    codec.decodeInto(new Uint8Array([0, 0, 0x80, 0x80, 0x80, 0x10, 0xff, 0xff, 0xff, 0x0f]), ok, 'set');
    expect(Array.from(ok)).toEqual([MAX_SHARED_INT, -MAX_SHARED_INT]);
  });
});
