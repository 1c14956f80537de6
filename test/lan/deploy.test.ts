import { describe, it, expect, afterAll } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { REPO_ROOT, dataFile } from '../helpers/paths.js';
import { freePorts } from '../helpers/ports.js';

/**
 * peers/deploy.sh. Nothing here ever reaches a network host: --dry-run must only print (the test
 * puts recording stand-ins for ssh/scp/rsync/tar first on PATH and checks none ran), and the
 * real run goes to stand-ins for ssh and scp that act on local directories, one per "host".
 */
const DEPLOY = resolve(REPO_ROOT, 'peers', 'deploy.sh');
const tmp = mkdtempSync(join(tmpdir(), 'ringtrain-deploy-'));
const started: number[] = [];

afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // finished already
    }
  }
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Run> {
  return new Promise((res, rej) => {
    const child = spawn('bash', [DEPLOY, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', rej);
    child.on('exit', (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr });
    });
  });
}

function writeExe(path: string, body: string): void {
  writeFileSync(path, `#!/usr/bin/env bash\n${body}\n`);
  chmodSync(path, 0o755);
}

/** A bin directory whose ssh/scp/rsync/tar only record that they were called. */
function recordingBin(): { bin: string; log: string } {
  const bin = mkdtempSync(join(tmp, 'rec-'));
  const log = join(bin, 'calls.log');
  writeFileSync(log, '');
  for (const tool of ['ssh', 'scp', 'rsync', 'tar', 'sudo']) writeExe(join(bin, tool), `echo "${tool} $*" >> ${JSON.stringify(log)}; exit 99`);
  return { bin, log };
}

const LAN = {
  peers: [
    { host: '10.0.0.11', port: 7701 },
    { host: '10.0.0.12', port: 7701 },
    { host: '10.0.0.12', port: 7702 },
  ],
  secret: "a secret with 'quotes' and spaces",
  data: { train: '../shared/data/a9a', test: '../shared/data/a9a.t' },
};

function configFile(name: string, cfg: unknown): string {
  const path = join(tmp, name);
  writeFileSync(path, JSON.stringify(cfg));
  return path;
}

