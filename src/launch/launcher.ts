import { fork, type ChildProcess } from 'node:child_process';
import { writeFileSync, renameSync, createWriteStream } from 'node:fs';
import type { RingConfig } from '../config/schema.js';
import { RingError } from '../errors.js';
import type { PeerEvent, PeerResult } from '../train/run-peer.js';
import { ProgressView, formatBytes } from './progress.js';
import type { z } from 'zod';
import type { LauncherMsg } from './ipc.js';
import { tsNodeArgs } from './node-args.js';

export interface LaunchOptions {
  peers: number;
  /** Validated config (flags merged) handed to every peer. */
  config: RingConfig;
  /** The CLI entry file to fork for each peer. */
  cliPath: string;
  summaryPath?: string;
  saveModel?: string;
  /** Print the summary as JSON on stdout instead of the human report. */
  json: boolean;
  quiet: boolean;
  /** Give up when the whole run has not finished by then (0 = never). */
  timeoutMs?: number;
  checkpoint?: { dir: string; every: number; resume: boolean };
  /** Fault injection: SIGKILL this rank's process right after this step. */
  injectKill?: { rank: number; step: number };
  /** Fault injection: this rank's gradient is late by MS every step. */
  injectDelay?: { rank: number; ms: number };
  /** Keep training when a peer dies (the ring re-forms without it). */
  elastic: boolean;
  /** Restart a peer that died so it rejoins the ring. */
  rejoin: boolean;
  /** Append every peer event (logs, progress, results, errors) to this file as JSON lines. */
  logPath?: string;
}

export interface RingSummary {
  peers: number;
  steps: number;
  algo: string;
  codec: string;
  mode: string;
  data: string;
  dim: number;
  trainRows: number;
  lambda: number;
  objective: number;
  test: { rows: number; accuracy: number; logloss: number; auc: number } | null;
  digests: string[];
  identical: boolean;
  /** Bytes each rank put on the wire (frames + headers), in rank order (0 for a rank that died). */
  bytesSentPerPeer: number[];
  /** Ranks alive at the end; digests and identical are over these. */
  survivors: number[];
  /** How many times the ring re-formed (failures and rejoins). */
  generations: number;
  /** Per rank: steps whose gradient was dropped by the deadline. */
  dropped: number[];
  /** Per rank: times the launcher restarted it (--rejoin). */
  restarts: number[];
  stepMs: number;
  computeMs: number;
  commMs: number;
  rowsPerSec: number;
  secondsTrain: number;
  secondsTotal: number;
  stopReason: string | null;
}

interface PeerProc {
  rank: number;
  child: ChildProcess;
  port?: number;
  result?: PeerResult;
  stderrTail: string;
  exited: boolean;
  /** Crashed after the ring formed; the ring went on without it. */
  dead: boolean;
  restarts: number;
  /** Joined the ring (first formation or rejoin). */
  ready?: boolean;
  dropNotes?: number;
}

/**
 * Starts N peers as local processes on free loopback ports, wires them into a ring, shows one
 * progress line, and collects every peer's result. Any peer failing stops the rest (by PID) and
 * the launcher exits with that peer's code and message; so do Ctrl-C and SIGTERM.
 */
