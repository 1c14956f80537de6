import { afterAll, describe, expect, it } from 'vitest';
import type { CsrDataset } from '../../src/data/csr.js';
import { RingError } from '../../src/errors.js';
import { addLossGradientSum } from '../../src/model/logreg.js';
import { weightsDigest } from '../../src/model/file.js';
import { distributedObjective, lambdaFromC } from '../../src/optim/objective.js';
import { permutation, Prng, seedFrom } from '../../src/optim/prng.js';
import { learningRate } from '../../src/optim/schedule.js';
import { MiniBatchSgd, SGD_DEFAULTS, type SgdConfig } from '../../src/optim/sgd.js';
import { benchmark, randomDataset } from './fixtures.js';
import { identityContext, runAll, shardOf, simulatedRing } from '../../src/optim/in-process-ring.js';

const notes: string[] = [];
afterAll(() => console.log(notes.join('\n')));

/** max_j |a_j − b_j| / max(|b_j|, floor) */
function maxRelDiff(a: Float64Array, b: Float64Array, floor = 1e-12): number {
  let m = 0;
  for (let j = 0; j < a.length; j++) m = Math.max(m, Math.abs(a[j] - b[j]) / Math.max(Math.abs(b[j]), floor));
  return m;
}

/**
 * An independent, deliberately plain N=1 reference: the same batches (per-epoch Fisher–Yates from
 * seedFrom(seed, epoch, 0), slice ⌊k·n/S⌋..⌊(k+1)·n/S⌋), the gradient rounded to float32 as the
 * ring carries it, and the dense update w ← w − α(ĝ + λw) on every coordinate every step.
 */
function referenceSgd(ds: CsrDataset, lambda: number, cfg: SgdConfig, steps: number): Float64Array {
  const n = ds.dim + 1;
  const w = new Float64Array(n);
  const S = Math.ceil(ds.rows / cfg.batch);
  let t = 0;
  for (let step = 0; step < steps; step++) {
    const e = Math.floor(step / S);
    const k = step % S;
    const perm = permutation(ds.rows, new Prng(seedFrom(cfg.seed, e, 0)));
    const batch = perm.subarray(Math.floor((k * ds.rows) / S), Math.floor(((k + 1) * ds.rows) / S));
    const g = new Float64Array(n);
    addLossGradientSum(w, ds, g, batch);
    const g32 = Float32Array.from(g);
    const alpha = learningRate({ kind: cfg.schedule, lr: cfg.lr, t0: cfg.t0 }, t);
    for (let j = 0; j < ds.dim; j++) w[j] = w[j] - alpha * (g32[j] / batch.length + lambda * w[j]);
    w[ds.dim] -= alpha * (g32[ds.dim] / batch.length);
    t++;
  }
  return w;
}

describe('mini-batch SGD on a9a', () => {
  const { train, set } = benchmark('a9a');
  const M = train.rows;
  const lambda = lambdaFromC(1, M);
  const fullObjective = (w: Float64Array): Promise<number> =>
    distributedObjective(train, identityContext(), lambda, M)
      .evaluate(w)
      .then((r) => r.value);

  it('with the defaults reaches within 1 % of the optimum after 3 epochs (N = 1)', async () => {
    const ctx = identityContext();
    const o = new MiniBatchSgd(train, ctx, { lambda, globalRows: M });
    const gaps: number[] = [];
    while (!o.converged) {
      const r = await o.step();
      expect(r.allreduceCalls).toBe(2);
      if (o.steps % o.stepsPerEpoch === 0) gaps.push(((await fullObjective(o.weights)) - set.ownOptimum) / set.ownOptimum);
    }
    notes.push(`SGD a9a N=1 defaults ${JSON.stringify(SGD_DEFAULTS)}: gap per epoch % ${gaps.map((g) => (g * 100).toFixed(3)).join(' ')}; steps ${o.steps}, allreduce calls ${o.allreduceCalls}`);
    expect(gaps.length).toBe(5);
    expect(gaps[2]).toBeLessThan(0.01);
    expect(gaps[4]).toBeLessThan(0.01);
    expect(o.stopReason).toBe('budget');
    expect(ctx.calls).toBe(o.allreduceCalls);
  });

  it('4 simulated peers: within 1 % after 5 epochs, bit-identical weights, every row once per epoch', async () => {
    const ctxs = simulatedRing(4);
    const shards = ctxs.map((c) => shardOf(train, 4, c.rank));
    const opts = ctxs.map((c, r) => new MiniBatchSgd(shards[r], c, { lambda, globalRows: M }));
    let rowsEpoch0 = 0;
    await Promise.all(
      opts.map(async (o, r) => {
        while (!o.converged) {
          const rep = await o.step();
          if (r === 0 && rep.epoch === 0) rowsEpoch0 += rep.rows;
        }
      }),
    );
    expect(rowsEpoch0).toBe(M);
    const digests = opts.map((o) => weightsDigest(o.weights));
    expect(new Set(digests).size).toBe(1);
    const gap = ((await fullObjective(opts[0].weights)) - set.ownOptimum) / set.ownOptimum;
    notes.push(`SGD a9a N=4 defaults: gap after 5 epochs ${(gap * 100).toFixed(3)} %`);
    expect(gap).toBeLessThan(0.01);
  });

  it('lazy L2 equals the dense update (relative 1e-9) and an independent reference', async () => {
    const cfg: SgdConfig = { ...SGD_DEFAULTS, epochs: 1 };
    const lazy = new MiniBatchSgd(train, identityContext(), { lambda, globalRows: M }, { ...cfg, lazyL2: true });
    const dense = new MiniBatchSgd(train, identityContext(), { lambda, globalRows: M }, { ...cfg, lazyL2: false });
    await runAll([lazy, dense]);
    notes.push(`lazy vs dense (${lazy.steps} steps, dim ${lazy.weights.length - 1}): max rel diff ${maxRelDiff(lazy.weights, dense.weights)}`);
    expect(maxRelDiff(lazy.weights, dense.weights)).toBeLessThan(1e-9);
    const ref = referenceSgd(train, lambda, cfg, lazy.steps);
    expect(maxRelDiff(lazy.weights, ref)).toBeLessThan(1e-9);
  });
});

