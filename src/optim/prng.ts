/**
 * The seeded draws SGD needs: a seed from integer keys, and a permutation. The generator is the
 * codecs' xoshiro128** (src/codec/prng.ts), seeded through splitmix32 by `new Prng(seed)`.
 * Integer-only arithmetic (Math.imul, shifts), so every peer and every run draws the same
 * numbers. Never use Math.random for anything that shapes training.
 */
import { fmix32, mixH } from '../data/hashing.js';
import { Prng } from '../codec/prng.js';

export { Prng };

/** Mixes a list of integer keys (e.g. seed, epoch, rank) into one 32-bit seed. */
export function seedFrom(...keys: number[]): number {
  let h = 0x9e3779b9;
  for (const key of keys) {
    if (!Number.isSafeInteger(key)) throw new RangeError(`PRNG key must be a safe integer, got ${key}`);
    // feed the low and high 32-bit halves so keys above 2^32 still matter
    const lo = key >>> 0;
    const hi = Math.floor(key / 4294967296) >>> 0;
    h = mixH(h, lo);
    h = mixH(h, hi);
  }
  return fmix32(h);
}

/** A permutation of 0..n−1 by Fisher–Yates. */
export function permutation(n: number, prng: Prng): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = prng.nextInt(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}
