/**
 * Bench results: one record per cell (the JSON format), the nccl-tests style tables, and the
 * comparison of our ring against the baselines. See docs/BENCH.md for the columns.
 */
import { algbwMBps, busbwFactor, formatSize, median, minimum, theoryWireBytes } from './units.js';

export type Impl = 'ws' | 'tcp' | 'mpi' | 'mpi-ring';

export interface BenchRecord {
  /** ws = our WebSocket ring (RingPeer), tcp = raw net.Socket ring, mpi = MPI_Allreduce, mpi-ring = MPI_Allreduce forced to Open MPI's ring. */
  impl: Impl;
  N: number;
  bytes: number;
  count: number;
  codec: string;
  mode: string;
  segmentBytes: number | null;
  median_us: number;
  min_us: number;
  algbw_MBps: number;
  busbw_MBps: number;
  /** Bytes one peer put on the wire per allreduce (largest over peers); null when not measured (MPI). */
  wireBytesPerPeer: number | null;
  wrong: number;
  /** CPU time per allreduce (user + system, mean over peers), µs; null when not measured (MPI). */
  cpu_us: number | null;
  /** Lossy codecs: mean relative L2 error against the exact sum; null for exact codecs. */
  relErr: number | null;
  samples_us: number[];
  /** With `--rounds R`: the median of each round's samples (samples_us pools all rounds). */
  round_medians_us: number[];
}

