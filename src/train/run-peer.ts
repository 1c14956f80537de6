import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import type { RingConfig } from '../config/schema.js';
import { configHash as hashOfConfig } from '../config/load.js';
import { RingError } from '../errors.js';
import { RingPeer, type PeerAddressLike } from '../membership/ring-peer.js';
import { createCodec } from '../codec/index.js';
import type { CsrDataset } from '../data/csr.js';
import { shardDataset } from '../data/shard.js';
import { evaluate } from '../model/metrics.js';
import { saveModel, weightsDigest } from '../model/file.js';
import type { Optimizer, OptimizerState, RingContext, StepReport } from '../optim/types.js';
import type { MiniBatchSgd } from '../optim/sgd.js';
import { gradientSum, lossSum } from '../model/logreg.js';
import { Packr } from 'msgpackr';
import { buildOptimizer, type TrainingSetup } from './optimizers.js';
import { loadTrainTest, ringIdentityHash, type TrainTest } from './datasets.js';
import { checkDigests } from './digest-check.js';
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
  /** Generation of the ring at the end (0 = never re-formed). */
  generation: number;
  /** Config ranks in the ring at the end. */
  members: number[];
  /** Steps each config rank was dropped by the deadline. */
  dropped: number[];
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
  /** Fault injection: this peer's gradient is late by this much every step. */
  injectDelayMs?: number;
  /** Survive the loss of peers by re-forming the ring (default true). */
  elastic?: boolean;
  /** This peer restarts and joins a ring that is already training. */
  rejoin?: boolean;
}

/** One peer from start to finish: load its shard, join the ring, train, evaluate, report. */
export async function runPeer(o: PeerRunOptions): Promise<PeerResult> {
  const t0 = performance.now();
  const { config, rank, size } = o;
  const data = await loadTrainTest(config.data);
  // Shards follow the config rank and ring size, so a rejoining peer gets its own rows back.
  const shard = shardDataset(data.train, rank, size);
  o.emit({ t: 'loaded', rank, trainRows: data.train.rows, shardRows: shard.rows, testRows: data.test?.rows ?? 0, dim: data.train.dim, seconds: (performance.now() - t0) / 1000 });

  const codec = createCodec(config.codec.name, { levels: config.codec.levels });
  const peer = await RingPeer.listen({
    rank,
    size,
    listenHost: o.listenHost,
    listenPort: o.listenPort,
    secret: config.secret,
    // Neighbours must train the same problem: the config and the bytes of the training data.
    configHash: ringIdentityHash(config, data.train),
    connectTimeoutMs: config.ring.connectTimeoutMs,
    recvTimeoutMs: config.ring.recvTimeoutMs,
    maxFrameBytes: config.ring.maxFrameBytes,
    segmentBytes: config.ring.segmentBytes,
    seed: config.train.seed,
    codec,
    mode: config.codec.mode,
    levels: config.codec.levels,
    log: (event, fields) => o.emit({ t: 'log', rank, event, fields }),
    tls: config.tls ? readTls(config.tls) : undefined,
  });
  try {
    o.emit({ t: 'listening', rank, port: peer.port });
    const addrs = await o.resolvePeers(peer.port);
    if (addrs.length !== size) throw new RingError('E_CONFIG', `the ring has ${addrs.length} addresses but ${size} peers`);
    if (o.rejoin) await peer.joinRunningRing(addrs);
    else await peer.join(addrs);
    o.emit({ t: 'ready', rank });
    return await new Training(peer, shard, data, o, t0).run();
  } finally {
    await peer.close();
  }
}

interface Snapshot {
  step: number;
  state: OptimizerState;
  residual?: Float32Array;
}

/** A lost link, a dead or silent neighbour: what a re-formed ring can survive. */
function isRingFailure(e: unknown): boolean {
  return e instanceof RingError && (e.code === 'E_PEER_LOST' || e.code === 'E_PEER_TIMEOUT' || e.code === 'E_FRAME_MISMATCH');
}

const SNAPSHOTS = 3;
const MAX_REFORMS_IN_A_ROW = 3;

/**
 * The step loop of one peer: local gradient → allreduce → identical update, with digest checks,
 * checkpoints, deadline mode for stragglers, and recovery: when the ring breaks, re-form with the
 * live peers, roll back to the newest step every survivor completed (each keeps snapshots of its
 * last few steps), and go on. A peer that asks to join is let in at a digest-check boundary and
 * receives the optimizer state from a member, verified by digest.
 */
