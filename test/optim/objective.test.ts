import { describe, expect, it } from 'vitest';
import { lossSum } from '../../src/model/logreg.js';
import { distributedObjective, globalRowCount, lambdaFromC } from '../../src/optim/objective.js';
import { randomDataset, randomWeights, toDense } from './fixtures.js';
import { identityContext, shardOf, simulatedRing } from '../../src/optim/in-process-ring.js';

/** Naive full objective, independent of src: mean log-loss + (λ/2)||w without bias||². */
function naiveObjective(w: Float64Array, X: Float64Array[], y01: Uint8Array, lambda: number): number {
  let s = 0;
  for (let i = 0; i < X.length; i++) {
    let z = w[w.length - 1];
    for (let j = 0; j < X[i].length; j++) z += w[j] * X[i][j];
    const t = (y01[i] === 1 ? -1 : 1) * z;
    s += t > 0 ? t + Math.log1p(Math.exp(-t)) : Math.log1p(Math.exp(t));
  }
  let r = 0;
  for (let j = 0; j < w.length - 1; j++) r += w[j] * w[j];
  return s / X.length + 0.5 * lambda * r;
}

describe('distributed objective', () => {
  const ds = randomDataset(21, 500, 30, 5);
  const X = toDense(ds);
  const lambda = 0.01;
  const w = randomWeights(4, ds.dim + 1, 0.7);

  it('N=1: value matches the naive objective, the bias is not regularized', async () => {
    const ctx = identityContext();
    const obj = distributedObjective(ds, ctx, lambda, ds.rows);
    const { value, grad } = await obj.evaluate(w);
    expect(Math.abs(value - naiveObjective(w, X, ds.labels, lambda))).toBeLessThan(1e-13);
    expect(ctx.calls).toBe(1);
    expect(obj.evaluations).toBe(1);
    // changing only the bias changes the value by the loss part only
    const w2 = Float64Array.from(w);
    w2[ds.dim] += 0.25;
    const v2 = (await obj.evaluate(w2)).value;
    expect(Math.abs(v2 - (lossSum(w2, ds) / ds.rows + (value - lossSum(w, ds) / ds.rows)))).toBeLessThan(1e-13);
    expect(grad.length).toBe(ds.dim + 1);
  });

  it('gradient matches central finite differences of the objective', async () => {
    const obj = distributedObjective(ds, identityContext(), lambda, ds.rows);
    const { grad } = await obj.evaluate(w);
    const h = 1e-6;
    for (let j = 0; j <= ds.dim; j++) {
      const wp = Float64Array.from(w);
      const wm = Float64Array.from(w);
      wp[j] += h;
      wm[j] -= h;
      const fd = (naiveObjective(wp, X, ds.labels, lambda) - naiveObjective(wm, X, ds.labels, lambda)) / (2 * h);
      expect(Math.abs(fd - grad[j])).toBeLessThan(1e-7);
    }
  });

  it('N=4 simulated peers: identical results on every peer, equal to N=1 up to summation order', async () => {
    const ctxs = simulatedRing(4);
    const M = await Promise.all(ctxs.map((c) => globalRowCount(shardOf(ds, 4, c.rank), c)));
    expect(M).toEqual([500, 500, 500, 500]);
    const res = await Promise.all(ctxs.map((c) => distributedObjective(shardOf(ds, 4, c.rank), c, lambda, 500).evaluate(w)));
    for (const r of res) {
      expect(r.value).toBe(res[0].value);
      expect(Buffer.from(r.grad.buffer).equals(Buffer.from(res[0].grad.buffer))).toBe(true);
    }
    const one = await distributedObjective(ds, identityContext(), lambda, 500).evaluate(w);
    expect(Math.abs(res[0].value - one.value)).toBeLessThan(1e-13);
    for (let j = 0; j <= ds.dim; j++) expect(Math.abs(res[0].grad[j] - one.grad[j])).toBeLessThan(1e-13);
  });

  it('λ from C and input checks', () => {
    expect(lambdaFromC(1, 32561)).toBeCloseTo(3.0712e-5, 9);
    expect(() => lambdaFromC(0, 10)).toThrow(/C/);
    expect(() => distributedObjective(ds, identityContext(), lambda, 0)).toThrow(/at least one/);
  });
});
