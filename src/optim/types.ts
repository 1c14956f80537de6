/**
 * What an optimizer is handed: its rank, the ring size, and a way to sum vectors across the
 * ring. It never sees sockets. allreduce sums element-wise in place and every peer ends with
 * identical bytes; Float64Array goes through exactly (dense f64), Float32Array through the
 * configured gradient codec.
 */
export interface RingContext {
  readonly rank: number;
  readonly size: number;
  allreduce(v: Float32Array | Float64Array): Promise<void>;
  /** Optional: a zeroed Float32Array that this ring sums fastest (see RingPeer.allocVector). */
  allocVector?(length: number): Float32Array;
}

/** The optimizers this folder provides. */
export type OptimizerName = 'gd' | 'lbfgs' | 'sgd';

/** Why an optimizer stopped. */
export type StopReason =
  /** ||g|| / ||g0|| ≤ tol */
  | 'tolerance'
  | 'max-iterations'
  /** the line search found no decrease: the objective is flat to float precision */
  | 'line-search'
  /** SGD ran its configured epochs / steps */
  | 'budget';

/** What one call of Optimizer.step() did, identical on every peer. */
export interface StepReport {
  /** Steps completed, counting this one (1 after the first call). */
  step: number;
  /** Full objective at the new weights (GD, L-BFGS). */
  objective?: number;
  /** ||∇f|| at the new weights (GD, L-BFGS). */
  gradNorm?: number;
  /** ||∇f|| / ||∇f(w0)|| (GD, L-BFGS). */
  relGradNorm?: number;
  /** Accepted step length (line search) or the SGD learning rate used. */
  stepSize?: number;
  /** Mean log-loss of the global mini-batch before the update (SGD; no L2 term). */
  batchLoss?: number;
  /** SGD: epoch this step belongs to (0-based). */
  epoch?: number;
  /** Training rows processed globally in this step (all evaluations, all peers). */
  rows: number;
  /** ctx.allreduce calls made in this step. */
  allreduceCalls: number;
  /** Objective/gradient evaluations in this step (GD, L-BFGS: line-search trials, plus the initial one). */
  evaluations?: number;
  converged: boolean;
  stopReason?: StopReason;
}

/** Values an optimizer state may hold; msgpackr with `moreTypes` (or structured clone) carries them. */
export type StateValue = number | string | boolean | Float64Array | Float32Array | Uint32Array;

/**
 * Everything needed to continue bit-identically: import it into a fresh optimizer built with the
 * same data, config and ring, and the next steps produce the same bytes as an uninterrupted run.
 * It holds no rank-specific data, so any peer's export can seed any other peer (rejoin).
 */
export interface OptimizerState {
  readonly kind: OptimizerName;
  readonly version: number;
  readonly [key: string]: StateValue;
}

/**
 * A step-wise optimizer driven by the training loop. All peers call step() in lockstep; each
 * call issues the same sequence of ctx.allreduce calls on every peer and ends with bit-identical
 * weights everywhere.
 */
export interface Optimizer {
  readonly name: OptimizerName;
  /**
   * The current weights (length dim+1, bias last), caught up (see materialize()). Read-only for
   * callers; the array may be reused between steps, copy it to keep a snapshot.
   */
  readonly weights: Float64Array;
  /** Steps completed so far. */
  readonly steps: number;
  /** Total ctx.allreduce calls so far. */
  readonly allreduceCalls: number;
  readonly converged: boolean;
  readonly stopReason: StopReason | undefined;
  step(): Promise<StepReport>;
  /**
   * Brings all weights up to date and returns them (the same array as `weights`). For SGD with
   * lazy L2 this applies the pending (1−αλ) factors into the returned array without changing the
   * optimizer's own state, so how often a caller looks does not change the trajectory.
   */
  materialize(): Float64Array;
  exportState(): OptimizerState;
  importState(s: OptimizerState): void;
}
