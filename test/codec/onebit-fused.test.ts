import { describe, it, expect } from 'vitest';
import { OneBitCodec } from '../../src/codec/onebit.js';
import { DenseCodec } from '../../src/codec/dense.js';
import { oneBitKernel } from '../../src/codec/onebit-kernel.js';
import { allocRingVector, arenaOf, ringResidualOf } from '../../src/codec/simd.js';
import { f32Codec } from '../../src/collective/segment-codec.js';
import { RingError } from '../../src/errors.js';
import { ctxFor, expectCodecError, expectSameBits, gaussianVector, malformedOneBitFrames, sameFrameBytes, mixedVector, ringSegment, type RingSegment, LANE_PINNING_TAILS } from './util.js';

/**
 * OneBitCodec.addDecodedThenEncode (a requantizing reduce-scatter step in two passes) must leave
 * exactly what decodeInto(frame, values, 'add'); encode(values, ctx); [decodeInto(bytes, values,
 * 'set')] leave, bit for bit: the returned frame, the values and the residual, on every path
 * (JS, copying kernel, in place on a ring vector with the frame in its staging area or not).
 */
const kernel = oneBitKernel();
const hasArena = arenaOf(allocRingVector(64, 0).buffer) !== undefined;
const enabled = kernel !== null && hasArena;

const LENGTHS = [...Array.from({ length: 66 }, (_, n) => n), 127, 1000, 4097, 131072, 262144];
/** Element offsets of the segment inside the ring vector (odd ones: not 16-byte aligned). */
const OFFSETS = [0, 1, 3, 6];
/** Steps per run: the residual and values evolve as in training. */
const STEPS = 2;

type Fused = (frame: Uint8Array, values: Float32Array, residual: Float32Array | undefined, setDecoded: boolean) => Uint8Array;

const js = new OneBitCodec('js');
// (vitest still runs describe bodies of skipped suites, so no throwing constructor then)
const wasm = new OneBitCodec(kernel ? 'wasm' : 'js');
const auto = new OneBitCodec();

/** The sequential composition the fused call replaces, on the JS reference loops. */
const sequential: Fused = (frame, values, residual, setDecoded) => {
  js.decodeInto(frame, values, 'add');
  const bytes = js.encode(values, ctxFor(1, residual));
  if (setDecoded) js.decodeInto(bytes, values, 'set');
  return bytes;
};
const fusedOn =
  (codec: OneBitCodec): Fused =>
  (frame, values, residual, setDecoded) =>
    codec.addDecodedThenEncode(frame, values, ctxFor(1, residual), setDecoded);

/** A frame by hand: scales and sign bits (bit(i) for value i). */
function frameOf(n: number, pos: number, neg: number, bit: (i: number) => boolean): Uint8Array {
  const f = new Uint8Array(8 + ((n + 7) >>> 3));
  const dv = new DataView(f.buffer);
  dv.setFloat32(0, pos, true);
  dv.setFloat32(4, neg, true);
  for (let i = 0; i < n; i++) if (bit(i)) f[8 + (i >>> 3)] |= 1 << (i & 7);
  return f;
}

/** Incoming frames, one per step: 1-bit encodings of vectors of many scales. */
function incoming(n: number, seed: number): Uint8Array[] {
  return Array.from({ length: STEPS }, (_, s) => js.encode(s % 2 ? mixedVector(n, seed + s) : gaussianVector(n, seed + s, 3), ctxFor(1)).slice());
}

interface Run {
  frames: Uint8Array[];
  values: Float32Array;
  residual: Float32Array | undefined;
}

/**
 * STEPS steps of `op` from copies of values0 / residual0 (or on `into`, a place to run in, such
 * as a ring segment); `stage` may move each incoming frame elsewhere first.
 */
function run(op: Fused, frames: Uint8Array[], values0: Float32Array, residual0: Float32Array | undefined, setDecoded: boolean, into?: { values: Float32Array; residual: Float32Array }, stage: (f: Uint8Array) => Uint8Array = (f) => f): Run {
  const values = into ? into.values : values0.slice();
  values.set(values0);
  let residual: Float32Array | undefined;
  if (residual0) {
    residual = into ? into.residual : residual0.slice();
    residual.set(residual0);
  }
  const out = frames.map((f) => op(stage(f), values, residual, setDecoded).slice());
  return { frames: out, values, residual };
}

