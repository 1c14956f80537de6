import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { RingPeer } from '../../src/membership/ring-peer.js';
import { createCodec } from '../../src/codec/index.js';
import { diagnose, type DoctorReport } from '../../src/doctor/cli.js';
import { isLoopback } from '../../src/doctor/checks.js';
import { runCli } from '../helpers/cli.js';
import { dataFile } from '../helpers/paths.js';
import { freePorts } from '../helpers/ports.js';

const tmp = mkdtempSync(join(tmpdir(), 'ringtrain-doctor-'));
const open: Array<{ close: () => unknown }> = [];
afterAll(async () => {
  for (const o of open) {
    const t0 = Date.now();
    await o.close();
    if (Date.now() - t0 > 1000) console.warn(`slow close ${Date.now() - t0} ms`);
  }
}, 20_000);


let n = 0;
function writeConfig(cfg: Record<string, unknown>): string {
  const path = join(tmp, `ring-${n++}.json`);
  writeFileSync(path, JSON.stringify(cfg));
  return path;
}

const loopback = (ports: number[]) => ports.map((port) => ({ host: '127.0.0.1', port }));
const find = (r: DoctorReport, name: string) => r.checks.filter((c) => c.name === name);
const TRAIN = { data: { train: dataFile('breast-cancer_scale.train'), test: dataFile('breast-cancer_scale.test') } };

/** A real peer listening on its configured port, as `ringtrain peer` would (same config hash). */
async function runningPeer(rank: number, size: number, port: number, secret: string, hash: string): Promise<RingPeer> {
  const p = await RingPeer.listen({
    rank,
    size,
    listenHost: '127.0.0.1',
    listenPort: port,
    secret,
    configHash: hash,
    connectTimeoutMs: 10_000,
    recvTimeoutMs: 10_000,
    maxFrameBytes: 1 << 20,
    segmentBytes: 4096,
    seed: 1,
    codec: createCodec('dense'),
  });
  open.push(p);
  return p;
}

