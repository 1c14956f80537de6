/**
 * Full-batch gradient descent with a backtracking Armijo line search.
 *
 * Step k: d = −∇f(w); try α (the last accepted step, doubled when the previous step was accepted
 * at its first trial) and shrink until f(w+αd) ≤ f(w) − c1·α·||∇f||². Every trial is one
 * distributed evaluation (one allreduce) and also yields the next gradient.
 * Stops when ||∇f(w)|| ≤ tol·||∇f(w0)||, after maxIterations, or when no step decreases f.
 */
import { RingError } from '../errors.js';
import { FullBatchOptimizer, stateBool, stateNumber, type FullBatchConfig, type SearchDirection } from './fullbatch.js';
import type { LineSearchResult } from './linesearch.js';
import type { DistributedObjective } from './objective.js';
import type { OptimizerState, StateValue } from './types.js';

export interface GdConfig extends FullBatchConfig {
  /** First trial step (default 1: the objective is a mean, its curvature is O(1) for scaled data). */
  initialStep?: number;
}

export const GD_DEFAULTS: Required<Pick<GdConfig, 'tol' | 'maxIterations' | 'initialStep'>> = {
  // GD converges linearly and slowly on ill-conditioned data: at tol 1e-4 the objective is within
  // 0.09 % of the optimum on mushrooms and 0.013 % on a9a (≈4400 iterations there); 3e-5 leaves margin.
  tol: 3e-5,
  maxIterations: 10000,
  initialStep: 1,
};

export class GradientDescent extends FullBatchOptimizer {
  readonly name = 'gd' as const;
  private alpha: number;
  private firstTrialAccepted = false;

  constructor(obj: DistributedObjective, cfg: Partial<GdConfig> = {}) {
    const full = { ...GD_DEFAULTS, ...cfg };
    super(obj, full);
    if (!(full.initialStep > 0)) throw new RingError('E_CONFIG', `GD initial step must be > 0, got ${full.initialStep}`);
    this.alpha = full.initialStep;
  }

  protected direction(): SearchDirection {
    const n = this.g.length;
    const d = new Float64Array(n);
    let gd = 0;
    for (let j = 0; j < n; j++) {
      d[j] = -this.g[j];
      gd -= this.g[j] * this.g[j];
    }
    return { d, gd, alpha0: this.firstTrialAccepted ? 2 * this.alpha : this.alpha };
  }

  protected accepted(res: Required<LineSearchResult>): void {
    this.firstTrialAccepted = res.trials === 1;
    this.alpha = res.alpha;
  }

  protected retryDirection(): SearchDirection | undefined {
    return undefined;
  }

  protected exportExtra(): Record<string, StateValue> {
    return { alpha: this.alpha, firstTrialAccepted: this.firstTrialAccepted };
  }

  protected importExtra(s: OptimizerState): void {
    this.alpha = stateNumber(s, 'alpha');
    this.firstTrialAccepted = stateBool(s, 'firstTrialAccepted');
  }
}
