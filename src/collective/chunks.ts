/**
 * How a vector of length d is cut for a ring of N: N balanced chunks (identical boundaries on
 * every peer), each cut into segments of at most `segmentElems` elements that are pipelined.
 */
export function chunkStart(d: number, n: number, c: number): number {
  return Math.floor((c * d) / n);
}

export function chunkRange(d: number, n: number, c: number): [number, number] {
  return [chunkStart(d, n, c), chunkStart(d, n, c + 1)];
}

export function segmentCount(length: number, segmentElems: number): number {
  return length === 0 ? 0 : Math.ceil(length / segmentElems);
}

/** Absolute [start, end) of segment k of chunk c. */
export function segmentRange(d: number, n: number, c: number, k: number, segmentElems: number): [number, number] {
  const [s, e] = chunkRange(d, n, c);
  const a = s + k * segmentElems;
  return [a, Math.min(e, a + segmentElems)];
}

export function mod(a: number, n: number): number {
  return ((a % n) + n) % n;
}
