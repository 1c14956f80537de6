import { RingError } from '../errors.js';
import { selectRows, type CsrDataset } from './csr.js';

/**
 * Deterministic train/test splits. Same (labels, fraction, seed) → same split on every machine and
 * Node version: the PRNG is mulberry32, integer arithmetic written here (no Math.random).
 */

/** A seeded 32-bit PRNG (mulberry32). Returns a function giving floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of `a` in place with the given PRNG. */
export function shuffleInPlace(a: Uint32Array, rand: () => number): Uint32Array {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

export interface SplitIndices {
  /** Row ids in ascending order (rows keep their original order within each part). */
  train: Uint32Array;
  test: Uint32Array;
}

/**
 * Stratified split: the rows of each class are shuffled with one PRNG seeded by `seed` (class 0
 * first, then class 1) and the first round(testFraction · classCount) shuffled rows of each class go
 * to test. Both classes keep the same proportion in train and test. Parts are returned sorted.
 */
export function stratifiedSplit(labels: Uint8Array, testFraction: number, seed: number): SplitIndices {
  if (!(testFraction >= 0 && testFraction < 1)) {
    throw new RingError('E_DATA', `testFraction must be in [0, 1), got ${testFraction}`);
  }
  const rand = seededRandom(seed);
  const isTest = new Uint8Array(labels.length);
  for (const cls of [0, 1]) {
    let n = 0;
    for (let i = 0; i < labels.length; i++) if (labels[i] === cls) n++;
    const ids = new Uint32Array(n);
    for (let i = 0, k = 0; i < labels.length; i++) if (labels[i] === cls) ids[k++] = i;
    shuffleInPlace(ids, rand);
    const nTest = Math.round(testFraction * n);
    for (let k = 0; k < nTest; k++) isTest[ids[k]] = 1;
  }
  let nTest = 0;
  for (let i = 0; i < isTest.length; i++) nTest += isTest[i];
  const train = new Uint32Array(labels.length - nTest);
  const test = new Uint32Array(nTest);
  for (let i = 0, a = 0, b = 0; i < isTest.length; i++) {
    if (isTest[i]) test[b++] = i;
    else train[a++] = i;
  }
  return { train, test };
}

/** Splits a dataset with stratifiedSplit. */
export function splitDataset(ds: CsrDataset, testFraction: number, seed: number): { train: CsrDataset; test: CsrDataset } {
  const { train, test } = stratifiedSplit(ds.labels, testFraction, seed);
  return { train: selectRows(ds, train), test: selectRows(ds, test) };
}
