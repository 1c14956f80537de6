/**
 * Test vectors for the codec micro-benchmarks (bench-onebit.ts, bench-stochastic.ts): N(0,1)
 * values from a seeded mulberry32 stream by Box-Muller, so every run and every script times the
 * same data.
 */
export function gaussianVector(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const rnd = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  return v;
}
