/**
 * The distributed objective (liblinear's, divided by C·M):
 *   f(w) = (1/M) Σ_i log(1+exp(−y_i (w·x_i + b))) + (λ/2) ||w_{0..dim−1}||²
 * M = global training rows, the bias b = w[dim] is not regularized.
 *
 * One evaluation = local sums over this peer's shard + ONE allreduce of a float64 vector
 * [Σ gradient (dim+1) ..., Σ loss]; then the mean and the L2 terms are formed from the reduced
 * vector and w in a fixed order, so every peer gets bit-identical value and gradient.
 */
import type { CsrDataset } from '../data/csr.js';
import { RingError } from '../errors.js';
import { addLossGradientSum, checkWeights } from '../model/logreg.js';
import type { RingContext } from './types.js';

export interface ObjectiveValue {
  value: number;
  /** ∇f(w), length dim+1. A fresh array per evaluation (the caller may keep it). */
  grad: Float64Array;
}

export interface DistributedObjective {
  readonly dim: number;
  readonly lambda: number;
  /** M: the global number of training rows. */
  readonly globalRows: number;
  /** Evaluations so far (each one is one ctx.allreduce). */
  readonly evaluations: number;
  evaluate(w: Float64Array): Promise<ObjectiveValue>;
}

/** λ = 1/(C·M), liblinear's regularization expressed per row. */
export function lambdaFromC(C: number, globalRows: number): number {
  if (!(C > 0) || !(globalRows > 0)) throw new RingError('E_CONFIG', `C (${C}) and the global row count (${globalRows}) must be positive to derive λ = 1/(C·M)`);
  return 1 / (C * globalRows);
}

/** M = Σ over peers of shard.rows, via one exact float64 allreduce. */
export async function globalRowCount(shard: CsrDataset, ctx: RingContext): Promise<number> {
  const v = new Float64Array([shard.rows]);
  await ctx.allreduce(v);
  return v[0];
}

/** Adds the L2 part to a reduced [grad sums, loss sum] vector: shared by every optimizer. */
export function finishObjective(reduced: Float64Array, w: Float64Array, lambda: number, globalRows: number): ObjectiveValue {
  const dim = w.length - 1;
  const grad = new Float64Array(dim + 1);
  let sq = 0;
  for (let j = 0; j < dim; j++) {
    const wj = w[j];
    sq += wj * wj;
    grad[j] = reduced[j] / globalRows + lambda * wj;
  }
  grad[dim] = reduced[dim] / globalRows;
  const value = reduced[dim + 1] / globalRows + 0.5 * lambda * sq;
  return { value, grad };
}

export function distributedObjective(shard: CsrDataset, ctx: RingContext, lambda: number, globalRows: number): DistributedObjective {
  if (!(globalRows > 0)) throw new RingError('E_DATA', `the ring holds ${globalRows} training rows; every run needs at least one`);
  if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new RingError('E_CONFIG', `λ must be a finite number ≥ 0, got ${lambda}`);
  const dim = shard.dim;
  const buf = new Float64Array(dim + 2);
  const gradView = buf.subarray(0, dim + 1);
  let evaluations = 0;
  return {
    dim,
    lambda,
    globalRows,
    get evaluations() {
      return evaluations;
    },
    async evaluate(w: Float64Array): Promise<ObjectiveValue> {
      checkWeights(w, shard);
      buf.fill(0);
      buf[dim + 1] = addLossGradientSum(w, shard, gradView);
      await ctx.allreduce(buf);
      evaluations++;
      return finishObjective(buf, w, lambda, globalRows);
    },
  };
}

/** Euclidean norm, summed in index order. */
export function norm2(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** Dot product, summed in index order. */
export function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}
