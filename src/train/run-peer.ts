import { performance } from 'node:perf_hooks';
import type { RingConfig } from '../config/schema.js';
import { configHash } from '../config/load.js';
import { RingError } from '../errors.js';
import { RingPeer, type PeerAddressLike } from '../membership/ring-peer.js';
import { createCodec } from '../codec/index.js';
import type { CsrDataset } from '../data/csr.js';
import { shardDataset } from '../data/shard.js';
import { evaluate } from '../model/metrics.js';
import { saveModel, weightsDigest } from '../model/file.js';
import type { RingContext, StepReport } from '../optim/types.js';
import { buildOptimizer } from './optimizers.js';
import { loadTrainTest } from './datasets.js';
import { checkDigests } from './digest-check.js';
import { configHash as hashOfConfig } from '../config/load.js';
import { loadCheckpoint, saveCheckpoint, validSteps } from './checkpoint.js';

/** What a peer tells whoever started it (the launcher over IPC, or stdout as JSON lines). */
export type PeerEvent =
  | { t: 'loaded'; rank: number; trainRows: number; shardRows: number; testRows: number; dim: number; seconds: number }
  | { t: 'listening'; rank: number; port: number }
  | { t: 'ready'; rank: number }
  | ({ t: 'progress'; rank: number; totalSteps: number | null; stepMs: number; commMs: number; rowsPerSec: number; bytesSent: number } & StepReport)
  | { t: 'log'; rank: number; event: string; fields?: Record<string, unknown> };

export interface PeerResult {
  rank: number;
  size: number;
  steps: number;
  algo: string;
  codec: string;
  mode: string;
  dim: number;
  lambda: number;
  trainRows: number;
  /** Mean training log-loss + (λ/2)||w||² of the final weights over the whole training set. */
  objective: number;
  gradNorm: number;
  test: { rows: number; accuracy: number; logloss: number; auc: number } | null;
  digest: string;
  digests: string[];
  identical: boolean;
  bytesSent: number;
  bytesReceived: number;
  secondsTotal: number;
  secondsTrain: number;
  /** Mean per step: wall time, time inside allreduce (communication + waiting), local compute. */
  stepMs: number;
  commMs: number;
  computeMs: number;
  rowsPerSec: number;
  stopReason: string | null;
}

export interface PeerRunOptions {
  config: RingConfig;
  rank: number;
  size: number;
  listenHost: string;
  listenPort: number;
  /** Given our bound port, returns every rank's address (from the config, or from the launcher). */
  resolvePeers: (port: number) => Promise<PeerAddressLike[]>;
  emit: (e: PeerEvent) => void;
  saveModelPath?: string;
  checkpoint?: { dir: string; every: number; resume: boolean };
  /** Fault injection (tests, demos): SIGKILL this process right after this step. */
  injectKillAtStep?: number;
}

/** One peer from start to finish: load its shard, join the ring, train, evaluate, report. */
export async function runPeer(o: PeerRunOptions): Promise<PeerResult> {
  const t0 = performance.now();
  const { config, rank, size } = o;
  const data = await loadTrainTest(config.data);
  const shard = shardDataset(data.train, rank, size);
  o.emit({ t: 'loaded', rank, trainRows: data.train.rows, shardRows: shard.rows, testRows: data.test?.rows ?? 0, dim: data.train.dim, seconds: (performance.now() - t0) / 1000 });

  const codec = createCodec(config.codec.name, { levels: config.codec.levels });
  const peer = await RingPeer.listen({
    rank,
    size,
    listenHost: o.listenHost,
    listenPort: o.listenPort,
    secret: config.secret,
    configHash: configHash(config),
    connectTimeoutMs: config.ring.connectTimeoutMs,
    recvTimeoutMs: config.ring.recvTimeoutMs,
    maxFrameBytes: config.ring.maxFrameBytes,
    segmentBytes: config.ring.segmentBytes,
    seed: config.train.seed,
    codec,
    mode: config.codec.mode,
    levels: config.codec.levels,
    log: (event, fields) => o.emit({ t: 'log', rank, event, fields }),
  });
  try {
    o.emit({ t: 'listening', rank, port: peer.port });
    const addrs = await o.resolvePeers(peer.port);
    if (addrs.length !== size) throw new RingError('E_CONFIG', `the ring has ${addrs.length} addresses but ${size} peers`);
    await peer.join(addrs[(rank - 1 + size) % size]);
    o.emit({ t: 'ready', rank });
    return await train(peer, shard, data.test, o, t0);
  } finally {
    await peer.close();
  }
}