describe('ringtrain doctor (CLI)', () => {
  it('prints a checklist; neighbours not started are warnings, so the exit code is 0', async () => {
    const cfg = writeConfig({ peers: loopback(await freePorts(3)), ...TRAIN });
    const r = await runCli(['doctor', '--config', cfg, '--rank', '1', '--timeout-ms', '1000']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ringtrain doctor: rank 1 of 3/);
    for (const line of [/ok\s+node\s+Node\.js v\d+/, /ok\s+config\s+.* 3 peer\(s\)/, /ok\s+secret\s+no secret set; fine because every peer is on loopback/, /ok\s+listen\s+127\.0\.0\.1:\d+ can be bound/]) expect(r.stdout).toMatch(line);
    expect(r.stdout).toMatch(/warn\s+predecessor\s+rank 0 \(predecessor\) at 127\.0\.0\.1:\d+: connection refused; not started yet\?/);
    expect(r.stdout).toMatch(/warn\s+successor\s+rank 2 \(successor\)/);
    expect(r.stdout).toMatch(/ok\s+data\s+data\.train .*breast-cancer_scale\.train is readable/);
    expect(r.stdout).toMatch(/info\s+clock\s+local time \d{4}-/);
    expect(r.stdout).toContain('no failures');
  });

  it('--json: one object with every check', async () => {
    const cfg = writeConfig({ peers: loopback(await freePorts(2)), ...TRAIN });
    const r = await runCli(['doctor', '--config', cfg, '--rank', '0', '--json', '--timeout-ms', '1000']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as DoctorReport;
    expect(rep).toMatchObject({ rank: 0, size: 2, ok: true, failures: 0 });
    expect(rep.configHash).toMatch(/^[0-9a-f]{64}$/);
    expect(rep.checks.map((c) => c.name)).toEqual(['node', 'config', 'secret', 'listen', 'neighbour', 'handshake', 'data', 'data', 'clock']);
    expect(rep.checks.find((c) => c.name === 'neighbour')?.message).toContain('rank 1 (predecessor and successor)');
  });

  it('a broken config is a FAIL naming the field, exit code 1; bad usage is exit code 2', async () => {
    const cfg = writeConfig({ peers: loopback([7001]), train: { lr: 'fast' } });
    const r = await runCli(['doctor', '--config', cfg, '--rank', '0']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL\s+config\s+E_CONFIG: .*train\.lr/);
    expect(r.stdout).toContain('FAILED');
    const u = await runCli(['doctor', '--rank', '0']);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain('doctor needs --config');
    const h = await runCli(['doctor', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('Usage: ringtrain doctor');
  });
});

describe('ringtrain doctor (checks)', () => {
  it('a port in use is a FAIL that says which process holds it', async () => {
    const [port, other] = await freePorts(2);
    const blocker = createServer();
    await new Promise<void>((res) => blocker.listen(port, '127.0.0.1', () => res()));
    open.push({ close: () => new Promise((r) => blocker.close(r)) });
    const cfg = writeConfig({ peers: loopback([port, other]), ...TRAIN });
    const rep = await diagnose({ configPath: cfg, values: {}, rank: 0, timeoutMs: 1000 });
    const listen = find(rep, 'listen')[0];
    expect(listen.status).toBe('fail');
    expect(listen.message).toContain(`127.0.0.1:${port} is already in use by pid ${process.pid}`);
    expect(rep.ok).toBe(false);
  });

  it('an address that is not on this machine cannot be bound: FAIL with --listen advice', async () => {
    // 192.0.2.0/24 is TEST-NET-1 (never routed); only bound, never contacted.
    const ports = await freePorts(4);
    const peers = [{ host: '192.0.2.10', port: ports[0] }, ...loopback(ports.slice(1))];
    const cfg = writeConfig({ peers, secret: 'a-long-enough-shared-secret', ...TRAIN });
    const rep = await diagnose({ configPath: cfg, values: {}, rank: 0, timeoutMs: 500 });
    expect(find(rep, 'listen')[0]).toMatchObject({ status: 'fail' });
    expect(find(rep, 'listen')[0].message).toContain('--listen 0.0.0.0');
    const ok = await diagnose({ configPath: cfg, values: {}, rank: 0, listen: '127.0.0.1', timeoutMs: 500 });
    expect(find(ok, 'listen')[0].status).toBe('ok');
  });

  it('secret: FAIL when a peer is not on loopback and none is set; warn when short; ok otherwise', async () => {
    // Rank 2 is on a non-loopback (documentation) address; rank 0's neighbours are 3 and 1,
    // so the doctor never contacts it.
    const ports = await freePorts(4);
    const peers = [...loopback(ports.slice(0, 2)), { host: '192.0.2.10', port: ports[2] }, ...loopback(ports.slice(3))];
    const check = async (secret: string | undefined) => {
      const rep = await diagnose({ configPath: writeConfig({ peers, ...(secret === undefined ? {} : { secret }), ...TRAIN }), values: {}, rank: 0, timeoutMs: 500 });
      return find(rep, 'secret')[0];
    };
    const none = await check(undefined);
    expect(none.status).toBe('fail');
    expect(none.message).toContain('192.0.2.10');
    expect(none.message).toContain('set "secret"');
    expect((await check('short')).status).toBe('warn');
    expect((await check('0123456789abcdef0123')).status).toBe('ok');
    // A --secret flag counts like the file.
    const flagged = await diagnose({ configPath: writeConfig({ peers, ...TRAIN }), values: { secret: '0123456789abcdef0123' }, rank: 0, timeoutMs: 500 });
    expect(find(flagged, 'secret')[0].status).toBe('ok');
    expect(isLoopback('127.1.2.3') && isLoopback('::1') && isLoopback('localhost') && !isLoopback('10.0.0.1')).toBe(true);
  });

  it('handshake probe: a running neighbour with the same secret and config is ok, and the probe does not take its place in the ring', async () => {
    const ports = await freePorts(2);
    const secret = 'probe-secret-0123456789';
    const cfg = writeConfig({ peers: loopback(ports), secret, ...TRAIN });
    const first = await diagnose({ configPath: cfg, values: {}, rank: 0, timeoutMs: 1000 });
    const hash = first.configHash!;
    const p1 = await runningPeer(1, 2, ports[1], secret, hash);
    const rep = await diagnose({ configPath: cfg, values: {}, rank: 0, timeoutMs: 2000 });
    expect(find(rep, 'neighbour')[0].status).toBe('ok');
    expect(find(rep, 'handshake')[0]).toMatchObject({ status: 'ok' });
    expect(find(rep, 'handshake')[0].message).toContain('same secret and config hash');
    expect(rep.ok).toBe(true);
    // Rank 0 then joins for real: the probe left rank 1 free to accept it.
    const p0 = await runningPeer(0, 2, ports[0], secret, hash);
    const addrs = loopback(ports);
    await Promise.all([p0.join(addrs), p1.join(addrs)]);
    const a = new Float64Array([1, 2]);
    const b = new Float64Array([3, 4]);
    await Promise.all([p0.allreduce(a), p1.allreduce(b)]);
    expect([...a]).toEqual([4, 6]);
  });

  it('handshake probe: a different secret or a different config is a FAIL that says which', async () => {
    const ports = await freePorts(2);
    const cfg = writeConfig({ peers: loopback(ports), secret: 'ours-0123456789abcdef', ...TRAIN });
    const hash = (await diagnose({ configPath: cfg, values: {}, rank: 0, timeoutMs: 500 })).configHash!;
    const theirs = await runningPeer(1, 2, ports[1], 'theirs-0123456789abcdef', hash);
    const wrongSecret = await diagnose({ configPath: cfg, values: {}, rank: 0, timeoutMs: 2000 });
    expect(find(wrongSecret, 'handshake')[0].status).toBe('fail');
    expect(find(wrongSecret, 'handshake')[0].message).toContain('secret differs');
    await theirs.close();

    await runningPeer(1, 2, ports[1], 'ours-0123456789abcdef', hash);
    // Same file, but this host would run with another learning rate: another config hash.
    const otherConfig = await diagnose({ configPath: cfg, values: { lr: '0.5' }, rank: 0, timeoutMs: 2000 });
    expect(otherConfig.configHash).not.toBe(hash);
    expect(find(otherConfig, 'handshake')[0].status).toBe('fail');
    expect(find(otherConfig, 'handshake')[0].message).toContain('different config');
  });

  it('handshake probe: a peer answering as another rank than the config says is a FAIL', async () => {
    const ports = await freePorts(3);
    const cfg = writeConfig({ peers: loopback(ports), ...TRAIN });
    const hash = (await diagnose({ configPath: cfg, values: {}, rank: 0, timeoutMs: 500 })).configHash!;
    // Rank 2 listens where the config puts rank 1 (rank 0's successor).
    await runningPeer(2, 3, ports[1], '', hash);
    const rep = await diagnose({ configPath: cfg, values: {}, rank: 0, timeoutMs: 2000 });
    const h = find(rep, 'handshake').find((c) => c.message.includes('(successor)'))!;
    expect(h.status).toBe('fail');
    expect(h.message).toContain('answers as rank 2, but the config puts rank 1 there');
  });

  it('something that is not a ringtrain peer on a neighbour port is a FAIL', async () => {
    const ports = await freePorts(2);
    const sockets = new Set<import('node:net').Socket>();
    const http = createServer((s) => {
      sockets.add(s);
      s.on('error', () => undefined);
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi');
    });
    await new Promise<void>((res) => http.listen(ports[1], '127.0.0.1', () => res()));
    open.push({
      close: () => {
        for (const s of sockets) s.destroy();
        return new Promise((r) => http.close(r));
      },
    });
    const rep = await diagnose({ configPath: writeConfig({ peers: loopback(ports), ...TRAIN }), values: {}, rank: 0, timeoutMs: 1500 });
    expect(find(rep, 'neighbour')[0].status).toBe('ok');
    expect(['fail', 'warn']).toContain(find(rep, 'handshake')[0].status);
  });

  it('data files that are missing or not files are FAILs', async () => {
    const ports = await freePorts(2);
    const cfg = writeConfig({ peers: loopback(ports), data: { train: join(tmp, 'nope.svm'), test: tmp } });
    const rep = await diagnose({ configPath: cfg, values: {}, rank: 0, timeoutMs: 500 });
    const data = find(rep, 'data');
    expect(data.map((c) => c.status)).toEqual(['fail', 'fail']);
    expect(data[0].message).toContain('does not exist');
    expect(data[1].message).toContain('not a regular file');
  });
});
