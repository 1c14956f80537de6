import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type AddressInfo } from 'node:net';
import { runCli } from '../helpers/cli.js';
import { dataFile } from '../helpers/paths.js';
import { freePorts } from '../helpers/ports.js';

function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}


const openssl = hasOpenssl();
if (!openssl) console.warn('tls.test.ts: skipped, no openssl on PATH to make a test certificate');

describe.skipIf(!openssl)('wss:// between peers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringtrain-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  if (openssl) execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=ringtrain-test'], { stdio: 'ignore' });
  const common = ['--train', dataFile('breast-cancer_scale.train'), '--test', dataFile('breast-cancer_scale.test'), '--secret', 's3cret', '--connect-timeout-ms', '5000'];

  it('two peers with certificates from one CA train over TLS and agree', async () => {
    const ports = await freePorts(2);
    const cfg = join(dir, 'tls.json');
    writeFileSync(cfg, JSON.stringify({ peers: ports.map((port) => ({ host: '127.0.0.1', port })), train: { algo: 'lbfgs' }, tls: { cert, key, ca: cert } }));
    const [a, b] = await Promise.all([0, 1].map((rank) => runCli(['peer', '--config', cfg, '--rank', String(rank), ...common])));
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const last = (s: string) => JSON.parse(s.trim().split('\n').pop()!) as { result: { digest: string } };
    expect(last(a.stdout).result.digest).toBe(last(b.stdout).result.digest);
  });

  it('a peer without TLS cannot join a TLS ring', async () => {
    const ports = await freePorts(2);
    const withTls = join(dir, 'a.json');
    const plain = join(dir, 'b.json');
    const peers = ports.map((port) => ({ host: '127.0.0.1', port }));
    writeFileSync(withTls, JSON.stringify({ peers, train: { algo: 'gd' }, tls: { cert, key, ca: cert } }));
    writeFileSync(plain, JSON.stringify({ peers, train: { algo: 'gd' } }));
    const [a, b] = await Promise.all([
      runCli(['peer', '--config', withTls, '--rank', '0', ...common]),
      runCli(['peer', '--config', plain, '--rank', '1', ...common]),
    ]);
    expect(a.code).not.toBe(0);
    expect(b.code).not.toBe(0);
  });
});
