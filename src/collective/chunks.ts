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

/**
 * Remembers an in-flight send. A collective that fails half-way (a neighbour died) returns
 * before awaiting its sends; marking each as handled keeps their rejections from surfacing as
 * unhandled, while `await Promise.all(list)` on the normal path still reports a failed send.
 */
export function trackSend(list: Promise<void>[], p: Promise<void>): void {
  p.catch(() => undefined);
  list.push(p);
}
