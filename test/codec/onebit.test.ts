import { describe, it, expect } from 'vitest';
import { OneBitCodec } from '../../src/codec/onebit.js';
import { oneBitKernel } from '../../src/codec/onebit-kernel.js';
import { ctxFor, edgeVectors, expectCodecError, expectSameBits, gaussianVector, unaligned } from './util.js';

/**
 * Naive 1-bit: u = v + r rounded to f32; avg+ / avg- are the means of u ≥ 0 / u < 0, summed left
 * to right in f64 and rounded to f32 (the codec sums in four lanes: the same f32 result except
 * in rare ties, see onebit-kernel.test.ts); decoded = the matching scale; new residual =
 * u - decoded in f32.
 */
function refOneBit(v: Float32Array, r?: Float32Array): { decoded: Float32Array; residual: Float32Array } {
  const n = v.length;
  const u = new Float32Array(n);
  for (let i = 0; i < n; i++) u[i] = v[i] + (r ? r[i] : 0);
  let sp = 0, cp = 0, sn = 0, cn = 0;
  for (let i = 0; i < n; i++) {
    if (u[i] >= 0) (sp += u[i]), cp++;
    else (sn += u[i]), cn++;
  }
  const pos = cp ? Math.fround(sp / cp) : 0;
  const neg = cn ? Math.fround(sn / cn) : 0;
  const decoded = new Float32Array(n);
  const residual = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    decoded[i] = u[i] >= 0 ? pos : neg;
    residual[i] = u[i] - decoded[i];
  }
  return { decoded, residual };
}

// Every test runs on the JS loops and on the WebAssembly kernel (forced even for short segments).
const impls = oneBitKernel() ? (['js', 'wasm'] as const) : (['js'] as const);

