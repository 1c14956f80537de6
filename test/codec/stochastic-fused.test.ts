import { describe, it, expect } from 'vitest';
import { StochasticCodec } from '../../src/codec/stochastic.js';
import { stochasticKernel } from '../../src/codec/stochastic-kernel.js';
import { f32Codec } from '../../src/collective/segment-codec.js';
import { RingError } from '../../src/errors.js';
import type { EncodeContext } from '../../src/codec/codec.js';
import { expectSameBits, gaussianVector, mixedVector, rng, sameFrameBytes, sparseVector, unaligned } from './util.js';

/**
 * StochasticCodec.addDecodedThenEncode (a requantizing reduce-scatter step with the values copied
 * into the kernel once) must leave exactly what decodeInto(frame, values, 'add'); encode(values,
 * ctx); [decodeInto(bytes, values, 'set')] leave, bit for bit: the returned frame, the values and
 * the residual, or the same error with the same values and residual. The reference is those
 * three calls on the JS loops (pinned to the pre-kernel codec by stochastic-kernel.test.ts); the
 * fused call runs on the JS loops ('js', the three calls), the kernel ('wasm', any length) and
 * 'auto' (the kernel from 64 values on). Steps are chained as in a ring: each hop's frame is the
 * next hop's incoming frame, every hop with its own values, residual and PRNG key.
 */
const kernel = stochasticKernel();
const hasKernel = kernel !== null;
const FLT_MAX = 3.4028234663852886e38;
const TINY = 1.401298464324817e-45;

type Impl = 'js' | 'wasm' | 'auto';
const IMPLS: Impl[] = hasKernel ? ['js', 'wasm', 'auto'] : ['js', 'auto'];

const KEYS: EncodeContext[] = [
  { seed: 1, step: 0, rank: 0, chunk: 0, segment: 0 },
  { seed: 7, step: 123456789, rank: 3, chunk: 2, segment: 5 },
  { seed: -2, step: 2 ** 40 + 3, rank: 1, chunk: 0, segment: 1 },
  { seed: 42, step: 9, rank: 2, chunk: 1, segment: 7 },
];

const codecs = new Map<string, StochasticCodec>();
/** One codec per (s, impl), as a peer keeps one. */
function codecFor(s: number, impl: Impl): StochasticCodec {
  const key = `${s}/${impl}`;
  let c = codecs.get(key);
  if (!c) codecs.set(key, (c = new StochasticCodec(s, impl)));
  return c;
}

type Step = (frame: Uint8Array, values: Float32Array, ctx: EncodeContext, setDecoded: boolean) => Uint8Array;

/** The three calls the fused one replaces, on the JS loops. */
const sequential =
  (s: number): Step =>
  (frame, values, ctx, setDecoded) => {
    const c = codecFor(s, 'js');
    c.decodeInto(frame, values, 'add');
    const bytes = c.encode(values, ctx);
    if (setDecoded) c.decodeInto(bytes, values, 'set');
    return bytes;
  };
const fused =
  (s: number, impl: Impl): Step =>
  (frame, values, ctx, setDecoded) =>
    codecFor(s, impl).addDecodedThenEncode(frame, values, ctx, setDecoded);

/** One hop of a chain: a peer's values and residual (absent: no error feedback). */
interface Hop {
  values: Float32Array;
  residual?: Float32Array;
}

interface Chain {
  frames: Uint8Array[];
  /** The error of the hop that threw (the chain stops there), else undefined. */
  error?: string;
  hops: Hop[];
}

/** Runs `step` hop by hop on copies of `hops`, from `frame0`; hop h uses KEYS[(h + key) % 4]. */
function chain(step: Step, frame0: Uint8Array, hops0: Hop[], setDecoded: boolean, key = 0): Chain {
  const hops = hops0.map((h) => ({ values: h.values.slice(), residual: h.residual?.slice() }));
  const frames: Uint8Array[] = [];
  let frame = frame0;
  for (let h = 0; h < hops.length; h++) {
    try {
      frame = step(frame, hops[h].values, { ...KEYS[(h + key) % KEYS.length], residual: hops[h].residual }, setDecoded).slice();
    } catch (e) {
      expect(e, 'a RingError').toBeInstanceOf(RingError);
      return { frames, error: `${(e as RingError).code}: ${(e as Error).message}`, hops };
    }
    frames.push(frame);
  }
  return { frames, hops };
}

