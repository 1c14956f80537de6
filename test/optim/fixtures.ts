/** Shared test data: the four benchmark sets with their liblinear figures, and random sparse sets. */
import { CsrBuilder, type CsrDataset } from '../../src/data/csr.js';
import { readLibsvm } from '../../src/data/libsvm.js';
import { Prng } from '../../src/optim/prng.js';
import { dataFile } from '../helpers/paths.js';

export interface BenchmarkSet {
  name: string;
  train: string;
  test: string;
  dim: number;
  /** liblinear 2.3.0 -s 0 -c 1 -B 1, from the data README */
  refObjective: number;
  refAccuracy: number;
  /**
   * The optimum of *our* objective (bias not regularized), recorded from L-BFGS with m = 20 run
   * until the line search could not decrease f (||g||/||g0|| < 6e-9).
   */
  ownOptimum: number;
}

export const BENCHMARKS: BenchmarkSet[] = [
  { name: 'a9a', train: 'a9a', test: 'a9a.t', dim: 123, refObjective: 0.323372, refAccuracy: 0.8495, ownOptimum: 0.32334917 },
  { name: 'mushrooms', train: 'mushrooms.train', test: 'mushrooms.test', dim: 112, refObjective: 0.016607, refAccuracy: 1.0, ownOptimum: 0.016592957 },
  { name: 'breast-cancer_scale', train: 'breast-cancer_scale.train', test: 'breast-cancer_scale.test', dim: 9, refObjective: 0.09626, refAccuracy: 0.9489, ownOptimum: 0.08886829 },
  { name: 'wdbc_scale', train: 'wdbc_scale.train', test: 'wdbc_scale.test', dim: 30, refObjective: 0.14737, refAccuracy: 0.9649, ownOptimum: 0.12642367 },
];

const cache = new Map<string, CsrDataset>();
export function load(file: string, dim: number): CsrDataset {
  const key = `${file}:${dim}`;
  let ds = cache.get(key);
  if (!ds) {
    ds = readLibsvm(dataFile(file), { dim });
    cache.set(key, ds);
  }
  return ds;
}

export function benchmark(name: string): { set: BenchmarkSet; train: CsrDataset; test: CsrDataset } {
  const set = BENCHMARKS.find((b) => b.name === name);
  if (!set) throw new Error(`no benchmark ${name}`);
  return { set, train: load(set.train, set.dim), test: load(set.test, set.dim) };
}

/**
 * A random sparse dataset: each row has Poisson-ish ~density·dim nonzeros with values in
 * [−1.5, 1.5], labels from a random linear model plus label noise (so the optimum is finite).
 */
export function randomDataset(seed: number, rows: number, dim: number, nnzPerRow: number): CsrDataset {
  const rng = new Prng(seed);
  const truth = new Float64Array(dim);
  for (let j = 0; j < dim; j++) truth[j] = (rng.nextFloat() - 0.5) * 4;
  const b = new CsrBuilder();
  for (let i = 0; i < rows; i++) {
    const cols = new Set<number>();
    const k = 1 + rng.nextInt(Math.max(1, 2 * nnzPerRow - 1));
    while (cols.size < Math.min(k, dim)) cols.add(rng.nextInt(dim));
    const sorted = [...cols].sort((x, y) => x - y);
    let m = 0.3;
    for (const j of sorted) {
      const v = Math.fround((rng.nextFloat() - 0.5) * 3);
      b.push(j, v);
      m += truth[j] * v;
    }
    const p = 1 / (1 + Math.exp(-m));
    b.endRow(rng.nextFloat() < p ? 1 : 0);
  }
  return b.build(dim);
}

/** Dense row-major copy of a CSR dataset (for naive references). */
export function toDense(ds: CsrDataset): Float64Array[] {
  const out: Float64Array[] = [];
  for (let i = 0; i < ds.rows; i++) {
    const r = new Float64Array(ds.dim);
    for (let p = ds.indptr[i]; p < ds.indptr[i + 1]; p++) r[ds.indices[p]] = ds.values[p];
    out.push(r);
  }
  return out;
}

export function randomWeights(seed: number, n: number, scale = 1): Float64Array {
  const rng = new Prng(seed);
  const w = new Float64Array(n);
  for (let j = 0; j < n; j++) w[j] = (rng.nextFloat() - 0.5) * 2 * scale;
  return w;
}
