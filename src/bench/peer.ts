/**
 * One bench peer (one OS process per rank). Started by `ringtrain bench` with
 * child_process.fork (reports over IPC), or by hand / in a network namespace with
 *   node --import tsx src/bench/peer.ts --job '<json>'
 *   node --import tsx src/bench/peer.ts --rank R --hosts h0:p0,h1:p1,... [--impl ws|tcp] [--sizes 4KiB,1MiB] [--iters 9]
 * (reports as JSON lines on stdout). It joins the ring, runs every size, and after each size
 * gathers all ranks' timings through the ring itself, so each rank (rank 0 reports) knows the
 * slowest rank's time per sample.
 */
import { parseArgs } from 'node:util';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { RingError, describeError } from '../errors.js';
import { RingPeer } from '../membership/ring-peer.js';
import { createCodec } from '../codec/index.js';
import { TcpRing } from './tcp-ring.js';
import { BenchJob, ParentMsg, innerRepeats, parseWarmup, warmupSamples, type CellReport, type PeerReport } from './job.js';
import { countWrong, fillExpected, fillInput } from './pattern.js';
import { parseSizeList, parseSize } from './units.js';

/** What the sweep needs from a ring (RingPeer and TcpRing both fit). */
export interface BenchRing {
  allreduce(v: Float32Array | Float64Array, residual?: Float32Array): Promise<void>;
  /** A vector in the ring's registered memory (codec/simd.ts), as training uses for gradients. */
  allocVector(length: number): Float32Array;
  /** The error-feedback residual kept beside such a vector (lossy codecs), if the ring has one. */
  allocResidual?(vector: Float32Array): Float32Array;
  readonly bytesSent: number;
  close(): Promise<void>;
}

type Emit = (m: PeerReport) => Promise<void>;

/**
 * Runs the sweep. `released` must resolve before the links close: a peer that is done may still
 * have frames in flight to its successor (on a slow link, for a while), and closing its sockets
 * under them would cut the successor's last allreduce short. The parent releases every peer
 * once all of them have reported 'done'.
 */
export async function runBenchPeer(
  job: BenchJob,
  emit: Emit,
  waitPeers: () => Promise<{ host: string; port: number }[]>,
  released: () => Promise<void> = () => Promise.resolve(),
): Promise<void> {
  const { rank, size } = job;
  const listenPort = job.hosts ? job.hosts[rank].port : job.listenPort;
  let ring: BenchRing;
  let join: (peers: { host: string; port: number }[]) => Promise<void>;
  let port: () => number;
  if (job.impl === 'ws') {
    const peer = await RingPeer.listen({
      rank,
      size,
      listenHost: job.listenHost,
      listenPort,
      secret: job.secret,
      // Hex, as the handshake schema wants; peers with another codec or segment size are refused.
      configHash: createHash('sha256').update(`bench ${job.codec} ${job.mode} ${job.segmentBytes}`).digest('hex'),
      connectTimeoutMs: 60_000,
      recvTimeoutMs: 120_000,
      maxFrameBytes: Math.max(64 << 20, job.segmentBytes * 2 + 4096),
      segmentBytes: job.segmentBytes,
      seed: 1,
      codec: createCodec(job.codec),
      mode: job.mode,
    });
    ring = peer;
    join = (peers) => peer.join(peers);
    port = () => peer.port;
  } else {
    const tcp = await TcpRing.listen({ rank, size, listenHost: job.listenHost, listenPort, segmentBytes: job.segmentBytes, connectTimeoutMs: 60_000 });
    ring = tcp;
    join = (peers) => tcp.join(peers[(rank - 1 + size) % size]);
    port = () => tcp.port;
  }
  try {
    await emit({ t: 'listening', rank, port: port() });
    const peers = job.hosts ?? (await waitPeers());
    if (peers.length !== size) throw new RingError('E_USAGE', `bench peer: ${peers.length} addresses for a ring of ${size}`);
    await join(peers);
    await emit({ t: 'ready', rank });
    for (const bytes of job.sizes) {
      const cell = await measureCell(ring, job, bytes);
      if (rank === 0) await emit(cell);
    }
    await ring.allreduce(new Float64Array(1));
    await emit({ t: 'done', rank });
    await released();
  } finally {
    await ring.close();
  }
}

