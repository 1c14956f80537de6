import { describe, expect, it } from 'vitest';
import { addLossGradientSum, gradientSum, log1pExp, lossSum, margin, margins, predictProba, sigmoid } from '../../src/model/logreg.js';
import { randomDataset, randomWeights, toDense } from '../optim/fixtures.js';

/** Naive dense reference, written independently of src/model: y ∈ {−1,+1}, plain formulas. */
function naiveLoss(w: Float64Array, X: Float64Array[], labels01: Uint8Array, rows?: number[]): number {
  let s = 0;
  for (const i of rows ?? X.map((_, k) => k)) {
    const y = labels01[i] === 1 ? 1 : -1;
    let z = w[w.length - 1];
    for (let j = 0; j < X[i].length; j++) z += w[j] * X[i][j];
    const t = -y * z;
    // log(1+e^t) computed via log-sum-exp of (0, t)
    const mx = Math.max(0, t);
    s += mx + Math.log(Math.exp(-mx) + Math.exp(t - mx));
  }
  return s;
}

function naiveGrad(w: Float64Array, X: Float64Array[], labels01: Uint8Array): Float64Array {
  const g = new Float64Array(w.length);
  for (let i = 0; i < X.length; i++) {
    const y = labels01[i] === 1 ? 1 : -1;
    let z = w[w.length - 1];
    for (let j = 0; j < X[i].length; j++) z += w[j] * X[i][j];
    // d/dz log(1+exp(−yz)) = −y / (1 + exp(yz))
    const c = -y / (1 + Math.exp(y * z));
    for (let j = 0; j < X[i].length; j++) g[j] += c * X[i][j];
    g[w.length - 1] += c;
  }
  return g;
}

const relErr = (a: number, b: number): number => Math.abs(a - b) / Math.max(1e-300, Math.abs(b));

describe('stable scalar functions', () => {
  it('log1pExp matches the naive form where it is safe and stays finite on the tails', () => {
    for (const z of [-1, -1e-9, 0, 1e-9, 0.5, 3, 30]) expect(relErr(log1pExp(z), Math.log(1 + Math.exp(z)))).toBeLessThan(1e-12);
    // where 1+e^z loses digits, compare with the series e^z − e^{2z}/2 + e^{3z}/3
    for (const z of [-30, -20, -15]) {
      const e = Math.exp(z);
      expect(relErr(log1pExp(z), e - (e * e) / 2 + (e * e * e) / 3)).toBeLessThan(1e-12);
    }
    expect(log1pExp(1000)).toBe(1000);
    expect(log1pExp(-1000)).toBe(0);
    expect(log1pExp(-700)).toBeGreaterThan(0); // exp(−700) survives, not rounded to 0 by 1+x
  });
  it('sigmoid is symmetric and saturates without NaN', () => {
    for (const z of [-40, -3, -0.1, 0, 0.1, 3, 40]) expect(sigmoid(z) + sigmoid(-z)).toBeCloseTo(1, 15);
    expect(sigmoid(1000)).toBe(1);
    expect(sigmoid(-1000)).toBe(0);
    expect(sigmoid(0)).toBe(0.5);
  });
});

describe('logistic loss and gradient sums', () => {
  const ds = randomDataset(7, 300, 40, 6);
  const X = toDense(ds);
  const w = randomWeights(11, ds.dim + 1, 0.8);

  it('margin / predictProba agree with the dense dot product', () => {
    const m = margins(w, ds);
    const p = predictProba(w, ds);
    for (let i = 0; i < ds.rows; i++) {
      let z = w[ds.dim];
      for (let j = 0; j < ds.dim; j++) z += w[j] * X[i][j];
      expect(relErr(margin(w, ds, i), z)).toBeLessThan(1e-12);
      expect(m[i]).toBe(margin(w, ds, i));
      expect(p[i]).toBeCloseTo(1 / (1 + Math.exp(-z)), 14);
    }
  });

  it('lossSum equals a naive dense implementation (all rows and a subset)', () => {
    expect(relErr(lossSum(w, ds), naiveLoss(w, X, ds.labels))).toBeLessThan(1e-12);
    const subset = [5, 17, 17, 299, 0, 123];
    expect(relErr(lossSum(w, ds, Uint32Array.from(subset)), naiveLoss(w, X, ds.labels, subset))).toBeLessThan(1e-12);
  });

  it('the sparse gradient sum equals the naive dense gradient and the returned loss', () => {
    const g = new Float64Array(ds.dim + 1);
    const loss = addLossGradientSum(w, ds, g);
    const ref = naiveGrad(w, X, ds.labels);
    for (let j = 0; j <= ds.dim; j++) expect(Math.abs(g[j] - ref[j])).toBeLessThan(1e-10 * (1 + Math.abs(ref[j])));
    expect(relErr(loss, lossSum(w, ds))).toBeLessThan(1e-13);
  });

  it('the gradient matches central finite differences of lossSum', () => {
    const g = gradientSum(w, ds);
    const h = 1e-6;
    for (let j = 0; j <= ds.dim; j++) {
      const wp = Float64Array.from(w);
      const wm = Float64Array.from(w);
      wp[j] += h;
      wm[j] -= h;
      const fd = (lossSum(wp, ds) - lossSum(wm, ds)) / (2 * h);
      expect(Math.abs(fd - g[j])).toBeLessThan(1e-5 * (1 + Math.abs(g[j])));
    }
  });

  it('addLossGradientSum accumulates (does not clear) and handles extreme margins', () => {
    const g = new Float64Array(ds.dim + 1).fill(1);
    addLossGradientSum(w, ds, g, Uint32Array.from([3]));
    const single = gradientSum(w, ds, Uint32Array.from([3]));
    for (let j = 0; j <= ds.dim; j++) expect(g[j]).toBe(1 + single[j]);
    const huge = randomWeights(3, ds.dim + 1, 1e4);
    const loss = lossSum(huge, ds);
    const gh = gradientSum(huge, ds);
    expect(Number.isFinite(loss)).toBe(true);
    expect(gh.every(Number.isFinite)).toBe(true);
    expect(relErr(loss, naiveLoss(huge, X, ds.labels))).toBeLessThan(1e-9);
  });

  it('rejects weights of the wrong length', () => {
    expect(() => lossSum(new Float64Array(ds.dim), ds)).toThrow(/dimension/);
  });
});