describe('peers/deploy.sh --dry-run', () => {
  it('prints copy, config, install, doctor and start commands per host and rank, and runs none of them', async () => {
    const rec = recordingBin();
    const cfg = configFile('lan.json', LAN);
    const r = await run(['--config', cfg, '--user', 'alice', '--dry-run', '--copy-with', 'rsync', '--copy-data', '--ssh-opt', 'Port=2222'], { PATH: `${rec.bin}:${process.env.PATH}` });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(rec.log, 'utf8')).toBe('');
    const out = r.stdout;
    const lines = out.trim().split('\n');
    const ssh = 'ssh -o BatchMode=yes -o ConnectTimeout=10 -o Port=2222';
    // Each host is set up once, however many ranks it runs.
    expect(lines.filter((l) => l.startsWith('# host'))).toEqual(['# host 10.0.0.11', '# host 10.0.0.12']);
    expect(lines.filter((l) => l.startsWith('# rank'))).toEqual(['# rank 0 on 10.0.0.11:7701', '# rank 1 on 10.0.0.12:7701', '# rank 2 on 10.0.0.12:7702']);
    for (const host of ['10.0.0.11', '10.0.0.12']) {
      expect(out).toContain(`${ssh} alice@${host} 'mkdir -p ringtrain/logs'`);
      expect(out).toContain(`rsync -az --exclude=node_modules/ --exclude=.git/ --exclude=.ringtrain/ --exclude=logs/ --exclude='*.log' -e '${ssh}' ${REPO_ROOT}/ alice@${host}:ringtrain/`);
      expect(out).toContain(`scp -o BatchMode=yes -o ConnectTimeout=10 -o Port=2222 ${cfg} alice@${host}:ringtrain/ring.config.json`);
      expect(out).toContain(`${ssh} alice@${host} 'chmod 600 ringtrain/ring.config.json`);
      expect(out).toContain(`alice@${host}:ringtrain/../shared/data/a9a.t`);
      expect(out).toContain(`${ssh} alice@${host} 'cd ringtrain && (npm ci --omit=dev --no-audit --no-fund || npm install --omit=dev --no-audit --no-fund)'`);
    }
    for (const [rank, host] of [[0, '10.0.0.11'], [1, '10.0.0.12'], [2, '10.0.0.12']] as const) {
      expect(out).toContain(`${ssh} alice@${host} 'cd ringtrain && node --import tsx src/cli.ts doctor --config ring.config.json --rank ${rank}'`);
      expect(out).toContain(`${ssh} alice@${host} 'cd ringtrain && { nohup peers/start-peer.sh --config ring.config.json --rank ${rank} > logs/peer-${rank}.log 2>&1 < /dev/null & echo $! > logs/peer-${rank}.pid; }'`);
    }
    // The secret travels only inside the copied config file, never on a command line.
    expect(out).not.toContain('quotes');
  });

  it('--systemd installs the unit with the chosen directory and user and restarts one instance per rank', async () => {
    const rec = recordingBin();
    const r = await run(['--config', configFile('lan2.json', LAN), '--user', 'bob', '--systemd', '--dir', '/srv/ring train', '--dry-run', '--copy-with', 'tar', '--ranks', '2', '--listen', '0.0.0.0'], { PATH: `${rec.bin}:${process.env.PATH}` });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(rec.log, 'utf8')).toBe('');
    expect(r.stdout).not.toContain('10.0.0.11');
    expect(r.stdout).toContain(`tar -C ${REPO_ROOT} --exclude=./node_modules`);
    expect(r.stdout).toContain(`'tar -xzf - -C '\\''/srv/ring train'\\'''`);
    expect(r.stdout).toContain('sudo tee /etc/systemd/system/ringtrain-peer@.service');
    expect(r.stdout).toContain('s#/opt/ringtrain#/srv/ring train#g');
    expect(r.stdout).toContain('s#^User=.*#User=bob#');
    expect(r.stdout).toContain("'sudo systemctl restart ringtrain-peer@2'");
    expect(r.stdout).toContain('--rank 2 --listen 0.0.0.0');
    const bad = await run(['--config', configFile('lan3.json', LAN), '--user', 'bob', '--systemd', '--dir', 'relative', '--dry-run']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--systemd needs an absolute --dir');
  });

  it('--stop and --logs print one command per rank', async () => {
    const cfg = configFile('lan4.json', LAN);
    const stop = await run(['--config', cfg, '--user', 'alice', '--stop', '--dry-run']);
    expect(stop.code, stop.stderr).toBe(0);
    expect(stop.stdout.trim().split('\n')).toHaveLength(3);
    expect(stop.stdout).toContain('kill $(cat logs/peer-1.pid)');
    const logs = await run(['--config', cfg, '--user', 'alice', '--logs', 'out', '--dry-run', '--systemd']);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toContain("'journalctl -u ringtrain-peer@2 --no-pager -o cat' > out/rank-2-10.0.0.12.log");
  });

  it('refuses configs it cannot deploy, and warns about a missing secret on a LAN', async () => {
    const none = await run(['--config', configFile('nopeers.json', { secret: 'x' }), '--user', 'a', '--dry-run']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('"peers" must list one {host, port} per rank');
    const missing = await run(['--config', join(tmp, 'absent.json'), '--user', 'a', '--dry-run']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('config file not found');
    const noUser = await run(['--config', configFile('ok.json', LAN), '--dry-run']);
    expect(noUser.code).toBe(2);
    expect(noUser.stderr).toContain('--user USER is required');
    const open = await run(['--config', configFile('nosecret.json', { ...LAN, secret: '' }), '--user', 'a', '--dry-run']);
    expect(open.code).toBe(0);
    expect(open.stderr).toContain('sets no secret');
  });
});


describe('peers/deploy.sh for real, against local stand-ins for ssh and scp', () => {
  it('copies, installs, checks and starts two peers that train together; --logs fetches their logs; --stop stops them', async () => {
    const remote = mkdtempSync(join(tmp, 'hosts-'));
    const bin = mkdtempSync(join(tmp, 'bin-'));
    const log = join(bin, 'calls.log');
    writeFileSync(log, '');
    // ssh [opts] user@host command...: run the command in this host's directory (its "home").
    writeExe(
      join(bin, 'ssh'),
      `while [ $# -gt 0 ]; do case "$1" in -o|-i|-p) shift 2 ;; -*) shift ;; *) break ;; esac; done
dest=$1; shift; host=\${dest#*@}
echo "ssh $host $*" >> ${JSON.stringify(log)}
mkdir -p ${JSON.stringify(remote)}/$host && cd ${JSON.stringify(remote)}/$host && HOME=$PWD exec bash -c "$*"`,
    );
    // scp [opts] src dst, where user@host:path means that host's directory.
    writeExe(
      join(bin, 'scp'),
      `while [ $# -gt 0 ]; do case "$1" in -o|-i|-P) shift 2 ;; -*) shift ;; *) break ;; esac; done
map() { case "$1" in *@*:*) h=\${1#*@}; h=\${h%%:*}; p=\${1#*:}; case "$p" in /*) echo "$p" ;; *) echo ${JSON.stringify(remote)}/$h/$p ;; esac ;; *) echo "$1" ;; esac; }
echo "scp $*" >> ${JSON.stringify(log)}
cp "$(map "$1")" "$(map "$2")"`,
    );
    // npm ci on a "host": link the dependencies already installed here (no registry).
    writeExe(join(bin, 'npm'), `echo "npm $*" >> ${JSON.stringify(log)}; ln -sfn ${JSON.stringify(join(REPO_ROOT, 'node_modules'))} node_modules`);

    const ports = await freePorts(2);
    const cfg = configFile('real.json', {
      peers: ports.map((port) => ({ host: '127.0.0.1', port })),
      secret: 'deploy-test-secret-0123456789',
      data: { train: dataFile('breast-cancer_scale.train'), test: dataFile('breast-cancer_scale.test') },
      train: { algo: 'lbfgs' },
    });
    const env = { PATH: `${bin}:${process.env.PATH}` };
    const dep = await run(['--config', cfg, '--user', 'tester', '--copy-with', 'tar'], env, 90_000);
    expect(dep.code, `${dep.stderr}\n${readFileSync(log, 'utf8')}`).toBe(0);
    const home = join(remote, '127.0.0.1', 'ringtrain');
    for (const rank of [0, 1]) {
      const pidFile = join(home, 'logs', `peer-${rank}.pid`);
      expect(existsSync(pidFile)).toBe(true);
      started.push(Number(readFileSync(pidFile, 'utf8').trim()));
    }
    // The project arrived without node_modules/.git, the config with mode 600.
    expect(existsSync(join(home, 'src', 'cli.ts'))).toBe(true);
    expect(existsSync(join(home, '.git'))).toBe(false);
    expect(readFileSync(join(home, 'ring.config.json'), 'utf8')).toBe(readFileSync(cfg, 'utf8'));
    const calls = readFileSync(log, 'utf8');
    expect(calls).toContain('npm ci --omit=dev');
    expect(calls.match(/doctor --config ring.config.json --rank \d/g)).toHaveLength(2);

    // Wait (bounded) for both peers to finish training, then fetch the logs as a user would.
    const done = (rank: number) => {
      const p = join(home, 'logs', `peer-${rank}.log`);
      return existsSync(p) && readFileSync(p, 'utf8').includes('"t":"result"');
    };
    for (let i = 0; i < 600 && !(done(0) && done(1)); i++) await new Promise((r) => setTimeout(r, 100));
    const logsDir = join(tmp, 'fetched');
    mkdirSync(logsDir, { recursive: true });
    const got = await run(['--config', cfg, '--user', 'tester', '--logs', logsDir], env);
    expect(got.code, got.stderr).toBe(0);
    const files = readdirSync(logsDir).sort();
    expect(files).toEqual(['rank-0-127.0.0.1.log', 'rank-1-127.0.0.1.log']);
    const results = files.map((f) => {
      const lines = readFileSync(join(logsDir, f), 'utf8').trim().split('\n');
      return JSON.parse(lines[lines.length - 1]) as { t: string; result: { digest: string; test: { accuracy: number } } };
    });
    expect(results.map((r) => r.t)).toEqual(['result', 'result']);
    expect(results[0].result.digest).toBe(results[1].result.digest);
    expect(results[0].result.test.accuracy).toBeGreaterThan(0.9);

    const stop = await run(['--config', cfg, '--user', 'tester', '--stop'], env);
    expect(stop.code, stop.stderr).toBe(0);
    expect(existsSync(join(home, 'logs', 'peer-0.pid'))).toBe(false);
  }, 120_000);
});
