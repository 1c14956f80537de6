/**
 * What the benchmark scripts that launch real rings share: their flags (with --help), one
 * `ringtrain launch` child process read back as its JSON summary, and the report (markdown on
 * stdout and in --md, measurements in --json).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { RingSummary } from '../../src/launch/launcher.js';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(REPO, 'src', 'cli.ts');
/** Where the named data sets live: $RINGTRAIN_DATA_DIR, else ../shared/data beside the repository. */
export const DEFAULT_DATA_DIR = resolve(process.env.RINGTRAIN_DATA_DIR ?? join(REPO, '..', 'shared', 'data'));

/** Prints `SCRIPT: msg` and exits 2: the command line was wrong. */
export function exitUsage(script: string, msg: string): never {
  process.stderr.write(`${script}: ${msg}\n`);
  process.exit(2);
}

/**
 * The script's flags (strict; -h/--help added): --help prints `help` and exits 0, an unknown or
 * malformed flag prints the error and `help` and exits 2.
 */
export function parseFlags(script: string, help: string, argv: string[], options: NonNullable<ParseArgsConfig['options']>): Record<string, string | boolean | undefined> {
  let v: Record<string, string | boolean | undefined>;
  try {
    v = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true }).values as Record<string, string | boolean | undefined>;
  } catch (e) {
    exitUsage(script, `${(e as Error).message}\n\n${help}`);
  }
  if (v.help) {
    process.stdout.write(help);
    process.exit(0);
  }
  return v;
}

export interface LaunchResult {
  ok: boolean;
  error?: string;
  summary?: RingSummary;
  wallSeconds: number;
}

/**
 * One `ringtrain launch ARGS` (pass --json so its last stdout line is the summary), run from the
 * repository and sent SIGTERM after timeoutMs. ok = exit 0 with a summary; otherwise `error` is
 * failure(exit code, the last 4000 characters of its stderr).
 */
export function launchRing(args: string[], timeoutMs: number, failure: (code: number | null, stderr: string) => string): Promise<LaunchResult> {
  const t0 = performance.now();
  return new Promise((res) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'launch', ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4000)));
    const killer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(killer);
      const wallSeconds = (performance.now() - t0) / 1000;
      try {
        const summary = JSON.parse(out.trim().split('\n').pop() ?? '') as RingSummary;
        if (code !== 0) throw new Error('nonzero exit');
        res({ ok: true, summary, wallSeconds });
      } catch {
        res({ ok: false, error: failure(code, err), wallSeconds });
      }
    });
  });
}

/** The markdown report to stdout and to `files.md`; `json()`'s measurements to `files.json`. */
export function writeReport(markdown: string, files: { md?: string; json?: string }, json: () => unknown): void {
  process.stdout.write(`${markdown}\n`);
  if (files.md) writeFileSync(files.md, `${markdown}\n`);
  if (files.json) writeFileSync(files.json, `${JSON.stringify(json(), null, 2)}\n`);
}