function expectSameChain(got: Chain, want: Chain, what: string): void {
  expect(got.error, `error, ${what}`).toBe(want.error);
  expect(got.frames.length, `frames, ${what}`).toBe(want.frames.length);
  got.frames.forEach((f, h) => {
    if (!sameFrameBytes(f, want.frames[h])) expect.fail(`${what}: frame of hop ${h} differs (${f.length} vs ${want.frames[h].length} bytes, forms ${f[0]} / ${want.frames[h][0]})`);
  });
  got.hops.forEach((hop, h) => {
    expectSameBits(hop.values, want.hops[h].values);
    if (want.hops[h].residual) expectSameBits(hop.residual!, want.hops[h].residual!);
  });
}

/** A target with -0 (turned +0 by a sparse add at zero levels) and ordinary values. */
function withNegZeros(v: Float32Array): Float32Array {
  const t = v.slice();
  for (let i = 0; i < t.length; i += 5) t[i] = -0;
  return t;
}

/**
 * Incoming frames of n values for a codec of levels s: [name, frame]. The same s on dense and
 * sparse inputs (so both forms, by length and s), and other s (any peer decodes any s; the
 * kernel's table must hold the larger one), packed at 255 for all but long segments.
 */
function incoming(n: number, s: number, seed: number, only?: number): Array<[string, Uint8Array]> {
  const enc = (levels: number, v: () => Float32Array) => (): Uint8Array => codecFor(levels, 'js').encode(v(), KEYS[3]).slice();
  const kinds: Array<[string, () => Uint8Array]> = [
    ['dense same s', enc(s, () => gaussianVector(n, seed, 2))],
    ['sparse same s', enc(s, () => sparseVector(n, 0.02, seed + 1))],
    ['mixed same s', enc(s, () => mixedVector(n, seed + 2))],
    [s === 255 ? 's = 1' : 's = 255', enc(s === 255 ? 1 : 255, () => gaussianVector(n, seed + 3))],
  ];
  return kinds.filter((_, k) => only === undefined || k === only % kinds.length).map(([name, frame]) => [name, frame()]);
}

/** Hops for n values: gaussian, mixed (subnormals, ±0) and -0-laden values; with residuals or not. */
function hopsFor(n: number, seed: number, residual: boolean): Hop[] {
  const r = (k: number) => (residual ? gaussianVector(n, seed + 10 + k, 0.3) : undefined);
  return [
    { values: withNegZeros(gaussianVector(n, seed)), residual: r(0) },
    { values: mixedVector(n, seed + 1), residual: residual ? mixedVector(n, seed + 11) : undefined },
    { values: gaussianVector(n, seed + 2, 5), residual: r(2) },
  ];
}

const FULL_LENGTHS = [...Array.from({ length: 71 }, (_, n) => n), 100, 127, 128, 129, 255, 256, 257, 1000, 1023, 1024, 1025, 4095, 4096, 4097];

