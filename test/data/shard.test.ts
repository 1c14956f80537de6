import { describe, expect, it } from 'vitest';
import { CsrBuilder, selectRows, type CsrDataset } from '../../src/data/csr.js';
import { readLibsvm } from '../../src/data/libsvm.js';
import { agreeDim, datasetDigest, shardDataset, shardRows, sliceRows, withDim } from '../../src/data/shard.js';
import { seededRandom, splitDataset, stratifiedSplit } from '../../src/data/split.js';
import { dataFile } from '../helpers/paths.js';

function randomDataset(rows: number, dim: number, seed: number): CsrDataset {
  const rand = seededRandom(seed);
  const b = new CsrBuilder();
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < dim; j++) if (rand() < 0.3) b.push(j, rand() * 2 - 1);
    b.endRow(rand() < 0.4 ? 1 : 0);
  }
  return b.build(dim);
}

/** Concatenates shards back into one dataset (reference for "union = whole"). */
function concat(parts: CsrDataset[], dim: number): CsrDataset {
  const b = new CsrBuilder();
  for (const ds of parts) {
    for (let i = 0; i < ds.rows; i++) {
      for (let p = ds.indptr[i]; p < ds.indptr[i + 1]; p++) b.push(ds.indices[p], ds.values[p]);
      b.endRow(ds.labels[i] as 0 | 1);
    }
  }
  return b.build(dim);
}

describe('shardRows', () => {
  it('contiguous balanced blocks covering every row once, for N = 1..8', () => {
    for (const rows of [0, 1, 3, 7, 8, 9, 100, 32561]) {
      for (let size = 1; size <= 8; size++) {
        let next = 0;
        const sizes: number[] = [];
        for (let rank = 0; rank < size; rank++) {
          const { start, end } = shardRows(rows, rank, size);
          expect(start).toBe(next);
          next = end;
          sizes.push(end - start);
        }
        expect(next).toBe(rows);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        // larger shards first, so every peer derives the same layout from (rows, size)
        expect([...sizes].sort((a, b) => b - a)).toEqual(sizes);
      }
    }
  });

  it('rejects bad rank/size', () => {
    expect(() => shardRows(10, 2, 2)).toThrow(/rank/);
    expect(() => shardRows(10, -1, 2)).toThrow(/rank/);
    expect(() => shardRows(10, 0, 0)).toThrow(/shard count/);
    expect(() => shardRows(-1, 0, 1)).toThrow(/row count/);
  });
});

describe('shardDataset', () => {
  it('union of shards = whole dataset, for N = 1..8 (random and a9a)', () => {
    const a9a = readLibsvm(dataFile('a9a'));
    for (const ds of [randomDataset(37, 11, 5), randomDataset(5, 4, 6), a9a]) {
      const whole = datasetDigest(ds);
      for (let size = 1; size <= 8; size++) {
        const parts = Array.from({ length: size }, (_, r) => shardDataset(ds, r, size));
        for (const p of parts) {
          expect(p.dim).toBe(ds.dim);
          expect(p.indptr[0]).toBe(0);
          expect(p.indptr[p.rows]).toBe(p.indices.length);
        }
        const sizes = parts.map((p) => p.rows);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
        expect(datasetDigest(concat(parts, ds.dim))).toBe(whole);
      }
    }
  });

  it('a shard equals selectRows of its range', () => {
    const ds = randomDataset(50, 9, 8);
    const { start, end } = shardRows(50, 2, 3);
    const ids = Array.from({ length: end - start }, (_, k) => start + k);
    expect(datasetDigest(shardDataset(ds, 2, 3))).toBe(datasetDigest(selectRows(ds, ids)));
    expect(() => sliceRows(ds, 10, 51)).toThrow(/outside/);
  });
});

describe('datasetDigest', () => {
  it('is stable and sensitive to every part', () => {
    const ds = randomDataset(20, 6, 9);
    const d = datasetDigest(ds);
    expect(d).toMatch(/^[0-9a-f]{64}$/);
    expect(datasetDigest(randomDataset(20, 6, 9))).toBe(d);
    const values = ds.values.slice();
    values[3] += 1e-6;
    expect(datasetDigest({ ...ds, values })).not.toBe(d);
    const labels = ds.labels.slice();
    labels[0] ^= 1;
    expect(datasetDigest({ ...ds, labels })).not.toBe(d);
    expect(datasetDigest({ ...ds, dim: 7 })).not.toBe(d);
    const indices = ds.indices.slice();
    indices[0] = 5;
    expect(datasetDigest({ ...ds, indices })).not.toBe(d);
    // Same nnz moved between rows changes indptr only.
    const indptr = ds.indptr.slice();
    indptr[1] += 1;
    expect(datasetDigest({ ...ds, indptr })).not.toBe(d);
  });
});

describe('agreeDim', () => {
  it('is max(config dim, largest train index + 1)', () => {
    const train = readLibsvm(dataFile('a9a'));
    const test = readLibsvm(dataFile('a9a.t'));
    expect(test.dim).toBe(122); // a9a.t never uses feature 123
    expect(agreeDim(undefined, train)).toBe(123);
    expect(agreeDim(100, train)).toBe(123);
    expect(agreeDim(200, train)).toBe(200);
    expect(withDim(test, agreeDim(undefined, train)).dim).toBe(123);
    expect(() => withDim(train, 100)).toThrow(/shrink/);
  });
});

describe('stratifiedSplit', () => {
  it('is deterministic, stratified and a partition', () => {
    const ds = randomDataset(101, 5, 10);
    const a = stratifiedSplit(ds.labels, 0.25, 42);
    const b = stratifiedSplit(ds.labels, 0.25, 42);
    expect(Array.from(a.test)).toEqual(Array.from(b.test));
    expect(Array.from(stratifiedSplit(ds.labels, 0.25, 43).test)).not.toEqual(Array.from(a.test));
    const all = [...a.train, ...a.test].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 101 }, (_, i) => i));
    let pos = 0;
    for (const l of ds.labels) pos += l;
    let testPos = 0;
    for (const i of a.test) testPos += ds.labels[i];
    expect(testPos).toBe(Math.round(0.25 * pos));
    expect(a.test.length - testPos).toBe(Math.round(0.25 * (101 - pos)));
    const parts = splitDataset(ds, 0.25, 42);
    expect(parts.train.rows + parts.test.rows).toBe(101);
    expect(() => stratifiedSplit(ds.labels, 1, 1)).toThrow(/testFraction/);
  });
});
