import { describe, it, expect } from 'vitest';
import { DenseCodec } from '../../src/codec/dense.js';
import { HOST_LE } from '../../src/codec/bytes.js';
import { ctxFor, edgeVectors, expectCodecError, expectSameBits, gaussianVector, unaligned } from './util.js';

const codec = new DenseCodec();
const ctx = ctxFor(1);

/** Reference: out[i] + v[i] rounded to f32, one element at a time. */
function refAdd(out: Float32Array, v: Float32Array): Float32Array {
  const r = new Float32Array(out.length);
  for (let i = 0; i < out.length; i++) r[i] = Math.fround(out[i] + v[i]);
  return r;
}

describe('DenseCodec', () => {
  it('round-trips bit for bit, aligned and unaligned, set and add', () => {
    const vectors = [...edgeVectors(), ['gaussian n=2^20', gaussianVector(2 ** 20, 9)] as [string, Float32Array]];
    for (const [, v] of vectors) {
      const bytes = codec.encode(v, ctx);
      expect(bytes.length).toBe(4 * v.length);
      const out = new Float32Array(v.length).fill(7);
      codec.decodeInto(bytes, out, 'set');
      expectSameBits(out, v);
      out.fill(7);
      codec.decodeInto(unaligned(bytes), out, 'set');
      expectSameBits(out, v);

      const base = gaussianVector(v.length, 5);
      const expected = refAdd(base, v);
      const acc = base.slice();
      codec.decodeInto(bytes, acc, 'add');
      expectSameBits(acc, expected);
      const acc2 = base.slice();
      codec.decodeInto(unaligned(bytes), acc2, 'add');
      expectSameBits(acc2, expected);
    }
  });

  it('encodes without copying on little-endian hosts (a view over the values)', () => {
    const host = gaussianVector(100, 3);
    const v = host.subarray(10, 20);
    const bytes = codec.encode(v, ctx);
    if (HOST_LE) {
      expect(bytes.buffer).toBe(host.buffer);
      expect(bytes.byteOffset).toBe(v.byteOffset);
      expect(bytes.byteLength).toBe(40);
    }
    const out = new Float32Array(10);
    codec.decodeInto(bytes, out, 'set');
    expectSameBits(out, v);
  });

  it('decodes into a subarray without touching its neighbours', () => {
    const v = gaussianVector(9, 4);
    const host = new Float32Array(13).fill(-5);
    codec.decodeInto(unaligned(codec.encode(v, ctx)), host.subarray(2, 11), 'add');
    expect(Array.from(host.subarray(0, 2))).toEqual([-5, -5]);
    expect(Array.from(host.subarray(11))).toEqual([-5, -5]);
  });

  it('rejects a wrong length and non-finite values', () => {
    const bytes = codec.encode(gaussianVector(8, 1), ctx);
    expectCodecError(() => codec.decodeInto(bytes, new Float32Array(7), 'set'), /expected 28/);
    expectCodecError(() => codec.decodeInto(bytes.subarray(0, 31), new Float32Array(8), 'set'));
    for (const bad of [Number.NaN, Infinity, -Infinity]) {
      for (const at of [0, 5, 7]) {
        const v = gaussianVector(8, 2);
        v[at] = bad;
        const b = codec.encode(v, ctx).slice();
        for (const mode of ['set', 'add'] as const) {
          expectCodecError(() => codec.decodeInto(b, new Float32Array(8), mode), new RegExp(`index ${at}`));
          expectCodecError(() => codec.decodeInto(unaligned(b), new Float32Array(8), mode), /only finite/);
        }
      }
    }
  });
});
