/**
 * `ringtrain bench`: allreduce benchmark in the nccl-tests format, with a raw-TCP ring and MPI as
 * baselines in the same invocation, JSON and SVG output, and the training benchmark
 * (`--train-bench`). Every peer is its own OS process, as in real use.
 */
import { parseArgs } from 'node:util';
import { writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import { RingError } from '../errors.js';
import { readConfigFile, parseConfig } from '../config/load.js';
import type { CodecName } from '../codec/codec.js';
import { parseWarmup, type BenchImpl, type BenchJob, type CellReport, type Warmup } from './job.js';
import { runRing } from './spawn.js';
import { MpiBaseline } from './mpi.js';
import { formatTable, formatComparison, type BenchRecord } from './report.js';
import { CellPool } from './pool.js';
import { renderSvg } from './svg.js';
import { defaultSizes, formatSize, parseSize, parseSizeList } from './units.js';

export const BENCH_HELP = `Usage: ringtrain bench [options]          (npm run bench -- [options])

Allreduce benchmark in the nccl-tests format: for each ring size N and vector size it starts N
peer processes on 127.0.0.1 (port 0), runs --iters timed allreduces after a warm-up, checks every
result against the exact sum, and prints size, count, time (median and min), algbw, busbw
(= algbw * 2(N-1)/N), wire bytes per peer vs the 2(N-1)/N*size theory, and #wrong.
Baselines run in the same invocation: a raw net.Socket ring of the same shape (the transport
ceiling) and, when mpicc and mpirun are on PATH, MPI_Allreduce over TCP loopback.
Columns and formulas: docs/BENCH.md.

Options:
  --peers LIST          ring sizes (default 2,4,8)
  --sizes LIST          vector sizes in bytes, e.g. 4KiB,1MiB,16MiB (default 4KiB,64KiB,1MiB,16MiB)
  --full                all sizes 4KiB..64MiB in x4 steps
  --codec LIST          dense,sparse,onebit,stochastic,shared (default dense); lossy codecs report
                        dense-equivalent busbw, #wrong = results not bit-identical across ranks,
                        and the relative error; a codec/mode the ring cannot run is a note
  --mode LIST           requantize,allgather (default requantize; lossy codecs only)
  --iters N             timed samples per cell (default 9); small vectors are timed in batches
  --rounds R            run every implementation R times per ring size, interleaved (ws, tcp,
                        mpi, then the reverse order, ...), and pool the samples: each one meets
                        the same spells of host noise, so the ratios hold on a busy machine; the
                        summary shows the spread of the per-round ratios (default 1)
  --warmup N|auto       untimed samples before each size's timed ones (default auto: 4000
                        allreduces, at most 2 GiB, at least 2 samples, so V8 has optimized
                        the path; MPI gets the same count)
  --segment-bytes LIST  pipelining segment size(s), e.g. 256KiB,512KiB,1MiB (default 512KiB)
  --baselines LIST      tcp,mpi (default), plus mpi-ring: MPI_Allreduce forced to Open MPI's ring
                        algorithm (same algorithm as ours; by default Open MPI picks one by size,
                        e.g. recursive doubling); 'none' for our ring only
  --json FILE           write every cell as JSON records
  --svg FILE            write busbw vs size (one line per N and implementation)
  --timeout-ms MS       give up on one ring after this long (default 600000)
  --profile DIR         run rank 0 of every ring with --cpu-prof into DIR
  --no-simd             disable the WebAssembly SIMD add (for comparison)

Peers elsewhere:
  --hosts-from-config   use the peers list of ring.config.json (or --config FILE): N = its length,
                        each peer listens on its host:port (the raw TCP ring uses port+100)
  --hosts LIST          the same from the command line: h0:p0,h1:p1,...
  --rank R              start only rank R here (one per host); rank 0 prints the tables
  --wrap CMD            start each peer through CMD, '{rank}' replaced (LAN simulator:
                        'ip netns exec rt-ns-{rank}')

Training benchmark:
  --train-bench         step time (compute / allreduce / wait) and rows/s vs N from real
                        'ringtrain launch' runs; takes --peers (default 1,2,4,8), --data FILE
                        (default: built-in data), --test FILE, --steps S, --algo A, --batch B,
                        --json FILE

Progress goes to stderr; tables to stdout.`;

interface Plan {
  peers: number[];
  sizes: number[];
  codecs: CodecName[];
  modes: string[];
  iters: number;
  rounds: number;
  warmup: Warmup;
  segments: number[];
  baselines: Set<string>;
  hosts: { host: string; port: number }[] | null;
  rank: number | null;
  wrap: string | undefined;
  timeoutMs: number;
  profileDir: string | undefined;
}

/**
 * Which (codec, mode) pairs the bench runs; the rest are skipped with the returned reason. A pair
 * the ring turns out not to support fails its run, which becomes a note, not a crash.
 */
export function ringSupport(codec: CodecName, mode: string): string | null {
  if (codec === 'dense' && mode !== 'requantize') return 'dense is exact: its allgather mode would be the same ring (run as requantize)';
  if (codec === 'shared' && mode !== 'requantize') return 'the shared-scale codec has one mode (integer levels summed in the ring)';
  return null;
}

function usage(message: string): RingError {
  return new RingError('E_USAGE', `${message}; see 'ringtrain bench --help'`);
}

function intList(text: string, what: string): number[] {
  const out = text.split(',').filter(Boolean).map(Number);
  if (!out.length || out.some((n) => !Number.isInteger(n) || n < 1 || n > 64)) throw usage(`${what} must be a list of integers from 1 to 64, got '${text}'`);
  return out;
}

function parseHosts(text: string): { host: string; port: number }[] {
  return text.split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    const port = Number(hp.slice(i + 1));
    if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw usage(`--hosts entry '${hp}' is not host:port`);
    return { host: hp.slice(0, i).replace(/^\[|\]$/g, ''), port };
  });
}

