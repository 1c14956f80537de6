/**
 * Starts the N bench peers of one ring (one OS process each) and collects their reports. Local
 * peers are forked with this process's node flags (so tsx keeps working); peers given a
 * `wrap` command (e.g. `ip netns exec rt-ns-{rank}`) are spawned through it and report on stdout.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { RingError } from '../errors.js';
import { PeerReport, type BenchJob, type CellReport } from './job.js';
import { tsNodeArgs } from '../launch/node-args.js';

/** The peer entry next to this file (.ts under tsx, .js once compiled). */
export const PEER_ENTRY = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './peer.ts' : './peer.js', import.meta.url));

export interface SpawnOptions {
  /** One job per rank to start here (all ranks, or just one with --rank). */
  jobs: BenchJob[];
  /** Command prefix per rank, `{rank}` substituted, split on spaces (LAN simulator). */
  wrap?: string;
  /** Only some of the ring's ranks run here (--rank); the rest run on other hosts. */
  partial?: boolean;
  /** Extra node flags for rank 0 (e.g. --cpu-prof). */
  rank0NodeArgs?: string[];
  timeoutMs: number;
  onCell: (cell: CellReport) => void;
}

interface Proc {
  rank: number;
  child: ChildProcess;
  port?: number;
  done: boolean;
  stderr: string;
}

/** Runs one ring to completion; rejects with the first peer's error (and stops the others, by pid). */
export function runRing(o: SpawnOptions): Promise<void> {
  const procs: Proc[] = [];
  const needPorts = !o.jobs[0].hosts;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const alive = () => procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
      const stop = () => {
        for (const p of alive()) p.child.kill('SIGTERM');
      };
      if (err) {
        stop();
        reject(err);
        return;
      }
      // Everyone is done, so every frame has arrived: release the peers (IPC, or end of stdin)
      // and let them close and exit by themselves (a profile is written at exit). With only some
      // ranks here (--rank), the others finish elsewhere: wait a little first.
      const releaseAll = () => {
        for (const p of procs) {
          if (p.child.connected) p.child.send({ t: 'release' });
          p.child.stdin?.end();
        }
      };
      if (o.partial) setTimeout(releaseAll, 2000);
      else releaseAll();
      const grace = setTimeout(stop, o.partial ? 8000 : 5000);
      void Promise.all(alive().map((p) => new Promise((res) => p.child.once('exit', res)))).then(() => {
        clearTimeout(grace);
        resolve();
      });
    };
    const timer = setTimeout(() => finish(new RingError('E_PEER_TIMEOUT', `bench ring did not finish within ${o.timeoutMs} ms (raise --timeout-ms for big sweeps)`)), o.timeoutMs);
    const onReport = (p: Proc, raw: unknown) => {
      const parsed = PeerReport.safeParse(raw);
      if (!parsed.success) return;
      const m = parsed.data;
      switch (m.t) {
        case 'listening':
          p.port = m.port;
          if (needPorts && procs.length === o.jobs.length && procs.every((q) => q.port !== undefined)) {
            const peers = procs.map((q, i) => ({ host: o.jobs[i].listenHost, port: q.port! }));
            for (const q of procs) q.child.send?.({ t: 'peers', peers });
          }
          break;
        case 'cell':
          o.onCell(m);
          break;
        case 'done':
          p.done = true;
          if (procs.every((q) => q.done)) finish(null);
          break;
        case 'error':
          finish(new RingError((m.code as RingError['code']) ?? 'E_INTERNAL', `bench peer rank ${m.rank}: ${m.message}`));
          break;
        default:
          break;
      }
    };
    for (const job of o.jobs) {
      const args = ['--job', JSON.stringify(job)];
      // Our flags (tsx's loader added when this process runs without it, e.g. under vitest).
      const nodeArgs = [...tsNodeArgs(), ...(job.rank === 0 ? (o.rank0NodeArgs ?? []) : [])];
      let child: ChildProcess;
      if (o.wrap) {
        const prefix = o.wrap.replaceAll('{rank}', String(job.rank)).split(/\s+/).filter(Boolean);
        child = spawn(prefix[0], [...prefix.slice(1), process.execPath, ...nodeArgs, PEER_ENTRY, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      } else {
        child = fork(PEER_ENTRY, args, { execArgv: nodeArgs, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      }
      const p: Proc = { rank: job.rank, child, done: false, stderr: '' };
      procs.push(p);
      child.on('message', (m) => onReport(p, m));
      if (child.stdout) {
        createInterface({ input: child.stdout }).on('line', (line) => {
          if (!line.startsWith('{')) return;
          try {
            onReport(p, JSON.parse(line));
          } catch {
            // not one of ours
          }
        });
      }
      child.stderr?.on('data', (b: Buffer) => {
        p.stderr = (p.stderr + b.toString()).slice(-4000);
      });
      child.on('error', (e) => finish(new RingError('E_INTERNAL', `cannot start bench peer rank ${job.rank}: ${e.message}`)));
      child.on('exit', (code, signal) => {
        if (!p.done && !settled) {
          const tail = p.stderr.trim().split('\n').slice(-5).join('\n');
          finish(new RingError('E_PEER_LOST', `bench peer rank ${job.rank} exited (${signal ?? `code ${code}`}) before finishing${tail ? `:\n${tail}` : ''}`));
        }
      });
    }
  });
}
