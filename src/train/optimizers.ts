import type { RingConfig } from '../config/schema.js';
import type { CsrDataset } from '../data/csr.js';
import { createOptimizer, distributedObjective, type DistributedObjective, type Optimizer, type OptimizerConfig, type RingContext } from '../optim/index.js';

export interface TrainingSetup {
  optimizer: Optimizer;
  /** The full objective, for the final report (one exact allreduce per evaluation). */
  objective: DistributedObjective;
  lambda: number;
  globalRows: number;
  /** Known step budget (SGD), null when the optimizer stops on its own rule. */
  totalSteps: number | null;
}

/** Maps the `train` section of the config onto an optimizer. Every peer builds the same one. */
export async function buildOptimizer(
  config: RingConfig,
  shard: CsrDataset,
  ctx: RingContext,
  /** Known regularization (a joiner gets it from the ring instead of counting rows), and a start point. */
  known?: { lambda: number; globalRows: number; initialWeights?: Float64Array },
): Promise<TrainingSetup> {
  const t = config.train;
  let oc: OptimizerConfig;
  if (t.algo === 'sgd') {
    oc = { kind: 'sgd', batch: t.batch, lr: t.lr, schedule: t.schedule, t0: t.t0, epochs: t.epochs, seed: t.seed, maxSteps: t.steps, initialWeights: known?.initialWeights };
  } else {
    oc = {
      kind: t.algo,
      ...(t.tol !== undefined ? { tol: t.tol } : {}),
      ...(t.steps !== undefined ? { maxIterations: t.steps } : {}),
      initialWeights: known?.initialWeights,
    };
  }
  const built = await createOptimizer(oc, shard, ctx, known ? { lambda: known.lambda, globalRows: known.globalRows } : { lambda: t.lambda, C: t.C });
  const sgdTotal = (built.optimizer as { totalSteps?: number }).totalSteps;
  return {
    optimizer: built.optimizer,
    objective: distributedObjective(shard, ctx, built.lambda, built.globalRows),
    lambda: built.lambda,
    globalRows: built.globalRows,
    totalSteps: t.algo === 'sgd' && typeof sgdTotal === 'number' ? sgdTotal : null,
  };
}