export async function launch(o: LaunchOptions): Promise<RingSummary> {
  const t0 = Date.now();
  const view = new ProgressView(process.stderr, o.quiet || o.json);
  const eventLog = o.logPath ? createWriteStream(o.logPath, { flags: 'a' }) : null;
  eventLog?.on('error', (e) => fail(new RingError('E_USAGE', `cannot write the event log ${o.logPath}: ${e.message}`)));
  const procs: PeerProc[] = [];
  let failure: RingError | null = null;
  let settle!: (e: RingError | null) => void;
  const finished = new Promise<RingError | null>((res) => (settle = res));

  const fail = (e: RingError) => {
    if (failure) return;
    failure = e;
    settle(e);
  };
  const onSignal = (sig: NodeJS.Signals) => fail(new RingError('E_USAGE', `interrupted by ${sig}; stopped all peers`));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const send = (p: PeerProc, msg: z.input<typeof LauncherMsg>) => {
    if (p.child.connected) p.child.send(msg);
  };

  const shown = new Set<string>();
  const allSettled = () => {
    // A restarted peer that has not got into the ring yet does not hold the run up: if everyone
    // else is done, the ring finished before it could rejoin, and it is stopped.
    const alive = procs.filter((q) => !q.dead && (q.ready || q.restarts === 0));
    if (alive.length === 0) fail(new RingError('E_PEER_LOST', 'every peer died; nothing to report'));
    else if (alive.every((q) => q.result)) settle(null);
  };

  const start = (rank: number, rejoin: boolean): PeerProc => {
    const child = fork(o.cliPath, ['peer', '--ipc'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], execArgv: tsNodeArgs() });
    const old = procs[rank];
    const p: PeerProc = { rank, child, stderrTail: '', exited: false, dead: false, port: old?.port, restarts: (old?.restarts ?? -1) + 1 };
    procs[rank] = p;
    child.stderr?.on('data', (b: Buffer) => {
      p.stderrTail = (p.stderrTail + b.toString()).slice(-4000);
    });
    child.on('message', (m: unknown) => {
      const msg = m as { t?: string } & Record<string, unknown>;
      eventLog?.write(`${JSON.stringify({ time: new Date().toISOString(), rank, restarts: p.restarts, ...msg })}\n`);
      switch (msg.t) {
        case 'listening':
          p.port = msg.port as number;
          if (rejoin) send(p, { t: 'peers', peers: procs.map((q) => ({ host: '127.0.0.1', port: q.port! })) });
          else if (procs.length === o.peers && procs.every((q) => q.port !== undefined)) {
            const peers = procs.map((q) => ({ host: '127.0.0.1', port: q.port! }));
            for (const q of procs) send(q, { t: 'peers', peers });
          }
          break;
        case 'ready':
          p.ready = true;
          break;
        case 'progress':
          view.update(msg as unknown as Extract<PeerEvent, { t: 'progress' }>);
          break;
        case 'log':
          if (['ring-recovered', 'peer-joined', 'dropped'].includes(String(msg.event)) && !o.quiet && !o.json) {
            // Every member reports the same event; show it once (and only the first few drops).
            const f = (msg.fields ?? {}) as Record<string, unknown>;
            const key = `${String(msg.event)}:${String(f.generation ?? f.step)}`;
            if (!shown.has(key) && (msg.event !== 'dropped' || shown.size < 5)) {
              shown.add(key);
              view.break();
              process.stderr.write(`ringtrain: rank ${rank}: ${String(msg.event)} ${JSON.stringify(msg.fields ?? {})}\n`);
            }
          }
          break;
        case 'result':
          p.result = msg.result as PeerResult;
          allSettled();
          break;
        case 'error':
          fail(new RingError((msg.code as RingError['code']) ?? 'E_INTERNAL', `rank ${rank} failed: ${String(msg.code)}: ${String(msg.message)}`, { rank, exitCode: msg.exitCode }));
          break;
        default:
          break;
      }
    });
    child.on('exit', (code, signal) => {
      p.exited = true;
      if (p.result || failure || procs[rank] !== p) return;
      const tail = p.stderrTail.trim().split('\n').slice(-8).join('\n');
      const how = signal ?? `code ${code}`;
      // A crash after the ring formed: the others re-form without it (elastic), and --rejoin
      // starts it again on its old port so it can ask to be let back in.
      const formed = procs.length === o.peers && procs.every((q) => q.port !== undefined);
      if (o.elastic && formed) {
        p.dead = true;
        if (!o.quiet && !o.json) {
          view.break();
          process.stderr.write(`ringtrain: rank ${rank} died (${how}); the ring goes on without it${o.rejoin ? ', restarting it' : ''}\n`);
        }
        if (o.rejoin && p.restarts < 3) start(rank, true);
        else allSettled();
        return;
      }
      fail(new RingError('E_PEER_LOST', `rank ${rank} exited (${how}) before finishing${tail ? `:\n${tail}` : ''}`, { rank }));
    });
    send(p, {
      t: 'init',
      rank,
      size: o.peers,
      config: o.config as unknown as Record<string, unknown>,
      saveModel: rank === 0 ? o.saveModel : undefined,
      checkpoint: o.checkpoint,
      injectKillAtStep: !rejoin && o.injectKill?.rank === rank ? o.injectKill.step : undefined,
      injectDelayMs: o.injectDelay?.rank === rank ? o.injectDelay.ms : undefined,
      elastic: o.elastic,
      rejoin,
      listenPort: rejoin ? p.port : undefined,
    });
    return p;
  };
  for (let rank = 0; rank < o.peers; rank++) start(rank, false);

  let timer: NodeJS.Timeout | undefined;
  if (o.timeoutMs) timer = setTimeout(() => fail(new RingError('E_PEER_TIMEOUT', `the ring did not finish within ${o.timeoutMs} ms`)), o.timeoutMs);
  const err = await finished;
  if (timer) clearTimeout(timer);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  view.break();
  await stopAll(procs, err ? 0 : 5000);
  if (eventLog) await new Promise((res) => eventLog.end(res));
  if (err) throw err;

  const results = procs.filter((p) => p.result).map((p) => p.result!);
  // Report timings from a peer that trained from the start (a rejoined one saw only the end).
  const r0 = procs.find((p) => p.result && p.restarts === 0)?.result ?? results[0];
  const summary: RingSummary = {
    peers: o.peers,
    steps: r0.steps,
    algo: r0.algo,
    codec: r0.codec,
    mode: r0.mode,
    data: o.config.data.train ?? 'spam-assassin (built in)',
    dim: r0.dim,
    trainRows: r0.trainRows,
    lambda: r0.lambda,
    objective: r0.objective,
    test: r0.test,
    digests: results.map((r) => r.digest),
    identical: results.every((r) => r.digest === r0.digest),
    bytesSentPerPeer: procs.map((p) => p.result?.bytesSent ?? 0),
    survivors: results.map((r) => r.rank),
    generations: Math.max(...results.map((r) => r.generation)),
    dropped: r0.dropped,
    restarts: procs.map((p) => p.restarts),
    stepMs: r0.stepMs,
    computeMs: mean(results.map((r) => r.computeMs)),
    commMs: mean(results.map((r) => r.commMs)),
    rowsPerSec: r0.rowsPerSec,
    secondsTrain: r0.secondsTrain,
    secondsTotal: (Date.now() - t0) / 1000,
    stopReason: r0.stopReason,
  };
  if (o.summaryPath) writeJsonAtomic(o.summaryPath, summary);
  return summary;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

