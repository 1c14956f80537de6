/**
 * The identical-weights invariant in the in-process 4-peer simulation: every optimizer ends (and
 * passes every step) with bit-identical weights on all peers.
 */
import { describe, expect, it } from 'vitest';
import type { CsrDataset } from '../../src/data/csr.js';
import { weightsDigest } from '../../src/model/file.js';
import { createOptimizer, type OptimizerConfig } from '../../src/optim/index.js';
import type { Optimizer, StepReport } from '../../src/optim/types.js';
import { benchmark } from './fixtures.js';
import { shardOf, simulatedRing } from '../../src/optim/in-process-ring.js';

async function runPeers(ds: CsrDataset, n: number, cfg: OptimizerConfig): Promise<{ opts: Optimizer[]; stepsChecked: number; last: StepReport }> {
  const ctxs = simulatedRing(n);
  const built = await Promise.all(ctxs.map((c) => createOptimizer(cfg, shardOf(ds, n, c.rank), c, { C: 1 })));
  const opts = built.map((b) => b.optimizer);
  let stepsChecked = 0;
  let last: StepReport | undefined;
  // step in lockstep and compare digests after every step, as the training loop would every K steps
  while (!opts[0].converged) {
    const reports = await Promise.all(opts.map((o) => o.step()));
    const digests = opts.map((o) => weightsDigest(o.weights));
    expect(new Set(digests).size, `step ${reports[0].step}`).toBe(1);
    expect(new Set(reports.map((r) => JSON.stringify(r))).size).toBe(1);
    stepsChecked++;
    last = reports[0];
  }
  expect(opts.every((o) => o.converged)).toBe(true);
  return { opts, stepsChecked, last: last! };
}

describe('4 simulated peers end bit-identical', () => {
  it('L-BFGS on a9a, reaching the same optimum as N = 1', async () => {
    const { train, set } = benchmark('a9a');
    const { last } = await runPeers(train, 4, { kind: 'lbfgs' });
    expect(last.stopReason).toBe('tolerance');
    expect((last.objective! - set.ownOptimum) / set.ownOptimum).toBeLessThan(1e-3);
    expect(last.objective!).toBeGreaterThan(set.ownOptimum * (1 - 1e-6));
  });

  it('GD on wdbc_scale', async () => {
    const { train } = benchmark('wdbc_scale');
    const { stepsChecked } = await runPeers(train, 4, { kind: 'gd' });
    expect(stepsChecked).toBeGreaterThan(100);
  });

  it('SGD on a9a (lazy L2, f32 gradients), with both row-count modes', async () => {
    const { train } = benchmark('a9a');
    await runPeers(train, 4, { kind: 'sgd', epochs: 1 });
    await runPeers(train, 4, { kind: 'sgd', epochs: 0.5, rowCount: 'appended', seed: 7 });
  });

  it('SGD on unequal shards (5 peers, one of them nearly empty)', async () => {
    const { train } = benchmark('breast-cancer_scale');
    const ctxs = simulatedRing(5);
    const shards = ctxs.map((c) => (c.rank === 4 ? shardOf(train, 100, 0) : shardOf(train, 4, c.rank)));
    const opts = await Promise.all(ctxs.map((c, r) => createOptimizer({ kind: 'sgd', batch: 16, epochs: 3 }, shards[r], c, { C: 1 })));
    await Promise.all(
      opts.map(async ({ optimizer: o }) => {
        while (!o.converged) await o.step();
      }),
    );
    expect(new Set(opts.map((o) => weightsDigest(o.optimizer.weights))).size).toBe(1);
  });
});
