import { readFileSync, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { RingError } from '../errors.js';
import { RingConfigSchema, type RingConfig } from './schema.js';

/** "train.lr: expected number, received string" for each zod issue, one per line. */
export function formatIssues(source: string, issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((i) => {
      const path = i.path.length ? i.path.join('.') : '(top level)';
      return `${source}: ${path}: ${i.message}`;
    })
    .join('\n');
}

export function parseConfig(raw: unknown, source: string): RingConfig {
  const r = RingConfigSchema.safeParse(raw);
  if (!r.success) throw new RingError('E_CONFIG', formatIssues(source, r.error.issues), { issues: r.error.issues });
  return r.data;
}

/** Reads and validates ring.config.json. The raw object is returned too, so flags can be merged over it. */
export function readConfigFile(path: string): Record<string, unknown> {
  if (!existsSync(path)) throw new RingError('E_CONFIG', `config file not found: ${path}`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new RingError('E_CONFIG', `${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new RingError('E_CONFIG', `${path}: the top level must be a JSON object`);
  parseConfig(raw, path); // fail early, naming the file
  return raw as Record<string, unknown>;
}

/** Deep merge of plain objects: `over` wins; arrays and scalars replace. */
export function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    const b = out[k];
    if (isPlainObject(v) && isPlainObject(b)) out[k] = mergeConfig(b, v);
    else out[k] = v;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Hash of everything that must be equal on every peer for their updates to agree (data,
 * training, codec, ring settings). Addresses, the secret and TLS file paths are left out: they
 * differ per host or must not leak.
 */
export function configHash(cfg: RingConfig): string {
  const { peers: _peers, secret: _secret, tls: _tls, ...rest } = cfg;
  return createHash('sha256').update(stableStringify(rest)).digest('hex');
}

function stableStringify(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  if (isPlainObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
