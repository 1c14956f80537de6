/**
 * Training benchmark (`ringtrain bench --train-bench`, or scripts/bench-train.ts): for each ring
 * size N, one real `ringtrain launch --peers N --json --quiet` run as a subprocess, reporting
 * step time split into compute and communication, rows/s and speedup over the smallest N.
 * Communication is split further with one allreduce benchmark of the gradient's size on the
 * same N: `allreduce` is what the ring itself takes, `wait` = comm − allreduce is time spent
 * waiting for slower peers (stragglers, other collectives such as loss and digest checks).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { RingError } from '../errors.js';
import { runRing } from './spawn.js';
import { median } from './units.js';
import type { BenchJob } from './job.js';
import { tsNodeArgs } from '../launch/node-args.js';

export interface TrainBenchOptions {
  peers: number[];
  /** Training file; undefined = the built-in data set. */
  data?: string;
  /** Test file for the accuracy column. */
  test?: string;
  steps?: number;
  algo?: string;
  batch?: number;
  json?: string;
  timeoutMs: number;
  /** Extra `launch` flags (e.g. ['--codec', 'onebit']). */
  extra?: string[];
}

/** The fields of `launch --json` this benchmark reads. */
interface LaunchSummary {
  peers: number;
  steps: number;
  algo: string;
  data: string;
  dim: number;
  trainRows: number;
  stepMs: number;
  computeMs: number;
  commMs: number;
  rowsPerSec: number;
  secondsTrain: number;
  bytesSentPerPeer: number[];
  identical: boolean;
  test: { accuracy: number } | null;
}

export interface TrainBenchRow {
  N: number;
  steps: number;
  dim: number;
  stepMs: number;
  computeMs: number;
  commMs: number;
  /** One allreduce of the gradient (dim + 1 floats) on this N, from the ring bench; null for N=1. */
  allreduceMs: number | null;
  waitMs: number | null;
  rowsPerSec: number;
  speedup: number;
  accuracy: number | null;
  bytesSentPerPeerPerStep: number;
  identical: boolean;
}

const CLI = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? '../cli.ts' : '../cli.js', import.meta.url));

function runLaunch(n: number, o: TrainBenchOptions): Promise<LaunchSummary> {
  const args = [...tsNodeArgs(), CLI, 'launch', '--peers', String(n), '--json', '--quiet'];
  if (o.data) args.push('--train', o.data);
  if (o.test) args.push('--test', o.test);
  if (o.steps) args.push('--steps', String(o.steps));
  if (o.algo) args.push('--algo', o.algo);
  if (o.batch) args.push('--batch', String(o.batch));
  args.push(...(o.extra ?? []));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGTERM'), o.timeoutMs);
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      if (code !== 0 || !line) {
        reject(new RingError('E_INTERNAL', `launch --peers ${n} failed (exit ${code}): ${err.trim().split('\n').slice(-3).join(' | ')}`));
        return;
      }
      try {
        resolve(JSON.parse(line) as LaunchSummary);
      } catch (e) {
        reject(new RingError('E_INTERNAL', `launch --peers ${n} printed no JSON summary: ${(e as Error).message}`));
      }
    });
  });
}

/** Median time of one allreduce of `floats` float32s on N local bench peers, in ms. */
async function allreduceMs(n: number, floats: number, timeoutMs: number): Promise<number> {
  const bytes = Math.max(4, floats * 4);
  const jobs: BenchJob[] = Array.from({ length: n }, (_, rank) => ({
    impl: 'ws',
    rank,
    size: n,
    listenHost: '127.0.0.1',
    listenPort: 0,
    sizes: [bytes],
    iters: 7,
    warmup: 2,
    segmentBytes: 512 * 1024,
    codec: 'dense',
    mode: 'requantize',
    secret: '',
  }));
  let ms = NaN;
  await runRing({ jobs, timeoutMs, onCell: (c) => (ms = median(c.samplesUs) / 1000) });
  return ms;
}

export async function runTrainBench(o: TrainBenchOptions): Promise<number> {
  const rows: TrainBenchRow[] = [];
  const say = (s: string) => process.stderr.write(`bench-train: ${s}\n`);
  let base: LaunchSummary | null = null;
  for (const n of o.peers) {
    say(`N=${n}: launch --peers ${n}${o.data ? ` --train ${o.data}` : ''}${o.steps ? ` --steps ${o.steps}` : ''}`);
    const s = await runLaunch(n, o);
    base ??= s;
    let arMs: number | null = null;
    if (n > 1) {
      say(`N=${n}: allreduce of ${s.dim + 1} floats for the comm split`);
      arMs = await allreduceMs(n, s.dim + 1, o.timeoutMs);
    }
    const sent = s.bytesSentPerPeer.length ? Math.max(...s.bytesSentPerPeer) : 0;
    rows.push({
      N: n,
      steps: s.steps,
      dim: s.dim,
      stepMs: s.stepMs,
      computeMs: s.computeMs,
      commMs: s.commMs,
      allreduceMs: arMs,
      waitMs: arMs === null ? null : Math.max(0, s.commMs - arMs),
      rowsPerSec: s.rowsPerSec,
      speedup: s.rowsPerSec / base.rowsPerSec,
      accuracy: s.test?.accuracy ?? null,
      bytesSentPerPeerPerStep: s.steps ? sent / s.steps : 0,
      identical: s.identical,
    });
  }
  const f = (x: number | null, d = 2) => (x === null || !Number.isFinite(x) ? '-' : x.toFixed(d));
  const lines = [
    `# ringtrain training benchmark: data ${base?.data ?? '-'} (${base?.trainRows ?? '-'} rows, dim ${base?.dim ?? '-'}), algo ${base?.algo ?? '-'}`,
    `# host: ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; per-step times are means over the run`,
    `# allreduce = one gradient allreduce on this N (ring bench); wait = comm - allreduce (stragglers, loss/digest collectives)`,
    '#  N   steps   step(ms) compute(ms)   comm(ms) allreduce(ms)   wait(ms)      rows/s  speedup  accuracy  KB/step/peer  identical',
  ];
  for (const r of rows) {
    lines.push(
      ' ' +
        [
          String(r.N).padStart(2),
          String(r.steps).padStart(7),
          f(r.stepMs, 3).padStart(10),
          f(r.computeMs, 3).padStart(11),
          f(r.commMs, 3).padStart(10),
          f(r.allreduceMs, 3).padStart(13),
          f(r.waitMs, 3).padStart(10),
          Math.round(r.rowsPerSec).toString().padStart(11),
          f(r.speedup).padStart(8),
          f(r.accuracy, 4).padStart(9),
          f(r.bytesSentPerPeerPerStep / 1024, 1).padStart(13),
          String(r.identical).padStart(10),
        ].join(' '),
    );
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (o.json) {
    writeFileSync(o.json, `${JSON.stringify({ meta: { tool: 'ringtrain bench --train-bench', date: new Date().toISOString(), node: process.version, loadavg: os.loadavg(), data: o.data ?? 'built-in' }, rows }, null, 1)}\n`);
    say(`wrote ${o.json}`);
  }
  return rows.every((r) => r.identical) ? 0 : 4;
}