async function measureCell(ring: BenchRing, job: BenchJob, bytes: number): Promise<CellReport> {
  const { rank, size: n, iters } = job;
  const warmup = warmupSamples(bytes, job.warmup);
  const lossless = job.codec === 'dense' || job.codec === 'sparse';
  const d = bytes >> 2;
  const input = new Float32Array(d);
  const expected = new Float32Array(d);
  // RINGTRAIN_PLAIN_VECTORS=1 measures ordinary arrays instead (the copying kernel path).
  const buf = process.env.RINGTRAIN_PLAIN_VECTORS ? new Float32Array(d) : ring.allocVector(d);
  // Error-feedback memory, as in training; zeroed per sample so every sample does the same work.
  const residual = lossless ? undefined : (ring.allocResidual?.(buf) ?? new Float32Array(d));
  fillInput(input, rank);
  fillExpected(expected, n);
  const inner = innerRepeats(bytes);
  const barrier = new Float64Array(1);
  const times: number[] = [];
  const digests: number[] = [];
  let wrong = 0;
  let wire = 0;
  let relErr = 0;
  let cpuUs = 0;
  for (let it = 0; it < warmup + iters; it++) {
    buf.set(input);
    residual?.fill(0);
    await ring.allreduce(barrier);
    const sent0 = ring.bytesSent;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let j = 0; j < inner; j++) {
      if (j > 0) {
        // Batched small vectors: check and refill inside the timed loop (a memcmp and a memcpy
        // of a few KiB, well under 1 % of an allreduce).
        if (lossless) wrong += countWrong(buf, expected);
        buf.set(input);
      }
      await ring.allreduce(buf, residual);
    }
    const t1 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    if (lossless) wrong += countWrong(buf, expected);
    if (it >= warmup) {
      times.push(((t1 - t0) * 1000) / inner);
      cpuUs += (cpu.user + cpu.system) / inner / iters;
      wire = Math.max(wire, (ring.bytesSent - sent0) / inner);
      if (!lossless) {
        digests.push(digest48(buf));
        relErr += relativeError(buf, expected) / iters;
      }
    }
  }
  // Gather: rank r writes its row, zeros elsewhere; a float64 sum of one non-zero per slot is exact.
  const row = 2 * iters + 4;
  const all = new Float64Array(n * row);
  const mine = rank * row;
  all.set(times, mine);
  if (!lossless) all.set(digests, mine + iters);
  all[mine + 2 * iters] = wrong;
  all[mine + 2 * iters + 1] = wire;
  all[mine + 2 * iters + 2] = relErr;
  all[mine + 2 * iters + 3] = cpuUs;
  await ring.allreduce(all);
  const samplesUs: number[] = [];
  for (let i = 0; i < iters; i++) {
    let worst = 0;
    for (let r = 0; r < n; r++) worst = Math.max(worst, all[r * row + i]);
    samplesUs.push(worst);
  }
  let wrongAll = 0;
  let wireMax = 0;
  let cpuMean = 0;
  for (let r = 0; r < n; r++) {
    cpuMean += all[r * row + 2 * iters + 3] / n;
    wrongAll += all[r * row + 2 * iters];
    wireMax = Math.max(wireMax, all[r * row + 2 * iters + 1]);
    if (!lossless) for (let i = 0; i < iters; i++) if (all[r * row + iters + i] !== all[iters + i]) wrongAll++;
  }
  return { t: 'cell', rank, bytes, inner, samplesUs, wrong: wrongAll, wireBytesPerPeer: wireMax, cpuUsPerOp: cpuMean, relErr: lossless ? null : all[2 * iters + 2] };
}

/** 48 bits of a SHA-256 of the bytes: exact in a float64, plenty to tell results apart. */
function digest48(v: Float32Array): number {
  const h = createHash('sha256').update(new Uint8Array(v.buffer, v.byteOffset, v.byteLength)).digest();
  return h.readUIntLE(0, 6);
}

