/**
 * The model file: a fixed binary header, a JSON block, then the weights as float64.
 *
 *   offset  size  field
 *   0       4     magic "RTLR"
 *   4       4     u32 LE format version (MODEL_FORMAT_VERSION)
 *   8       4     u32 LE dim (the file holds dim+1 weights; the last is the bias)
 *   12      4     u32 LE J = byte length of the JSON block
 *   16      8     f64 LE λ
 *   24      8     f64 LE steps (an integer)
 *   32      32    sha256 of the weight bytes
 *   64      J     UTF-8 JSON { "algorithm": string, "metadata": object }
 *   64+J    pad   zero bytes up to a multiple of 8
 *   ...     8·(dim+1)  weights, f64 little-endian
 *
 * The file length must match exactly. Writing is atomic: temp file in the same directory,
 * fsync, rename (then a best-effort fsync of the directory).
 */
import { createHash, randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { RingError } from '../errors.js';

export const MODEL_MAGIC = 'RTLR';
export const MODEL_FORMAT_VERSION = 1;
const FIXED_HEADER = 64;

export interface LogRegModel {
  /** Number of features; weights.length === dim + 1. */
  readonly dim: number;
  readonly lambda: number;
  /** 'sgd' | 'gd' | 'lbfgs' or anything else that names how it was trained. */
  readonly algorithm: string;
  /** Optimizer steps taken. */
  readonly steps: number;
  readonly weights: Float64Array;
  /** Free-form JSON (data file, C, peers, seed, metrics...). */
  readonly metadata?: Record<string, unknown>;
}

/** sha256 hex of the weight bytes (little-endian f64, the in-memory layout on every supported host). */
export function weightsDigest(w: Float64Array | Float32Array): string {
  return createHash('sha256').update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)).digest('hex');
}

function bad(source: string, what: string): RingError {
  return new RingError('E_MODEL_FILE', `${source}: ${what}`, { path: source });
}

/** Serializes a model to the file layout above. */
export function encodeModel(model: LogRegModel): Uint8Array {
  const { dim, weights } = model;
  if (!Number.isInteger(dim) || dim < 0 || dim > 0xffffffff - 1) throw new RingError('E_INTERNAL', `model dim must be a non-negative integer, got ${dim}`);
  if (weights.length !== dim + 1) throw new RingError('E_INTERNAL', `model has ${weights.length} weights but dim ${dim} needs ${dim + 1}`);
  if (!Number.isInteger(model.steps) || model.steps < 0) throw new RingError('E_INTERNAL', `model steps must be a non-negative integer, got ${model.steps}`);
  const json = new TextEncoder().encode(JSON.stringify({ algorithm: model.algorithm, metadata: model.metadata ?? {} }));
  const pad = (8 - ((FIXED_HEADER + json.length) % 8)) % 8;
  const weightOffset = FIXED_HEADER + json.length + pad;
  const out = new Uint8Array(weightOffset + weights.byteLength);
  const dv = new DataView(out.buffer);
  out.set(new TextEncoder().encode(MODEL_MAGIC), 0);
  dv.setUint32(4, MODEL_FORMAT_VERSION, true);
  dv.setUint32(8, dim, true);
  dv.setUint32(12, json.length, true);
  dv.setFloat64(16, model.lambda, true);
  dv.setFloat64(24, model.steps, true);
  out.set(Buffer.from(weightsDigest(weights), 'hex'), 32);
  out.set(json, FIXED_HEADER);
  for (let j = 0; j < weights.length; j++) dv.setFloat64(weightOffset + 8 * j, weights[j], true);
  return out;
}

/** Parses and verifies bytes in the file layout; `source` names the file in error messages. */
export function decodeModel(bytes: Uint8Array, source = 'model'): LogRegModel {
  const remedy = 'retrain or copy the model file again';
  if (bytes.length < FIXED_HEADER) throw bad(source, `file is ${bytes.length} bytes, shorter than the ${FIXED_HEADER}-byte header; it is truncated or not a ringtrain model (${remedy})`);
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  if (magic !== MODEL_MAGIC) throw bad(source, `not a ringtrain model file (magic '${escape(magic)}', expected '${MODEL_MAGIC}'); pass the file written by 'ringtrain' training`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(4, true);
  if (version !== MODEL_FORMAT_VERSION) throw bad(source, `model format version ${version} is not supported (this build reads version ${MODEL_FORMAT_VERSION}); use a matching ringtrain version or retrain`);
  const dim = dv.getUint32(8, true);
  const jsonLen = dv.getUint32(12, true);
  const lambda = dv.getFloat64(16, true);
  const steps = dv.getFloat64(24, true);
  const pad = (8 - ((FIXED_HEADER + jsonLen) % 8)) % 8;
  const weightOffset = FIXED_HEADER + jsonLen + pad;
  const expected = weightOffset + 8 * (dim + 1);
  if (bytes.length !== expected) {
    throw bad(source, `file is ${bytes.length} bytes but its header (dim ${dim}) needs exactly ${expected}; it is truncated or corrupted (${remedy})`);
  }
  let header: { algorithm?: unknown; metadata?: unknown };
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(FIXED_HEADER, FIXED_HEADER + jsonLen))) as typeof header;
  } catch {
    throw bad(source, `the JSON header block is not valid UTF-8 JSON; the file is corrupted (${remedy})`);
  }
  if (header === null || typeof header !== 'object' || typeof header.algorithm !== 'string' || typeof header.metadata !== 'object' || header.metadata === null || Array.isArray(header.metadata)) {
    throw bad(source, `the JSON header block lacks 'algorithm' (string) or 'metadata' (object); the file is corrupted (${remedy})`);
  }
  if (!Number.isFinite(lambda) || lambda < 0 || !Number.isInteger(steps) || steps < 0) {
    throw bad(source, `header has an invalid λ (${lambda}) or step count (${steps}); the file is corrupted (${remedy})`);
  }
  const weights = new Float64Array(dim + 1);
  for (let j = 0; j <= dim; j++) weights[j] = dv.getFloat64(weightOffset + 8 * j, true);
  const stored = Buffer.from(bytes.subarray(32, 64)).toString('hex');
  const actual = weightsDigest(weights);
  if (stored !== actual) throw bad(source, `weight digest mismatch (header ${stored.slice(0, 16)}…, weights ${actual.slice(0, 16)}…); the file is corrupted (${remedy})`);
  return { dim, lambda, algorithm: header.algorithm, steps, weights, metadata: header.metadata as Record<string, unknown> };
}

function escape(s: string): string {
  return s.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Writes bytes to path atomically: temp file beside it, fsync, rename, fsync the directory. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx', 0o644);
    let off = 0;
    while (off < bytes.length) {
      const { bytesWritten } = await fh.write(bytes, off, bytes.length - off);
      off += bytesWritten;
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    const msg = e instanceof Error ? e.message : String(e);
    throw new RingError('E_MODEL_FILE', `could not write ${path}: ${msg}; check that the directory exists and is writable`, { path });
  }
  // Make the rename itself durable; not every platform lets a directory be opened and synced.
  try {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* best effort */
  }
}

export async function saveModel(path: string, model: LogRegModel): Promise<void> {
  await writeFileAtomic(path, encodeModel(model));
}

export async function loadModel(path: string): Promise<LogRegModel> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RingError('E_MODEL_FILE', `model file not found: ${path}; train one first or check the path`, { path });
    throw new RingError('E_MODEL_FILE', `could not read model file ${path}: ${(e as Error).message}`, { path });
  }
  return decodeModel(bytes, path);
}
