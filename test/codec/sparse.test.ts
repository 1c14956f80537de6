import { describe, it, expect } from 'vitest';
import { SparseCodec, SPARSE_FORM_DENSE, SPARSE_FORM_SPARSE } from '../../src/codec/sparse.js';
import {
  ctxFor,
  edgeVectors,
  expectCodecError,
  expectSameBits,
  gaussianVector,
  refVarintSize,
  sparseVector,
  unaligned,
} from './util.js';

const codec = new SparseCodec();
const ctx = ctxFor(1);

/** Sizes of both forms, from a naive scan (bits ≠ 0 means "stored", so -0 is stored). */
function refSizes(v: Float32Array): { dense: number; sparse: number; count: number } {
  const bits = new Uint32Array(v.buffer, v.byteOffset, v.length);
  let count = 0;
  let gaps = 0;
  let prev = -1;
  for (let i = 0; i < v.length; i++) {
    if (bits[i] !== 0) {
      gaps += refVarintSize(i - prev - 1);
      prev = i;
      count++;
    }
  }
  return { dense: 4 + 4 * v.length, sparse: 8 + 4 * count + gaps, count };
}

function frame(...parts: number[][]): Uint8Array {
  return new Uint8Array(parts.flat());
}
const f32 = (x: number) => Array.from(new Uint8Array(new Float32Array([x]).buffer));
const u32 = (x: number) => [x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24];