/** Waits for peers to exit on their own, then SIGTERM, then SIGKILL: only our own children, by PID. */
async function stopAll(procs: PeerProc[], graceMs: number): Promise<void> {
  const alive = () => procs.filter((p) => !p.exited && p.child.exitCode === null && p.child.signalCode === null);
  const waitExit = (ms: number) =>
    Promise.race([Promise.all(alive().map((p) => new Promise((r) => p.child.once('exit', r)))), new Promise((r) => setTimeout(r, ms))]);
  if (graceMs > 0) await waitExit(graceMs);
  for (const p of alive()) p.child.kill('SIGTERM');
  await waitExit(2000);
  for (const p of alive()) p.child.kill('SIGKILL');
  await waitExit(2000);
}

export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

export function formatSummary(s: RingSummary): string {
  const lines: string[] = [];
  const short = (d: string) => `${d.slice(0, 16)}…`;
  lines.push(`ringtrain: ${s.peers} peers, ${s.algo}, codec ${s.codec}${s.codec === 'dense' ? '' : ` (${s.mode})`}, ${s.steps} steps in ${s.secondsTrain.toFixed(1)} s (${s.secondsTotal.toFixed(1)} s total)`);
  lines.push(`  data        ${s.data}: ${s.trainRows.toLocaleString('en-US')} training rows, ${s.dim.toLocaleString('en-US')} features${s.test ? `, ${s.test.rows.toLocaleString('en-US')} test rows` : ''}`);
  lines.push(`  objective   ${s.objective.toFixed(6)}  (mean log-loss + λ/2·||w||², λ = ${s.lambda.toExponential(4)})`);
  if (s.test) lines.push(`  test        accuracy ${s.test.accuracy.toFixed(4)} | log-loss ${s.test.logloss.toFixed(4)} | AUC ${s.test.auc.toFixed(4)}`);
  lines.push(`  step time   ${s.stepMs.toFixed(2)} ms (compute ${s.computeMs.toFixed(2)} ms, allreduce ${s.commMs.toFixed(2)} ms) | ${Math.round(s.rowsPerSec).toLocaleString('en-US')} rows/s`);
  lines.push(`  bytes sent  per peer: ${s.bytesSentPerPeer.map(formatBytes).join(', ')}`);
  lines.push(
    s.identical
      ? `  weights     identical on all ${s.survivors.length} ${s.survivors.length === s.peers ? '' : 'surviving '}peers (sha256 ${short(s.digests[0])})`
      : `  weights     DIFFER between peers: ${s.digests.map((d, r) => `${r}:${short(d)}`).join(' ')}`,
  );
  if (s.generations > 0 || s.survivors.length < s.peers) {
    lines.push(`  membership  ring re-formed ${s.generations} time(s); alive at the end: ranks ${s.survivors.join(', ')}${s.restarts.some((r) => r > 0) ? ` (restarts: ${s.restarts.join(', ')})` : ''}`);
  }
  if (s.dropped.some((d) => d > 0)) lines.push(`  stragglers  steps dropped by deadline per rank: ${s.dropped.join(', ')}`);
  if (s.stopReason) lines.push(`  stopped     ${s.stopReason}`);
  return lines.join('\n');
}
