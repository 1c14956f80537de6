import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { CsrDataset } from './csr.js';

/**
 * A built CSR dataset on disk, for datasets that are slow to build (the SpamAssassin corpus).
 *
 * Layout (little-endian): magic "RTCSR1\0\0", u32 byte length of a JSON header
 * {key, rows, dim, nnz}, the header, then indptr (u32 × rows+1), indices (u32 × nnz),
 * values (f32 × nnz), labels (u8 × rows), and a trailing sha256 of every byte before it.
 * A file that is short, has another key, or fails the checksum reads as a miss, never as data.
 * Writes go to a unique temp file that is fsynced and renamed into place, so concurrent peers that
 * build the same entry at once each replace it atomically with identical bytes.
 */
const MAGIC = Buffer.from('RTCSR1\0\0', 'latin1');

export function encodeCsr(ds: CsrDataset, key: string): Buffer {
  const nnz = ds.indptr[ds.rows];
  const header = Buffer.from(JSON.stringify({ key, rows: ds.rows, dim: ds.dim, nnz }), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32LE(header.length, 0);
  const bytes = (a: Uint32Array | Float32Array | Uint8Array, n: number): Buffer => Buffer.from(a.buffer, a.byteOffset, n * a.BYTES_PER_ELEMENT);
  const body = Buffer.concat([MAGIC, len, header, bytes(ds.indptr, ds.rows + 1), bytes(ds.indices, nnz), bytes(ds.values, nnz), bytes(ds.labels, ds.rows)]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

/** Decodes and verifies an encoded dataset; null if it is damaged or was stored under another key. */
export function decodeCsr(buf: Buffer, key: string): CsrDataset | null {
  if (buf.length < MAGIC.length + 4 + 32 || !buf.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  const body = buf.subarray(0, buf.length - 32);
  if (!createHash('sha256').update(body).digest().equals(buf.subarray(buf.length - 32))) return null;
  const hlen = body.readUInt32LE(MAGIC.length);
  let off = MAGIC.length + 4;
  let meta: { key?: unknown; rows?: unknown; dim?: unknown; nnz?: unknown };
  try {
    meta = JSON.parse(body.subarray(off, off + hlen).toString('utf8')) as typeof meta;
  } catch {
    return null;
  }
  off += hlen;
  const { rows, dim, nnz } = meta;
  if (meta.key !== key || !isCount(rows) || !isCount(dim) || !isCount(nnz)) return null;
  if (body.length !== off + 4 * (rows + 1) + 8 * nnz + rows) return null;
  // Copy into fresh, aligned typed arrays (the header length makes offsets unaligned).
  const take = (n: number): ArrayBuffer => {
    const out = new ArrayBuffer(n);
    new Uint8Array(out).set(body.subarray(off, off + n));
    off += n;
    return out;
  };
  const indptr = new Uint32Array(take(4 * (rows + 1)));
  const indices = new Uint32Array(take(4 * nnz));
  const values = new Float32Array(take(4 * nnz));
  const labels = new Uint8Array(take(rows));
  if (indptr[0] !== 0 || indptr[rows] !== nnz) return null;
  return { rows, dim, indptr, indices, values, labels };
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

/** The cached dataset at `path` under `key`, or null (missing, unreadable, damaged, other key). */
export function readCachedCsr(path: string, key: string): CsrDataset | null {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    return null;
  }
  return decodeCsr(buf, key);
}

/** Writes atomically (temp file, fsync, rename). Returns false if the cache cannot be written. */
export function writeCachedCsr(path: string, key: string, ds: CsrDataset): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    mkdirSync(dirname(path), { recursive: true });
    const data = encodeCsr(ds, key);
    const fd = openSync(tmp, 'w');
    try {
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    return true;
  } catch {
    // A read-only or full disk only costs the rebuild next time.
    try {
      rmSync(tmp, { force: true });
    } catch {
      // nothing was created
    }
    return false;
  }
}