async function train(peer: RingPeer, shard: CsrDataset, test: CsrDataset | null, o: PeerRunOptions, t0: number): Promise<PeerResult> {
  const { config, rank, size } = o;
  let commMs = 0;
  // Error-feedback memory for the gradient (lossy codecs): this peer's quantization error so far.
  const feedback = config.codec.errorFeedback ?? config.codec.name === 'onebit';
  const residual = feedback && !peer.opts.codec.lossless ? new Float32Array(shard.dim + 1) : undefined;
  const ctx: RingContext = {
    rank,
    size,
    allreduce: async (v) => {
      const a = performance.now();
      await peer.allreduce(v, v instanceof Float32Array && v.length === residual?.length ? residual : undefined);
      commMs += performance.now() - a;
    },
  };
  const built = await buildOptimizer(config, shard, ctx);
  const opt = built.optimizer;
  const ck = o.checkpoint;
  if (ck?.resume) await resumeFromCheckpoint(peer, ctx, opt, residual, ck.dir, hashOfConfig(config), o);
  const tTrain = performance.now();
  const commAtStart = commMs;
  let rows = 0;
  let lastReport = 0;
  while (!opt.converged) {
    const a = performance.now();
    const c0 = commMs;
    const rep = await opt.step();
    const stepMs = performance.now() - a;
    rows += rep.rows;
    const k = config.ring.digestEvery;
    if (k > 0 && rep.step % k === 0) await checkDigests(opt.materialize(), ctx, rep.step);
    if (o.injectKillAtStep === rep.step) process.kill(process.pid, 'SIGKILL');
    if (ck && ck.every > 0 && rep.step % ck.every === 0) {
      await saveCheckpoint(ck.dir, {
        version: 1,
        configHash: hashOfConfig(config),
        rank,
        size,
        step: rep.step,
        ringStep: peer.collectiveStep,
        optimizer: opt.exportState(),
        residual: residual ?? new Float32Array(0),
        weightsDigest: weightsDigest(opt.materialize()),
      });
    }
    const now = performance.now();
    if (rank === 0 && (now - lastReport > 200 || opt.converged)) {
      lastReport = now;
      o.emit({ t: 'progress', rank, totalSteps: built.totalSteps, stepMs, commMs: commMs - c0, rowsPerSec: rows / ((now - tTrain) / 1000), bytesSent: peer.bytesSent, ...rep });
    }
  }
  const trainSeconds = (performance.now() - tTrain) / 1000;
  const steps = opt.steps;
  const trainComm = commMs - commAtStart;
  const w = opt.materialize();
  const digests = await checkDigests(w, ctx, steps);
  const final = await built.objective.evaluate(w);
  let gn = 0;
  for (let j = 0; j < final.grad.length; j++) gn += final.grad[j] * final.grad[j];
  const m = test ? evaluate(w, test) : null;
  if (o.saveModelPath && rank === 0) {
    await saveModel(o.saveModelPath, {
      dim: shard.dim,
      lambda: built.lambda,
      algorithm: opt.name,
      steps,
      weights: w,
      metadata: { peers: size, codec: config.codec.name, mode: config.codec.mode, train: config.data.train ?? 'spam-assassin', objective: final.value },
    });
  }
  return {
    rank,
    size,
    steps,
    algo: opt.name,
    codec: config.codec.name,
    mode: config.codec.mode,
    dim: shard.dim,
    lambda: built.lambda,
    trainRows: built.globalRows,
    objective: final.value,
    gradNorm: Math.sqrt(gn),
    test: m ? { rows: m.rows, accuracy: m.accuracy, logloss: m.logLoss, auc: m.auc } : null,
    digest: weightsDigest(w),
    digests,
    identical: digests.every((d) => d === digests[0]),
    bytesSent: peer.bytesSent,
    bytesReceived: peer.bytesReceived,
    secondsTotal: (performance.now() - t0) / 1000,
    secondsTrain: trainSeconds,
    stepMs: steps ? (trainSeconds * 1000) / steps : 0,
    commMs: steps ? trainComm / steps : 0,
    computeMs: steps ? (trainSeconds * 1000 - trainComm) / steps : 0,
    rowsPerSec: rows / trainSeconds,
    stopReason: opt.stopReason ?? null,
  };
}

/**
 * Every rank offers its (up to two) newest valid checkpoint steps in one exact allreduce; the
 * ring resumes from the newest step that all ranks have, so a crash between two ranks' writes
 * never mixes steps. The restored weights are checked against the digest stored with them.
 */
async function resumeFromCheckpoint(
  peer: RingPeer,
  ctx: RingContext,
  opt: { importState(s: import('../optim/types.js').OptimizerState): void; materialize(): Float64Array },
  residual: Float32Array | undefined,
  dir: string,
  hash: string,
  o: PeerRunOptions,
): Promise<void> {
  const SLOTS = 2;
  const mine = validSteps(dir, ctx.rank).slice(0, SLOTS);
  const offer = new Float64Array(ctx.size * SLOTS);
  mine.forEach((s, i) => (offer[ctx.rank * SLOTS + i] = s + 1));
  await ctx.allreduce(offer);
  const sets = Array.from({ length: ctx.size }, (_, r) => new Set(Array.from(offer.subarray(r * SLOTS, (r + 1) * SLOTS)).filter((x) => x > 0).map((x) => x - 1)));
  const common = [...sets[0]].filter((s) => sets.every((set) => set.has(s))).sort((a, b) => b - a);
  if (common.length === 0) {
    const have = sets.map((set, r) => `rank ${r}: ${set.size ? [...set].join(',') : 'none'}`).join('; ');
    throw new RingError('E_CHECKPOINT', `--resume: no checkpoint step that all ${ctx.size} ranks have in ${dir} (${have}); start without --resume`);
  }
  const step = common[0];
  const c = loadCheckpoint(dir, ctx.rank, step);
  if (c.configHash !== hash || c.size !== ctx.size || c.rank !== ctx.rank) {
    throw new RingError('E_CHECKPOINT', `checkpoint ${dir} (step ${step}) was written by another config or ring size; resume with the same config, flags and --peers`);
  }
  opt.importState(c.optimizer as import('../optim/types.js').OptimizerState);
  if (residual) {
    if (c.residual.length !== residual.length) throw new RingError('E_CHECKPOINT', 'checkpoint residual has the wrong length');
    residual.set(c.residual);
  }
  if (weightsDigest(opt.materialize()) !== c.weightsDigest) throw new RingError('E_CHECKPOINT', `restored weights at step ${step} do not match the checkpoint digest`);
  peer.restoreCollectiveStep(c.ringStep);
  o.emit({ t: 'log', rank: ctx.rank, event: 'resumed', fields: { step, dir } });
}
