import { describe, it, expect } from 'vitest';
import { DenseCodec, addChecked, simdKernel } from '../../src/codec/dense.js';

/** Deterministic floats of mixed magnitude and sign, -0 included. */
function values(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  let x = seed >>> 0;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    v[i] = i % 97 === 5 ? -0 : ((x / 2 ** 32) * 2 - 1) * 2 ** ((x >>> 27) - 12);
  }
  return v;
}

const same = (a: Float32Array, b: Float32Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

describe('dense add: WebAssembly SIMD kernel (the ring reduce-scatter add)', () => {
  it('is available on this Node (else the JS loop runs and the ring is slower)', () => {
    expect(simdKernel()).not.toBeNull();
  });

  it('adds bit-identically to the JS float32 loop, at any length and byte alignment', () => {
    const codec = new DenseCodec();
    for (const n of [0, 1, 15, 16, 17, 63, 64, 65, 1000, 16 * 1024 + 17, 70_001]) {
      const a = values(n, n + 1);
      const b = values(n, n + 2);
      const ref = a.slice();
      for (let i = 0; i < n; i++) ref[i] += b[i];
      const x = a.slice();
      expect(addChecked(x, b)).toBe(true);
      expect(same(x, ref), `addChecked n=${n}`).toBe(true);
      for (const off of [0, 1, 2, 3]) {
        const bytes = new Uint8Array(4 * n + off + 3).subarray(off, off + 4 * n);
        bytes.set(new Uint8Array(b.buffer));
        const y = a.slice();
        codec.decodeInto(bytes, y, 'add');
        expect(same(y, ref), `decodeInto add n=${n} offset ${off}`).toBe(true);
      }
    }
  });

  it('refuses NaN and ±Infinity anywhere (vector body and tail)', () => {
    const codec = new DenseCodec();
    for (const n of [64, 100, 16 * 1024 + 5]) {
      for (const pos of [0, 17, n - 1]) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const b = values(n, 9);
          b[pos] = bad;
          expect(addChecked(new Float32Array(n), b), `n=${n} pos=${pos} ${bad}`).toBe(false);
          expect(() => codec.decodeInto(new Uint8Array(b.buffer), new Float32Array(n), 'add')).toThrow(/only finite values/);
        }
      }
    }
  });
});
