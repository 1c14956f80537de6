/**
 * One entry point for the training loop: build an optimizer from a config.
 * Every peer must call createOptimizer with the same config (and its own shard); it issues the
 * same allreduce calls on every peer (one when M must be counted).
 */
import type { CsrDataset } from '../data/csr.js';
import { RingError } from '../errors.js';
import { GradientDescent, type GdConfig } from './gd.js';
import { Lbfgs, type LbfgsConfig } from './lbfgs.js';
import { distributedObjective, globalRowCount, lambdaFromC } from './objective.js';
import { MiniBatchSgd, type SgdConfig } from './sgd.js';
import type { Optimizer, RingContext } from './types.js';

export type OptimizerConfig =
  | ({ kind: 'gd' } & Partial<GdConfig>)
  | ({ kind: 'lbfgs' } & Partial<LbfgsConfig>)
  | ({ kind: 'sgd' } & Partial<SgdConfig>);

export interface Regularization {
  /** λ directly ... */
  lambda?: number;
  /** ... or liblinear's C (λ = 1/(C·M)); default C = 1. */
  C?: number;
  /** M if already known (else counted with one allreduce). */
  globalRows?: number;
}

export interface BuiltOptimizer {
  optimizer: Optimizer;
  lambda: number;
  globalRows: number;
}

export async function createOptimizer(cfg: OptimizerConfig, shard: CsrDataset, ctx: RingContext, reg: Regularization = {}): Promise<BuiltOptimizer> {
  const globalRows = reg.globalRows ?? (await globalRowCount(shard, ctx));
  const lambda = reg.lambda ?? lambdaFromC(reg.C ?? 1, globalRows);
  let optimizer: Optimizer;
  switch (cfg.kind) {
    case 'gd':
      optimizer = new GradientDescent(distributedObjective(shard, ctx, lambda, globalRows), cfg);
      break;
    case 'lbfgs':
      optimizer = new Lbfgs(distributedObjective(shard, ctx, lambda, globalRows), cfg);
      break;
    case 'sgd':
      optimizer = new MiniBatchSgd(shard, ctx, { lambda, globalRows }, cfg);
      break;
    default:
      throw new RingError('E_CONFIG', `unknown optimizer '${String((cfg as { kind: unknown }).kind)}'; use sgd, gd or lbfgs`);
  }
  return { optimizer, lambda, globalRows };
}

export { GradientDescent, GD_DEFAULTS, type GdConfig } from './gd.js';
export { Lbfgs, LBFGS_DEFAULTS, type LbfgsConfig } from './lbfgs.js';
export { MiniBatchSgd, SGD_DEFAULTS, type SgdConfig, type SgdStepOptions, type RowCountMode } from './sgd.js';
export { distributedObjective, globalRowCount, lambdaFromC, type DistributedObjective, type ObjectiveValue } from './objective.js';
export { learningRate, type Schedule, type ScheduleName } from './schedule.js';
export type { Optimizer, OptimizerName, OptimizerState, RingContext, StepReport, StopReason, StateValue } from './types.js';
