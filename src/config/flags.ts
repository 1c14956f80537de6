import { RingError } from '../errors.js';

/**
 * Command-line flags that set config keys. One table drives parsing, `--help` and the merge
 * into ring.config.json (flags win); values are then validated by the config schema.
 */
export interface ConfigFlag {
  flag: string;
  path: string[];
  kind: 'string' | 'number' | 'int' | 'bool';
  help: string;
}

export const CONFIG_FLAGS: ConfigFlag[] = [
  { flag: 'train', path: ['data', 'train'], kind: 'string', help: 'training file (LIBSVM/SVMlight; .tsv Criteo; .csv text). Default: built-in SpamAssassin set' },
  { flag: 'test', path: ['data', 'test'], kind: 'string', help: 'test file, same format' },
  { flag: 'format', path: ['data', 'format'], kind: 'string', help: 'auto|libsvm|criteo|text (default auto)' },
  { flag: 'dim', path: ['data', 'dim'], kind: 'int', help: 'feature dimension (default: from the training file)' },
  { flag: 'hash-bits', path: ['data', 'hashBits'], kind: 'int', help: 'hashed features use 2^k buckets (default 18)' },
  { flag: 'algo', path: ['train', 'algo'], kind: 'string', help: 'sgd|gd|lbfgs (default sgd)' },
  { flag: 'lr', path: ['train', 'lr'], kind: 'number', help: 'SGD step size (default 4)' },
  { flag: 'schedule', path: ['train', 'schedule'], kind: 'string', help: 'constant|invt|invsqrt step-size schedule for SGD (default invt)' },
  { flag: 't0', path: ['train', 't0'], kind: 'number', help: 'schedule decay time in updates: lr/(1+t/t0) (default 50)' },
  { flag: 'C', path: ['train', 'C'], kind: 'number', help: "liblinear's C; lambda = 1/(C*M)" },
  { flag: 'lambda', path: ['train', 'lambda'], kind: 'number', help: 'L2 strength (overrides --C)' },
  { flag: 'batch', path: ['train', 'batch'], kind: 'int', help: 'global mini-batch size, split across peers (default 256)' },
  { flag: 'epochs', path: ['train', 'epochs'], kind: 'number', help: 'passes over the data (default 5)' },
  { flag: 'steps', path: ['train', 'steps'], kind: 'int', help: 'stop after this many steps (overrides --epochs)' },
  { flag: 'tol', path: ['train', 'tol'], kind: 'number', help: 'GD/L-BFGS stop when ||g||/||g0|| <= tol' },
  { flag: 'seed', path: ['train', 'seed'], kind: 'int', help: 'seed for shuffles and stochastic codecs (default 1)' },
  { flag: 'codec', path: ['codec', 'name'], kind: 'string', help: 'dense|sparse|onebit|stochastic|shared (default dense)' },
  { flag: 'mode', path: ['codec', 'mode'], kind: 'string', help: 'requantize|allgather (lossy codecs)' },
  { flag: 'levels', path: ['codec', 'levels'], kind: 'int', help: 'QSGD levels s for stochastic/shared (default 7)' },
  { flag: 'segment-bytes', path: ['ring', 'segmentBytes'], kind: 'int', help: 'pipelining segment size (default 524288)' },
  { flag: 'digest-every', path: ['ring', 'digestEvery'], kind: 'int', help: 'compare weight digests every K steps (default 10)' },
  { flag: 'connect-timeout-ms', path: ['ring', 'connectTimeoutMs'], kind: 'int', help: 'wait this long for neighbours (default 30000)' },
  { flag: 'recv-timeout-ms', path: ['ring', 'recvTimeoutMs'], kind: 'int', help: 'a silent neighbour is dead after this (default 60000)' },
  { flag: 'secret', path: ['secret'], kind: 'string', help: 'shared secret for peer authentication' },
  { flag: 'deadline-ms', path: ['straggler', 'deadlineMs'], kind: 'number', help: 'SGD: a gradient not ready by then is dropped for that step' },
  { flag: 'adaptive-deadline', path: ['straggler', 'adaptive'], kind: 'bool', help: 'SGD: deadline = factor x the ring median readiness time (true|false)' },
];

/** Turns parsed flag values into a partial config object. */
export function flagsToConfig(values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of CONFIG_FLAGS) {
    const raw = values[f.flag];
    if (raw === undefined) continue;
    let v: unknown = raw;
    if (f.kind === 'bool') {
      if (raw !== 'true' && raw !== 'false') throw new RingError('E_USAGE', `--${f.flag} expects true or false, got '${String(raw)}'`);
      v = raw === 'true';
    } else if (f.kind !== 'string') {
      const n = Number(raw);
      if (raw === '' || !Number.isFinite(n) || (f.kind === 'int' && !Number.isInteger(n))) {
        throw new RingError('E_USAGE', `--${f.flag} expects ${f.kind === 'int' ? 'an integer' : 'a number'}, got '${String(raw)}'`);
      }
      v = n;
    }
    let node = out;
    for (const key of f.path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
    node[f.path[f.path.length - 1]] = v;
  }
  return out;
}

export function configFlagOptions(): Record<string, { type: 'string' }> {
  return Object.fromEntries(CONFIG_FLAGS.map((f) => [f.flag, { type: 'string' as const }]));
}

export function configFlagHelp(): string {
  const w = Math.max(...CONFIG_FLAGS.map((f) => f.flag.length)) + 4;
  return CONFIG_FLAGS.map((f) => `  --${f.flag.padEnd(w)}${f.help}`).join('\n');
}
