/**
 * Binary logistic regression on CSR rows.
 *
 * Weights: a Float64Array of length dim+1; w[dim] is the bias (the model appends a constant
 * feature 1 to every row). Labels are 0/1 in the dataset; the loss uses y = 2·y01 − 1 ∈ {−1,+1}:
 *   loss_i = log(1 + exp(−y_i · (w·x_i + b)))
 * and its gradient is κ_i · (x_i, 1) with κ_i = σ(w·x_i + b) − y01_i.
 *
 * The functions here compute plain *sums* over rows (no mean, no L2): the optimizer divides by the
 * global row count after the allreduce and adds λw itself, identically on every peer.
 * All accumulation is in float64, rows in ascending order of the given row list.
 */
import type { CsrDataset } from '../data/csr.js';
import { RingError } from '../errors.js';

/** log(1 + exp(z)) without overflow for large z or loss of precision for very negative z. */
export function log1pExp(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/** σ(z) = 1/(1+exp(−z)), stable on both tails. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** Loss of one row from its margin m and 0/1 label: log(1+exp(−m)) if y=1, log(1+exp(m)) if y=0. */
export function rowLoss(m: number, y01: number): number {
  return y01 === 1 ? log1pExp(-m) : log1pExp(m);
}

/** bias + w·x_row, summed in that order (the same order every function here uses). */
export function margin(w: Float64Array, ds: CsrDataset, row: number): number {
  const { indptr, indices, values } = ds;
  let s = w[ds.dim];
  for (let p = indptr[row], end = indptr[row + 1]; p < end; p++) s += w[indices[p]] * values[p];
  return s;
}

/** Throws unless w has length ds.dim + 1. */
export function checkWeights(w: Float64Array, ds: CsrDataset): void {
  if (w.length !== ds.dim + 1) {
    throw new RingError(
      'E_INTERNAL',
      `weights have length ${w.length} but the data has dimension ${ds.dim} (expected ${ds.dim + 1} = dim + bias); ` +
        'load the data with the same --dim the model was trained with',
    );
  }
}

/** P(y=1 | x) for every row (or the listed rows, in that order). */
export function predictProba(w: Float64Array, ds: CsrDataset, rowIds?: ArrayLike<number>, out?: Float64Array): Float64Array {
  checkWeights(w, ds);
  const n = rowIds ? rowIds.length : ds.rows;
  const res = out ?? new Float64Array(n);
  for (let k = 0; k < n; k++) res[k] = sigmoid(margin(w, ds, rowIds ? rowIds[k] : k));
  return res;
}

/** Margins w·x + b for every row (or the listed rows). */
export function margins(w: Float64Array, ds: CsrDataset, rowIds?: ArrayLike<number>): Float64Array {
  checkWeights(w, ds);
  const n = rowIds ? rowIds.length : ds.rows;
  const res = new Float64Array(n);
  for (let k = 0; k < n; k++) res[k] = margin(w, ds, rowIds ? rowIds[k] : k);
  return res;
}

/** Σ_i log(1+exp(−y_i m_i)) over all rows or the listed rows; no L2 term. */
export function lossSum(w: Float64Array, ds: CsrDataset, rowIds?: ArrayLike<number>): number {
  checkWeights(w, ds);
  const n = rowIds ? rowIds.length : ds.rows;
  let s = 0;
  for (let k = 0; k < n; k++) {
    const i = rowIds ? rowIds[k] : k;
    s += rowLoss(margin(w, ds, i), ds.labels[i]);
  }
  return s;
}

/**
 * Adds Σ_i κ_i·(x_i, 1) into grad (length dim+1, not cleared: the caller zeroes it) and returns
 * Σ_i loss_i. Sparse: touches only each row's nonzeros and the bias slot. No L2 term.
 */
export function addLossGradientSum(
  w: Float64Array,
  ds: CsrDataset,
  grad: Float64Array,
  rowIds?: ArrayLike<number>,
): number {
  checkWeights(w, ds);
  if (grad.length !== ds.dim + 1) throw new RingError('E_INTERNAL', `gradient buffer has length ${grad.length}, expected ${ds.dim + 1}`);
  const { indptr, indices, values, labels, dim } = ds;
  const n = rowIds ? rowIds.length : ds.rows;
  const bias = w[dim];
  let loss = 0;
  let biasGrad = 0;
  for (let k = 0; k < n; k++) {
    const i = rowIds ? rowIds[k] : k;
    const start = indptr[i];
    const end = indptr[i + 1];
    let m = bias;
    for (let p = start; p < end; p++) m += w[indices[p]] * values[p];
    const y = labels[i];
    // one exp serves both the loss and σ: e = exp(−|m|)
    const e = Math.exp(-Math.abs(m));
    const l1p = Math.log1p(e);
    let kappa: number;
    if (m >= 0) {
      loss += y === 1 ? l1p : m + l1p;
      kappa = 1 / (1 + e) - y;
    } else {
      loss += y === 1 ? l1p - m : l1p;
      kappa = e / (1 + e) - y;
    }
    if (kappa !== 0) {
      for (let p = start; p < end; p++) grad[indices[p]] += kappa * values[p];
    }
    biasGrad += kappa;
  }
  grad[dim] += biasGrad;
  return loss;
}

/** Σ_i κ_i·(x_i, 1) as a new array (convenience over addLossGradientSum). */
export function gradientSum(w: Float64Array, ds: CsrDataset, rowIds?: ArrayLike<number>): Float64Array {
  const g = new Float64Array(ds.dim + 1);
  addLossGradientSum(w, ds, g, rowIds);
  return g;
}
