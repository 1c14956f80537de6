import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { z } from 'zod';
import { RingError } from '../errors.js';
import { writeFileAtomic } from '../model/file.js';
import type { OptimizerState } from '../optim/types.js';

/**
 * One checkpoint per rank per step: `rank-R-step-S.ckpt`, msgpack (typed arrays kept as typed
 * arrays) behind an 8-byte magic and a sha256 of the body, written atomically (temp + fsync +
 * rename). A torn or corrupt file fails its checksum and is never used. Each rank keeps its two
 * newest, so when a crash lands between two ranks' writes the ring can still agree on a step
 * that every rank has.
 */
const MAGIC = Buffer.from('RTCKPT01');
const KEEP = 2;
const packr = new Packr({ moreTypes: true, structuredClone: false });

export interface Checkpoint {
  version: 1;
  configHash: string;
  rank: number;
  size: number;
  /** Optimizer steps completed. */
  step: number;
  /** The ring's collective counter at that step (keys the codec PRNG), so a resumed run replays the same bits. */
  ringStep: number;
  optimizer: OptimizerState;
  /** Error-feedback memory of lossy codecs (empty when none). */
  residual: Float32Array;
  /** sha256 of the materialized weights, checked after restore. */
  weightsDigest: string;
}

const CheckpointShape = z.object({
  version: z.literal(1),
  configHash: z.string(),
  rank: z.number().int().nonnegative(),
  size: z.number().int().positive(),
  step: z.number().int().nonnegative(),
  ringStep: z.number().int().nonnegative(),
  optimizer: z.record(z.string(), z.unknown()),
  residual: z.instanceof(Float32Array),
  weightsDigest: z.string(),
});

export function checkpointPath(dir: string, rank: number, step: number): string {
  return join(dir, `rank-${rank}-step-${step}.ckpt`);
}

export async function saveCheckpoint(dir: string, c: Checkpoint): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const body = packr.pack(c);
  const sum = createHash('sha256').update(body).digest();
  const bytes = Buffer.concat([MAGIC, sum, body]);
  try {
    await writeFileAtomic(checkpointPath(dir, c.rank, c.step), bytes);
  } catch (e) {
    throw new RingError('E_CHECKPOINT', `cannot write checkpoint in ${dir}: ${(e as Error).message}`);
  }
  // Keep the newest KEEP; older ones are no longer needed for agreement.
  for (const s of listSteps(dir, c.rank).slice(KEEP)) {
    try {
      unlinkSync(checkpointPath(dir, c.rank, s));
    } catch {
      /* already gone */
    }
  }
}

/** Steps this rank has checkpoints for, newest first (valid or not: load checks). */
export function listSteps(dir: string, rank: number): number[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const re = new RegExp(`^rank-${rank}-step-(\\d+)\\.ckpt$`);
  return names
    .map((n) => re.exec(n)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => b - a);
}

export function loadCheckpoint(dir: string, rank: number, step: number): Checkpoint {
  const path = checkpointPath(dir, rank, step);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new RingError('E_CHECKPOINT', `cannot read checkpoint ${path}: ${(e as Error).message}`);
  }
  if (bytes.length < 40 || !bytes.subarray(0, 8).equals(MAGIC)) throw new RingError('E_CHECKPOINT', `${path} is not a ringtrain checkpoint`);
  const body = bytes.subarray(40);
  if (!createHash('sha256').update(body).digest().equals(bytes.subarray(8, 40))) {
    throw new RingError('E_CHECKPOINT', `${path} is corrupt (checksum mismatch); delete it to fall back to an older one`);
  }
  let raw: unknown;
  try {
    raw = packr.unpack(body);
  } catch (e) {
    throw new RingError('E_CHECKPOINT', `${path} cannot be decoded: ${(e as Error).message}`);
  }
  const parsed = CheckpointShape.safeParse(raw);
  if (!parsed.success) throw new RingError('E_CHECKPOINT', `${path} has an unexpected layout: ${parsed.error.issues[0]?.message}`);
  return parsed.data as unknown as Checkpoint;
}

/** Steps of this rank whose files load and pass their checksum, newest first. */
export function validSteps(dir: string, rank: number): number[] {
  const ok: number[] = [];
  for (const s of listSteps(dir, rank)) {
    try {
      loadCheckpoint(dir, rank, s);
      ok.push(s);
    } catch {
      /* skip torn or corrupt files */
    }
  }
  return ok;
}