export function makeRecord(
  base: { impl: Impl; N: number; bytes: number; codec: string; mode: string; segmentBytes: number | null },
  samplesUs: number[],
  wrong: number,
  wireBytesPerPeer: number | null,
  relErr: number | null = null,
  cpuUs: number | null = null,
): BenchRecord {
  const med = median(samplesUs);
  const algbw = algbwMBps(base.bytes, med);
  return {
    ...base,
    count: base.bytes / 4,
    median_us: round(med, 2),
    min_us: round(minimum(samplesUs), 2),
    algbw_MBps: round(algbw, 2),
    busbw_MBps: round(algbw * busbwFactor(base.N), 2),
    wireBytesPerPeer: wireBytesPerPeer === null ? null : Math.round(wireBytesPerPeer),
    wrong,
    cpu_us: cpuUs === null ? null : round(cpuUs, 1),
    relErr: relErr === null ? null : Number(relErr.toPrecision(4)),
    samples_us: samplesUs.map((x) => round(x, 2)),
    round_medians_us: [round(med, 2)],
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

const gb = (mbps: number): string => (mbps / 1000).toFixed(2);

/** Finds the baseline record for the same N and size (and segment size for the tcp ring, if it ran with several). */
function baselineFor(records: BenchRecord[], impl: Impl, r: BenchRecord): BenchRecord | undefined {
  const same = records.filter((x) => x.impl === impl && x.N === r.N && x.bytes === r.bytes);
  return same.find((x) => x.segmentBytes === r.segmentBytes) ?? same[0];
}

function ratio(a: number, b: number | undefined): string {
  return b && b > 0 ? (a / b).toFixed(2) : '-';
}

/**
 * The main table for one (N, codec, mode, segment) of our ring, with the baselines' busbw and our
 * ratio to them on the same row.
 */
export function formatTable(title: string, rows: BenchRecord[], all: BenchRecord[], withBaselines: { tcp: boolean; mpi: string | null; mpiRing?: boolean }): string {
  const lines: string[] = [];
  lines.push(`#`);
  lines.push(`# ${title}`);
  const lossy = rows.some((r) => r.relErr !== null);
  const h1 = ['size', 'count', 'time', 'time', 'algbw', 'busbw', 'wire/peer', 'theory', '#wrong', 'cpu/op', ...(lossy ? ['relerr'] : [])];
  const h2 = ['(B)', '(elements)', 'median(us)', 'min(us)', '(GB/s)', '(GB/s)', '(B)', '(ratio)', '', '(us)', ...(lossy ? [''] : [])];
  const w = [11, 11, 12, 11, 8, 8, 12, 8, 7, 9, 10];
  let head1 = '#' + h1.map((h, i) => h.padStart(w[i])).join('');
  let head2 = '#' + h2.map((h, i) => h.padStart(w[i])).join('');
  if (withBaselines.tcp) {
    head1 += ' |  tcp busbw  ours/tcp';
    head2 += ' |     (GB/s)          ';
  }
  if (withBaselines.mpi) {
    head1 += ' |  mpi busbw  ours/mpi';
    head2 += ' |     (GB/s)          ';
  }
  if (withBaselines.mpiRing) {
    head1 += ' | ring busbw ours/ring';
    head2 += ' | (MPI, GB/s)         ';
  }
  lines.push(head1, head2);
  for (const r of rows) {
    const theory = theoryWireBytes(r.N, r.bytes);
    const cells = [
      String(r.bytes),
      String(r.count),
      r.median_us.toFixed(1),
      r.min_us.toFixed(1),
      gb(r.algbw_MBps),
      gb(r.busbw_MBps),
      r.wireBytesPerPeer === null ? '-' : String(r.wireBytesPerPeer),
      r.wireBytesPerPeer === null || theory === 0 ? '-' : (r.wireBytesPerPeer / theory).toFixed(3),
      String(r.wrong),
      r.cpu_us === null ? '-' : r.cpu_us.toFixed(0),
      ...(lossy ? [r.relErr === null ? '-' : r.relErr.toExponential(2)] : []),
    ];
    let line = ' ' + cells.map((c, i) => c.padStart(w[i])).join('');
    if (withBaselines.tcp) {
      const t = baselineFor(all, 'tcp', r);
      line += ` | ${(t ? gb(t.busbw_MBps) : '-').padStart(10)}  ${ratio(r.busbw_MBps, t?.busbw_MBps).padStart(8)}`;
    }
    if (withBaselines.mpi) {
      const m = baselineFor(all, 'mpi', r);
      line += ` | ${(m ? gb(m.busbw_MBps) : '-').padStart(10)}  ${ratio(r.busbw_MBps, m?.busbw_MBps).padStart(8)}`;
    }
    if (withBaselines.mpiRing) {
      const m = baselineFor(all, 'mpi-ring', r);
      line += ` | ${(m ? gb(m.busbw_MBps) : '-').padStart(10)}  ${ratio(r.busbw_MBps, m?.busbw_MBps).padStart(8)}`;
    }
    lines.push(line);
  }
  const wrong = rows.reduce((s, r) => s + r.wrong, 0);
  lines.push(`# Out of bounds values : ${wrong} ${wrong === 0 ? 'OK' : 'WRONG'}`);
  if (rows.length) {
    const big = rows.filter((r) => r.bytes >= 1 << 20);
    const avg = (big.length ? big : rows).reduce((s, r) => s + r.busbw_MBps, 0) / (big.length ? big : rows).length;
    lines.push(`# Avg bus bandwidth    : ${gb(avg)} GB/s${big.length ? ' (sizes >= 1MiB)' : ''}`);
  }
  return lines.join('\n');
}

/**
 * The busbw ratio ours/baseline in each round (time ratio baseline/ours of the round medians),
 * as "lo-hi"; '-' with a single round or when the two ran a different number of rounds.
 */
export function roundRatioRange(ours: BenchRecord, base: BenchRecord | undefined): string {
  const a = ours.round_medians_us;
  const b = base?.round_medians_us;
  if (!b || a.length < 2 || a.length !== b.length) return '-';
  const ratios = a.map((t, k) => b[k] / t);
  return `${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}`;
}

/**
 * The closing summary: our busbw and its ratio to each baseline, one row per (N, size); with
 * several rounds, also the range of the per-round ratios.
 */
export function formatComparison(records: BenchRecord[]): string {
  const ours = records.filter((r) => r.impl === 'ws' && r.codec === 'dense');
  if (!ours.length) return '';
  const rounds = Math.max(...ours.map((r) => r.round_medians_us.length));
  const spread = rounds > 1;
  // tcp and mpi always have columns ('-' when absent); Open MPI's ring only when it ran.
  const baselines: { impl: Impl; name: string }[] = [
    { impl: 'tcp', name: 'tcp' },
    { impl: 'mpi', name: 'mpi' },
    ...(records.some((r) => r.impl === 'mpi-ring') ? [{ impl: 'mpi-ring' as const, name: 'ring' }] : []),
  ];
  const title = `# Summary: dense busbw (GB/s), ours = WebSocket ring${baselines.length > 2 ? ', ring = MPI_Allreduce with Open MPI\'s ring algorithm' : ''}${spread ? `; ${rounds} interleaved rounds, pooled (range = lowest-highest per-round ratio)` : ''}`;
  const head = `#    N        size      ours${baselines.map((b) => `${b.name.padStart(10)}${`ours/${b.name}`.padStart(10)}${spread ? '      range' : ''}`).join('')}   segment`;
  const lines = ['#', title, head];
  for (const r of ours) {
    const cells = [String(r.N).padStart(5), formatSize(r.bytes).padStart(11), gb(r.busbw_MBps).padStart(9)];
    for (const b of baselines) {
      const x = baselineFor(records, b.impl, r);
      cells.push((x ? gb(x.busbw_MBps) : '-').padStart(9), ratio(r.busbw_MBps, x?.busbw_MBps).padStart(9));
      if (spread) cells.push(roundRatioRange(r, x).padStart(10));
    }
    cells.push((r.segmentBytes ? formatSize(r.segmentBytes) : '-').padStart(9));
    lines.push(' ' + cells.join(' '));
  }
  return lines.join('\n');
}
