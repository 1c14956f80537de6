import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { OneBitCodec } from '../../src/codec/onebit.js';
import { ONEBIT_BLOCK, oneBitKernel } from '../../src/codec/onebit-kernel.js';
import { ctxFor, expectCodecError, expectSameBits, gaussianVector, malformedOneBitFrames, unaligned, sameFrameBytes, mixedVector, oneBitEdgeCases } from './util.js';

/**
 * The WebAssembly SIMD kernel must give the JS loops' bits exactly (frame, residual, decoded
 * values): peers on different hosts, one with SIMD and one without, must agree.
 */
const noSimd = Boolean(process.env.RINGTRAIN_NO_SIMD);
const hasKernel = oneBitKernel() !== null;

const LENGTHS = [0, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 1000, 4097, 65535, 131072, 17, ONEBIT_BLOCK + 1, 3 * ONEBIT_BLOCK + 37];


interface Encoded {
  frame: Uint8Array;
  residual?: Float32Array;
}

function encodeWith(codec: OneBitCodec, v: Float32Array, r0?: Float32Array): Encoded {
  const residual = r0?.slice();
  return { frame: codec.encode(v, ctxFor(1, residual)), residual };
}

function expectSameEncoding(js: Encoded, wasm: Encoded, what: string): void {
  expect(sameFrameBytes(js.frame, wasm.frame), `frame: ${what}`).toBe(true);
  if (js.residual) expectSameBits(wasm.residual!, js.residual);
}