class Training {
  private readonly config: RingConfig;
  private commMs = 0;
  private residual: Float32Array | undefined;
  /** Whether residual has moved into the gradient's ring vector memory (allocVector). */
  private residualBesideGradient = false;
  private readonly ctx: RingContext;
  private setup!: TrainingSetup;
  private snaps: Snapshot[] = [];
  /** Steps this peer finished (its update applied). */
  private completed = 0;
  /** Steps each config rank was dropped by the deadline (identical on every peer). */
  private readonly dropped: number[];
  private readonly readyHistory: number[] = [];
  private reforms = 0;
  /** False for a rejoining peer until a member has handed it the optimizer state. */
  private hasState: boolean;

  constructor(
    private readonly peer: RingPeer,
    private readonly shard: CsrDataset,
    private readonly data: TrainTest,
    private readonly o: PeerRunOptions,
    private readonly t0: number,
  ) {
    this.config = o.config;
    this.dropped = new Array<number>(o.size).fill(0);
    this.hasState = !o.rejoin;
    // Error-feedback memory for the gradient (lossy codecs): this peer's quantization error so far.
    const feedback = this.config.codec.errorFeedback ?? this.config.codec.name === 'onebit';
    this.residual = feedback && !peer.opts.codec.lossless ? new Float32Array(shard.dim + 1) : undefined;
    // rank and size follow the ring as it re-forms.
    const self = this;
    this.ctx = {
      get rank() {
        return peer.rank;
      },
      get size() {
        return peer.size;
      },
      allreduce: async (v) => {
        const a = performance.now();
        await peer.allreduce(v, v instanceof Float32Array && v.length === self.residual?.length ? self.residual : undefined);
        self.commMs += performance.now() - a;
      },
      allocVector: (length) => {
        const v = peer.allocVector(length);
        // The gradient's residual moves beside it (same WebAssembly memory), so the 1-bit kernels
        // run in place on both; its values so far come along.
        if (self.residual && !self.residualBesideGradient && length === self.residual.length) {
          const r = peer.allocResidual(v);
          r.set(self.residual);
          self.residual = r;
          self.residualBesideGradient = true;
        }
        return v;
      },
    };
  }

  private get opt(): Optimizer {
    return this.setup.optimizer;
  }

  private get elastic(): boolean {
    return this.o.elastic ?? true;
  }

  async run(): Promise<PeerResult> {
    const { config, o, peer } = this;
    if (o.rejoin) {
      // A joiner has no state until a member hands it over; if the ring breaks meanwhile, it
      // re-forms with the others and asks again.
      for (;;) {
        try {
          await this.syncAfterReform();
          break;
        } catch (e) {
          if (!this.elastic || !isRingFailure(e) || ++this.reforms > MAX_REFORMS_IN_A_ROW) throw e;
          await this.peer.reform();
        }
      }
    } else {
      this.setup = await buildOptimizer(config, this.shard, this.ctx);
      const ck = o.checkpoint;
      if (ck?.resume) await resumeFromCheckpoint(peer, this.ctx, this.opt, this.residual, ck.dir, hashOfConfig(config), o);
    }
    this.completed = this.opt.steps;
    const tTrain = performance.now();
    const commAtStart = this.commMs;
    let rows = 0;
    let lastReport = 0;
    while (!this.opt.converged) {
      if (this.elastic) this.snapshot();
      const a = performance.now();
      const c0 = this.commMs;
      let rep: StepReport;
      try {
        rep = await this.step();
        this.completed = rep.step;
        this.reforms = 0;
        rows += rep.rows;
        await this.afterStep(rep.step);
      } catch (e) {
        if (!this.elastic || !isRingFailure(e)) throw e;
        await this.recover(e as RingError);
        continue;
      }
      const now = performance.now();
      if (peer.rank === 0 && (now - lastReport > 200 || this.opt.converged)) {
        lastReport = now;
        o.emit({ t: 'progress', rank: peer.id, totalSteps: this.setup.totalSteps, stepMs: now - a, commMs: this.commMs - c0, rowsPerSec: rows / ((now - tTrain) / 1000), bytesSent: peer.bytesSent, ...rep });
      }
    }
    return this.finish(tTrain, commAtStart, rows);
  }

