/**
 * Classification metrics on predicted probabilities P(y=1) against 0/1 labels.
 */
import type { CsrDataset } from '../data/csr.js';
import { RingError } from '../errors.js';
import { margins, rowLoss, sigmoid } from './logreg.js';

export interface Confusion {
  /** predicted 1, label 1 */
  tp: number;
  /** predicted 1, label 0 */
  fp: number;
  /** predicted 0, label 0 */
  tn: number;
  /** predicted 0, label 1 */
  fn: number;
}

export interface Metrics {
  rows: number;
  accuracy: number;
  /** Mean log-loss (natural log). */
  logLoss: number;
  /** Area under the ROC curve; NaN when only one class is present. */
  auc: number;
  confusion: Confusion;
}

/** Probabilities are clipped to [EPS, 1−EPS] in logLoss so a confident mistake costs ~34.5, not ∞. */
export const LOGLOSS_EPS = 1e-15;

function checkLengths(probs: ArrayLike<number>, labels: ArrayLike<number>): void {
  if (probs.length !== labels.length) {
    throw new RingError('E_INTERNAL', `metrics: ${probs.length} predictions but ${labels.length} labels`);
  }
}

/** Counts with the rule "predict 1 when p ≥ threshold" (default 0.5). */
export function confusion(probs: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0.5): Confusion {
  checkLengths(probs, labels);
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < probs.length; i++) {
    const pred = probs[i] >= threshold;
    if (labels[i] === 1) {
      if (pred) c.tp++;
      else c.fn++;
    } else if (pred) c.fp++;
    else c.tn++;
  }
  return c;
}

export function accuracy(probs: ArrayLike<number>, labels: ArrayLike<number>, threshold = 0.5): number {
  const c = confusion(probs, labels, threshold);
  const n = c.tp + c.fp + c.tn + c.fn;
  return n === 0 ? NaN : (c.tp + c.tn) / n;
}

/** Mean of −[y log p + (1−y) log(1−p)], p clipped to [LOGLOSS_EPS, 1−LOGLOSS_EPS]. */
export function meanLogLoss(probs: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLengths(probs, labels);
  if (probs.length === 0) return NaN;
  let s = 0;
  for (let i = 0; i < probs.length; i++) {
    const p = Math.min(1 - LOGLOSS_EPS, Math.max(LOGLOSS_EPS, probs[i]));
    s -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return s / probs.length;
}

/**
 * Exact ROC AUC by the rank-sum (Mann–Whitney U) formula; tied scores get the mean of their
 * ranks, which counts a tied positive/negative pair as ½. NaN when a class is missing.
 */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLengths(scores, labels);
  const n = scores.length;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) throw new RingError('E_INTERNAL', `auc: score ${i} is NaN; the model weights are not finite`);
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => scores[a] - scores[b]);
  let pos = 0;
  let rankSumPos = 0;
  let i = 0;
  while (i < n) {
    let j = i + 1;
    while (j < n && scores[order[j]] === scores[order[i]]) j++;
    // ranks i+1 .. j (1-based) share their mean
    const midrank = (i + 1 + j) / 2;
    for (let k = i; k < j; k++) {
      if (labels[order[k]] === 1) {
        pos++;
        rankSumPos += midrank;
      }
    }
    i = j;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** All metrics for weights w on a dataset. Log-loss comes from the margins (no clipping needed). */
export function evaluate(w: Float64Array, ds: CsrDataset, threshold = 0.5): Metrics {
  const m = margins(w, ds);
  const probs = new Float64Array(ds.rows);
  let loss = 0;
  for (let i = 0; i < ds.rows; i++) {
    probs[i] = sigmoid(m[i]);
    loss += rowLoss(m[i], ds.labels[i]);
  }
  const c = confusion(probs, ds.labels, threshold);
  return {
    rows: ds.rows,
    accuracy: ds.rows === 0 ? NaN : (c.tp + c.tn) / ds.rows,
    logLoss: ds.rows === 0 ? NaN : loss / ds.rows,
    // margins rank the rows exactly like the probabilities but without σ's saturation ties
    auc: auc(m, ds.labels),
    confusion: c,
  };
}
