import { describe, it, expect } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { dataFile } from '../helpers/paths.js';
import { pidsWithEnv } from '../helpers/procs.js';
import { freePorts } from '../helpers/ports.js';

const tmp = mkdtempSync(join(tmpdir(), 'ringtrain-train-'));

// Reference figures from ../shared/data/README.md (liblinear 2.3.0, -s 0 -c 1 -B 1).
const LIBLINEAR = {
  a9a: { accuracy: 0.8495, objective: 0.323372 },
  mushrooms: { accuracy: 1.0, objective: 0.016607 },
};

interface Summary {
  peers: number;
  steps: number;
  objective: number;
  test: { accuracy: number; logloss: number; auc: number };
  digests: string[];
  identical: boolean;
  bytesSentPerPeer: number[];
  secondsTotal: number;
}


describe('training end to end: 4 peer processes on loopback', () => {
  it('L-BFGS on a9a matches liblinear (accuracy within 1 point), identical weights, summary JSON', async () => {
    const out = join(tmp, 'a9a.json');
    const r = await runCli(['launch', '--peers', '4', '--train', dataFile('a9a'), '--test', dataFile('a9a.t'), '--algo', 'lbfgs', '--C', '1', '--summary', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(readFileSync(out, 'utf8')) as Summary;
    expect(s.peers).toBe(4);
    expect(s.identical).toBe(true);
    expect(new Set(s.digests).size).toBe(1);
    expect(s.digests).toHaveLength(4);
    expect(Math.abs(s.test.accuracy - LIBLINEAR.a9a.accuracy)).toBeLessThanOrEqual(0.01);
    // Our objective leaves the bias unregularized: at or slightly below liblinear's.
    expect((s.objective - LIBLINEAR.a9a.objective) / LIBLINEAR.a9a.objective).toBeLessThan(0.001);
    expect(s.bytesSentPerPeer.every((b) => b > 0)).toBe(true);
    expect(r.stdout).toContain('identical on all 4 peers');
  });

  it('mini-batch SGD on mushrooms reaches liblinear accuracy within 1 point', async () => {
    const r = await runCli(['launch', '--peers', '4', '--train', dataFile('mushrooms.train'), '--test', dataFile('mushrooms.test'), '--algo', 'sgd', '--epochs', '5', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as Summary;
    expect(s.identical).toBe(true);
    expect(Math.abs(s.test.accuracy - LIBLINEAR.mushrooms.accuracy)).toBeLessThanOrEqual(0.01);
  });

  it('Ctrl-C on the launcher stops every peer (no orphans)', async () => {
    const tag = `sigint-${process.pid}-${Date.now()}`;
    let launcherPid = 0;
    const run = runCli(['launch', '--peers', '3', '--train', dataFile('a9a'), '--algo', 'gd', '--tol', '1e-12', '--steps', '100000'], {
      env: { RINGTRAIN_TEST_TAG: tag },
      onSpawn: (pid) => (launcherPid = pid),
    });
    // Wait until the peers exist, then interrupt the launcher only.
    for (let i = 0; i < 100 && pidsWithEnv('RINGTRAIN_TEST_TAG', tag).length < 4; i++) await new Promise((res) => setTimeout(res, 100));
    expect(pidsWithEnv('RINGTRAIN_TEST_TAG', tag).length).toBeGreaterThanOrEqual(4);
    process.kill(launcherPid, 'SIGINT');
    const r = await run;
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('interrupted');
    await new Promise((res) => setTimeout(res, 300));
    expect(pidsWithEnv('RINGTRAIN_TEST_TAG', tag)).toEqual([]);
  });
});

describe('peer mode: one process per rank from ring.config.json', () => {
  it('2 peers started separately train together and agree on the weights', async () => {
    const ports = await freePorts(2);
    const cfg = join(tmp, 'ring2.json');
    writeFileSync(cfg, JSON.stringify({ peers: ports.map((port) => ({ host: '127.0.0.1', port })), secret: 's3cret', train: { algo: 'lbfgs' } }));
    const common = ['--train', dataFile('breast-cancer_scale.train'), '--test', dataFile('breast-cancer_scale.test')];
    const [a, b] = await Promise.all([0, 1].map((rank) => runCli(['peer', '--config', cfg, '--rank', String(rank), ...common])));
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const last = (s: string) => JSON.parse(s.trim().split('\n').pop()!) as { t: string; result: { digest: string; test: { accuracy: number } } };
    expect(last(a.stdout).t).toBe('result');
    expect(last(a.stdout).result.digest).toBe(last(b.stdout).result.digest);
    expect(last(a.stdout).result.test.accuracy).toBeGreaterThan(0.93);
  });

  it('same config, different training data on two hosts: refused at the handshake, named', async () => {
    const ports = await freePorts(2);
    const cfg = join(tmp, 'ring-data.json');
    writeFileSync(cfg, JSON.stringify({ peers: ports.map((port) => ({ host: '127.0.0.1', port })), train: { algo: 'gd' } }));
    // Both peers read "train.svm" relative to their own working directory, as two hosts would.
    const dirs = ['host-a', 'host-b'].map((d) => join(tmp, d));
    dirs.forEach((d, i) => {
      mkdirSync(d, { recursive: true });
      copyFileSync(dataFile(i === 0 ? 'breast-cancer_scale.train' : 'breast-cancer_scale.test'), join(d, 'train.svm'));
    });
    const common = ['--train', 'train.svm', '--dim', '9', '--connect-timeout-ms', '4000'];
    const [a, b] = await Promise.all([0, 1].map((rank) => runCli(['peer', '--config', cfg, '--rank', String(rank), ...common], { cwd: dirs[rank] })));
    expect(a.code).not.toBe(0);
    expect(b.code).not.toBe(0);
    expect(a.stderr + b.stderr + a.stdout + b.stdout).toContain('different config or training data');
  });

  it('a peer with the wrong secret is refused: E_AUTH', async () => {
    const ports = await freePorts(2);
    const cfg = join(tmp, 'ring-auth.json');
    writeFileSync(cfg, JSON.stringify({ peers: ports.map((port) => ({ host: '127.0.0.1', port })), train: { algo: 'gd' } }));
    const common = ['--train', dataFile('breast-cancer_scale.train'), '--connect-timeout-ms', '4000'];
    const [a, b] = await Promise.all([
      runCli(['peer', '--config', cfg, '--rank', '0', '--secret', 'right', ...common]),
      runCli(['peer', '--config', cfg, '--rank', '1', '--secret', 'wrong', ...common]),
    ]);
    expect(a.code).not.toBe(0);
    expect(b.code).not.toBe(0);
    expect(a.stderr + b.stderr + a.stdout + b.stdout).toContain('E_AUTH');
  });
});