function expectSameRun(got: Run, want: Run, what: string): void {
  got.frames.forEach((f, k) => expect(sameFrameBytes(f, want.frames[k]), `frame of step ${k}, ${what}`).toBe(true));
  expectSameBits(got.values, want.values);
  if (want.residual) expectSameBits(got.residual!, want.residual);
}

/** Bits of the whole vector and residual outside the segment, and of the scratch-free rest. */
function neighbours(s: RingSegment): Buffer {
  const a = s.arena;
  const all = new Uint8Array(a.vector.buffer, 0, a.scratch.byteOffset);
  const v = s.values.byteOffset, r = s.residual.byteOffset, len = s.values.byteLength;
  const copy = Buffer.from(all);
  copy.fill(0, v, v + len);
  copy.fill(0, r, r + len);
  return copy;
}

/** A copy of `f` in the arena's staging area behind `at` bytes (a frame the link assembled there). */
const stagedAt =
  (s: RingSegment, at: number) =>
  (f: Uint8Array): Uint8Array => {
    const staged = s.arena.staging.subarray(at, at + f.length);
    staged.set(f);
    return staged;
  };

describe('OneBitCodec.addDecodedThenEncode', () => {
  it('JS and the copying kernel leave the bits of the sequential calls (frame, values, residual), every length', () => {
    for (const n of LENGTHS) {
      const frames = incoming(n, 10 + n);
      const v0 = n % 2 ? mixedVector(n, 20 + n) : gaussianVector(n, 20 + n);
      const r0 = gaussianVector(n, 30 + n, 0.7);
      for (const setDecoded of [false, true]) {
        for (const residual of [r0, undefined]) {
          const what = `n=${n} setDecoded=${setDecoded} residual=${residual !== undefined}`;
          const want = run(sequential, frames, v0, residual, setDecoded);
          expectSameRun(run(fusedOn(js), frames, v0, residual, setDecoded), want, `js ${what}`);
          if (!kernel) continue;
          const before = kernel.fused;
          expectSameRun(run(fusedOn(wasm), frames, v0, residual, setDecoded), want, `copying ${what}`);
          expect(kernel.fused - before, `copying kernel fused, ${what}`).toBe(STEPS);
        }
      }
    }
  });

  it.skipIf(!kernel)('the copying kernel goes block by block past 128K values (and reads frames at any offset)', () => {
    for (const n of [131072 + 16, 131072 + 45, 3 * 131072 + 7]) {
      const frames = incoming(n, 5 + n).map((f) => {
        const host = new Uint8Array(f.length + 3);
        host.set(f, 3);
        return host.subarray(3);
      });
      const v0 = gaussianVector(n, 6 + n);
      const r0 = gaussianVector(n, 7 + n, 0.5);
      for (const setDecoded of [false, true]) {
        for (const residual of [r0, undefined]) {
          const want = run(sequential, frames, v0, residual, setDecoded);
          expectSameRun(run(fusedOn(wasm), frames, v0, residual, setDecoded), want, `n=${n} setDecoded=${setDecoded}`);
        }
      }
    }
  });

  it.skipIf(!enabled)('in place on ring vectors: the sequential bits, frame in the staging area or elsewhere, every length and offset; the fused kernel ran', () => {
    for (const n of LENGTHS) {
      const frames = incoming(n, 40 + n);
      for (const offset of n > 4097 ? [0, 3] : OFFSETS) {
        const v0 = offset % 2 ? mixedVector(n, 50 + n) : gaussianVector(n, 50 + n);
        const r0 = gaussianVector(n, 60 + n, 0.7);
        const s = ringSegment(n, offset);
        const around = neighbours(s);
        for (const setDecoded of [false, true]) {
          for (const residual of [r0, undefined]) {
            const want = run(sequential, frames, v0, residual, setDecoded);
            for (const staged of [true, false]) {
              const what = `n=${n} offset=${offset} setDecoded=${setDecoded} residual=${residual !== undefined} staged=${staged}`;
              s.residual.fill(Number.NaN);
              const r = s.residual.slice();
              const before = [s.kernel.fusedInStaging, s.kernel.fusedViaScratch, kernel!.fused];
              const got = run(fusedOn(wasm), frames, v0, residual, setDecoded, s, staged ? stagedAt(s, 32 + (n % 3)) : undefined);
              expectSameRun(got, want, what);
              if (!residual) expectSameBits(s.residual, r); // not touched without feedback
              expect(neighbours(s).equals(around), `neighbours, ${what}`).toBe(true);
              const ran = [s.kernel.fusedInStaging - before[0], s.kernel.fusedViaScratch - before[1], kernel!.fused - before[2]];
              expect(ran, `fused in place ran, ${what}`).toEqual(staged ? [STEPS, 0, 0] : [0, STEPS, 0]);
            }
          }
        }
        // 'auto' takes the kernel (and so the fused in-place path) from 64 values on.
        const before = s.kernel.fusedInStaging;
        const want = run(sequential, frames, v0, r0, true);
        expectSameRun(run(fusedOn(auto), frames, v0, r0, true, s, stagedAt(s, 40)), want, `auto n=${n}`);
        expect(s.kernel.fusedInStaging - before).toBe(n >= 64 ? STEPS : 0);
      }
    }
  });

  it.skipIf(!enabled)('in place, segments longer than the scratch go block by block', () => {
    for (const n of [1024, 1025, 4097, 131072 + 45]) {
      const frames = incoming(n, 70 + n);
      const v0 = gaussianVector(n, 80 + n);
      const r0 = gaussianVector(n, 90 + n, 0.3);
      // 256 bytes of scratch: 128 bytes of sign bits, 1024 values per block.
      const s = ringSegment(n, 3, 256);
      for (const setDecoded of [false, true]) {
        const want = run(sequential, frames, v0, r0, setDecoded);
        for (const staged of [true, false]) {
          expectSameRun(run(fusedOn(wasm), frames, v0, r0, setDecoded, s, staged ? stagedAt(s, 33) : undefined), want, `n=${n} staged=${staged}`);
        }
      }
      expect([s.kernel.fusedInStaging, s.kernel.fusedViaScratch]).toEqual([2 * STEPS, 2 * STEPS]);
    }
  });

  it('edge values: ±0 (incoming zeros onto -0), one sign only, subnormals, float32 extremes', () => {
    const MAX = 3.4028234663852886e38;
    const TINY = 1.401298464324817e-45;
    for (const n of [1, 15, 16, 17, 33, 100, 1001]) {
      const fill = (f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
      const cases: Array<[string, Float32Array, Uint8Array, Float32Array?]> = [
        ['-0 + a zero frame', fill(() => -0), frameOf(n, 0, 0, (i) => i % 2 === 0)],
        ['-0 + a zero frame, -0 residual', fill(() => -0), frameOf(n, 0, -0, () => false), fill(() => -0)],
        ['all positive', fill((i) => 1 + i), frameOf(n, 2, -1, (i) => i % 3 !== 0)],
        ['all negative', fill((i) => -1 - i), frameOf(n, 0.5, -3, (i) => i % 5 === 0)],
        ['subnormals', fill((i) => (i % 3 === 0 ? -1 : 1) * TINY * (i + 1)), frameOf(n, TINY, -TINY, (i) => i % 2 === 0)],
        ['extremes cancelling', fill((i) => (i % 2 ? MAX : -MAX)), frameOf(n, MAX, -MAX, (i) => i % 2 === 0)],
        ['extremes with a residual that stays finite', fill((i) => (i % 2 ? MAX / 2 : -MAX / 2)), frameOf(n, MAX / 4, 0, () => true), fill((i) => (i % 2 ? -MAX : MAX))],
      ];
      for (const [name, v0, frame, r0] of cases) {
        for (const setDecoded of [false, true]) {
          const want = run(sequential, [frame], v0, r0, setDecoded);
          const what = `${name} n=${n} setDecoded=${setDecoded}`;
          expectSameRun(run(fusedOn(js), [frame], v0, r0, setDecoded), want, `js ${what}`);
          if (kernel) expectSameRun(run(fusedOn(wasm), [frame], v0, r0, setDecoded), want, `copying ${what}`);
          if (enabled) {
            const s = ringSegment(n, 1);
            expectSameRun(run(fusedOn(wasm), [frame], v0, r0, setDecoded, s, stagedAt(s, 35)), want, `in place ${what}`);
          }
        }
      }
    }
  });

  it('the last n mod 16 values (done in JS) land in lane i mod 4 of the kernel sums', () => {
    // From onebit-inplace.test.ts: moving any of the last n mod 4 values to another lane changes
    // the rounded mean avg+. Behind 0, 16 or 32 negative values (which leave avg+ alone) they are
    // the tail after the kernels' whole multiples of 16. The frame adds -0 (x + -0 = x).
    const cases = LANE_PINNING_TAILS;
    for (const [tail, avgPos] of cases) {
      for (const lead of [0, 16, 32]) {
        const v0 = Float32Array.from([...new Array<number>(lead).fill(-1), ...tail]);
        const n = v0.length;
        const frame = frameOf(n, 0, -0, () => false);
        const want = run(sequential, [frame], v0, undefined, false);
        expect(new DataView(want.frames[0].buffer).getFloat32(0, true)).toBe(avgPos);
        const paths: Array<[string, Fused, { values: Float32Array; residual: Float32Array }?]> = [['js', fusedOn(js)]];
        if (kernel) paths.push(['copying', fusedOn(wasm)]);
        if (enabled) paths.push(['in place', fusedOn(wasm), ringSegment(n, 1)]);
        for (const [name, op, into] of paths) {
          const got = run(op, [frame], v0, undefined, false, into);
          expect(new DataView(got.frames[0].buffer).getFloat32(0, true), `${name} lead ${lead}`).toBe(avgPos);
          expectSameRun(got, want, `${name} lead ${lead}`);
        }
      }
    }
  });

  /** Every path the fused call can take for n values: [name, values, residual, frame placement]. */
  function places(n: number): Array<[string, Float32Array, Float32Array, (f: Uint8Array) => Uint8Array, () => number]> {
    const out: Array<[string, Float32Array, Float32Array, (f: Uint8Array) => Uint8Array, () => number]> = [['plain', new Float32Array(n), new Float32Array(n), (f) => f, () => kernel?.fused ?? 0]];
    if (enabled) {
      const s = ringSegment(n, 1);
      const t = ringSegment(n, 3);
      out.push(['in place, staged', s.values, s.residual, stagedAt(s, 33), () => s.arena.inPlaceFrames]);
      out.push(['in place, frame elsewhere', t.values, t.residual, (f) => f, () => t.arena.inPlaceFrames]);
    }
    return out;
  }

  it('rejects every malformed frame before writing anything (values, residual), on every path', () => {
    for (const n of [13, 64, 1003]) {
      const good = js.encode(gaussianVector(n, 80 + n), ctxFor(1));
      const frames = malformedOneBitFrames(good, n);
      for (const [frame, msg, len] of frames) {
        for (const codec of [js, wasm, auto]) {
          for (const [where, values, residual, stage, counter] of places(len)) {
            for (const setDecoded of [false, true]) {
              values.fill(2);
              residual.fill(0.25);
              const before = counter();
              expectCodecError(() => codec.addDecodedThenEncode(stage(frame), values, ctxFor(1, residual), setDecoded), msg);
              expect(values.every((x) => x === 2), `values untouched, ${where}`).toBe(true);
              expect(residual.every((x) => x === 0.25), `residual untouched, ${where}`).toBe(true);
              expect(counter(), where).toBe(before);
            }
          }
        }
      }
      // A residual of the wrong length: a usage error, nothing written.
      const values = new Float32Array(n).fill(2);
      for (const codec of [js, wasm]) {
        expect(() => codec.addDecodedThenEncode(good, values, ctxFor(1, new Float32Array(n + 1)), false)).toThrow(/residual has/);
        expect(values.every((x) => x === 2)).toBe(true);
      }
    }
  });

  it('a non-finite u: E_CODEC naming its index; the values hold the frame added (as the sequential calls leave them), the residual is unchanged', () => {
    const MAX = 3.4028234663852886e38;
    for (const n of [3, 17, 64, 1000, 4097, 131072 + 5]) {
      for (const at of [0, n >> 1, n - 1]) {
        const cases: Array<[string, (v: Float32Array, r: Float32Array) => void, Uint8Array]> = [
          // MAX + MAX from the frame overflows to Infinity.
          ['Infinity', (v) => (v[at] = MAX), frameOf(n, MAX, -1, (i) => i === at)],
          ['NaN', (_v, r) => (r[at] = Number.NaN), frameOf(n, 1, -1, (i) => i % 2 === 0)],
          ['-Infinity', (v, r) => ((v[at] = -MAX), (r[at] = -MAX)), frameOf(n, 1, -0.5, () => false)],
        ];
        for (const [reported, poison, frame] of cases) {
          const v0 = gaussianVector(n, 60 + n);
          const r0 = gaussianVector(n, 70 + n, 0.1);
          poison(v0, r0);
          const want = v0.slice();
          js.decodeInto(frame, want, 'add');
          expectCodecError(() => js.encode(want.slice(), ctxFor(1, r0.slice())), `value at index ${at} is ${reported} `);
          for (const codec of [js, wasm, auto]) {
            for (const [where, values, residual, stage] of places(n)) {
              for (const setDecoded of [false, true]) {
                values.set(v0);
                residual.set(r0);
                expectCodecError(() => codec.addDecodedThenEncode(stage(frame), values, ctxFor(1, residual), setDecoded), `value at index ${at} is ${reported} `);
                expectSameBits(values, want);
                expectSameBits(residual, r0);
                void where;
              }
            }
          }
        }
      }
    }
  });

  it.skipIf(!enabled)('a frame that shares bytes with the values runs the sequential calls (same bits as them)', () => {
    const n = 1000;
    const frame = js.encode(gaussianVector(n, 3), ctxFor(1));
    const v0 = gaussianVector(n + 400, 4);
    const results = [false, true].map((fused) => {
      const s = ringSegment(n + 400, 0);
      s.values.set(v0);
      s.residual.fill(0);
      const values = s.values.subarray(0, n);
      // The frame's bytes are the vector's last 400 values (overlapping nothing else would be a copy).
      const inVector = new Uint8Array(s.values.buffer, s.values.byteOffset + 4 * n - 64, frame.length);
      inVector.set(frame);
      const before = s.kernel.fusedViaScratch;
      const bytes = fused ? wasm.addDecodedThenEncode(inVector, values, ctxFor(1, ringResidualOf(values)), true) : sequential(inVector, values, ringResidualOf(values), true);
      if (fused) expect(s.kernel.fusedViaScratch).toBe(before);
      return { bytes: bytes.slice(), values: s.values.slice(), residual: s.residual.slice() };
    });
    expect(sameFrameBytes(results[0].bytes, results[1].bytes)).toBe(true);
    expectSameBits(results[0].values, results[1].values);
    expectSameBits(results[0].residual, results[1].residual);
  });

  it('f32Codec passes it through for codecs that have it', () => {
    const seg = f32Codec(new OneBitCodec());
    const dense = f32Codec(new DenseCodec());
    expect(dense.addDecodedThenEncode).toBeUndefined();
    const n = 300;
    const frame = js.encode(gaussianVector(n, 5), ctxFor(1));
    const v0 = gaussianVector(n, 6);
    const want = run(sequential, [frame], v0, new Float32Array(n), true);
    const got = run((f, v, r, set) => seg.addDecodedThenEncode!(f, v, ctxFor(1, r), set), [frame], v0, new Float32Array(n), true);
    expectSameRun(got, want, 'f32Codec');
    expect(() => seg.addDecodedThenEncode!(frame.subarray(1), v0, ctxFor(1), false)).toThrow(RingError);
  });
});
