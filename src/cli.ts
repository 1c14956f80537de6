#!/usr/bin/env node
import { isLoopback } from './config/hosts.js';
import { parseArgs } from 'node:util';
import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { RingError, describeError, exitCodeOf } from './errors.js';
import { configFlagHelp, configFlagOptions, flagsToConfig } from './config/flags.js';
import { mergeConfig, parseConfig, readConfigFile } from './config/load.js';
import type { RingConfig } from './config/schema.js';
import { launch, formatSummary, writeJsonAtomic } from './launch/launcher.js';
import { LauncherMsg } from './launch/ipc.js';
import { runPeer, type PeerEvent } from './train/run-peer.js';
import { withBuiltInPreset } from './train/datasets.js';
import { loadModel } from './model/file.js';
import { loadDataset } from './data/index.js';
import { evaluate } from './model/metrics.js';
import { predictProba } from './model/logreg.js';

const CLI_PATH = fileURLToPath(import.meta.url);

const HELP: Record<string, string> = {
  main: `ringtrain — peer-to-peer logistic regression over a WebSocket ring (no driver, no parameter server)

Usage: ringtrain <command> [options]     (npm run ringtrain -- <command> ..., or npx tsx src/cli.ts ...)

Commands:
  launch    start N local peers on loopback, train, print test metrics   (npm start = launch --peers 4)
  peer      run one peer of a ring described by ring.config.json (one per LAN host)
  eval      score a saved model on a labelled data file
  predict   write P(y=1) for every row of a data file, one per line
  doctor    preflight checks for a LAN ring: neighbours reachable, ports, secret, config hash ('doctor --help')
  bench     allreduce benchmark (nccl-tests style table) with raw-TCP/MPI baselines ('bench --help')
  help      this text; 'ringtrain <command> --help' for a command

Exit codes: 0 ok, 2 bad config/flags/data, 3 ring or network failure, 4 weights diverged or internal error.`,
  launch: `Usage: ringtrain launch --peers N [--config ring.config.json] [options]

Starts N peers as local processes on free loopback ports, forms the ring, trains, and prints the
test metrics, step time, bytes sent and whether every peer ends with identical weights.
Settings come from the config file (default ./ring.config.json if present), then flags (flags win).

Launch options:
  --peers N          ring size (default 4)
  --config FILE      config file (ring.config.json)
  --summary FILE     write the run summary as JSON
  --save-model FILE  save the trained model (rank 0)
  --json             print the summary as JSON on stdout (no progress line)
  --quiet            no progress line
  --log FILE         append every peer event (re-forms, joins, drops, progress, errors) as JSON lines
  --timeout-ms MS    give up if the run takes longer
  --checkpoint-dir DIR     write checkpoints there (atomic; two newest per rank kept)
  --checkpoint-every K     checkpoint every K steps (default 0 = never; 50 when only --checkpoint-dir is given)
  --resume                 continue from the newest checkpoint step that every rank has
  --inject-kill RANK@STEP  fault injection: SIGKILL that rank's process right after STEP
  --inject-delay RANK:MS   fault injection: that rank's gradient is MS late every step
                           (with --deadline-ms or --adaptive-deadline true it is dropped instead of waited for)
  --rejoin                 restart a peer that dies so it rejoins the running ring
  --no-elastic             stop the whole run when a peer dies (default: the ring re-forms without it)

Config flags:
${configFlagHelp()}`,
  peer: `Usage: ringtrain peer --config ring.config.json --rank R [options]

Runs one peer: listens on peers[R] from the config, dials rank R-1, trains with the others and
writes JSON lines (one event per line) to stdout; the last line is the result.
Every peer of a ring must get the same config and flags (peers compare a config hash).

Peer options:
  --config FILE      config file with the peers list (required)
  --rank R           this peer's rank (index into peers)
  --listen HOST      address to bind (default: peers[R].host; use 0.0.0.0 for all interfaces)
  --summary FILE     write this peer's result as JSON
  --save-model FILE  save the trained model (rank 0 only)
  --checkpoint-dir DIR, --checkpoint-every K, --resume   as for launch
  --rejoin           this peer restarts: ask the running ring to let it back in
  --no-elastic       exit when a neighbour dies (default: re-form the ring without it)
  --insecure         allow an empty secret when peers are not all on loopback

Config flags:
${configFlagHelp()}`,
  eval: `Usage: ringtrain eval --model FILE --data FILE [--json]

Prints accuracy, log-loss, AUC and the confusion counts of a saved model on a labelled file
(LIBSVM/SVMlight; Criteo .tsv; text .csv).`,
  predict: `Usage: ringtrain predict --model FILE --data FILE [--out FILE]

Writes P(y=1) for each row, one per line, to --out or stdout.`,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0] && HELP[rest[0]] ? rest[0] : 'main';
    process.stdout.write(`${HELP[topic]}\n`);
    return 0;
  }
  if ((rest.includes('--help') || rest.includes('-h')) && command !== 'bench' && command !== 'doctor') {
    if (!HELP[command]) throw new RingError('E_USAGE', `unknown command '${command}'; try 'ringtrain help'`);
    process.stdout.write(`${HELP[command]}\n`);
    return 0;
  }
  switch (command) {
    case 'launch':
      return cmdLaunch(rest);
    case 'peer':
      return rest.includes('--ipc') ? cmdPeerIpc() : cmdPeer(rest);
    case 'eval':
      return cmdEval(rest);
    case 'predict':
      return cmdPredict(rest);
    case 'doctor': {
      const { runDoctorCommand } = await import('./doctor/cli.js');
      return runDoctorCommand(rest);
    }
    case 'bench': {
      const { runBenchCommand } = await import('./bench/cli.js');
      return runBenchCommand(rest);
    }
    default:
      throw new RingError('E_USAGE', `unknown command '${command}'; try 'ringtrain help'`);
  }
}