describe('lazy L2 on high-dimensional sparse data', () => {
  // 5000 features, ~4 per row, 8 rows per step: most coordinates are untouched for many steps
  const ds = randomDataset(99, 2000, 5000, 4);

  it('matches the dense update and the reference (relative 1e-9)', async () => {
    const lambda = 1e-2;
    const cfg: SgdConfig = { ...SGD_DEFAULTS, batch: 8, lr: 0.5, schedule: 'invsqrt', t0: 100, epochs: 2 };
    const lazy = new MiniBatchSgd(ds, identityContext(), { lambda, globalRows: ds.rows }, { ...cfg, lazyL2: true });
    const dense = new MiniBatchSgd(ds, identityContext(), { lambda, globalRows: ds.rows }, { ...cfg, lazyL2: false });
    await runAll([lazy, dense]);
    notes.push(`lazy vs dense (${lazy.steps} steps, dim ${lazy.weights.length - 1}): max rel diff ${maxRelDiff(lazy.weights, dense.weights)}`);
    expect(maxRelDiff(lazy.weights, dense.weights)).toBeLessThan(1e-9);
    expect(maxRelDiff(lazy.weights, referenceSgd(ds, lambda, cfg, lazy.steps))).toBeLessThan(1e-9);
  });

  it('survives the decay product underflowing (renormalization) and still matches dense', async () => {
    // α·λ = 0.45: P = Π(1−αλ) passes 1e-150 after ~580 updates; 2 epochs = 500·2 updates
    const lambda = 0.9;
    const cfg: SgdConfig = { ...SGD_DEFAULTS, batch: 4, lr: 0.5, schedule: 'constant', epochs: 2 };
    const lazy = new MiniBatchSgd(ds, identityContext(), { lambda, globalRows: ds.rows }, { ...cfg, lazyL2: true });
    const dense = new MiniBatchSgd(ds, identityContext(), { lambda, globalRows: ds.rows }, { ...cfg, lazyL2: false });
    await runAll([lazy, dense]);
    const s = lazy.exportState();
    expect(s.P as number).toBeGreaterThan(1e-150); // renormalized at least once: (0.55)^1000 ≈ 1e-260
    expect(lazy.weights.every(Number.isFinite)).toBe(true);
    // weights decay to ~1e-300 between touches here; compare relative to a tiny floor
    notes.push(`renormalization test: max rel diff ${maxRelDiff(lazy.weights, dense.weights, 1e-280)}, nonzero weights ${lazy.weights.filter((x) => x !== 0).length}, min abs nonzero ${Math.min(...lazy.weights.filter((x) => x !== 0).map(Math.abs))}`);
    expect(maxRelDiff(lazy.weights, dense.weights, 1e-280)).toBeLessThan(1e-9);
  });
});

describe('row counts and stragglers', () => {
  const ds = randomDataset(5, 600, 50, 5);
  const lambda = 1e-3;

  it("'appended' (count in the f32 vector) and 'separate' (exact f64 allreduce) give the same weights", async () => {
    const build = (mode: 'appended' | 'separate') => {
      const ctxs = simulatedRing(3);
      return ctxs.map((c) => new MiniBatchSgd(shardOf(ds, 3, c.rank), c, { lambda, globalRows: ds.rows }, { batch: 30, epochs: 2, rowCount: mode }));
    };
    const a = build('appended');
    const s = build('separate');
    await runAll(a);
    await runAll(s);
    expect(weightsDigest(a[0].weights)).toBe(weightsDigest(s[0].weights));
    expect(a[0].allreduceCalls * 2).toBe(s[0].allreduceCalls);
  });

  it('a peer that contributes nothing leaves the mean exact over the others; an empty step changes nothing', async () => {
    const ctxs = simulatedRing(2);
    const opts = ctxs.map((c) => new MiniBatchSgd(shardOf(ds, 2, c.rank), c, { lambda, globalRows: ds.rows }, { batch: 40, epochs: 1 }));
    const [r0, r1] = await Promise.all([opts[0].step(), opts[1].step({ contribute: false })]);
    expect(r0.rows).toBe(20);
    expect(r1.rows).toBe(20);
    expect(weightsDigest(opts[0].weights)).toBe(weightsDigest(opts[1].weights));
    const before = weightsDigest(opts[0].weights);
    const [e0] = await Promise.all([opts[0].step({ contribute: false }), opts[1].step({ contribute: false })]);
    expect(e0.rows).toBe(0);
    expect(e0.stepSize).toBeUndefined();
    expect(weightsDigest(opts[0].weights)).toBe(before);
    expect(opts[0].updates).toBe(1);
    expect(opts[0].steps).toBe(2);
  });

  it('rejects α·λ ≥ 1 and bad batch sizes with E_CONFIG', () => {
    const mk = (cfg: Partial<SgdConfig>, lam = 0.5) => () => new MiniBatchSgd(ds, identityContext(), { lambda: lam, globalRows: ds.rows }, cfg);
    expect(mk({ lr: 2 })).toThrow(RingError);
    expect(mk({ lr: 2 })).toThrow(/lower the learning rate/);
    expect(mk({ batch: 0 })).toThrow(/batch/);
  });
});
