/**
 * Backtracking line search with the Armijo (sufficient decrease) test, shared by GD and L-BFGS.
 * Every trial is a full distributed evaluation; the accept/shrink decision uses only the
 * allreduced objective values, so every peer takes the same decisions in the same order.
 */
import type { DistributedObjective } from './objective.js';

export interface LineSearchOptions {
  /** Armijo constant c1: accept when f(w+αd) ≤ f(w) + c1·α·(g·d). */
  c1: number;
  /** Give up after this many trials. */
  maxTrials: number;
}

export const DEFAULT_LINE_SEARCH: LineSearchOptions = { c1: 1e-4, maxTrials: 40 };

export interface LineSearchResult {
  accepted: boolean;
  /** The accepted step (or the last one tried). */
  alpha: number;
  /** Accepted point, its value and gradient (undefined when not accepted). */
  w?: Float64Array;
  f?: number;
  g?: Float64Array;
  trials: number;
}

/**
 * Tries α = alpha0, then shrinks by the minimizer of the quadratic through f(0), f'(0) and
 * f(α), clamped to [0.1α, 0.5α]. Stops when α·max|d| is below float resolution of w.
 * `gd` = g·d must be negative (a descent direction).
 */
export async function backtrackingArmijo(
  obj: DistributedObjective,
  w: Float64Array,
  f: number,
  gd: number,
  d: Float64Array,
  alpha0: number,
  opts: LineSearchOptions = DEFAULT_LINE_SEARCH,
): Promise<LineSearchResult> {
  const n = w.length;
  let dMax = 0;
  let wMax = 0;
  for (let j = 0; j < n; j++) {
    dMax = Math.max(dMax, Math.abs(d[j]));
    wMax = Math.max(wMax, Math.abs(w[j]));
  }
  let alpha = alpha0;
  let trials = 0;
  while (trials < opts.maxTrials) {
    // a step that cannot move any weight by even one ulp is no step
    if (!(alpha * dMax > 1e-16 * (1 + wMax))) break;
    const wNew = new Float64Array(n);
    for (let j = 0; j < n; j++) wNew[j] = w[j] + alpha * d[j];
    const { value, grad } = await obj.evaluate(wNew);
    trials++;
    if (Number.isFinite(value) && value <= f + opts.c1 * alpha * gd) {
      return { accepted: true, alpha, w: wNew, f: value, g: grad, trials };
    }
    let next: number;
    if (!Number.isFinite(value)) next = 0.1 * alpha;
    else {
      const denom = 2 * (value - f - gd * alpha);
      next = denom > 0 ? (-gd * alpha * alpha) / denom : 0.5 * alpha;
      next = Math.min(0.5 * alpha, Math.max(0.1 * alpha, next));
    }
    alpha = next;
  }
  return { accepted: false, alpha, trials };
}
