/**
 * What the bench parent tells a bench peer (one OS process per rank), and what the peer reports
 * back. Both directions are checked with zod: a peer may run in another network namespace or on
 * another host, and its output is parsed from a pipe.
 */
import { z } from 'zod';

export const BenchImpl = z.enum(['ws', 'tcp']);
export type BenchImpl = z.infer<typeof BenchImpl>;

const HostPort = z.object({ host: z.string().min(1), port: z.number().int().min(0).max(65535) }).strict();

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
    warmup: z.number().int().nonnegative(),
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
export function innerRepeats(bytes: number): number {
  return Math.max(1, Math.min(32, Math.floor((1 << 20) / bytes)));
}
