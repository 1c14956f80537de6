/**
 * exportState / importState: stopping mid-run, carrying the state through msgpack (as a checkpoint
 * or a rejoin transfer would) and continuing in fresh optimizers gives the same final bytes as an
 * uninterrupted run.
 */
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { CsrDataset } from '../../src/data/csr.js';
import { RingError } from '../../src/errors.js';
import { weightsDigest } from '../../src/model/file.js';
import { createOptimizer, type OptimizerConfig } from '../../src/optim/index.js';
import type { Optimizer, OptimizerState } from '../../src/optim/types.js';
import { benchmark } from './fixtures.js';
import { shardOf, simulatedRing } from '../../src/optim/in-process-ring.js';

const packr = new Packr({ moreTypes: true });
const throughMsgpack = (s: OptimizerState): OptimizerState => packr.unpack(packr.pack(s)) as OptimizerState;

async function peers(ds: CsrDataset, n: number, cfg: OptimizerConfig): Promise<Optimizer[]> {
  const ctxs = simulatedRing(n);
  return (await Promise.all(ctxs.map((c) => createOptimizer(cfg, shardOf(ds, n, c.rank), c, { C: 1 })))).map((b) => b.optimizer);
}

async function stepAll(opts: Optimizer[], until: (o: Optimizer) => boolean): Promise<void> {
  while (!opts[0].converged && !until(opts[0])) await Promise.all(opts.map((o) => o.step()));
}

async function checkResume(ds: CsrDataset, n: number, cfg: OptimizerConfig, stopAt: number, watch = false): Promise<void> {
  // uninterrupted; optionally reading the weights every step, which must not change anything
  const a = await peers(ds, n, cfg);
  await stepAll(a, (o) => {
    if (watch) weightsDigest(o.weights);
    return false;
  });
  // interrupted at stopAt: rank 0's state, through msgpack, seeds every fresh peer
  const b = await peers(ds, n, cfg);
  await stepAll(b, (o) => o.steps >= stopAt);
  expect(b[0].steps).toBe(stopAt);
  const saved = throughMsgpack(b[0].exportState());
  const c = await peers(ds, n, cfg);
  for (const o of c) o.importState(saved);
  expect(weightsDigest(c[0].weights)).toBe(weightsDigest(b[0].weights));
  await stepAll(c, () => false);
  expect(c[0].steps).toBe(a[0].steps);
  expect(c[0].allreduceCalls).toBe(a[0].allreduceCalls);
  for (const o of c) expect(weightsDigest(o.weights)).toBe(weightsDigest(a[0].weights));
}

describe('exportState / importState continue bit-identically', () => {
  it('L-BFGS (history mid-fill and full)', async () => {
    const { train } = benchmark('wdbc_scale');
    await checkResume(train, 1, { kind: 'lbfgs' }, 4);
    await checkResume(train, 3, { kind: 'lbfgs', memory: 5 }, 12);
  });

  it('GD', async () => {
    const { train } = benchmark('breast-cancer_scale');
    await checkResume(train, 2, { kind: 'gd' }, 37);
  });

  it('SGD mid-epoch and at an epoch boundary, 4 peers; watching the weights changes nothing', async () => {
    const { train } = benchmark('a9a');
    const cfg: OptimizerConfig = { kind: 'sgd', epochs: 2 };
    const S = Math.ceil(train.rows / 256);
    await checkResume(train, 4, cfg, 50, true);
    await checkResume(train, 4, cfg, S);
  });

  it('SGD with lazy L2 on sparse high-dimensional data (pending decay factors in the state)', async () => {
    const { randomDataset } = await import('./fixtures.js');
    const ds = randomDataset(3, 800, 3000, 3);
    await checkResume(ds, 2, { kind: 'sgd', batch: 8, epochs: 1, lr: 0.5 }, 37, true);
  });

  it('rejects a state from another optimizer, dimension or setting with E_CHECKPOINT', async () => {
    const { train } = benchmark('breast-cancer_scale');
    const [gd] = await peers(train, 1, { kind: 'gd' });
    const [lb] = await peers(train, 1, { kind: 'lbfgs', memory: 4 });
    const [lb7] = await peers(train, 1, { kind: 'lbfgs', memory: 7 });
    const [sgd] = await peers(train, 1, { kind: 'sgd', batch: 16 });
    const [sgd2] = await peers(train, 1, { kind: 'sgd', batch: 32 });
    await gd.step();
    await lb.step();
    const code = (f: () => void): string | undefined => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(RingError);
        return (e as RingError).code;
      }
      return undefined;
    };
    expect(code(() => lb.importState(gd.exportState()))).toBe('E_CHECKPOINT');
    expect(code(() => lb7.importState(lb.exportState()))).toBe('E_CHECKPOINT');
    expect(code(() => gd.importState({ ...gd.exportState(), dim: 10 }))).toBe('E_CHECKPOINT');
    expect(code(() => gd.importState({ ...gd.exportState(), w: new Float64Array(3) }))).toBe('E_CHECKPOINT');
    expect(code(() => sgd2.importState(sgd.exportState()))).toBe('E_CHECKPOINT');
    // without msgpackr's moreTypes the arrays come back as Buffers: refused, not misread
    const plain = new Packr();
    expect(code(() => gd.importState(plain.unpack(plain.pack(gd.exportState())) as OptimizerState))).toBe('E_CHECKPOINT');
  });
});