describe.skipIf(!hasKernel)('OneBitCodec: WebAssembly SIMD kernel vs the JS loops', () => {
  const js = new OneBitCodec('js');
  // (vitest still runs this body when the suite is skipped, so no throwing constructor then)
  const wasm = new OneBitCodec(hasKernel ? 'wasm' : 'js');

  it('encodes bit-identically (frame and residual) at every length, with and without a residual', () => {
    for (const n of LENGTHS) {
      for (const [name, v] of [['gaussian', gaussianVector(n, 10 + n)], ['mixed', mixedVector(n, 20 + n)]] as const) {
        expect(wasm.implFor(n)).toBe('wasm');
        expectSameEncoding(encodeWith(js, v), encodeWith(wasm, v), `${name} n=${n} no residual`);
        const r0 = gaussianVector(n, 30 + n, 0.7);
        expectSameEncoding(encodeWith(js, v, r0), encodeWith(wasm, v, r0), `${name} n=${n} residual`);
      }
    }
  });

  it('edge values: ±0, all positive, all negative, subnormals, float32 extremes', () => {
    for (const n of [1, 7, 16, 17, 100, 1001]) {
      const cases = oneBitEdgeCases(n);
      for (const [name, v, r] of cases) {
        const a = encodeWith(js, v, r);
        expectSameEncoding(a, encodeWith(wasm, v, r), `${name} n=${n}`);
        const out = new Float32Array(n).fill(7);
        wasm.decodeInto(a.frame, out, 'set');
        const ref = new Float32Array(n).fill(7);
        js.decodeInto(a.frame, ref, 'set');
        expectSameBits(out, ref);
      }
    }
  });

  it('sums each sign in four f64 lanes (index mod 4), not left to right', () => {
    // Left to right the positive sum is 154882144 (mean 19360268 after rounding to f32); in lanes
    // ((l0 + l1) + (l2 + l3)) it keeps the small terms and the mean rounds to 19360270.
    const v = new Float32Array([20480, 150994944, 983040, 1.3969838619232178e-8, 2883584, 1.6298145055770874e-9, 3.4924596548080444e-9, 104]);
    let seq = 0;
    for (const x of v) seq += x;
    expect(Math.fround(seq / 8)).toBe(19360268);
    // Found by search like the one above: moving any of the last n mod 4 values to another lane
    // changes the rounded mean, so these pin where the tail goes (lanes 0, 1, 2).
    const cases: Array<[number[], number]> = [
      [Array.from(v), 19360270],
      [[448, 251658240, 44, 62914560, 3.3527612686157227e-8, 62914560], 62914644],
      [[109051904, 122880, 5.587935447692871e-9, 83886080, 11, 8.381903171539307e-9, 7.450580596923828e-9], 27580126],
    ];
    for (const [values, avgPos] of cases) {
      for (const codec of [js, wasm]) {
        const frame = codec.encode(Float32Array.from(values), ctxFor(1));
        expect(new DataView(frame.buffer, frame.byteOffset).getFloat32(0, true), `n=${values.length}`).toBe(avgPos);
      }
    }
    // The same values at a multiple-of-16 length, so the kernel's vector loop (not padding) holds them.
    const long = new Float32Array(64);
    for (let i = 0; i < 64; i++) long[i] = v[i % 8];
    expectSameEncoding(encodeWith(js, long), encodeWith(wasm, long), 'lanes n=64');
  });

  it('rounds values + residual to float32 before everything else', () => {
    // 1 + 2^-30 is 1 in float32: the residual after encoding [1, -1] is exactly 0, not 2^-30.
    const v = new Float32Array([1, -1]);
    for (const codec of [js, wasm]) {
      const residual = new Float32Array([2 ** -30, 0]);
      codec.encode(v, ctxFor(1, residual));
      expect(Array.from(residual)).toEqual([0, 0]);
    }
  });

  it('decodes set and add bit-identically, into unaligned frames and offset outputs', () => {
    for (const n of LENGTHS) {
      const frame = js.encode(gaussianVector(n, 40 + n), ctxFor(1));
      for (const mode of ['set', 'add'] as const) {
        const base = mixedVector(n + 3, 50 + n);
        const a = base.slice().subarray(3);
        const b = base.slice().subarray(3);
        js.decodeInto(frame, a, mode);
        wasm.decodeInto(unaligned(frame), b, mode);
        expectSameBits(b, a);
      }
    }
  });

  it('refuses a non-finite value + residual with the index of the first, leaving the residual alone', () => {
    const MAX = 3.4028234663852886e38;
    for (const n of [3, 64, 1000, ONEBIT_BLOCK + 9]) {
      for (const at of [0, n >> 1, n - 1]) {
        // [what, poison, the value reported, whether it is bad without the residual too]
        const cases: Array<[(v: Float32Array, r: Float32Array) => void, string, boolean]> = [
          [(v) => (v[at] = Number.NaN), 'NaN', true],
          [(v) => (v[at] = Infinity), 'Infinity', true],
          [(v) => (v[at] = -Infinity), '-Infinity', true],
          [(v, r) => ((v[at] = MAX), (r[at] = MAX)), 'Infinity', false], // finite parts, f32 sum overflows
          [(_v, r) => (r[at] = Number.NaN), 'NaN', false],
        ];
        for (const [poison, reported, badAlone] of cases) {
          for (const codec of [js, wasm]) {
            const v = gaussianVector(n, 60 + n);
            const r = gaussianVector(n, 70 + n, 0.1);
            poison(v, r);
            const before = r.slice();
            expectCodecError(() => codec.encode(v, ctxFor(1, r)), `value at index ${at} is ${reported} `);
            expectSameBits(r, before);
            if (badAlone) expectCodecError(() => codec.encode(v, ctxFor(1)), `value at index ${at} is ${reported} `);
          }
        }
      }
    }
  });

  it('rejects every malformed frame, leaving out unchanged', () => {
    for (const n of [13, 64, 1003]) {
      const good = js.encode(gaussianVector(n, 80 + n), ctxFor(1));
      const frames = malformedOneBitFrames(good, n);
      for (const codec of [js, wasm]) {
        for (const [frame, msg, len] of frames) {
          for (const mode of ['set', 'add'] as const) {
            const out = new Float32Array(len).fill(2);
            expectCodecError(() => codec.decodeInto(frame, out, mode), msg);
            expect(out.every((x) => x === 2)).toBe(true);
          }
        }
      }
    }
  });
});

describe('OneBitCodec: which implementation runs', () => {
  it('the kernel is available on this Node unless RINGTRAIN_NO_SIMD is set', () => {
    expect(hasKernel).toBe(!noSimd);
    const auto = new OneBitCodec();
    expect(auto.implFor(1 << 16)).toBe(noSimd ? 'js' : 'wasm');
    expect(auto.implFor(8)).toBe('js');
    expect(new OneBitCodec('js').implFor(1 << 16)).toBe('js');
  });

  it('RINGTRAIN_NO_SIMD=1 selects the JS loops, and asking for the kernel then fails clearly', () => {
    const script = [
      "const { OneBitCodec } = await import('./src/codec/onebit.ts');",
      'const auto = new OneBitCodec();',
      "let err = '';",
      "try { new OneBitCodec('wasm'); } catch (e) { err = e.message; }",
      'console.log(JSON.stringify({ impl: auto.implFor(1 << 16), err }));',
    ].join('\n');
    const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url).pathname,
      env: { ...process.env, RINGTRAIN_NO_SIMD: '1' },
      encoding: 'utf8',
    });
    expect(res.status, res.stderr).toBe(0);
    const got = JSON.parse(res.stdout.trim().split('\n').pop()!) as { impl: string; err: string };
    expect(got.impl).toBe('js');
    expect(got.err).toMatch(/WebAssembly SIMD kernel is unavailable/);
  });
});
