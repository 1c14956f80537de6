/**
 * The Node floor for small allreduces: what N Node processes on this machine can do at all, with
 * nothing of ringtrain in the way. Each peer is a bare net.Socket ring (TCP_NODELAY, fixed-size
 * messages, no framing, no checks, no adds); an "allreduce" is the message pattern of one of our
 * small paths:
 *   - gather: every peer sends its vector and forwards N-2 others (N-1 hops, N(N-1) messages),
 *   - chain:  a reduce from rank 0 to rank N-1 and a broadcast back round (2(N-1) hops and messages).
 * Timed back to back after a warm-up (the mean over the timed allreduces), like the bench's
 * batched small cells. Compare with `npm run bench`
 * (ours and MPI) run just before or after: the gap between this floor and MPI is what Node itself
 * costs here (event loop, libuv, V8), the gap between ours and this floor is ours.
 *
 *   npx tsx scripts/node-floor.ts [--peers 2,4,8] [--bytes 4096] [--ops 20000] [--json FILE]
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { exitUsage, parseFlags } from './lib/bench-harness.js';

const HELP = `node-floor: small-allreduce message patterns on bare Node sockets (the floor under ringtrain)

  npx tsx scripts/node-floor.ts [--peers 2,4,8] [--bytes 4096] [--ops 20000] [--json FILE]

  --peers LIST   ring sizes (default 2,4,8)
  --bytes B      message size (default 4096)
  --ops K        timed allreduces per cell after 2000 untimed (default 20000)
  --json FILE    also write the cells as JSON
`;

type Pattern = 'gather' | 'chain';
interface Cell {
  N: number;
  pattern: Pattern;
  bytes: number;
  mean_us: number;
  cpu_us_per_peer: number;
}

const SELF = fileURLToPath(import.meta.url);
const WARMUP_OPS = 2000;

if (process.argv[2] === '--peer') {
  void runPeer(JSON.parse(process.argv[3]) as PeerJob);
} else {
  void main();
}

interface PeerJob {
  rank: number;
  n: number;
  pattern: Pattern;
  bytes: number;
  ops: number;
  basePort: number;
}

async function main(): Promise<void> {
  const v = parseFlags('node-floor', HELP, process.argv.slice(2), {
    peers: { type: 'string' },
    bytes: { type: 'string' },
    ops: { type: 'string' },
    json: { type: 'string' },
  });
  const peers = String(v.peers ?? '2,4,8').split(',').map(Number);
  const bytes = Number(v.bytes ?? 4096);
  const ops = Number(v.ops ?? 20000);
  if (peers.some((n) => !Number.isInteger(n) || n < 2)) exitUsage('node-floor', '--peers must list integers >= 2');
  if (!Number.isInteger(bytes) || bytes < 1) exitUsage('node-floor', '--bytes must be a positive integer');
  if (!Number.isInteger(ops) || ops < 1) exitUsage('node-floor', '--ops must be a positive integer');
  console.log(`# node-floor: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, node ${process.version}, load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log('#    N  pattern    bytes    mean(us)  cpu/op/peer(us)');
  const cells: Cell[] = [];
  for (const n of peers) {
    for (const pattern of ['gather', 'chain'] as const) {
      const cell = await runCell(n, pattern, bytes, ops);
      cells.push(cell);
      console.log(`  ${String(n).padStart(4)}  ${pattern.padEnd(7)} ${String(bytes).padStart(8)} ${cell.mean_us.toFixed(1).padStart(11)} ${cell.cpu_us_per_peer.toFixed(1).padStart(16)}`);
    }
  }
  if (v.json) writeFileSync(String(v.json), JSON.stringify({ host: { cpus: cpus().length, node: process.version }, cells }, null, 2));
}

/** One cell: N peer processes; rank 0 reports the time per allreduce, every rank its CPU. */
function runCell(n: number, pattern: Pattern, bytes: number, ops: number): Promise<Cell> {
  // Ports below the ephemeral range (32768+), so the kernel never hands them out meanwhile.
  const basePort = 20000 + Math.floor(Math.random() * 12000);
  const reports: { rank: number; us: number; cpu: number }[] = [];
  return new Promise((resolve, reject) => {
    for (let rank = 0; rank < n; rank++) {
      const job: PeerJob = { rank, n, pattern, bytes, ops, basePort };
      const child = fork(SELF, ['--peer', JSON.stringify(job)], { execArgv: process.execArgv });
      child.on('message', (m) => {
        reports.push(m as { rank: number; us: number; cpu: number });
        if (reports.length === n) {
          const us = reports.find((r) => r.rank === 0)!.us;
          resolve({ N: n, pattern, bytes, mean_us: us, cpu_us_per_peer: reports.reduce((s, r) => s + r.cpu, 0) / n });
        }
      });
      child.on('exit', (code) => {
        if (code !== 0) reject(new Error(`node-floor peer ${rank} exited with code ${code}`));
      });
    }
  });
}

async function runPeer(job: PeerJob): Promise<void> {
  const { rank: r, n, bytes, basePort } = job;
  // Inbound bytes from the predecessor, consumed a message at a time.
  const chunks: Buffer[] = [];
  let have = 0;
  let waiter: (() => void) | null = null;
  const take = (): void => {
    let need = bytes;
    while (need > 0) {
      const c = chunks[0];
      if (c.length <= need) {
        chunks.shift();
        need -= c.length;
      } else {
        chunks[0] = c.subarray(need);
        need = 0;
      }
    }
    have -= bytes;
  };
  const recv = (): Promise<void> | void => {
    if (have >= bytes) return take();
    return new Promise<void>((res) => {
      waiter = () => {
        take();
        res();
      };
    });
  };
  const inbound = new Promise<void>((ready) => {
    const server = net.createServer((s) => {
      s.setNoDelay(true);
      server.close();
      s.on('data', (c: Buffer) => {
        chunks.push(c);
        have += c.length;
        if (waiter && have >= bytes) {
          const w = waiter;
          waiter = null;
          w();
        }
      });
      ready();
    });
    server.listen(basePort + r, '127.0.0.1');
  });
  const out = await new Promise<net.Socket>((resolve) => {
    const dial = (): void => {
      const s = net.connect(basePort + ((r + 1) % n), '127.0.0.1');
      s.once('error', () => setTimeout(dial, 20));
      s.once('connect', () => {
        s.setNoDelay(true);
        resolve(s);
      });
    };
    setTimeout(dial, 50);
  });
  await inbound;
  const msg = Buffer.alloc(bytes);
  const once = job.pattern === 'chain' ? () => chainOnce(r, n, out, msg, recv) : () => gatherOnce(n, out, msg, recv);
  for (let i = 0; i < WARMUP_OPS; i++) await once();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  for (let i = 0; i < job.ops; i++) await once();
  const us = ((performance.now() - t0) * 1000) / job.ops;
  const c = process.cpuUsage(c0);
  process.send!({ rank: r, us, cpu: (c.user + c.system) / job.ops }, () => {
    // Let the neighbours finish their last receive before the sockets go.
    setTimeout(() => process.exit(0), 300);
  });
}

async function chainOnce(r: number, n: number, out: net.Socket, msg: Buffer, recv: () => Promise<void> | void): Promise<void> {
  if (r > 0) await recv();
  if (r < n - 1) {
    out.write(msg);
    await recv();
  }
  if (r !== n - 2) out.write(msg);
}

async function gatherOnce(n: number, out: net.Socket, msg: Buffer, recv: () => Promise<void> | void): Promise<void> {
  out.write(msg);
  for (let s = 0; s < n - 1; s++) {
    await recv();
    if (s < n - 2) out.write(msg);
  }
}
