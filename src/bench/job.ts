/**
 * What the bench parent tells a bench peer (one OS process per rank), and what the peer reports
 * back. Both directions are checked with zod: a peer may run in another network namespace or on
 * another host, and its output is parsed from a pipe.
 */
import { z } from 'zod';

export const BenchImpl = z.enum(['ws', 'tcp']);
export type BenchImpl = z.infer<typeof BenchImpl>;

const HostPort = z.object({ host: z.string().min(1), port: z.number().int().min(0).max(65535) }).strict();

/**
 * Warm-up: 'auto' (the default) or a fixed number of untimed samples per size. A Node peer runs
 * its allreduce path in V8's interpreter and baseline tiers until the path has been hot for a
 * while; the optimized code is what a training run uses for its thousands of steps. Measured
 * at 4 KiB, N = 2: 2 warm-up samples (64 allreduces) left the median at 350 µs and 300 µs CPU
 * per op; after ~3000 allreduces it is 67-90 µs and 70-99 µs. A C baseline needs none, and gets
 * the same count anyway (it only costs time).
 */
export const Warmup = z.union([z.literal('auto'), z.number().int().nonnegative()]);
export type Warmup = z.infer<typeof Warmup>;

export const BenchJob = z
  .object({
    impl: BenchImpl,
    rank: z.number().int().nonnegative(),
    size: z.number().int().positive(),
    /** Address to bind; port 0 = any (the peer reports it, the parent sends everyone's list). */
    listenHost: z.string().min(1),
    listenPort: z.number().int().min(0).max(65535),
    /** Fixed ring addresses (rank r listens on hosts[r] unless listenHost overrides the host). */
    hosts: z.array(HostPort).optional(),
    sizes: z.array(z.number().int().positive()),
    iters: z.number().int().positive(),
    /** Untimed samples before each size's timed ones: a count, or 'auto' (see warmupSamples). */
    warmup: Warmup,
    segmentBytes: z.number().int().min(1024),
    codec: z.enum(['dense', 'sparse', 'onebit', 'stochastic', 'shared']),
    mode: z.enum(['requantize', 'allgather']).default('requantize'),
    secret: z.string().default(''),
  })
  .strict();
export type BenchJob = z.infer<typeof BenchJob>;

/** One measured cell, as every rank computes it after gathering all ranks' timings. */
export const CellReport = z
  .object({
    t: z.literal('cell'),
    rank: z.number().int(),
    bytes: z.number().int(),
    /** Allreduces per timed sample (small vectors are timed in batches). */
    inner: z.number().int().positive(),
    /** Per sample: the slowest rank's time per allreduce, µs. */
    samplesUs: z.array(z.number()),
    /**
     * Exact codecs: elements that differed from the exact sum, over all ranks and iterations
     * (warm-up included). Lossy codecs: results (rank × sample) whose bytes differ from rank 0's,
     * i.e. breaks of the identical-weights invariant.
     */
    wrong: z.number().int().nonnegative(),
    /** Lossy codecs: mean ||result - exact sum|| / ||exact sum|| over the samples; exact codecs: null. */
    relErr: z.number().nullable(),
    /** CPU time (user + system) per allreduce, mean over ranks, µs: robust to other load on the host. */
    cpuUsPerOp: z.number(),
    /** Largest bytes any rank sent per allreduce (frames + ring headers). */
    wireBytesPerPeer: z.number(),
  })
  .strict();
export type CellReport = z.infer<typeof CellReport>;

export const PeerReport = z.discriminatedUnion('t', [
  z.object({ t: z.literal('listening'), rank: z.number().int(), port: z.number().int() }).strict(),
  z.object({ t: z.literal('ready'), rank: z.number().int() }).strict(),
  CellReport,
  z.object({ t: z.literal('done'), rank: z.number().int() }).strict(),
  z.object({ t: z.literal('error'), rank: z.number().int(), code: z.string(), message: z.string() }).strict(),
]);
export type PeerReport = z.infer<typeof PeerReport>;

export const ParentMsg = z.discriminatedUnion('t', [
  z.object({ t: z.literal('peers'), peers: z.array(HostPort) }).strict(),
  /** Every peer is done: links may close now. */
  z.object({ t: z.literal('release') }).strict(),
]);
export type ParentMsg = z.infer<typeof ParentMsg>;

/** Allreduces per timed sample: enough that a sample of a small vector lasts well over a timer tick. */

/**
 * Allreduces an 'auto' warm-up runs: 4000, or fewer for big vectors (at most 2 GiB in all).
 * Measured at 4 KiB, N = 2, 15 timed samples: after ~1000 allreduces 313 µs, after 3200 67 µs.
 * The byte budget was 256 MiB (256 allreduces at 1 MiB) until a sweep showed 1 MiB at N = 2
 * still warming up behind the 4 KiB and 64 KiB cells: 1000-1400 µs median and 1317 µs of CPU per
 * allreduce per peer (more than the wall time: V8's compiler and GC threads still busy), against
 * 540 µs and 527 µs CPU after 2000 warm-up allreduces.
 */
export const WARMUP_ALLREDUCES = 4000;
const WARMUP_BYTES = 2 ** 31;

/** Untimed samples before the timed ones for vectors of `bytes` (at least 2 with 'auto'). */
export function warmupSamples(bytes: number, warmup: Warmup): number {
  if (warmup !== 'auto') return warmup;
  const ops = Math.min(WARMUP_ALLREDUCES, Math.floor(WARMUP_BYTES / bytes));
  return Math.max(2, Math.ceil(ops / innerRepeats(bytes)));
}

/** Parses --warmup: 'auto' or a non-negative integer; null if it is neither. */
export function parseWarmup(s: string | undefined): Warmup | null {
  if (s === undefined || s === 'auto') return 'auto';
  const n = Number(s);
  return Number.isInteger(n) && n >= 0 && s.trim() !== '' ? n : null;
}

export function innerRepeats(bytes: number): number {
  return Math.max(1, Math.min(32, Math.floor((1 << 20) / bytes)));
}