  /** One optimizer step; in deadline mode a peer whose gradient is late contributes nothing. */
  private async step(): Promise<StepReport> {
    const s = this.config.straggler;
    const deadlineMode = this.config.train.algo === 'sgd' && (s.deadlineMs !== undefined || s.adaptive);
    const delay = this.o.injectDelayMs ?? 0;
    if (!deadlineMode) {
      if (delay > 0) await sleep(delay);
      return this.opt.step();
    }
    const deadline = this.deadline();
    const t = performance.now();
    // The gradient is "ready" once any injected delay has passed (the compute itself runs inside
    // step(), on this thread, and cannot be pre-empted).
    const made = delay <= deadline;
    await sleep(Math.min(delay, deadline));
    const readyMs = made ? performance.now() - t : deadline;
    const rep = await (this.opt as MiniBatchSgd).step({ contribute: made });
    // Everyone learns who made it and how long readiness took: one tiny exact allreduce.
    const n = this.peer.size;
    const info = new Float64Array(2 * n);
    info[this.peer.rank] = made ? 0 : 1;
    info[n + this.peer.rank] = readyMs;
    await this.ctx.allreduce(info);
    const ids = this.peer.memberIds;
    for (let p = 0; p < n; p++) if (info[p] > 0) this.dropped[ids[p]]++;
    const times = Array.from(info.subarray(n)).sort((x, y) => x - y);
    this.readyHistory.push(times[Math.floor(times.length / 2)]);
    if (this.readyHistory.length > 20) this.readyHistory.shift();
    const droppedNow = ids.filter((_, p) => info[p] > 0);
    if (droppedNow.length && this.peer.rank === 0) this.o.emit({ t: 'log', rank: this.peer.id, event: 'dropped', fields: { step: rep.step, ranks: droppedNow, deadlineMs: deadline } });
    return rep;
  }

  /** Identical on every peer: fixed, or factor × median of the ring's recent median readiness. */
  private deadline(): number {
    const s = this.config.straggler;
    if (!s.adaptive) return s.deadlineMs!;
    if (this.readyHistory.length === 0) return s.deadlineMs ?? 1000;
    const h = [...this.readyHistory].sort((x, y) => x - y);
    return Math.max(s.minMs, s.factor * h[Math.floor(h.length / 2)]);
  }

  /** Digest check, join requests, fault injection, checkpoint. */
  private async afterStep(step: number): Promise<void> {
    const { config, o, peer } = this;
    const k = config.ring.digestEvery;
    if (k > 0 && step % k === 0) {
      await checkDigests(this.opt.materialize(), this.ctx, step);
      if (this.elastic && (await this.anyJoinRequest())) await this.admitJoiners();
    }
    if (o.injectKillAtStep === step) process.kill(process.pid, 'SIGKILL');
    const ck = o.checkpoint;
    if (ck && ck.every > 0 && step % ck.every === 0) {
      await saveCheckpoint(ck.dir, {
        version: 1,
        configHash: hashOfConfig(config),
        rank: o.rank,
        size: o.size,
        step,
        ringStep: peer.collectiveStep,
        optimizer: this.opt.exportState(),
        residual: this.residual ?? new Float32Array(0),
        weightsDigest: weightsDigest(this.opt.materialize()),
      });
    }
  }

  private async anyJoinRequest(): Promise<boolean> {
    const v = new Float64Array([this.peer.joinRequested ? 1 : 0]);
    await this.ctx.allreduce(v);
    return v[0] > 0;
  }

  private snapshot(): void {
    // exportState returns copies, so later steps cannot change a snapshot.
    this.snaps.push({ step: this.opt.steps, state: this.opt.exportState(), residual: this.residual?.slice() });
    if (this.snaps.length > SNAPSHOTS) this.snaps.shift();
  }

  /**
   * The ring broke: re-form with whoever is alive, agree on the newest step all survivors
   * completed (one exact allreduce of each peer's count), roll back to it, check digests.
   */
  private async recover(cause: RingError): Promise<void> {
    const { peer, o } = this;
    if (++this.reforms > MAX_REFORMS_IN_A_ROW) throw cause;
    o.emit({ t: 'log', rank: peer.id, event: 'ring-broken', fields: { generation: peer.generation, step: this.completed, reason: cause.message } });
    // The newest state may be a finished step that the failure interrupted after the fact.
    if (this.snaps.at(-1)?.step !== this.completed && this.opt.steps === this.completed) this.snapshot();
    try {
      await peer.reform();
      const target = await this.syncAfterReform();
      o.emit({ t: 'log', rank: peer.id, event: 'ring-recovered', fields: { generation: peer.generation, members: peer.memberIds, step: target } });
    } catch (e) {
      if (!isRingFailure(e)) throw e;
      await this.recover(e as RingError);
    }
  }

