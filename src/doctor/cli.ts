import { parseArgs } from 'node:util';
import { RingError, describeError } from '../errors.js';
import { configFlagHelp, configFlagOptions, flagsToConfig } from '../config/flags.js';
import { configHash, mergeConfig, parseConfig, readConfigFile } from '../config/load.js';
import { loadTrainTest, ringIdentityHash } from '../train/datasets.js';
import type { RingConfig } from '../config/schema.js';
import { withBuiltInPreset } from '../train/datasets.js';
import { checkBind, checkClock, checkData, checkNode, checkReachable, checkSecret, probeHandshake, type Check } from './checks.js';

export const DOCTOR_HELP = `Usage: ringtrain doctor --config ring.config.json --rank R [--json] [--timeout-ms MS] [--listen HOST] [config flags]

Preflight checks for running peer R on this host, printed as a checklist (ok / warn / FAIL, each
with what to do). Give it the same config file and flags you will give 'ringtrain peer'.

  node         Node.js 20 or later
  config       the config file validates, has a peers list and rank R in it
  secret       a shared secret is set when any peer is not on loopback
  listen       peers[R]'s host:port can be bound here (or who holds it)
  predecessor  rank R-1 answers on its port (connect and close; not started yet = warn)
  successor    rank R+1 likewise
  handshake    a running neighbour has the same secret and config hash (probe, never joins)
  data         the training and test files are readable
  clock        local time, for comparing logs across hosts

Options:
  --config FILE      config file with the peers list (required)
  --rank R           the rank this host will run (required)
  --listen HOST      the address the peer will bind (default peers[R].host)
  --timeout-ms MS    per network check (default 2000)
  --json             one JSON object instead of the checklist

Exit code: 0 when nothing FAILed (warnings allowed), 1 when a check FAILed, 2 for bad usage.

Config flags (as for peer; they change the config hash):
${configFlagHelp()}`;

export interface DoctorReport {
  rank: number;
  size: number | null;
  config: string;
  configHash: string | null;
  ok: boolean;
  failures: number;
  warnings: number;
  checks: Check[];
}

