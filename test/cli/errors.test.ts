import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { runCli } from '../helpers/cli.js';
import { dataFile } from '../helpers/paths.js';
import { freePorts } from '../helpers/ports.js';

const tmp = mkdtempSync(join(tmpdir(), 'ringtrain-cli-'));
const small = ['--train', dataFile('breast-cancer_scale.train'), '--test', dataFile('breast-cancer_scale.test')];

function writeConfig(name: string, body: unknown): string {
  const p = join(tmp, name);
  writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body));
  return p;
}

describe('CLI: clear errors and exit codes', () => {
  it('--help answers for every command', async () => {
    for (const cmd of [['help'], ['launch', '--help'], ['peer', '--help'], ['eval', '--help'], ['predict', '--help']]) {
      const r = await runCli(cmd);
      expect(r.code, cmd.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/Usage|ringtrain/);
    }
  });

  it('a wrong config field is named, exit 2', async () => {
    const cfg = writeConfig('bad-lr.json', { train: { lr: 'fast' } });
    const r = await runCli(['launch', '--peers', '2', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_CONFIG');
    expect(r.stderr).toContain('train.lr');
  });

  it('an unknown config key and invalid JSON are named, exit 2', async () => {
    const typo = writeConfig('typo.json', { trian: {} });
    let r = await runCli(['launch', '--config', typo]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('trian');
    const broken = writeConfig('broken.json', '{ "train": ');
    r = await runCli(['launch', '--config', broken]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not valid JSON/);
  });

  it('a bad flag value is refused, exit 2', async () => {
    const r = await runCli(['launch', '--peers', '2', '--lr', 'abc']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--lr');
    const r2 = await runCli(['launch', '--peers', '2', '--codec', 'zip']);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('codec.name');
  });

  it('a missing data file stops the ring with the file named, exit 2, no orphans', async () => {
    const r = await runCli(['launch', '--peers', '2', '--train', join(tmp, 'nope.svm')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nope.svm');
  });

  it('peers off loopback without a secret are refused unless --insecure, exit 2', async () => {
    const cfg = writeConfig('lan-nosecret.json', { peers: [{ host: '10.1.2.3', port: 7701 }, { host: '10.1.2.4', port: 7701 }] });
    const r = await runCli(['peer', '--config', cfg, '--rank', '0', ...small]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no secret is set');
  });

  it('a port already in use: E_PORT_IN_USE, exit 3', async () => {
    const blocker = createServer();
    await new Promise<void>((res) => blocker.listen(0, '127.0.0.1', res));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const cfg = writeConfig('busy.json', { peers: [{ host: '127.0.0.1', port }, { host: '127.0.0.1', port: 1 }] });
      const r = await runCli(['peer', '--config', cfg, '--rank', '0', ...small]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('E_PORT_IN_USE');
      expect(r.stderr).toContain(String(port));
    } finally {
      blocker.close();
    }
  });

  it('a peer that never starts: E_PEER_TIMEOUT naming it, exit 3', async () => {
    // Rank 1's port is free and outside the ephemeral range: nobody listens there.
    const [deadPort] = await freePorts(1);
    const cfg = writeConfig('lonely.json', { peers: [{ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: deadPort }] });
    const r = await runCli(['peer', '--config', cfg, '--rank', '0', '--connect-timeout-ms', '1500', ...small]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('E_PEER_TIMEOUT');
    expect(r.stderr).toContain('rank 1');
  });
});