function relativeError(got: Float32Array, want: Float32Array): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < got.length; i++) {
    const e = got[i] - want[i];
    num += e * e;
    den += want[i] * want[i];
  }
  return den > 0 ? Math.sqrt(num / den) : 0;
}

/** Command-line form for hand-started peers (`--rank R --hosts ...`) or a JSON job (`--job`). */
export function jobFromArgv(argv: string[]): BenchJob {
  const { values } = parseArgs({
    args: argv,
    options: {
      job: { type: 'string' },
      rank: { type: 'string' },
      hosts: { type: 'string' },
      listen: { type: 'string' },
      impl: { type: 'string' },
      sizes: { type: 'string' },
      iters: { type: 'string' },
      warmup: { type: 'string' },
      'segment-bytes': { type: 'string' },
      codec: { type: 'string' },
      mode: { type: 'string' },
      secret: { type: 'string' },
    },
    strict: true,
  });
  if (values.job) return BenchJob.parse(JSON.parse(values.job));
  if (values.rank === undefined || !values.hosts) throw new RingError('E_USAGE', 'bench peer needs --job JSON, or --rank R and --hosts h0:p0,h1:p1,...');
  const hosts = values.hosts.split(',').map((hp) => {
    const i = hp.lastIndexOf(':');
    return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) };
  });
  const rank = Number(values.rank);
  const warmup = parseWarmup(values.warmup);
  if (warmup === null) throw new RingError('E_USAGE', `--warmup must be 'auto' or a non-negative integer, got '${values.warmup}'`);
  return BenchJob.parse({
    impl: values.impl ?? 'ws',
    rank,
    size: hosts.length,
    listenHost: values.listen ?? hosts[rank]?.host ?? '127.0.0.1',
    listenPort: hosts[rank]?.port ?? 0,
    hosts,
    sizes: values.sizes ? parseSizeList(values.sizes) : [4096, 1 << 20, 16 << 20],
    iters: Number(values.iters ?? 9),
    warmup,
    segmentBytes: values['segment-bytes'] ? parseSize(values['segment-bytes']) : 512 * 1024,
    codec: values.codec ?? 'dense',
    mode: values.mode ?? 'requantize',
    secret: values.secret ?? '',
  });
}

async function main(): Promise<void> {
  let job: BenchJob | null = null;
  const viaIpc = typeof process.send === 'function';
  const emit: Emit = (m) =>
    new Promise((resolve) => {
      if (viaIpc) process.send!(m, undefined, {}, () => resolve());
      else process.stdout.write(`${JSON.stringify(m)}\n`, () => resolve());
    });
  let peersResolve: ((p: { host: string; port: number }[]) => void) | null = null;
  const peersP = new Promise<{ host: string; port: number }[]>((res) => (peersResolve = res));
  let release!: () => void;
  const releasedP = new Promise<void>((res) => (release = res));
  if (viaIpc) {
    process.on('message', (raw) => {
      const m = ParentMsg.safeParse(raw);
      if (!m.success) return;
      if (m.data.t === 'peers') peersResolve?.(m.data.peers);
      else release();
    });
    // The parent gone means nobody wants our numbers.
    process.on('disconnect', () => process.exit(1));
  } else if (!process.stdin.isTTY) {
    // Started through a pipe (LAN simulator): the parent ends our stdin to release us.
    process.stdin.resume();
    process.stdin.on('end', () => release());
    process.stdin.on('error', () => release());
  } else {
    // Started by hand: give the neighbours a moment to take their last frames.
    releasedP.catch(() => undefined);
  }
  const released = () => (viaIpc || !process.stdin.isTTY ? releasedP : new Promise<void>((res) => setTimeout(res, 2000)));
  try {
    job = jobFromArgv(process.argv.slice(2));
    await runBenchPeer(job, emit, () => peersP, released);
    process.exitCode = 0;
  } catch (e) {
    await emit({ t: 'error', rank: job?.rank ?? -1, code: (e as RingError).code ?? 'E_INTERNAL', message: describeError(e) });
    process.exitCode = 3;
  }
  if (viaIpc) process.disconnect();
  process.stdin.destroy();
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  void main();
}
