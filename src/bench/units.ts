/**
 * Sizes, bandwidths and summary statistics for the allreduce benchmark (nccl-tests conventions:
 * algbw = bytes / time, busbw = algbw · 2(N-1)/N; see docs/BENCH.md).
 */
import { RingError } from '../errors.js';

const UNITS: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** "4KiB", "1MiB", "16M", "65536" → bytes (binary units; K/KB/KiB all mean 1024). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[(m[2] || 'b').toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new RingError('E_USAGE', `cannot read size '${text}'; write e.g. 4KiB, 256KiB, 1MiB, 16MiB or a byte count`);
  }
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < 4 || bytes % 4 !== 0) {
    throw new RingError('E_USAGE', `size '${text}' is ${bytes} bytes; it must be a positive multiple of 4 (whole float32 values)`);
  }
  return bytes;
}

export function parseSizeList(text: string): number[] {
  return text
    .split(',')
    .filter((s) => s.trim() !== '')
    .map(parseSize);
}

/** 4096 → "4KiB", 1572864 → "1.5MiB". */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)}${units[u]}`;
}

/** The default sweep: 4 KiB … 64 MiB in ×4 steps. */
export function defaultSizes(full: boolean): number[] {
  const out: number[] = [];
  for (let b = 4096; b <= 64 * 1024 * 1024; b *= 4) out.push(b);
  return full ? out : [4096, 65536, 1 << 20, 16 << 20];
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function minimum(xs: readonly number[]): number {
  return xs.length === 0 ? NaN : Math.min(...xs);
}

/** Bytes per microsecond = MB/s (10^6 bytes per second), the unit nccl-tests reports as GB/s × 1000. */
export function algbwMBps(bytes: number, micros: number): number {
  return micros > 0 ? bytes / micros : 0;
}

/** busbw = algbw · 2(N-1)/N: the per-link rate a ring must sustain, comparable across N. */
export function busbwFactor(n: number): number {
  return n > 1 ? (2 * (n - 1)) / n : 0;
}

/** Bytes each peer must send in a bandwidth-optimal allreduce of `bytes`. */
export function theoryWireBytes(n: number, bytes: number): number {
  return busbwFactor(n) * bytes;
}