  /**
   * After any re-form (failure or join), every member states the newest step it completed, or
   * that it has no state yet (a joiner). Members with state roll back to the oldest of those
   * steps; if anyone lacks state, the lowest-placed member with state hands it over. Then the
   * digests must agree. Returns the step the ring goes on from.
   */
  private async syncAfterReform(): Promise<number> {
    const { peer } = this;
    const v = new Float64Array(peer.size);
    v[peer.rank] = this.hasState ? this.completed + 1 : 0;
    await this.ctx.allreduce(v);
    const withState = Array.from(v).filter((x) => x > 0);
    if (withState.length === 0) throw new RingError('E_INTERNAL', 'no member of the ring has training state');
    const target = Math.min(...withState) - 1;
    if (this.hasState) this.rollbackTo(target);
    if (withState.length < v.length) await this.shareState();
    else await checkDigests(this.opt.materialize(), this.ctx, target);
    if (this.opt.name !== 'sgd') await this.restartFullBatch();
    return target;
  }

  /**
   * GD and L-BFGS sum over every shard: with a shard gone, their stored value, gradient and
   * history describe a problem that no longer exists. Restart from the current weights on the
   * survivors' rows (same λ, M counted anew).
   */
  private async restartFullBatch(): Promise<void> {
    const w = this.opt.materialize().slice();
    const m = new Float64Array([this.shard.rows]);
    await this.ctx.allreduce(m);
    this.setup = await buildOptimizer(this.config, this.shard, this.ctx, { lambda: this.setup.lambda, globalRows: m[0], initialWeights: w });
    this.snaps = [];
    this.completed = 0;
  }

  private rollbackTo(step: number): void {
    const snap = [...this.snaps].reverse().find((s) => s.step === step);
    if (!snap) throw new RingError('E_INTERNAL', `cannot roll back to step ${step}: this peer keeps steps ${this.snaps.map((s) => s.step).join(', ')}`);
    this.opt.importState(snap.state); // importState copies, so the snapshot stays intact
    if (this.residual && snap.residual) this.residual.set(snap.residual);
    this.completed = step;
  }

  /** Members' side of a join: re-form with the joiner, then hand it the state. */
  private async admitJoiners(): Promise<void> {
    const { peer, o } = this;
    // A step boundary: the current state is clean, keep it as the point to go on from.
    if (this.snaps.at(-1)?.step !== this.completed) this.snapshot();
    await peer.reform(true);
    o.emit({ t: 'log', rank: peer.id, event: 'peer-joined', fields: { generation: peer.generation, members: peer.memberIds } });
    await this.syncAfterReform();
  }

  /**
   * State transfer. The lowest-placed member that has state is the donor; it broadcasts
   * (λ, M, optimizer state) with exact allreduces in which everyone else adds zeros. Bytes travel
   * as 6-byte integers per float64 (exact). Every peer then checks the weight digests.
   */
  private async shareState(): Promise<void> {
    const { peer } = this;
    const hasState = this.hasState;
    const n = peer.size;
    const flags = new Float64Array(n);
    flags[peer.rank] = hasState ? 1 : 0;
    await this.ctx.allreduce(flags);
    const donor = flags.findIndex((f) => f > 0);
    if (donor < 0) throw new RingError('E_INTERNAL', 'no member of the ring has training state to share');
    const isDonor = donor === peer.rank;
    const body = isDonor ? packState(this.opt.exportState(), this.setup.lambda, this.setup.globalRows, this.completed) : new Uint8Array(0);
    const head = new Float64Array([isDonor ? body.length : 0]);
    await this.ctx.allreduce(head);
    const words = new Float64Array(Math.ceil(head[0] / 6));
    if (isDonor) bytesToWords(body, words);
    await this.ctx.allreduce(words);
    if (!isDonor) {
      const got = unpackState(wordsToBytes(words, head[0]));
      if (!hasState) {
        this.setup = await buildOptimizer(this.config, this.shard, this.ctx, { lambda: got.lambda, globalRows: got.globalRows });
      }
      this.opt.importState(got.state);
      this.completed = got.completed;
      if (this.residual && !hasState) this.residual.fill(0);
      this.hasState = true;
    }
    await checkDigests(this.opt.materialize(), this.ctx, this.completed);
  }

  private finish(tTrain: number, commAtStart: number, rows: number): Promise<PeerResult> {
    return finishRun(this, tTrain, commAtStart, rows);
  }

  /** For finishRun. */
  get parts() {
    return { peer: this.peer, ctx: this.ctx, setup: this.setup, opt: this.opt, data: this.data, o: this.o, t0: this.t0, commMs: this.commMs, dropped: this.dropped };
  }
}

