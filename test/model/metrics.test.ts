import { describe, expect, it } from 'vitest';
import { accuracy, auc, confusion, evaluate, meanLogLoss } from '../../src/model/metrics.js';
import { predictProba } from '../../src/model/logreg.js';
import { Prng } from '../../src/optim/prng.js';
import { randomDataset, randomWeights } from '../optim/fixtures.js';

/** O(n²) pair count: P(score_pos > score_neg) + ½ P(tie). */
function naiveAuc(s: ArrayLike<number>, y: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < s.length; i++) {
    if (y[i] !== 1) continue;
    for (let k = 0; k < s.length; k++) {
      if (y[k] !== 0) continue;
      den++;
      if (s[i] > s[k]) num += 1;
      else if (s[i] === s[k]) num += 0.5;
    }
  }
  return num / den;
}

describe('metrics', () => {
  it('confusion counts and accuracy', () => {
    const p = [0.9, 0.2, 0.5, 0.49, 0.7, 0.1];
    const y = [1, 0, 0, 1, 1, 0];
    expect(confusion(p, y)).toEqual({ tp: 2, fp: 1, tn: 2, fn: 1 });
    expect(accuracy(p, y)).toBeCloseTo(4 / 6, 15);
    expect(confusion(p, y, 0.8)).toEqual({ tp: 1, fp: 0, tn: 3, fn: 2 });
  });

  it('mean log-loss with clipping', () => {
    expect(meanLogLoss([0.8, 0.3], [1, 0])).toBeCloseTo(-(Math.log(0.8) + Math.log(0.7)) / 2, 14);
    const worst = meanLogLoss([0], [1]);
    expect(worst).toBeCloseTo(-Math.log(1e-15), 10);
    expect(Number.isFinite(meanLogLoss([1], [0]))).toBe(true);
  });

  it('AUC equals the pairwise count, ties at ½ (midranks)', () => {
    expect(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])).toBeCloseTo(0.75, 15);
    expect(auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])).toBe(0.5);
    expect(auc([1, 2, 3], [0, 0, 0])).toBeNaN();
    const rng = new Prng(42);
    for (let trial = 0; trial < 20; trial++) {
      const n = 50 + rng.nextInt(100);
      // few distinct values: many ties
      const s = Array.from({ length: n }, () => rng.nextInt(7) / 7);
      const y = Array.from({ length: n }, () => rng.nextInt(2));
      if (!y.includes(0) || !y.includes(1)) continue;
      expect(Math.abs(auc(s, y) - naiveAuc(s, y))).toBeLessThan(1e-12);
    }
  });

  it('evaluate() agrees with the probability-based metrics', () => {
    const ds = randomDataset(5, 400, 20, 5);
    const w = randomWeights(6, 21, 1);
    const m = evaluate(w, ds);
    const p = predictProba(w, ds);
    expect(m.rows).toBe(400);
    expect(m.accuracy).toBe(accuracy(p, ds.labels));
    expect(Math.abs(m.logLoss - meanLogLoss(p, ds.labels))).toBeLessThan(1e-12);
    expect(Math.abs(m.auc - naiveAuc(p, ds.labels))).toBeLessThan(1e-12);
    expect(m.confusion).toEqual(confusion(p, ds.labels));
  });
});