/** `ringtrain doctor`: runs every check, prints them, returns the exit code. */
export async function runDoctorCommand(args: string[]): Promise<number> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({
      args,
      allowPositionals: false,
      strict: true,
      options: {
        ...configFlagOptions(),
        config: { type: 'string' },
        rank: { type: 'string' },
        listen: { type: 'string' },
        'timeout-ms': { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new RingError('E_USAGE', `${(e as Error).message}; see 'ringtrain doctor --help'`);
  }
  if (v.help) {
    process.stdout.write(`${DOCTOR_HELP}\n`);
    return 0;
  }
  if (typeof v.config !== 'string') throw new RingError('E_USAGE', "doctor needs --config FILE (the ring's config with its peers list); see --help");
  const rank = Number(v.rank);
  if (v.rank === undefined || !Number.isInteger(rank) || rank < 0) throw new RingError('E_USAGE', `--rank must be a non-negative integer, got '${String(v.rank)}'`);
  const timeoutMs = v['timeout-ms'] === undefined ? 2000 : Number(v['timeout-ms']);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new RingError('E_USAGE', `--timeout-ms must be a positive integer, got '${String(v['timeout-ms'])}'`);

  const report = await diagnose({ configPath: v.config, values: v, rank, listen: v.listen as string | undefined, timeoutMs });
  process.stdout.write(v.json ? `${JSON.stringify(report)}\n` : formatReport(report));
  return report.ok ? 0 : 1;
}

export interface DoctorOptions {
  configPath: string;
  /** Parsed flags; config flags among them are merged over the file exactly as `peer` does. */
  values: Record<string, unknown>;
  rank: number;
  listen?: string;
  timeoutMs: number;
}

/** The same resolution as `ringtrain peer` (cli.ts): file, flags over it, built-in data preset. */
function resolveConfig(values: Record<string, unknown>, configPath: string): RingConfig {
  const merged = withBuiltInPreset(mergeConfig(readConfigFile(configPath), flagsToConfig(values)));
  return parseConfig(merged, `${configPath} + flags`);
}

export async function diagnose(o: DoctorOptions): Promise<DoctorReport> {
  const checks: Check[] = [checkNode()];
  let cfg: RingConfig | null = null;
  let hash: string | null = null;
  try {
    cfg = resolveConfig(o.values, o.configPath);
    hash = configHash(cfg);
    // Peers compare config and training data; a data file that does not load is reported below.
    try {
      hash = ringIdentityHash(cfg, (await loadTrainTest(cfg.data)).train);
    } catch {
      /* the data check says what is wrong */
    }
  } catch (e) {
    checks.push({ name: 'config', status: 'fail', message: `${describeError(e)}; fix the config (every host needs the same file)` });
  }
  const peers = cfg?.peers;
  if (cfg && !peers) checks.push({ name: 'config', status: 'fail', message: `${o.configPath} has no "peers" list: add one {host, port} per rank, the same on every host` });
  else if (cfg && peers && o.rank >= peers.length) {
    checks.push({ name: 'config', status: 'fail', message: `--rank ${o.rank} is out of range: ${o.configPath} lists ${peers.length} peers (ranks 0..${peers.length - 1})` });
  } else if (cfg && peers && hash) {
    const size = peers.length;
    checks.push({ name: 'config', status: 'ok', message: `${o.configPath} is valid: ${size} peer(s), this is rank ${o.rank}, config hash ${hash.slice(0, 12)}` });
    checks.push(checkSecret(cfg));
    const me = peers[o.rank];
    if (me.port === 0) checks.push({ name: 'listen', status: 'warn', message: `peers[${o.rank}].port is 0 (any free port): the neighbours cannot know where to dial; give it a fixed port` });
    else checks.push(await checkBind(o.listen ?? me.host, me.port, o.rank));
    if (size > 1) {
      const pred = (o.rank - 1 + size) % size;
      const succ = (o.rank + 1) % size;
      const neighbours = pred === succ ? [{ label: 'neighbour', rank: pred, what: `rank ${pred} (predecessor and successor)` }] : [
        { label: 'predecessor', rank: pred, what: `rank ${pred} (predecessor)` },
        { label: 'successor', rank: succ, what: `rank ${succ} (successor)` },
      ];
      const keys = { rank: o.rank, size, secret: cfg.secret, configHash: hash };
      for (const n of neighbours) {
        const reach = await checkReachable(n.label, n.what, peers[n.rank], o.timeoutMs);
        const { reachable: _r, ...line } = reach;
        checks.push(line);
        if (reach.reachable) checks.push(await probeHandshake('handshake', n.what, n.rank, peers[n.rank], keys, o.timeoutMs));
        else checks.push({ name: 'handshake', status: 'skip', message: `${n.what} is not running; secret and config hash are compared when it is (run doctor again, or the peers compare them at join)` });
      }
    } else {
      checks.push({ name: 'neighbours', status: 'skip', message: 'a ring of one has no neighbours' });
    }
    checks.push(...checkData(cfg));
  }
  checks.push(checkClock());
  const failures = checks.filter((c) => c.status === 'fail').length;
  const warnings = checks.filter((c) => c.status === 'warn').length;
  return { rank: o.rank, size: peers?.length ?? null, config: o.configPath, configHash: hash, ok: failures === 0, failures, warnings, checks };
}

const LABEL: Record<Check['status'], string> = { ok: 'ok', warn: 'warn', fail: 'FAIL', info: 'info', skip: 'skip' };

export function formatReport(r: DoctorReport): string {
  const head = `ringtrain doctor: rank ${r.rank}${r.size !== null ? ` of ${r.size}` : ''}, config ${r.config}${r.configHash ? ` (hash ${r.configHash.slice(0, 12)})` : ''}\n`;
  const w = Math.max(...r.checks.map((c) => c.name.length));
  const lines = r.checks.map((c) => `  ${LABEL[c.status].padEnd(4)}  ${c.name.padEnd(w)}  ${c.message}\n`).join('');
  const verdict = r.ok
    ? `${r.warnings ? `${r.warnings} warning(s), no failures` : 'all checks passed'}: rank ${r.rank} can start here${r.warnings ? ' (warnings about neighbours are fine if they start later)' : ''}\n`
    : `${r.failures} check(s) FAILED${r.warnings ? `, ${r.warnings} warning(s)` : ''}: fix the FAIL lines before starting rank ${r.rank}\n`;
  return head + lines + verdict;
}