function parse(args: string[], extra: Record<string, { type: 'string' | 'boolean' }>) {
  try {
    return parseArgs({ args, options: { ...configFlagOptions(), ...extra }, allowPositionals: false, strict: true }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new RingError('E_USAGE', `${(e as Error).message}; see --help`);
  }
}

/** Config file (if any) with flags merged over it, validated by the schema. */
function resolveConfig(values: Record<string, unknown>, configPath: string | undefined): RingConfig {
  const base = configPath ? readConfigFile(configPath) : {};
  const merged = withBuiltInPreset(mergeConfig(base, flagsToConfig(values)));
  return parseConfig(merged, configPath ? `${configPath} + flags` : 'flags');
}

async function cmdLaunch(args: string[]): Promise<number> {
  const v = parse(args, {
    peers: { type: 'string' },
    config: { type: 'string' },
    summary: { type: 'string' },
    'save-model': { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean' },
    log: { type: 'string' },
    'timeout-ms': { type: 'string' },
    ...CHECKPOINT_OPTIONS,
    'inject-kill': { type: 'string' },
    'inject-delay': { type: 'string' },
    rejoin: { type: 'boolean' },
    'no-elastic': { type: 'boolean' },
  });
  const peers = Number(v.peers ?? 4);
  if (!Number.isInteger(peers) || peers < 1 || peers > 64) throw new RingError('E_USAGE', `--peers must be an integer from 1 to 64, got '${String(v.peers)}'`);
  const configPath = (v.config as string | undefined) ?? (existsSync('ring.config.json') ? 'ring.config.json' : undefined);
  const config = resolveConfig(v, configPath);
  const timeoutMs = v['timeout-ms'] !== undefined ? Number(v['timeout-ms']) : undefined;
  if (!v.json && !v.quiet) {
    process.stderr.write(`ringtrain: launching ${peers} peers on 127.0.0.1 (config: ${configPath ?? 'defaults'}; data: ${config.data.train ?? 'built-in SpamAssassin corpus'})\n`);
  }
  const summary = await launch({
    peers,
    config,
    cliPath: CLI_PATH,
    summaryPath: v.summary as string | undefined,
    saveModel: v['save-model'] as string | undefined,
    json: Boolean(v.json),
    quiet: Boolean(v.quiet),
    timeoutMs,
    checkpoint: checkpointOptions(v),
    injectKill: parseInjectKill(v['inject-kill'] as string | undefined),
    injectDelay: parseInjectDelay(v['inject-delay'] as string | undefined),
    elastic: !v['no-elastic'],
    rejoin: Boolean(v.rejoin),
    logPath: v.log as string | undefined,
  });
  process.stdout.write(v.json ? `${JSON.stringify(summary)}\n` : `${formatSummary(summary)}\n`);
  if (!summary.identical) throw new RingError('E_WEIGHTS_DIVERGED', 'peers finished with different weights');
  return 0;
}

const CHECKPOINT_OPTIONS = {
  'checkpoint-dir': { type: 'string' },
  'checkpoint-every': { type: 'string' },
  resume: { type: 'boolean' },
} as const;

function checkpointOptions(v: Record<string, unknown>): { dir: string; every: number; resume: boolean } | undefined {
  const dir = v['checkpoint-dir'] as string | undefined;
  if (!dir) {
    if (v.resume || v['checkpoint-every'] !== undefined) throw new RingError('E_USAGE', '--resume and --checkpoint-every need --checkpoint-dir DIR');
    return undefined;
  }
  const every = v['checkpoint-every'] === undefined ? 50 : Number(v['checkpoint-every']);
  if (!Number.isInteger(every) || every < 0) throw new RingError('E_USAGE', `--checkpoint-every must be a non-negative integer, got '${String(v['checkpoint-every'])}'`);
  return { dir, every, resume: Boolean(v.resume) };
}

function parseInjectKill(s: string | undefined): { rank: number; step: number } | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+)@(\d+)$/.exec(s);
  if (!m) throw new RingError('E_USAGE', `--inject-kill takes RANK@STEP (e.g. 2@30), got '${s}'`);
  return { rank: Number(m[1]), step: Number(m[2]) };
}

