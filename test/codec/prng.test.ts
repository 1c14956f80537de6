import { describe, it, expect } from 'vitest';
import { Prng, PrngStream } from '../../src/codec/prng.js';
import { RingError } from '../../src/errors.js';

const M32 = (1n << 32n) - 1n;
const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M32;

/** xoshiro128** written from the reference C, in BigInt: shares no code with prng.ts. */
function referenceXoshiro(state: [number, number, number, number], count: number): number[] {
  let [s0, s1, s2, s3] = state.map((x) => BigInt(x >>> 0));
  const out: number[] = [];
  for (let k = 0; k < count; k++) {
    out.push(Number((rotl((s1 * 5n) & M32, 7n) * 9n) & M32));
    const t = (s1 << 9n) & M32;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11n);
  }
  return out;
}

const key = { seed: 42, step: 7, rank: 3, chunk: 1, segment: 0 };

describe('Prng', () => {
  it('matches a reference xoshiro128** (known answers from state 1,2,3,4)', () => {
    const p = Prng.fromState(1, 2, 3, 4);
    const got = Array.from({ length: 1000 }, () => p.nextUint32());
    expect(got.slice(0, 2)).toEqual([11520, 0]);
    expect(got).toEqual(referenceXoshiro([1, 2, 3, 4], 1000));
    const q = Prng.fromState(0x9e3779b9, 0xdeadbeef, 0x7f4a7c15, 0xffffffff);
    const got2 = Array.from({ length: 1000 }, () => q.nextUint32());
    expect(got2).toEqual(referenceXoshiro([0x9e3779b9, 0xdeadbeef, 0x7f4a7c15, 0xffffffff], 1000));
  });

  it('is deterministic for a key and pinned across versions and processes', () => {
    const a = Prng.fromKey(key, PrngStream.stochastic);
    const b = Prng.fromKey({ ...key }, PrngStream.stochastic);
    const first = Array.from({ length: 4 }, () => a.nextUint32());
    expect(Array.from({ length: 4 }, () => b.nextUint32())).toEqual(first);
    // Pinned: a change here changes every peer's quantization; only change it on purpose.
    expect(first).toEqual(PINNED_STOCHASTIC_42_7_3_1_0);
  });

  it('gives different streams for every key field and stream id', () => {
    const firsts = new Set<number>();
    const variants = [
      key,
      { ...key, seed: 43 },
      { ...key, step: 8 },
      { ...key, rank: 2 },
      { ...key, chunk: 2 },
      { ...key, segment: 1 },
      { ...key, seed: 42 + 2 ** 32 }, // high half of the seed counts
      { ...key, step: -7 },
    ];
    for (const k of variants) firsts.add(Prng.fromKey(k, PrngStream.stochastic).nextUint32());
    firsts.add(Prng.fromKey(key, PrngStream.shared).nextUint32());
    expect(firsts.size).toBe(variants.length + 1);
  });

  it('draws uniform floats in [0, 1)', () => {
    const p = Prng.fromKey(key);
    const bins = new Float64Array(16);
    const N = 160_000;
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < N; i++) {
      const u = p.nextFloatGrid32();
      if (!(u >= 0 && u < 1)) outside++;
      sum += u;
      bins[Math.floor(u * 16)]++;
    }
    expect(outside).toBe(0);
    expect(Math.abs(sum / N - 0.5)).toBeLessThan(0.005);
    let chi2 = 0;
    for (const c of bins) chi2 += (c - N / 16) ** 2 / (N / 16);
    // 15 degrees of freedom: P(chi2 > 40) ≈ 5e-4.
    expect(chi2).toBeLessThan(40);
  });

  it('rejects key fields that are not safe integers', () => {
    expect(() => Prng.fromKey({ ...key, step: 1.5 })).toThrow(RingError);
    expect(() => Prng.fromKey({ ...key, seed: Number.NaN })).toThrow(/seed/);
  });
});

const PINNED_STOCHASTIC_42_7_3_1_0 = [4286833378, 2229622458, 2574421311, 65352932];
