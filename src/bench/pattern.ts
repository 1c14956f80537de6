/**
 * Deterministic allreduce inputs whose sum is known exactly. Rank r fills element i with
 * a(i) + ((i + r) & 3) + r, where a(i) ∈ [-8, 7] is a multiplicative hash of i. Every value is a
 * small integer, so float32 sums are exact in any order and the expected result,
 * N·a(i) + Σ_r ((i + r) & 3) + N(N-1)/2, is computable without the other ranks' data.
 * The hash makes the pattern aperiodic, so a segment written to the wrong place is caught.
 */
export function hashLevel(i: number): number {
  return (Math.imul(i, 0x9e3779b1) >>> 28) - 8;
}

export function fillInput(out: Float32Array, rank: number): void {
  for (let i = 0; i < out.length; i++) out[i] = hashLevel(i) + ((i + rank) & 3) + rank;
}

export function fillExpected(out: Float32Array, n: number): void {
  const lanes = [0, 0, 0, 0];
  for (let r = 0; r < n; r++) for (let j = 0; j < 4; j++) lanes[j] += (j + r) & 3;
  const base = (n * (n - 1)) / 2;
  for (let i = 0; i < out.length; i++) out[i] = n * hashLevel(i) + lanes[i & 3] + base;
}

/** Number of elements of `got` that differ from `want` (bitwise); fast path compares bytes. */
export function countWrong(got: Float32Array, want: Float32Array): number {
  const a = Buffer.from(got.buffer, got.byteOffset, got.byteLength);
  const b = Buffer.from(want.buffer, want.byteOffset, want.byteLength);
  if (a.equals(b)) return 0;
  let wrong = 0;
  const gu = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const wu = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < gu.length; i++) if (gu[i] !== wu[i]) wrong++;
  return wrong + Math.abs(got.length - want.length);
}