export async function runBenchCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        peers: { type: 'string' },
        sizes: { type: 'string' },
        full: { type: 'boolean' },
        codec: { type: 'string' },
        mode: { type: 'string' },
        iters: { type: 'string' },
        rounds: { type: 'string' },
        warmup: { type: 'string' },
        'segment-bytes': { type: 'string' },
        baselines: { type: 'string' },
        json: { type: 'string' },
        svg: { type: 'string' },
        'timeout-ms': { type: 'string' },
        profile: { type: 'string' },
        'no-simd': { type: 'boolean' },
        'hosts-from-config': { type: 'boolean' },
        config: { type: 'string' },
        hosts: { type: 'string' },
        rank: { type: 'string' },
        wrap: { type: 'string' },
        'train-bench': { type: 'boolean' },
        data: { type: 'string' },
        test: { type: 'string' },
        steps: { type: 'string' },
        algo: { type: 'string' },
        batch: { type: 'string' },
        quiet: { type: 'boolean' },
      },
    }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw usage((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${BENCH_HELP}\n`);
    return 0;
  }
  if (values['no-simd']) process.env.RINGTRAIN_NO_SIMD = '1';
  if (values['train-bench']) {
    const { runTrainBench } = await import('./train.js');
    return runTrainBench({
      peers: values.peers ? intList(values.peers as string, '--peers') : [1, 2, 4, 8],
      data: values.data as string | undefined,
      test: values.test as string | undefined,
      steps: values.steps ? Number(values.steps) : undefined,
      algo: values.algo as string | undefined,
      batch: values.batch ? Number(values.batch) : undefined,
      json: values.json as string | undefined,
      timeoutMs: values['timeout-ms'] ? Number(values['timeout-ms']) : 1_800_000,
    });
  }
  const plan = makePlan(values);
  return runSweep(plan, values.json as string | undefined, values.svg as string | undefined);
}

function makePlan(values: Record<string, string | boolean | undefined>): Plan {
  let hosts: { host: string; port: number }[] | null = null;
  if (values['hosts-from-config']) {
    const path = (values.config as string | undefined) ?? 'ring.config.json';
    if (!existsSync(path)) throw usage(`--hosts-from-config: ${path} not found`);
    const cfg = parseConfig(readConfigFile(path), path);
    if (!cfg.peers) throw new RingError('E_CONFIG', `${path}: 'peers' is required for --hosts-from-config`);
    hosts = cfg.peers;
  } else if (values.hosts) {
    hosts = parseHosts(values.hosts as string);
  }
  const iters = Number(values.iters ?? 9);
  const rounds = Number(values.rounds ?? 1);
  const warmup = parseWarmup(values.warmup as string | undefined);
  if (!Number.isInteger(iters) || iters < 1) throw usage(`--iters must be a positive integer, got '${String(values.iters)}'`);
  if (!Number.isInteger(rounds) || rounds < 1) throw usage(`--rounds must be a positive integer, got '${String(values.rounds)}'`);
  if (warmup === null) throw usage(`--warmup must be 'auto' or a non-negative integer, got '${String(values.warmup)}'`);
  const rank = values.rank === undefined ? null : Number(values.rank);
  if (rank !== null && (!hosts || !Number.isInteger(rank) || rank < 0 || rank >= hosts.length)) throw usage('--rank R needs --hosts or --hosts-from-config, with 0 <= R < N');
  const codecs = ((values.codec as string | undefined) ?? 'dense').split(',').filter(Boolean);
  for (const c of codecs) if (!['dense', 'sparse', 'onebit', 'stochastic', 'shared'].includes(c)) throw usage(`unknown codec '${c}'`);
  const modes = ((values.mode as string | undefined) ?? 'requantize').split(',').filter(Boolean);
  for (const m of modes) if (!['requantize', 'allgather'].includes(m)) throw usage(`unknown mode '${m}' (requantize or allgather)`);
  const baselinesText = (values.baselines as string | undefined) ?? 'tcp,mpi';
  const baselines = new Set(baselinesText === 'none' ? [] : baselinesText.split(',').filter(Boolean));
  for (const b of baselines) if (b !== 'tcp' && b !== 'mpi' && b !== 'mpi-ring') throw usage(`unknown baseline '${b}' (tcp, mpi, mpi-ring or none)`);
  const segments = values['segment-bytes'] ? parseSizeList(values['segment-bytes'] as string) : [512 * 1024];
  for (const s of segments) if (s < 1024) throw usage(`--segment-bytes must be at least 1KiB, got ${s}`);
  return {
    peers: hosts ? [hosts.length] : values.peers ? intList(values.peers as string, '--peers') : [2, 4, 8],
    sizes: values.sizes ? parseSizeList(values.sizes as string) : defaultSizes(Boolean(values.full)),
    codecs: codecs as CodecName[],
    modes,
    iters,
    rounds,
    warmup,
    segments,
    baselines,
    hosts,
    rank,
    wrap: values.wrap as string | undefined,
    timeoutMs: values['timeout-ms'] ? Number(values['timeout-ms']) : 600_000,
    profileDir: values.profile as string | undefined,
  };
}

const progress = (s: string) => process.stderr.write(`bench: ${s}\n`);

async function runSweep(plan: Plan, jsonPath: string | undefined, svgPath: string | undefined): Promise<number> {
  const records: BenchRecord[] = [];
  const notes: string[] = [];
  const note = (s: string) => {
    notes.push(s);
    progress(`note: ${s}`);
  };
  const printing = plan.rank === null || plan.rank === 0;
  let mpi: MpiBaseline | null = null;
  if (plan.baselines.has('mpi') || plan.baselines.has('mpi-ring')) {
    if (plan.hosts) note('MPI baseline skipped: it runs on loopback only (no hostfile support)');
    else {
      const m = await MpiBaseline.prepare();
      if (typeof m === 'string') note(`MPI baseline skipped: ${m}`);
      else mpi = m;
    }
  }
  const runnable: { codec: CodecName; mode: string }[] = [];
  for (const codec of plan.codecs) {
    for (const mode of plan.modes) {
      const why = ringSupport(codec, mode);
      if (why) note(`skipped ${codec}/${mode}: ${why}`);
      else runnable.push({ codec, mode });
    }
  }
  const tcpRuns = plan.baselines.has('tcp') ? plan.segments.length : 0;
  const mpiRuns = mpi ? Number(plan.baselines.has('mpi')) + Number(plan.baselines.has('mpi-ring')) : 0;
  const totalRings = plan.rounds * plan.peers.length * (runnable.length * plan.segments.length + tcpRuns + mpiRuns);
  let ringNo = 0;
  const header = [
    `# ringtrain bench: allreduce, float32 sum, ${plan.iters} timed samples${plan.rounds > 1 ? ` in each of ${plan.rounds} interleaved rounds (pooled)` : ''} after ${plan.warmup === 'auto' ? 'an automatic warm-up (4000 allreduces or 2 GiB per size)' : `${plan.warmup} warm-up`} (median and min of the slowest rank)`,
    `# host: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`,
    `# peers: ${plan.hosts ? plan.hosts.map((h) => `${h.host}:${h.port}`).join(' ') : 'one process per rank on 127.0.0.1, port 0'}`,
  ];
  if (printing) process.stdout.write(`${header.join('\n')}\n`);
  try {
    for (const n of plan.peers) {
      const start = records.length;
      type Unit = { impl: BenchImpl | 'mpi' | 'mpi-ring'; codec: CodecName; mode: string; seg: number };
      const units: Unit[] = [];
      for (const { codec, mode } of runnable) for (const seg of plan.segments) units.push({ impl: 'ws', codec, mode, seg });
      if (plan.baselines.has('tcp')) for (const seg of plan.segments) units.push({ impl: 'tcp', codec: 'dense', mode: 'requantize', seg });
      if (mpi && plan.baselines.has('mpi')) units.push({ impl: 'mpi', codec: 'dense', mode: 'requantize', seg: 0 });
      if (mpi && plan.baselines.has('mpi-ring')) units.push({ impl: 'mpi-ring', codec: 'dense', mode: 'requantize', seg: 0 });
      const pool = new CellPool();
      for (let round = 0; round < plan.rounds; round++) {
        const roundLabel = plan.rounds > 1 ? ` round ${round + 1}/${plan.rounds}` : '';
        // Alternate the order, so no implementation always runs first (or right after another).
        for (const run of round % 2 === 0 ? units : [...units].reverse()) {
          ringNo++;
          if (run.impl === 'mpi' || run.impl === 'mpi-ring') {
            const impl = run.impl;
            const what = impl === 'mpi' ? 'MPI' : "MPI (Open MPI's ring)";
            progress(`[${ringNo}/${totalRings}] ${what} N=${n}${roundLabel}: mpirun -np ${n}`);
            try {
              const cells = await mpi!.run(n, plan.sizes, plan.iters, plan.warmup, plan.timeoutMs, impl === 'mpi-ring');
              for (const c of cells) pool.add({ impl, N: n, bytes: c.bytes, codec: 'dense', mode: 'requantize', segmentBytes: null }, c.samplesUs, c.wrong, null);
            } catch (e) {
              note(`${what} baseline N=${n}${roundLabel} failed: ${String((e as { stderr?: string }).stderr || (e as Error).message).trim().split('\n').slice(-2).join(' | ')}`);
            }
            continue;
          }
          const label = `[${ringNo}/${totalRings}] ${run.impl === 'ws' ? 'ws ring' : 'raw TCP ring'} N=${n} ${run.codec} seg ${formatSize(run.seg)}${roundLabel}`;
          progress(`${label}: starting ${n} peer processes`);
          try {
            await runOneRing(plan, n, { ...run, impl: run.impl }, (cell) => {
              const rec = pool.add(
                { impl: run.impl, N: n, bytes: cell.bytes, codec: run.codec, mode: run.mode, segmentBytes: run.seg },
                cell.samplesUs,
                cell.wrong,
                cell.wireBytesPerPeer,
                cell.relErr,
                cell.cpuUsPerOp,
              );
              progress(`${label}: ${formatSize(cell.bytes)} median ${rec.median_us.toFixed(1)} us, busbw ${(rec.busbw_MBps / 1000).toFixed(2)} GB/s, cpu ${rec.cpu_us?.toFixed(0)} us/op/peer${rec.wrong ? `, ${rec.wrong} WRONG` : ''}`);
            });
          } catch (e) {
            if (run.impl === 'tcp') note(`raw TCP baseline N=${n}${roundLabel} failed: ${(e as Error).message}`);
            else if (run.codec !== 'dense') note(`${run.codec}/${run.mode} N=${n}${roundLabel} failed (the ring may not support it yet): ${(e as Error).message}`);
            else throw e;
          }
        }
      }
      records.push(...pool.records());
      if (printing) {
        const mine = records.slice(start);
        const hasTcp = mine.some((r) => r.impl === 'tcp');
        const mpiName = mine.some((r) => r.impl === 'mpi') ? (mpi?.version ?? 'MPI') : null;
        const mpiRing = mine.some((r) => r.impl === 'mpi-ring');
        const blocks: string[] = [];
        for (const { codec, mode } of runnable) {
          for (const seg of plan.segments) {
            const rows = mine.filter((r) => r.impl === 'ws' && r.codec === codec && r.mode === mode && r.segmentBytes === seg);
            blocks.push(formatTable(`ringtrain ws ring, N=${n}, codec ${codec}${codec === 'dense' ? '' : `/${mode}`}, segment ${formatSize(seg)}`, rows, mine, { tcp: hasTcp, mpi: mpiName, mpiRing }));
          }
        }
        for (const seg of plan.segments) {
          const rows = mine.filter((r) => r.impl === 'tcp' && r.segmentBytes === seg);
          if (rows.length) blocks.push(formatTable(`baseline: raw TCP ring (net.Socket, same algorithm), N=${n}, segment ${formatSize(seg)}`, rows, mine, { tcp: false, mpi: null }));
        }
        const mpiRows = mine.filter((r) => r.impl === 'mpi');
        if (mpiRows.length) blocks.push(formatTable(`baseline: ${mpiName} MPI_Allreduce, --mca btl tcp,self, N=${n}`, mpiRows, mine, { tcp: false, mpi: null }));
        const ringRows = mine.filter((r) => r.impl === 'mpi-ring');
        if (ringRows.length) blocks.push(formatTable(`baseline: ${mpi?.version ?? 'MPI'} MPI_Allreduce with its ring algorithm (coll_tuned_allreduce_algorithm 4), --mca btl tcp,self, N=${n}`, ringRows, mine, { tcp: false, mpi: null }));
        process.stdout.write(`${blocks.join('\n')}\n`);
      }
    }
  } finally {
    mpi?.dispose();
  }
  if (!printing) {
    progress(`rank ${plan.rank} finished; rank 0 prints the tables`);
    return 0;
  }
  const summary = formatComparison(records);
  if (summary) process.stdout.write(`${summary}\n`);
  for (const s of notes) process.stdout.write(`# note: ${s}\n`);
  if (jsonPath) {
    const meta = {
      tool: 'ringtrain bench',
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      loadavg: os.loadavg(),
      iters: plan.iters,
      rounds: plan.rounds,
      warmup: plan.warmup,
      simd: !process.env.RINGTRAIN_NO_SIMD,
      mpi: mpi?.version ?? null,
      notes,
    };
    writeFileSync(jsonPath, `${JSON.stringify({ meta, records }, null, 1)}\n`);
    progress(`wrote ${records.length} records to ${jsonPath}`);
  }
  if (svgPath) {
    writeFileSync(svgPath, renderSvg(records, `ringtrain allreduce busbw (${plan.peers.map((n) => `N=${n}`).join(', ')})`));
    progress(`wrote ${svgPath}`);
  }
  const wrong = records.reduce((s, r) => s + r.wrong, 0);
  if (wrong > 0) {
    process.stderr.write(`bench: ${wrong} wrong elements: the allreduce result differs from the exact sum\n`);
    return 4;
  }
  return 0;
}

