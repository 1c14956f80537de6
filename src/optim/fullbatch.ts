/**
 * What GD and L-BFGS share: full-batch steps on the distributed objective, a backtracking
 * line search, the stopping rule ||g||/||g0|| ≤ tol (liblinear's), an iteration cap, and
 * state export/import. Every decision reads only allreduced values, so peers stay identical.
 */
import { RingError } from '../errors.js';
import { backtrackingArmijo, DEFAULT_LINE_SEARCH, type LineSearchOptions, type LineSearchResult } from './linesearch.js';
import { norm2, type DistributedObjective } from './objective.js';
import type { Optimizer, OptimizerName, OptimizerState, StateValue, StepReport, StopReason } from './types.js';

export interface FullBatchConfig {
  /** Stop when ||∇f(w)|| ≤ tol·||∇f(w0)||. */
  tol: number;
  /** Stop after this many steps (iterations). */
  maxIterations: number;
  lineSearch?: Partial<LineSearchOptions>;
  /** Starting point (length dim+1), identical on every peer; default zeros. */
  initialWeights?: Float64Array;
}

export interface SearchDirection {
  d: Float64Array;
  /** g·d (< 0) */
  gd: number;
  alpha0: number;
}

const STATE_VERSION = 1;

export abstract class FullBatchOptimizer implements Optimizer {
  abstract readonly name: OptimizerName;
  protected w: Float64Array;
  protected f = NaN;
  protected g: Float64Array;
  protected gNorm = NaN;
  protected g0Norm = NaN;
  protected initialized = false;
  protected stepCount = 0;
  protected calls = 0;
  protected done = false;
  protected reason: StopReason | undefined;
  protected readonly ls: LineSearchOptions;

  constructor(
    protected readonly obj: DistributedObjective,
    protected readonly cfg: FullBatchConfig,
  ) {
    const n = obj.dim + 1;
    if (!(cfg.tol >= 0)) throw new RingError('E_CONFIG', `tol must be ≥ 0, got ${cfg.tol}`);
    if (!(cfg.maxIterations >= 0)) throw new RingError('E_CONFIG', `maxIterations must be ≥ 0, got ${cfg.maxIterations}`);
    if (cfg.initialWeights && cfg.initialWeights.length !== n) {
      throw new RingError('E_CONFIG', `initial weights have length ${cfg.initialWeights.length}, expected dim+1 = ${n}`);
    }
    this.w = cfg.initialWeights ? new Float64Array(cfg.initialWeights) : new Float64Array(n);
    this.g = new Float64Array(n);
    this.ls = { ...DEFAULT_LINE_SEARCH, ...cfg.lineSearch };
  }

  get weights(): Float64Array {
    return this.w;
  }
  get steps(): number {
    return this.stepCount;
  }
  get allreduceCalls(): number {
    return this.calls;
  }
  get converged(): boolean {
    return this.done;
  }
  get stopReason(): StopReason | undefined {
    return this.reason;
  }
  /** Objective at the current weights (NaN before the first step). */
  get objective(): number {
    return this.f;
  }
  get relGradNorm(): number {
    return this.g0Norm > 0 ? this.gNorm / this.g0Norm : 0;
  }

  materialize(): Float64Array {
    return this.w;
  }

  /** The next search direction from the current (w, f, g) and this optimizer's memory. */
  protected abstract direction(): SearchDirection;
  /** Called after an accepted step, before w/f/g move to the new point. */
  protected abstract accepted(res: Required<LineSearchResult>): void;
  /** A failed line search: return a new direction to retry once, or undefined to stop. */
  protected abstract retryDirection(): SearchDirection | undefined;
  protected abstract exportExtra(): Record<string, StateValue>;
  protected abstract importExtra(s: OptimizerState): void;

