/**
 * The project's one seeded PRNG: xoshiro128** (Blackman & Vigna), 32-bit integer ops only,
 * period 2^128 - 1. Every peer that seeds it alike gets the same stream in any process on any
 * host, which the identical-weights invariant needs and Math.random cannot give.
 *
 * Two ways in, each pinned (tests and checkpoints rely on the exact streams):
 *  - Prng.fromKey: the stochastic codecs' draws. The key fields (seed, step, rank, chunk,
 *    segment), each as two 32-bit halves, go through four murmur3-style hashes with different lane
 *    seeds, giving a 128-bit state (keys do not collide in practice).
 *  - new Prng(seed): SGD's batch order (src/optim/prng.ts). A 32-bit seed is expanded to 128 bits
 *    by splitmix32.
 */
import { RingError } from '../errors.js';
import { fmix32, mixH } from '../data/hashing.js';

export interface PrngKey {
  readonly seed: number;
  readonly step: number;
  readonly rank: number;
  readonly chunk: number;
  readonly segment: number;
}

/**
 * Domain separation: codecs that draw for the same key get unrelated streams. Never renumber
 * (that would change every stream).
 */
export const PrngStream = {
  test: 0,
  stochastic: 1,
  shared: 2,
} as const;

const TWO_POW_32 = 4294967296;
const INV_TWO_POW_32 = 1 / TWO_POW_32;
const LANE_SEEDS = [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344] as const;

export class Prng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;

  /** The stream for a 32-bit seed (taken modulo 2^32), expanded to a 128-bit state by splitmix32. */
  constructor(seed: number) {
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      return (z ^ (z >>> 15)) >>> 0;
    };
    // splitmix32's output is a bijection of x, so four draws are never all zero.
    this.setState(next(), next(), next(), next());
  }

  /** The stream for one (seed, step, rank, chunk, segment) and codec. Fields must be safe integers. */
  static fromKey(key: PrngKey, stream: number = PrngStream.test): Prng {
    const words = new Uint32Array(11);
    words[0] = stream >>> 0;
    putField(words, 1, 'seed', key.seed);
    putField(words, 3, 'step', key.step);
    putField(words, 5, 'rank', key.rank);
    putField(words, 7, 'chunk', key.chunk);
    putField(words, 9, 'segment', key.segment);
    return Prng.fromState(
      hashWords(words, LANE_SEEDS[0]),
      hashWords(words, LANE_SEEDS[1]),
      hashWords(words, LANE_SEEDS[2]),
      hashWords(words, LANE_SEEDS[3]),
    );
  }

  /** Raw xoshiro128** state, for known-answer tests. */
  static fromState(s0: number, s1: number, s2: number, s3: number): Prng {
    const p = new Prng(0);
    p.setState(s0, s1, s2, s3);
    return p;
  }

  /**
   * The raw state (s0..s3) into out[at..at+4), for a kernel that continues this stream in its own
   * memory (stochastic-kernel.ts runs xoshiro128** there); reading it changes nothing.
   */
  stateInto(out: Int32Array | Uint32Array, at = 0): void {
    out[at] = this.s0;
    out[at + 1] = this.s1;
    out[at + 2] = this.s2;
    out[at + 3] = this.s3;
  }

  private setState(s0: number, s1: number, s2: number, s3: number): void {
    // The all-zero state is the one fixed point of xoshiro; the hash makes it (nearly) impossible.
    if ((s0 | s1 | s2 | s3) === 0) s0 = 1;
    this.s0 = s0 | 0;
    this.s1 = s1 | 0;
    this.s2 = s2 | 0;
    this.s3 = s3 | 0;
  }

  /** Uniform integer in [0, 2^32). */
  nextUint32(): number {
    const s0 = this.s0, s1 = this.s1;
    let s2 = this.s2, s3 = this.s3;
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    this.s1 = s1 ^ s2;
    this.s0 = s0 ^ s3;
    this.s2 = s2 ^ t;
    this.s3 = rotl(s3, 11);
    return result >>> 0;
  }

  /**
   * Fills out with the next out.length draws (the same numbers nextUint32 would give, in order).
   * The codecs take one draw per position this way: the state stays in locals, ~4× faster than
   * calling nextUint32 per value.
   */
  fillUint32(out: Uint32Array): void {
    let s0 = this.s0, s1 = this.s1, s2 = this.s2, s3 = this.s3;
    for (let i = 0; i < out.length; i++) {
      const m = Math.imul(s1, 5);
      out[i] = Math.imul((m << 7) | (m >>> 25), 9);
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }

  /** Uniform float in [0, 1) with 53 random bits (two draws). */
  nextFloat(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform float in [0, 1) on a grid of 2^-32 (one draw): P(nextFloatGrid32() < p) is p to within 2^-32. */
  nextFloatGrid32(): number {
    return this.nextUint32() * INV_TWO_POW_32;
  }

  /** Uniform integer in [0, n), n ≤ 2^32, without modulo bias (rejection sampling). */
  nextInt(n: number): number {
    if (!(n >= 1 && n <= TWO_POW_32 && Number.isInteger(n))) throw new RangeError(`nextInt bound must be an integer in [1, 2^32], got ${n}`);
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    for (;;) {
      const u = this.nextUint32();
      if (u < limit) return u % n;
    }
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function putField(words: Uint32Array, at: number, name: string, x: number): void {
  if (!Number.isSafeInteger(x)) {
    throw new RingError('E_INTERNAL', `PRNG key field ${name} must be a safe integer, got ${x}`);
  }
  words[at] = x >>> 0; // low half (two's complement for negatives)
  words[at + 1] = Math.floor(x / TWO_POW_32) >>> 0;
}

/** murmur3_32 over whole words (body + finalizer). */
function hashWords(words: Uint32Array, seed: number): number {
  let h = seed | 0;
  for (let i = 0; i < words.length; i++) h = mixH(h, words[i]);
  return fmix32(h ^ (words.length * 4));
}