async function finishRun(t: Training, tTrain: number, commAtStart: number, rows: number): Promise<PeerResult> {
  const { peer, ctx, setup, opt, data, o, t0, commMs, dropped } = t.parts;
  const { config } = o;
  const trainSeconds = (performance.now() - tTrain) / 1000;
  const steps = opt.steps;
  const trainComm = commMs - commAtStart;
  const w = opt.materialize();
  const digests = await checkDigests(w, ctx, steps);
  // Every peer holds the whole training set, so the objective over all of it (the dead peers'
  // rows included) is computed locally: the same arithmetic on identical weights everywhere.
  const full = data.train;
  const grad = gradientSum(w, full);
  let sq = 0;
  for (let j = 0; j < full.dim; j++) sq += w[j] * w[j];
  const objective = lossSum(w, full) / full.rows + 0.5 * setup.lambda * sq;
  let gn = 0;
  for (let j = 0; j < grad.length; j++) {
    const g = grad[j] / full.rows + (j < full.dim ? setup.lambda * w[j] : 0);
    gn += g * g;
  }
  const m = data.test ? evaluate(w, data.test) : null;
  if (o.saveModelPath && peer.rank === 0) {
    await saveModel(o.saveModelPath, {
      dim: full.dim,
      lambda: setup.lambda,
      algorithm: opt.name,
      steps,
      weights: w,
      metadata: { peers: o.size, codec: config.codec.name, mode: config.codec.mode, train: config.data.train ?? 'spam-assassin', objective },
    });
  }
  return {
    rank: o.rank,
    size: o.size,
    steps,
    algo: opt.name,
    codec: config.codec.name,
    mode: config.codec.mode,
    dim: full.dim,
    lambda: setup.lambda,
    trainRows: setup.globalRows,
    objective,
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
    generation: peer.generation,
    members: [...peer.memberIds],
    dropped,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readTls(t: { cert: string; key: string; ca: string }): { cert: string; key: string; ca: string } {
  const read = (what: string, path: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw new RingError('E_CONFIG', `tls.${what}: cannot read ${path}: ${(e as Error).message}`);
    }
  };
  return { cert: read('cert', t.cert), key: read('key', t.key), ca: read('ca', t.ca) };
}

const statePackr = new Packr({ moreTypes: true, structuredClone: false });

function packState(state: OptimizerState, lambda: number, globalRows: number, completed: number): Uint8Array {
  return statePackr.pack({ state, lambda, globalRows, completed });
}

function unpackState(bytes: Uint8Array): { state: OptimizerState; lambda: number; globalRows: number; completed: number } {
  try {
    return statePackr.unpack(bytes) as { state: OptimizerState; lambda: number; globalRows: number; completed: number };
  } catch (e) {
    throw new RingError('E_INTERNAL', `state transfer could not be decoded: ${(e as Error).message}`);
  }
}

/** 6 bytes per float64 word: integers below 2^48 are exact, and x + 0 = x keeps them intact. */
function bytesToWords(bytes: Uint8Array, words: Float64Array): void {
  for (let i = 0; i < words.length; i++) {
    let x = 0;
    for (let b = 5; b >= 0; b--) x = x * 256 + (bytes[i * 6 + b] ?? 0);
    words[i] = x;
  }
}

function wordsToBytes(words: Float64Array, length: number): Uint8Array {
  const out = new Uint8Array(words.length * 6);
  for (let i = 0; i < words.length; i++) {
    let x = words[i];
    for (let b = 0; b < 6; b++) {
      out[i * 6 + b] = x % 256;
      x = Math.floor(x / 256);
    }
  }
  return out.subarray(0, length);
}

/**
 * Every rank offers its (up to two) newest valid checkpoint steps in one exact allreduce; the
 * ring resumes from the newest step that all ranks have, so a crash between two ranks' writes
 * never mixes steps. The restored weights are checked against the digest stored with them.
 */
async function resumeFromCheckpoint(
  peer: RingPeer,
  ctx: RingContext,
  opt: Optimizer,
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
  opt.importState(c.optimizer as OptimizerState);
  if (residual) {
    if (c.residual.length !== residual.length) throw new RingError('E_CHECKPOINT', 'checkpoint residual has the wrong length');
    residual.set(c.residual);
  }
  if (weightsDigest(opt.materialize()) !== c.weightsDigest) throw new RingError('E_CHECKPOINT', `restored weights at step ${step} do not match the checkpoint digest`);
  peer.restoreCollectiveStep(c.ringStep);
  o.emit({ t: 'log', rank: ctx.rank, event: 'resumed', fields: { step, dir } });
}