describe.each(impls)('OneBitCodec (%s)', (impl) => {
  const codec = new OneBitCodec(impl);
  const vectors: Array<[string, Float32Array]> = [
    ...edgeVectors(),
    ['gaussian n=2^20', gaussianVector(2 ** 20, 21)],
    ['shifted n=1001', gaussianVector(1001, 22).map((x) => x + 0.7)],
  ];

  it('decodes to the exact f32 means of each sign, with size 8 + ceil(n/8)', () => {
    for (const [name, v] of vectors) {
      const bytes = codec.encode(v, ctxFor(1));
      expect(bytes.length, name).toBe(8 + Math.ceil(v.length / 8));
      const out = new Float32Array(v.length);
      codec.decodeInto(unaligned(bytes), out, 'set');
      expectSameBits(out, refOneBit(v).decoded);
    }
  });

  it('adds into out', () => {
    const v = gaussianVector(1003, 23);
    const base = gaussianVector(1003, 24);
    const ref = refOneBit(v).decoded;
    const acc = base.slice();
    codec.decodeInto(codec.encode(v, ctxFor(1)), acc, 'add');
    const expected = base.map((b, i) => Math.fround(b + ref[i]));
    expectSameBits(acc, expected);
  });

  it('treats -0 as non-negative and all-zero as zero', () => {
    const out = new Float32Array(9).fill(5);
    codec.decodeInto(codec.encode(new Float32Array(9).fill(-0), ctxFor(1)), out, 'set');
    expect(Array.from(out)).toEqual(new Array(9).fill(0));
    const bytes = codec.encode(new Float32Array([-0, -1, 2]), ctxFor(1));
    expect(bytes[8]).toBe(0b101);
  });

  it('with a residual encodes values + residual and keeps the error', () => {
    for (const [name, v] of vectors) {
      const r0 = gaussianVector(v.length, 31, 0.3);
      const residual = r0.slice();
      const bytes = codec.encode(v, ctxFor(1, residual));
      const ref = refOneBit(v, r0);
      const out = new Float32Array(v.length);
      codec.decodeInto(bytes, out, 'set');
      expectSameBits(out, ref.decoded);
      expect(name && residual.length).toBe(v.length);
      expectSameBits(residual, ref.residual);
    }
  });

  it('error feedback: the sum of decoded values tracks the sum of inputs, residual stays bounded', () => {
    // The residual saturates (here at a few tens) while the sums grow like T, so the average of
    // the decoded values converges to the average input; without feedback it does not.
    const d = 200;
    const T = 2000;
    const residual = new Float32Array(d);
    const sumIn = new Float64Array(d);
    const sumOutFb = new Float64Array(d);
    const sumOutNoFb = new Float64Array(d);
    const out = new Float32Array(d);
    let maxResidualFirstHalf = 0;
    let maxResidualSecondHalf = 0;
    // A fixed direction plus noise, like a gradient near a stable point.
    const drift = gaussianVector(d, 40, 0.5);
    for (let t = 0; t < T; t++) {
      const noise = gaussianVector(d, 1000 + t);
      const v = drift.map((x, i) => x + noise[i]);
      for (let i = 0; i < d; i++) sumIn[i] += v[i];
      codec.decodeInto(codec.encode(v, ctxFor(1, residual, t)), out, 'set');
      for (let i = 0; i < d; i++) sumOutFb[i] += out[i];
      codec.decodeInto(codec.encode(v, ctxFor(1, undefined, t)), out, 'set');
      for (let i = 0; i < d; i++) sumOutNoFb[i] += out[i];
      let m = 0;
      for (let i = 0; i < d; i++) m = Math.max(m, Math.abs(residual[i]));
      if (t < T / 2) maxResidualFirstHalf = Math.max(maxResidualFirstHalf, m);
      else maxResidualSecondHalf = Math.max(maxResidualSecondHalf, m);
    }
    let errFb = 0, errNoFb = 0, maxDiffVsResidual = 0;
    for (let i = 0; i < d; i++) {
      errFb = Math.max(errFb, Math.abs(sumOutFb[i] - sumIn[i]));
      errNoFb = Math.max(errNoFb, Math.abs(sumOutNoFb[i] - sumIn[i]));
      // Σ decoded = Σ inputs - final residual, up to f32 rounding of the residual each step.
      maxDiffVsResidual = Math.max(maxDiffVsResidual, Math.abs(sumOutFb[i] - sumIn[i] + residual[i]));
    }
    expect(maxDiffVsResidual).toBeLessThan(1e-3);
    expect(maxResidualSecondHalf).toBeLessThan(3 * maxResidualFirstHalf);
    expect(errFb / T).toBeLessThan(0.03);
    expect(errNoFb / T).toBeGreaterThan(0.2);
  });

  it('rejects malformed frames and leaves out unchanged', () => {
    const v = gaussianVector(13, 5);
    const good = codec.encode(v, ctxFor(1));
    const out = new Float32Array(13).fill(2);
    const check = (b: Uint8Array, msg: RegExp, n = 13) =>
      expectCodecError(() => codec.decodeInto(b, n === 13 ? out : new Float32Array(n), 'add'), msg);
    check(good.subarray(0, good.length - 1), /expected 10/);
    check(good, /expected 9/, 7);
    check(good, /expected 11/, 17);
    const setScale = (at: number, x: number) => {
      const b = good.slice();
      new DataView(b.buffer).setFloat32(at, x, true);
      return b;
    };
    check(setScale(0, Number.NaN), /finite/);
    check(setScale(4, -Infinity), /finite/);
    check(setScale(0, -1), /avg\+ must be >= 0/);
    check(setScale(4, 0.5), /avg- <= 0/);
    const pad = good.slice();
    pad[pad.length - 1] |= 0x80; // n = 13: bits 5..7 of the last byte are padding
    check(pad, /padding/);
    expect(Array.from(out)).toEqual(new Array(13).fill(2));
  });

  it('rejects a residual of the wrong length and non-finite input without touching the residual', () => {
    expect(() => codec.encode(new Float32Array(4), ctxFor(1, new Float32Array(3)))).toThrow(/residual has 3/);
    const residual = new Float32Array([0.5, 0.5, 0.5]);
    expectCodecError(() => codec.encode(new Float32Array([1, Number.NaN, 2]), ctxFor(1, residual)), /index 1/);
    expectCodecError(() => codec.encode(new Float32Array([1, 2, Infinity]), ctxFor(1)), /index 2/);
    expect(Array.from(residual)).toEqual([0.5, 0.5, 0.5]);
  });
});