  async step(): Promise<StepReport> {
    const evals0 = this.obj.evaluations;
    if (!this.initialized) {
      const { value, grad } = await this.obj.evaluate(this.w);
      this.f = value;
      this.g = grad;
      this.gNorm = this.g0Norm = norm2(grad);
      this.initialized = true;
      if (this.g0Norm === 0) this.stop('tolerance');
    }
    let alpha: number | undefined;
    if (!this.done && this.stepCount >= this.cfg.maxIterations) this.stop('max-iterations');
    if (!this.done) {
      let dir = this.direction();
      let res = await backtrackingArmijo(this.obj, this.w, this.f, dir.gd, dir.d, dir.alpha0, this.ls);
      if (!res.accepted) {
        const retry = this.retryDirection();
        if (retry) {
          dir = retry;
          res = await backtrackingArmijo(this.obj, this.w, this.f, dir.gd, dir.d, dir.alpha0, this.ls);
        }
      }
      this.stepCount++;
      if (res.accepted) {
        this.accepted(res as Required<LineSearchResult>);
        this.w = res.w!;
        this.f = res.f!;
        this.g = res.g!;
        this.gNorm = norm2(this.g);
        alpha = res.alpha;
        if (this.gNorm <= this.cfg.tol * this.g0Norm) this.stop('tolerance');
        else if (this.stepCount >= this.cfg.maxIterations) this.stop('max-iterations');
      } else {
        this.stop('line-search');
      }
    }
    const evals = this.obj.evaluations - evals0;
    this.calls += evals;
    return {
      step: this.stepCount,
      objective: this.f,
      gradNorm: this.gNorm,
      relGradNorm: this.relGradNorm,
      stepSize: alpha,
      rows: evals * this.obj.globalRows,
      allreduceCalls: evals,
      evaluations: evals,
      converged: this.done,
      stopReason: this.reason,
    };
  }

  protected stop(reason: StopReason): void {
    this.done = true;
    this.reason = reason;
  }

  exportState(): OptimizerState {
    return {
      kind: this.name,
      version: STATE_VERSION,
      dim: this.obj.dim,
      initialized: this.initialized,
      steps: this.stepCount,
      allreduceCalls: this.calls,
      converged: this.done,
      stopReason: this.reason ?? '',
      f: this.f,
      gNorm: this.gNorm,
      g0Norm: this.g0Norm,
      w: new Float64Array(this.w),
      g: new Float64Array(this.g),
      ...this.exportExtra(),
    };
  }

  importState(s: OptimizerState): void {
    checkState(s, this.name, STATE_VERSION, this.obj.dim);
    this.initialized = stateBool(s, 'initialized');
    this.stepCount = stateNumber(s, 'steps');
    this.calls = stateNumber(s, 'allreduceCalls');
    this.done = stateBool(s, 'converged');
    const r = stateString(s, 'stopReason');
    this.reason = r === '' ? undefined : (r as StopReason);
    this.f = stateNumber(s, 'f');
    this.gNorm = stateNumber(s, 'gNorm');
    this.g0Norm = stateNumber(s, 'g0Norm');
    this.w = new Float64Array(stateF64(s, 'w', this.obj.dim + 1));
    this.g = new Float64Array(stateF64(s, 'g', this.obj.dim + 1));
    this.importExtra(s);
  }
}

function badState(msg: string): RingError {
  return new RingError('E_CHECKPOINT', `optimizer state: ${msg}; the checkpoint does not match this run (algorithm, --dim or data) — start fresh or use the matching checkpoint`);
}

export function checkState(s: OptimizerState, kind: OptimizerName, version: number, dim: number): void {
  if (s.kind !== kind) throw badState(`it was written by '${s.kind}', this run uses '${kind}'`);
  if (s.version !== version) throw badState(`state version ${s.version}, this build reads version ${version}`);
  if (s.dim !== dim) throw badState(`dimension ${String(s.dim)}, this run has ${dim}`);
}

export function stateNumber(s: OptimizerState, key: string): number {
  const v = s[key];
  if (typeof v !== 'number') throw badState(`'${key}' must be a number`);
  return v;
}
export function stateBool(s: OptimizerState, key: string): boolean {
  const v = s[key];
  if (typeof v !== 'boolean') throw badState(`'${key}' must be a boolean`);
  return v;
}
export function stateString(s: OptimizerState, key: string): string {
  const v = s[key];
  if (typeof v !== 'string') throw badState(`'${key}' must be a string`);
  return v;
}
export function stateF64(s: OptimizerState, key: string, length: number): Float64Array {
  const v = s[key];
  if (!(v instanceof Float64Array) || v.length !== length) throw badState(`'${key}' must be a Float64Array of length ${length}`);
  return v;
}