function parseInjectDelay(s: string | undefined): { rank: number; ms: number } | undefined {
  if (s === undefined) return undefined;
  const m = /^(\d+):(\d+(?:\.\d+)?)$/.exec(s);
  if (!m) throw new RingError('E_USAGE', `--inject-delay takes RANK:MS (e.g. 1:200), got '${s}'`);
  return { rank: Number(m[1]), ms: Number(m[2]) };
}

/** A peer started by `launch`: config and addresses arrive over the IPC channel. */
function cmdPeerIpc(): Promise<number> {
  return new Promise((resolve) => {
    const send = (m: unknown) => process.send?.(m);
    // Resolves once the message is flushed to the launcher, so the process may then exit.
    const sendLast = (m: unknown) => new Promise<void>((res) => (process.send ? process.send(m, undefined, {}, () => res()) : res()));
    let peersResolve: ((p: { host: string; port: number }[]) => void) | null = null;
    // The launcher gone means nobody wants our result: never linger as an orphan.
    process.on('disconnect', () => process.exit(1));
    process.on('message', (raw: unknown) => {
      const parsed = LauncherMsg.safeParse(raw);
      if (!parsed.success) return;
      const msg = parsed.data;
      if (msg.t === 'peers') {
        peersResolve?.(msg.peers);
        return;
      }
      const run = async () => {
        const config = parseConfig(msg.config, 'launcher');
        const result = await runPeer({
          config,
          rank: msg.rank,
          size: msg.size,
          listenHost: '127.0.0.1',
          listenPort: msg.listenPort ?? 0,
          resolvePeers: () => new Promise((res) => (peersResolve = res)),
          emit: (e: PeerEvent) => send(e),
          saveModelPath: msg.saveModel,
          checkpoint: msg.checkpoint,
          injectKillAtStep: msg.injectKillAtStep,
          injectDelayMs: msg.injectDelayMs,
          elastic: msg.elastic,
          rejoin: msg.rejoin,
        });
        await sendLast({ t: 'result', result });
      };
      const done = (code: number) => {
        process.removeAllListeners('disconnect');
        resolve(code);
      };
      run().then(
        () => done(0),
        async (e) => {
          await sendLast({ t: 'error', rank: msg.rank, code: (e as RingError).code ?? 'E_INTERNAL', message: e instanceof Error ? e.message : String(e), exitCode: exitCodeOf(e) });
          done(exitCodeOf(e));
        },
      );
    });
  });
}

