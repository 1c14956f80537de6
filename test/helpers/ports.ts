import { createServer, type Server } from 'node:net';

/**
 * Ports for tests that must write fixed ports into a ring.config.json.
 *
 * Taking "a port that was free a moment ago" from the kernel (listen on port 0, close) races with
 * every other peer on the machine that listens on port 0 (all launcher peers do): the kernel hands
 * the same ephemeral port out again, and a test then dials somebody else's ring (CI saw
 * E_HANDSHAKE "found rank 1"). So fixed-port tests draw from below the ephemeral range
 * (ip_local_port_range starts at 32768), each vitest worker from its own slice, and every port is
 * still probed before it is handed out.
 */
const FIRST = 20_000;
const SLICE = 1_500; // ports per vitest worker; 8 workers fit below 32768
const worker = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? 1);
const base = FIRST + ((Math.max(1, worker) - 1) % 8) * SLICE;
let next = (process.pid * 7) % SLICE; // start somewhere different in every run of the same worker

function probe(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s: Server = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

/** n distinct loopback ports that are free now and that no port-0 listener will be given. */
export async function freePorts(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let tries = 0; out.length < n; tries++) {
    if (tries > SLICE) throw new Error(`freePorts: no ${n} free ports in ${base}..${base + SLICE - 1}`);
    const port = base + (next++ % SLICE);
    if (await probe(port)) out.push(port);
  }
  return out;
}
