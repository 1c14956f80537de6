import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { REPO_ROOT, dataFile } from '../helpers/paths.js';
import { freePorts } from '../helpers/ports.js';

/**
 * Four peers in four Linux network namespaces, each with its own address on a private bridge
 * (10.231.X.0/24, only inside namespaces this test creates), started from one ring.config.json
 * with a secret, exactly as on four LAN hosts. They must reach the same accuracy and the same
 * weight digest as the same run on loopback. Skipped, with the reason printed, where namespaces
 * cannot be created (no root, no CAP_SYS_ADMIN, no iproute2).
 */
const NETNS = resolve(REPO_ROOT, 'scripts', 'netns.sh');
const CLI = resolve(REPO_ROOT, 'src', 'cli.ts');
const N = 4;
const PREFIX = `rtlan-${process.pid}`;
const SUBNET = `10.231.${(process.pid % 250) + 1}`;
const SECRET = 'lan-test-secret-0123456789abcdef';
const RUN_TIMEOUT_MS = 45_000;

function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return `network namespaces are Linux only (this is ${process.platform})`;
  const r = spawnSync('bash', [NETNS, 'check'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return `cannot run scripts/netns.sh: ${r.error.message}`;
  return r.status === 0 ? null : (r.stderr || r.stdout).trim() || `scripts/netns.sh check exited ${r.status}`;
}

const skipReason = netnsUnavailable();
if (skipReason) console.warn(`[lan] SKIPPED the network-namespace LAN test: ${skipReason}`);

/** Namespaces left by earlier runs of this test whose process is gone. */
function removeStale(): void {
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '';
  const pids = new Set<string>();
  for (const line of list.split('\n')) {
    const m = /^rtlan-(\d+)-/.exec(line);
    if (m && m[1] !== String(process.pid)) pids.add(m[1]);
  }
  for (const pid of pids) {
    let alive = true;
    try {
      process.kill(Number(pid), 0);
    } catch {
      alive = false;
    }
    if (!alive) spawnSync('bash', [NETNS, 'destroy', `rtlan-${pid}`], { timeout: 20_000 });
  }
}

interface PeerRun {
  rank: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

const children = new Set<number>();

/** One `ringtrain peer` (optionally inside a namespace), bounded by a timeout. */
function runPeer(rank: number, config: string, ns: string | null, extra: string[]): Promise<PeerRun> {
  const nodeArgs = ['--import', 'tsx', CLI, 'peer', '--config', config, '--rank', String(rank), ...extra];
  const [cmd, args] = ns ? ['ip', ['netns', 'exec', ns, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid) children.add(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('error', rej);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (child.pid) children.delete(child.pid);
      res({ rank, code, stdout, stderr });
    });
  });
}

interface Result {
  digest: string;
  test: { accuracy: number; logloss: number };
  steps: number;
}

function resultOf(r: PeerRun): Result {
  const lines = r.stdout.trim().split('\n');
  const last = JSON.parse(lines[lines.length - 1]) as { t: string; result: Result };
  if (last.t !== 'result') throw new Error(`rank ${r.rank}: last line is not a result: ${lines[lines.length - 1]}`);
  return last.result;
}


// The same training settings for both runs (the config hash leaves out addresses and secret).
const TRAIN_FLAGS = ['--train', dataFile('mushrooms.train'), '--test', dataFile('mushrooms.test'), '--algo', 'sgd', '--epochs', '2', '--connect-timeout-ms', '20000', '--recv-timeout-ms', '20000'];

describe.skipIf(skipReason !== null)('LAN in network namespaces: 4 peers on their own addresses', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ringtrain-lan-'));
  let created = false;

  beforeAll(() => {
    removeStale();
    const r = spawnSync('bash', [NETNS, 'create', PREFIX, String(N), SUBNET], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`scripts/netns.sh create failed: ${r.stderr}`);
    created = true;
  }, 40_000);

  afterAll(() => {
    for (const pid of children) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (created) {
      const r = spawnSync('bash', [NETNS, 'destroy', PREFIX], { encoding: 'utf8', timeout: 30_000 });
      if (r.status !== 0) console.warn(`[lan] could not destroy namespaces ${PREFIX}-*: ${r.stderr}`);
    }
    const left = spawnSync('bash', [NETNS, 'list', `${PREFIX}-`], { encoding: 'utf8', timeout: 10_000 }).stdout.trim();
    expect(left).toBe('');
  }, 40_000);

  it('trains to the same accuracy and weight digest as on loopback', async () => {
    const addrs = Array.from({ length: N }, (_, i) => `${SUBNET}.${i + 1}`);
    const lanConfig = join(tmp, 'ring.lan.json');
    writeFileSync(lanConfig, JSON.stringify({ peers: addrs.map((host) => ({ host, port: 7701 })), secret: SECRET }, null, 2));

    // The preflight from inside host 0: its address binds, its neighbours are not up yet.
    const doctor = spawnSync('ip', ['netns', 'exec', `${PREFIX}-0`, process.execPath, '--import', 'tsx', CLI, 'doctor', '--config', lanConfig, '--rank', '0', '--json', '--timeout-ms', '1000', ...TRAIN_FLAGS], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(doctor.status, doctor.stderr).toBe(0);
    const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string }[] }).checks;
    expect(checks.find((c) => c.name === 'secret')?.status).toBe('ok');
    expect(checks.find((c) => c.name === 'listen')?.status).toBe('ok');
    expect(checks.find((c) => c.name === 'predecessor')?.status).toBe('warn');

    const lan = await Promise.all(addrs.map((_, r) => runPeer(r, lanConfig, `${PREFIX}-${r}`, TRAIN_FLAGS)));
    for (const r of lan) expect(r.code, `rank ${r.rank} in ${PREFIX}-${r.rank}: ${r.stderr}\n${r.stdout.slice(-2000)}`).toBe(0);

    // The links really ran between the namespace addresses.
    const from = lan.flatMap((r) => r.stdout.split('\n').filter((l) => l.includes('successor-connected')));
    expect(from.length).toBe(N);
    for (const line of from) expect(line).toContain(SUBNET);

    const ports = await freePorts(N);
    const loopConfig = join(tmp, 'ring.loopback.json');
    writeFileSync(loopConfig, JSON.stringify({ peers: ports.map((port) => ({ host: '127.0.0.1', port })), secret: SECRET }, null, 2));
    const loop = await Promise.all(ports.map((_, r) => runPeer(r, loopConfig, null, TRAIN_FLAGS)));
    for (const r of loop) expect(r.code, `rank ${r.rank} on loopback: ${r.stderr}`).toBe(0);

    const lanResults = lan.map(resultOf);
    const loopResults = loop.map(resultOf);
    const digests = new Set([...lanResults, ...loopResults].map((x) => x.digest));
    console.log(
      `[lan] namespaces ${PREFIX}-0..${N - 1} on ${SUBNET}.0/24: accuracy ${lanResults[0].test.accuracy.toFixed(4)}, digest ${lanResults[0].digest.slice(0, 16)}, ${lanResults[0].steps} steps; ` +
        `loopback: accuracy ${loopResults[0].test.accuracy.toFixed(4)}, digest ${loopResults[0].digest.slice(0, 16)}`,
    );
    expect(digests.size).toBe(1);
    expect(lanResults.map((x) => x.test.accuracy)).toEqual(loopResults.map((x) => x.test.accuracy));
    expect(lanResults[0].test.accuracy).toBeGreaterThan(0.95);
  }, 120_000);
});