describe('SparseCodec', () => {
  const vectors: Array<[string, Float32Array]> = [...edgeVectors()];
  for (const density of [0, 0.0001, 0.001, 0.01, 0.1, 0.5, 0.8, 0.9, 1]) {
    vectors.push([`density ${density}`, sparseVector(5000, density, Math.round(density * 1e4) + 1)]);
  }
  vectors.push(['density 0.001 n=2^20', sparseVector(2 ** 20, 0.001, 77)]);
  vectors.push(['dense n=2^20', gaussianVector(2 ** 20, 78)]);

  it('round-trips bit for bit (including -0), set and add, aligned and unaligned', () => {
    for (const [, v] of vectors) {
      const bytes = codec.encode(v, ctx);
      const out = new Float32Array(v.length).fill(3);
      codec.decodeInto(bytes, out, 'set');
      expectSameBits(out, v);
      out.fill(3);
      codec.decodeInto(unaligned(bytes), out, 'set');
      expectSameBits(out, v);

      const base = gaussianVector(v.length, 11);
      const expected = new Float32Array(v.length);
      // Reference add: merge into the accumulator; positions the frame does not carry are +0
      // and leave the accumulator as it was.
      for (let i = 0; i < v.length; i++) expected[i] = Object.is(v[i], 0) ? base[i] : Math.fround(base[i] + v[i]);
      const acc = base.slice();
      codec.decodeInto(unaligned(bytes), acc, 'add');
      expectSameBits(acc, expected);
    }
  });

  it('sends whichever form is smaller, with the exact sizes', () => {
    for (const [name, v] of vectors) {
      const bytes = codec.encode(v, ctx);
      const ref = refSizes(v);
      const expectSparse = ref.sparse < ref.dense;
      expect(bytes[0], name).toBe(expectSparse ? SPARSE_FORM_SPARSE : SPARSE_FORM_DENSE);
      expect(bytes.length, name).toBe(Math.min(ref.sparse, ref.dense));
      expect(bytes.length, name).toBeLessThanOrEqual(4 + 4 * v.length);
    }
  });

  it('costs about varint + 4 bytes per nonzero below the break-even density', () => {
    const n = 100_000;
    for (const density of [0.001, 0.01, 0.1]) {
      const v = sparseVector(n, density, 5);
      const ref = refSizes(v);
      const bytes = codec.encode(v, ctx);
      const perNonzero = (bytes.length - 8) / ref.count;
      // Mean gap 1/density: ⌈log2(1/density) / 7⌉ bytes of varint, roughly.
      const varint = Math.ceil(Math.log2(1 / density) / 7);
      expect(perNonzero).toBeGreaterThanOrEqual(4 + 1);
      expect(perNonzero).toBeLessThanOrEqual(4 + varint + 0.5);
    }
  });

  it('switches to dense between 75% and 85% density for scattered positions', () => {
    // With 1-byte gaps a nonzero costs 5 bytes against 4 per element: break-even near 4/5.
    const n = 20_000;
    let lastSparse = 0;
    for (let d = 0.5; d <= 1; d += 0.01) {
      if (codec.encode(sparseVector(n, d, 9), ctx)[0] === SPARSE_FORM_SPARSE) lastSparse = d;
    }
    expect(lastSparse).toBeGreaterThan(0.75);
    expect(lastSparse).toBeLessThan(0.85);
  });

  it('rejects malformed frames', () => {
    const n = 10;
    const out = () => new Float32Array(n);
    const dec = (b: Uint8Array) => () => codec.decodeInto(b, out(), 'set');
    expectCodecError(dec(frame([])), /shorter than its header/);
    expectCodecError(dec(frame([2, 0, 0, 0])), /unknown form 2/);
    expectCodecError(dec(frame([1, 1, 0, 0], u32(0))), /reserved/);
    expectCodecError(dec(frame([1, 0, 0, 0], u32(11))), /count 11 exceeds/);
    expectCodecError(dec(frame([1, 0, 0, 0], u32(0xffffffff))), /count 4294967295 exceeds/);
    expectCodecError(dec(frame([1, 0, 0, 0], u32(2), f32(1))), /cannot hold/);
    // position 10 is outside n = 10
    expectCodecError(dec(frame([1, 0, 0, 0], u32(1), f32(1), [10])), /outside the segment/);
    // second position: 9 + 1 + 0 = 10
    expectCodecError(dec(frame([1, 0, 0, 0], u32(2), f32(1), f32(2), [9, 0])), /outside the segment/);
    // overlong: 0x81 0x00 is 1 written in two bytes
    expectCodecError(dec(frame([1, 0, 0, 0], u32(1), f32(1), [0x81, 0x00])), /overlong/);
    // runs past the end
    expectCodecError(dec(frame([1, 0, 0, 0], u32(1), f32(1), [0x81])), /past the end/);
    // 6-byte varint
    expectCodecError(dec(frame([1, 0, 0, 0], u32(1), f32(1), [0x80, 0x80, 0x80, 0x80, 0x80, 0x01])), /longer than 5/);
    // trailing byte
    expectCodecError(dec(frame([1, 0, 0, 0], u32(1), f32(1), [3, 0])), /trailing/);
    // non-finite value
    expectCodecError(dec(frame([1, 0, 0, 0], u32(1), f32(Number.NaN), [3])), /NaN/);
    expectCodecError(dec(frame([1, 0, 0, 0], u32(1), f32(-Infinity), [3])), /Infinity/);
    // dense form: wrong length, non-finite
    expectCodecError(dec(frame([0, 0, 0, 0], ...Array.from({ length: 9 }, () => f32(1)))), /expected 40/);
    expectCodecError(dec(frame([0, 0, 0, 0], ...Array.from({ length: 10 }, (_, i) => f32(i === 4 ? Infinity : 1)))), /index 4/);
    // a valid frame for this shape decodes
    const ok = new Float32Array(n);
    codec.decodeInto(frame([1, 0, 0, 0], u32(2), f32(1.5), f32(-2), [3, 5]), ok, 'set');
    expect(Array.from(ok)).toEqual([0, 0, 0, 1.5, 0, 0, 0, 0, 0, -2]);
  });

  it('leaves out unchanged when a sparse-form frame is rejected', () => {
    const out = new Float32Array(10).fill(4);
    expectCodecError(() => codec.decodeInto(frame([1, 0, 0, 0], u32(2), f32(1), f32(Number.NaN), [1, 1]), out, 'add'));
    expect(Array.from(out)).toEqual(new Array(10).fill(4));
  });
});