describe('StochasticCodec.addDecodedThenEncode', () => {
  it('gives the bits of the three calls (frames, values, residual), s = 1, 7, 255, sparse and packed frames, chained over three hops, every path', () => {
    const forms = new Set<string>();
    for (const s of [1, 7, 255]) {
      for (const n of FULL_LENGTHS) {
        for (const [name, frame] of incoming(n, s, 100 * s + n)) {
          forms.add(`${s}/${frame[0]}`);
          for (const residual of [false, true]) {
            const hops = hopsFor(n, 7 * s + n, residual);
            for (const setDecoded of [false, true]) {
              const key = n % 4;
              const want = chain(sequential(s), frame, hops, setDecoded, key);
              for (const impl of IMPLS) {
                const what = `${impl} s=${s} n=${n} ${name} residual=${residual} setDecoded=${setDecoded}`;
                expectSameChain(chain(fused(s, impl), frame, hops, setDecoded, key), want, what);
              }
            }
          }
        }
      }
    }
    // Both forms of incoming frame came in at every s.
    for (const s of [1, 7, 255]) expect([forms.has(`${s}/0`), forms.has(`${s}/1`)], `s=${s}`).toEqual([true, true]);
  });

  // Every length up to 600 (every tail mod 4, 8 and 32, the 64-value kernel threshold, and each
  // of the 12 parameter combinations 50 times), then every 37th up to 4097: all 4098 lengths took
  // 9 s alone and 25 s in the parallel suite for no path the sample misses.
  const LENGTHS = [...Array.from({ length: 601 }, (_, n) => n), ...Array.from({ length: 94 }, (_, k) => 637 + 37 * k), 4096, 4097];

  it('every length 0..600, then every 37th to 4097 (parameters rotating with the length)', () => {
    for (const n of LENGTHS) {
      const s = [1, 7, 255][n % 3];
      const [[name, frame]] = incoming(n, s, n, n >> 2);
      const residual = (n & 1) === 1;
      const setDecoded = (n & 2) === 2;
      const hops = hopsFor(n, 3 * n, residual).slice(0, 2);
      const want = chain(sequential(s), frame, hops, setDecoded, n);
      for (const impl of IMPLS) expectSameChain(chain(fused(s, impl), frame, hops, setDecoded, n), want, `${impl} s=${s} n=${n} ${name} residual=${residual} setDecoded=${setDecoded}`);
    }
  });

  it('long segments: 2^17 + 3 values, s = 1, 7, 255, with and without a residual, both flags', () => {
    const n = 2 ** 17 + 3;
    for (const s of [1, 7, 255]) {
      for (const [name, frame] of incoming(n, s, 5).filter((_, k) => k !== 2)) {
        for (const residual of [false, true]) {
          const hops = hopsFor(n, 50 + s, residual).slice(0, 2);
          for (const setDecoded of [false, true]) {
            const want = chain(sequential(s), frame, hops, setDecoded);
            for (const impl of IMPLS) expectSameChain(chain(fused(s, impl), frame, hops, setDecoded), want, `${impl} s=${s} ${name} residual=${residual} setDecoded=${setDecoded}`);
          }
        }
      }
    }
  });

  it('a ring of steps on the same values: residuals and values evolve over 20 rounds, frames read unaligned', () => {
    for (const s of [1, 7]) {
      const n = 3001;
      const paths = [sequential(s), ...IMPLS.map((impl) => fused(s, impl))];
      const states = paths.map(() => ({ values: new Float32Array(n), residual: new Float32Array(n) }));
      let frames = paths.map(() => codecFor(s, 'js').encode(gaussianVector(n, 1), KEYS[0]).slice());
      for (let t = 0; t < 20; t++) {
        const g = gaussianVector(n, 100 + t);
        frames = paths.map((step, k) => {
          states[k].values.set(g);
          return step(unaligned(frames[k]), states[k].values, { ...KEYS[t % 4], step: t, residual: states[k].residual }, t % 3 === 2).slice();
        });
        for (let k = 1; k < paths.length; k++) {
          expect(sameFrameBytes(frames[k], frames[0]), `s=${s} t=${t} ${IMPLS[k - 1]}`).toBe(true);
          expectSameBits(states[k].values, states[0].values);
          expectSameBits(states[k].residual, states[0].residual);
        }
      }
    }
  });

  it('edge inputs: zero norms, -0 everywhere, subnormals, a norm that underflows the levels, norms beyond f32', () => {
    for (const n of [1, 4, 5, 63, 64, 65, 1001]) {
      const fill = (f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
      // Hand-made sparse frame at s = 7: norm = the smallest subnormal, so level 1 decodes to ±0
      // (norm / 7 underflows): -0 + (-0) must stay -0, as in the JS decoder.
      const tinySparse = new Uint8Array(14);
      const dv = new DataView(tinySparse.buffer);
      tinySparse[0] = 1;
      dv.setUint16(2, 7, true);
      dv.setFloat32(4, TINY, true);
      dv.setUint32(8, 1, true);
      tinySparse[13] = 1; // gap 0 (position 0), code (1 - 1) << 1 | negative
      const zeroFrame = codecFor(7, 'js').encode(new Float32Array(n), KEYS[0]).slice();
      const cases: Array<[string, Uint8Array, Hop[]]> = [
        ['zero frame onto -0', zeroFrame, [{ values: fill(() => -0) }, { values: fill(() => -0), residual: fill(() => -0) }]],
        ['tiny sparse onto -0', tinySparse, [{ values: fill(() => -0) }, { values: fill(() => -0), residual: fill(() => 0) }]],
        ['tiny sparse onto subnormals', tinySparse, [{ values: fill((i) => (i % 2 ? TINY : -TINY)), residual: fill((i) => (i % 3 ? TINY : -0)) }]],
        ['subnormal residual cancels', zeroFrame, [{ values: fill((i) => (i % 2 ? TINY : -TINY)), residual: fill((i) => (i % 2 ? -TINY : TINY)) }]],
        ['norm beyond f32', zeroFrame, [{ values: fill((i) => (i % 2 ? FLT_MAX : -FLT_MAX)), residual: fill(() => 1) }, { values: fill((i) => (i % 2 ? FLT_MAX : -FLT_MAX)) }]],
        ['frame pushes past f32', codecFor(7, 'js').encode(fill((i) => (i === 0 ? FLT_MAX : 0)), KEYS[0]).slice(), [{ values: fill((i) => (i === 0 ? FLT_MAX : 1)), residual: fill(() => 0.5) }]],
      ];
      for (const [name, frame, hops] of cases) {
        for (const setDecoded of [false, true]) {
          // Each hop alone: the frame, then (as a chain) what it sent.
          const want = chain(sequential(7), frame, hops, setDecoded);
          for (const impl of IMPLS) expectSameChain(chain(fused(7, impl), frame, hops, setDecoded), want, `${impl} ${name} n=${n} setDecoded=${setDecoded}`);
        }
      }
    }
  });

  it('the kernel decodes the underflowing sparse add as JS does (decodeInto, add mode)', () => {
    for (const n of [1, 64, 100]) {
      const f = new Uint8Array(14);
      const dv = new DataView(f.buffer);
      f[0] = 1;
      dv.setUint16(2, 7, true);
      dv.setFloat32(4, TINY, true);
      dv.setUint32(8, 1, true);
      f[13] = 1;
      const want = new Float32Array(n).fill(-0);
      codecFor(7, 'js').decodeInto(f, want, 'add');
      expect(Object.is(want[0], -0)).toBe(true);
      for (const impl of IMPLS) {
        const got = new Float32Array(n).fill(-0);
        codecFor(7, impl).decodeInto(f, got, 'add');
        expectSameBits(got, want);
      }
    }
  });

  it.skipIf(!hasKernel)('runs in the kernel: forced wasm at every length, auto from 64 values on, js never', () => {
    for (const n of [0, 1, 63, 64, 65, 4097]) {
      const frame = codecFor(7, 'js').encode(gaussianVector(n, n), KEYS[0]).slice();
      for (const impl of ['js', 'wasm', 'auto'] as const) {
        const before = kernel!.fused;
        chain(fused(7, impl), frame, hopsFor(n, n, true), true);
        const ran = impl === 'wasm' || (impl === 'auto' && n >= 64);
        expect(kernel!.fused - before, `${impl} n=${n}`).toBe(ran ? 3 : 0);
      }
    }
  });

  it('rejects every malformed frame with decodeInto\'s error, values and residual unchanged, kernel not run', () => {
    const r = rng(9);
    for (const [s, n, density] of [[1, 300, 1], [7, 97, 1], [7, 2000, 0.05], [255, 200, 1], [3, 5000, 0.01]] as const) {
      const v = density < 1 ? sparseVector(n, density, s + n) : gaussianVector(n, s + n);
      const good = codecFor(s, 'js').encode(v, KEYS[1]).slice();
      const frames: Array<[Uint8Array, number]> = [];
      for (let i = 0; i < good.length; i++) {
        for (const x of [good[i] ^ (1 << Math.floor(r() * 8)), 0, 0xff, 0x80]) {
          const b = good.slice();
          b[i] = x;
          frames.push([b, n]);
        }
      }
      for (const len of [0, 7, 8, 11, 12, 13, good.length - 2, good.length - 1]) if (len < good.length) frames.push([good.slice(0, len), n]);
      for (const extra of [[0], [0, 0], [1], [0x80, 0]]) frames.push([Uint8Array.from([...good, ...extra]), n]);
      frames.push([good, n - 1], [good, n + 1], [good, 0]);
      let rejected = 0;
      for (const [frame, len] of frames) {
        const values0 = withNegZeros(gaussianVector(len, len));
        const residual0 = gaussianVector(len, len + 1, 0.2);
        // The JS decoder's verdict on this frame.
        let verdict: string | undefined;
        try {
          codecFor(s, 'js').decodeInto(frame, values0.slice(), 'add');
        } catch (e) {
          verdict = (e as Error).message;
        }
        for (const setDecoded of [false, true]) {
          if (verdict === undefined) {
            // Still a valid frame: the three calls' bits.
            const hops = [{ values: values0, residual: residual0 }];
            const want = chain(sequential(s), frame, hops, setDecoded);
            for (const impl of IMPLS) expectSameChain(chain(fused(s, impl), frame, hops, setDecoded), want, `${impl} valid mutation`);
            continue;
          }
          rejected++;
          for (const impl of IMPLS) {
            const values = values0.slice();
            const residual = residual0.slice();
            const before = kernel?.fused ?? 0;
            let caught: unknown;
            try {
              codecFor(s, impl).addDecodedThenEncode(unaligned(frame), values, { ...KEYS[0], residual }, setDecoded);
            } catch (e) {
              caught = e;
            }
            const what = `${impl} s=${s} n=${len} frame ${frame.length} B`;
            expect(caught, what).toBeInstanceOf(RingError);
            expect((caught as RingError).code, what).toBe('E_CODEC');
            expect((caught as RingError).message, what).toBe(verdict);
            expectSameBits(values, values0);
            expectSameBits(residual, residual0);
            expect(kernel?.fused ?? 0, what).toBe(before);
          }
        }
      }
      expect(rejected).toBeGreaterThan(0);
    }
  });

  it('a residual of the wrong length is refused before the values are touched', () => {
    const n = 100;
    const frame = codecFor(7, 'js').encode(gaussianVector(n, 1), KEYS[0]);
    for (const impl of IMPLS) {
      const values = gaussianVector(n, 2);
      const v0 = values.slice();
      expect(() => codecFor(7, impl).addDecodedThenEncode(frame, values, { ...KEYS[0], residual: new Float32Array(n + 1) }, false)).toThrow(/residual has/);
      expectSameBits(values, v0);
    }
  });

  it('a frame sharing memory with the values or residual: the three calls (same bits); disjoint in the same buffer: the kernel', () => {
    const n = 1000;
    const s = 7;
    const frame = codecFor(s, 'js').encode(gaussianVector(n, 3), KEYS[0]).slice();
    const v0 = gaussianVector(n, 4);
    const r0 = gaussianVector(n, 5, 0.3);
    for (const setDecoded of [false, true]) {
      // [values | residual | spare], the frame at byte `at`; it overlaps at `at` < 8000.
      for (const [at, overlapping] of [[4 * n - 64, true], [8 * n - 16, true], [8 * n, false], [8 * n + 3, false]] as const) {
        for (const impl of IMPLS) {
          const buf = new ArrayBuffer(8 * n + frame.length + 8);
          const values = new Float32Array(buf, 0, n);
          const residual = new Float32Array(buf, 4 * n, n);
          values.set(v0);
          residual.set(r0);
          const inBuf = new Uint8Array(buf, at, frame.length);
          inBuf.set(frame);
          // What the three calls give from there (the frame over the values or residual is read
          // whole before anything is written, so copies give the same).
          const want = chain(sequential(s), frame, [{ values: values.slice(), residual: residual.slice() }], setDecoded);
          const before = kernel?.fused ?? 0;
          const bytes = codecFor(s, impl).addDecodedThenEncode(inBuf, values, { ...KEYS[0], residual }, setDecoded);
          const what = `${impl} at=${at} setDecoded=${setDecoded}`;
          expect(sameFrameBytes(bytes, want.frames[0]), what).toBe(true);
          expectSameBits(values, want.hops[0].values);
          expectSameBits(residual, want.hops[0].residual!);
          expect(kernel?.fused ?? 0, what).toBe(before + (impl !== 'js' && !overlapping && hasKernel ? 1 : 0));
        }
      }
    }
  });

  it('codecs of different s share the kernel: interleaved fused calls keep their own tables and bits', () => {
    const n = 500;
    const levels = [1, 255, 7];
    const frames = levels.map((s) => codecFor(s, 'js').encode(gaussianVector(n, s), KEYS[2]).slice());
    for (let t = 0; t < 3; t++) {
      for (const s of levels) {
        for (const frame of frames) {
          const hops = hopsFor(n, 10 * t + s, t % 2 === 1);
          const want = chain(sequential(s), frame, hops, t === 2);
          for (const impl of IMPLS) expectSameChain(chain(fused(s, impl), frame, hops, t === 2), want, `${impl} s=${s} t=${t} frame s=${frame[2]}`);
        }
      }
    }
  });

  it('f32Codec passes it through, and the ring sees it on lossy codecs', () => {
    const seg = f32Codec(new StochasticCodec(7));
    expect(seg.addDecodedThenEncode).toBeDefined();
    const n = 300;
    const frame = codecFor(7, 'js').encode(gaussianVector(n, 5), KEYS[0]);
    const hops = [{ values: gaussianVector(n, 6), residual: new Float32Array(n) }];
    const want = chain(sequential(7), frame, hops, true);
    expectSameChain(chain((f, v, ctx, set) => seg.addDecodedThenEncode!(f, v, ctx, set), frame, hops, true), want, 'f32Codec');
  });
});