async function cmdPeer(args: string[]): Promise<number> {
  const v = parse(args, {
    config: { type: 'string' },
    rank: { type: 'string' },
    listen: { type: 'string' },
    summary: { type: 'string' },
    'save-model': { type: 'string' },
    ...CHECKPOINT_OPTIONS,
    rejoin: { type: 'boolean' },
    'no-elastic': { type: 'boolean' },
    insecure: { type: 'boolean' },
  });
  if (!v.config) throw new RingError('E_USAGE', 'peer needs --config FILE (with a peers list); see --help');
  const rank = Number(v.rank);
  if (v.rank === undefined || !Number.isInteger(rank) || rank < 0) throw new RingError('E_USAGE', `--rank must be a non-negative integer, got '${String(v.rank)}'`);
  const config = resolveConfig(v, v.config as string);
  const peers = config.peers;
  if (!peers) throw new RingError('E_CONFIG', `${String(v.config)}: 'peers' is required to run a peer (one {host, port} per rank)`);
  if (rank >= peers.length) throw new RingError('E_USAGE', `--rank ${rank} is out of range: ${String(v.config)} lists ${peers.length} peers (ranks 0..${peers.length - 1})`);
  // Authentication is on by default off loopback: a LAN ring without a secret would take frames from anyone.
  const offLoopback = peers.some((p) => !isLoopback(p.host));
  if (offLoopback && config.secret === '' && !v.insecure) {
    throw new RingError('E_CONFIG', `${String(v.config)}: peers are not all on loopback but no secret is set; set "secret" in the config (or --secret), or pass --insecure on a trusted network`);
  }
  const line = (o: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ ts: new Date().toISOString(), ...o })}\n`);
  const result = await runPeer({
    config,
    rank,
    size: peers.length,
    listenHost: (v.listen as string | undefined) ?? peers[rank].host,
    listenPort: peers[rank].port,
    resolvePeers: async () => peers,
    emit: (e) => line({ ...e, event: e.t === 'log' ? e.event : e.t }),
    saveModelPath: v['save-model'] as string | undefined,
    checkpoint: checkpointOptions(v),
    elastic: !v['no-elastic'],
    rejoin: Boolean(v.rejoin),
  });
  line({ t: 'result', rank, result });
  if (v.summary) writeJsonAtomic(v.summary as string, result);
  return 0;
}

async function cmdEval(args: string[]): Promise<number> {
  const v = parse(args, { model: { type: 'string' }, data: { type: 'string' }, json: { type: 'boolean' } });
  if (!v.model || !v.data) throw new RingError('E_USAGE', 'eval needs --model FILE and --data FILE; see --help');
  const model = await loadModel(v.model as string);
  const ds = await loadDataset({ path: v.data as string, dim: model.dim, format: (v.format as 'auto' | undefined) ?? 'auto' });
  const m = evaluate(model.weights, ds);
  if (v.json) process.stdout.write(`${JSON.stringify({ rows: m.rows, accuracy: m.accuracy, logloss: m.logLoss, auc: m.auc, confusion: m.confusion })}\n`);
  else {
    process.stdout.write(
      `rows ${m.rows}  accuracy ${m.accuracy.toFixed(4)}  log-loss ${m.logLoss.toFixed(4)}  AUC ${m.auc.toFixed(4)}\n` +
        `confusion  tp ${m.confusion.tp}  fp ${m.confusion.fp}  tn ${m.confusion.tn}  fn ${m.confusion.fn}\n`,
    );
  }
  return 0;
}

async function cmdPredict(args: string[]): Promise<number> {
  const v = parse(args, { model: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' } });
  if (!v.model || !v.data) throw new RingError('E_USAGE', 'predict needs --model FILE and --data FILE; see --help');
  const model = await loadModel(v.model as string);
  const ds = await loadDataset({ path: v.data as string, dim: model.dim, format: (v.format as 'auto' | undefined) ?? 'auto' });
  const p = predictProba(model.weights, ds);
  const text = Array.from(p, (x) => x.toPrecision(6)).join('\n') + (p.length ? '\n' : '');
  if (v.out) writeFileSync(v.out as string, text);
  else process.stdout.write(text);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    if (process.argv[3] === '--ipc') process.disconnect?.();
  },
  (e) => {
    process.stderr.write(`ringtrain: ${describeError(e)}\n`);
    if (!(e instanceof RingError)) process.stderr.write(`${(e as Error)?.stack ?? ''}\n`);
    process.exitCode = exitCodeOf(e);
    if (process.argv[3] === '--ipc') process.disconnect?.();
  },
);
