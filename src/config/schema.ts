import { z } from 'zod';

/**
 * ring.config.json, and every launch/peer flag, are checked against this one schema; the
 * TypeScript types come from it. Unknown keys are errors (a typo must not be silently ignored).
 */
export const PeerAddress = z
  .object({
    host: z.string().min(1, 'host must not be empty'),
    port: z.number().int().min(0).max(65535),
  })
  .strict();

export const DataSection = z
  .object({
    /** Training file (LIBSVM/SVMlight, Criteo TSV or text CSV). Absent: the built-in SpamAssassin set. */
    train: z.string().min(1).optional(),
    test: z.string().min(1).optional(),
    format: z.enum(['auto', 'libsvm', 'criteo', 'text']).default('auto'),
    /** Feature dimension; default: largest index in the training file. */
    dim: z.number().int().positive().optional(),
    /** Buckets = 2^hashBits for hashed formats (text, criteo, the built-in spam set). */
    hashBits: z.number().int().min(4).max(26).default(18),
  })
  .strict();

export const TrainSection = z
  .object({
    algo: z.enum(['sgd', 'gd', 'lbfgs']).default('sgd'),
    /** Step size (SGD) or initial step (GD). */
    lr: z.number().positive().default(4),
    /** constant α; invt α/(1+t/t0); invsqrt α/sqrt(1+t/t0). invt, lr 4, t0 50 reach 1 % of the a9a optimum in 3 epochs. */
    schedule: z.enum(['constant', 'invt', 'invsqrt']).default('invt'),
    /** Decay time constant of the schedule, in updates. */
    t0: z.number().positive().default(50),
    /** liblinear's C; λ = 1/(C·M). Ignored when lambda is given. */
    C: z.number().positive().optional(),
    lambda: z.number().nonnegative().optional(),
    /** Global mini-batch size (split across peers). */
    batch: z.number().int().positive().default(256),
    epochs: z.number().positive().default(5),
    /** Stop after this many steps (overrides epochs when set). */
    steps: z.number().int().positive().optional(),
    /** Relative gradient-norm tolerance for GD / L-BFGS (default: the optimizer's own). */
    tol: z.number().positive().optional(),
    seed: z.number().int().nonnegative().default(1),
  })
  .strict();

export const CodecSection = z
  .object({
    name: z.enum(['dense', 'sparse', 'onebit', 'stochastic', 'shared']).default('dense'),
    mode: z.enum(['requantize', 'allgather']).default('requantize'),
    /** QSGD levels s for stochastic / shared (default 7: 4 bits a value; s = 1 loses 0.7–1.4 accuracy points on a9a). The shared codec always runs its exact integer ring, whatever the mode. */
    levels: z.number().int().min(1).max(255).optional(),
    /** Keep each peer's quantization error and add it to its next gradient. Default: on for onebit only (the unbiased codecs do not need it). */
    errorFeedback: z.boolean().optional(),
  })
  .strict();

export const RingSection = z
  .object({
    /** Pipelining segment size. */
    segmentBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(512 * 1024),
    /** How long a peer waits for its neighbours to come up. */
    connectTimeoutMs: z.number().int().positive().default(30_000),
    /** How long a peer waits for the next frame before calling its predecessor dead. */
    recvTimeoutMs: z.number().int().positive().default(60_000),
    /** Compare weight digests every K steps (0 = only at the end). */
    digestEvery: z.number().int().nonnegative().default(10),
    /** Largest frame accepted (ws maxPayload). */
    maxFrameBytes: z.number().int().min(4096).default(128 * 1024 * 1024),
  })
  .strict();

export const StragglerSection = z
  .object({
    /** Fixed per-step deadline for a peer's gradient (ms); a peer that misses it contributes nothing that step. */
    deadlineMs: z.number().positive().optional(),
    /** Derive the deadline from the ring's recent readiness times (median × factor, at least minMs). */
    adaptive: z.boolean().default(false),
    factor: z.number().min(1).default(3),
    minMs: z.number().positive().default(20),
  })
  .strict();

export const RingConfigSchema = z
  .object({
    /** Rank r is peers[r]. Needed for `peer`; `launch` picks free loopback ports itself. */
    peers: z.array(PeerAddress).min(1).optional(),
    /** Shared secret for the HMAC handshake; empty = no authentication (loopback only). */
    secret: z.string().default(''),
    data: DataSection.prefault({}),
    train: TrainSection.prefault({}),
    codec: CodecSection.prefault({}),
    ring: RingSection.prefault({}),
    straggler: StragglerSection.prefault({}),
    /** wss:// between peers: this host's PEM certificate and key, and the CA that signed every peer's certificate. */
    tls: z.object({ cert: z.string().min(1), key: z.string().min(1), ca: z.string().min(1) }).strict().optional(),
  })
  .strict();

export type RingConfig = z.infer<typeof RingConfigSchema>;
export type RingConfigInput = z.input<typeof RingConfigSchema>;
export type CodecConfig = z.infer<typeof CodecSection>;
export type TrainConfig = z.infer<typeof TrainSection>;