async function runOneRing(plan: Plan, n: number, run: { impl: BenchImpl; codec: CodecName; mode: string; seg: number }, onCell: (c: CellReport) => void): Promise<void> {
  const jobs: BenchJob[] = [];
  const hosts = plan.hosts?.map((h) => ({ host: h.host, port: run.impl === 'tcp' ? h.port + 100 : h.port }));
  for (let rank = 0; rank < n; rank++) {
    if (plan.rank !== null && rank !== plan.rank) continue;
    jobs.push({
      impl: run.impl,
      rank,
      size: n,
      listenHost: hosts ? hosts[rank].host : '127.0.0.1',
      listenPort: hosts ? hosts[rank].port : 0,
      hosts,
      sizes: plan.sizes,
      iters: plan.iters,
      warmup: plan.warmup,
      segmentBytes: run.seg,
      codec: run.codec,
      mode: run.mode as 'requantize' | 'allgather',
      secret: '',
    });
  }
  const rank0NodeArgs = plan.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${plan.profileDir}/${run.impl}-N${n}-${run.codec}-${run.mode}-seg${run.seg}`] : [];
  await runRing({ jobs, wrap: plan.wrap, rank0NodeArgs, timeoutMs: plan.timeoutMs, onCell, partial: plan.rank !== null });
}

export { parseSize };
