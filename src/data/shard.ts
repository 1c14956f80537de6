import { createHash } from 'node:crypto';
import { RingError } from '../errors.js';
import type { CsrDataset } from './csr.js';

/**
 * Sharding: peer `rank` of `size` trains on one contiguous block of rows. The blocks depend only
 * on (rows, rank, size), so every peer computes the same partition without talking: the first
 * rows % size ranks get one extra row (sizes differ by at most 1, in rank order).
 */
export function shardRows(rows: number, rank: number, size: number): { start: number; end: number } {
  if (!Number.isInteger(size) || size < 1) throw new RingError('E_DATA', `shard count must be an integer >= 1, got ${size}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= size) throw new RingError('E_DATA', `rank must be an integer in [0, ${size}), got ${rank}`);
  if (!Number.isInteger(rows) || rows < 0) throw new RingError('E_DATA', `row count must be a non-negative integer, got ${rows}`);
  const q = Math.floor(rows / size);
  const r = rows % size;
  const start = rank * q + Math.min(rank, r);
  return { start, end: start + q + (rank < r ? 1 : 0) };
}

/**
 * Rows [start, end) of `ds` as a dataset with the same dim. Views into `ds`'s arrays where possible
 * (indices/values/labels are subarrays; indptr is rebased so it is a copy).
 */
export function sliceRows(ds: CsrDataset, start: number, end: number): CsrDataset {
  if (!(Number.isInteger(start) && Number.isInteger(end) && 0 <= start && start <= end && end <= ds.rows)) {
    throw new RingError('E_DATA', `row range [${start}, ${end}) is outside [0, ${ds.rows})`);
  }
  const p0 = ds.indptr[start];
  const p1 = ds.indptr[end];
  const indptr = new Uint32Array(end - start + 1);
  for (let i = 0; i <= end - start; i++) indptr[i] = ds.indptr[start + i] - p0;
  return {
    rows: end - start,
    dim: ds.dim,
    indptr,
    indices: ds.indices.subarray(p0, p1),
    values: ds.values.subarray(p0, p1),
    labels: ds.labels.subarray(start, end),
  };
}

/** Peer `rank`'s shard of `ds` (see shardRows). */
export function shardDataset(ds: CsrDataset, rank: number, size: number): CsrDataset {
  const { start, end } = shardRows(ds.rows, rank, size);
  return sliceRows(ds, start, end);
}

/**
 * sha256 (hex) of a dataset's content: a header (format tag, rows, dim, nnz as little-endian u32 /
 * f64), then the bytes of indptr (rebased to start at 0), indices, values and labels. Peers compare it
 * to check they read the same data. Typed arrays are hashed in platform byte order; every platform
 * Node runs on is little-endian.
 */
export function datasetDigest(ds: CsrDataset): string {
  const h = createHash('sha256');
  const p0 = ds.indptr[0];
  const p1 = ds.indptr[ds.rows];
  const nnz = p1 - p0;
  const header = Buffer.alloc(4 + 8 * 3);
  header.write('CSR1', 0, 'latin1');
  header.writeDoubleLE(ds.rows, 4);
  header.writeDoubleLE(ds.dim, 12);
  header.writeDoubleLE(nnz, 20);
  h.update(header);
  // A shard's indptr may not start at 0 if someone built it by hand: hash it rebased.
  const indptr = p0 === 0 ? ds.indptr : ds.indptr.map((p) => p - p0);
  for (const a of [indptr, ds.indices.subarray(p0, p1), ds.values.subarray(p0, p1), ds.labels.subarray(0, ds.rows)]) {
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex');
}

/**
 * The feature dimension every peer uses: max(configured dim, largest index + 1 in the training
 * file). The training file alone decides (a test file may lack the last features, e.g. a9a.t never
 * uses index 123), and a configured dim can only raise it, so weights trained on a smaller file
 * still line up. Every peer must pass the digest-checked training data so all agree.
 */
export function agreeDim(configDim: number | undefined, train: CsrDataset): number {
  let maxIndex = -1;
  const ix = train.indices;
  for (let p = 0; p < ix.length; p++) if (ix[p] > maxIndex) maxIndex = ix[p];
  const observed = Math.max(train.dim, maxIndex + 1);
  if (configDim === undefined) return observed;
  if (!Number.isInteger(configDim) || configDim < 0) throw new RingError('E_DATA', `dim must be a non-negative integer, got ${configDim}`);
  return Math.max(configDim, observed);
}

/** The same dataset with a larger dimension (arrays shared). */
export function withDim(ds: CsrDataset, dim: number): CsrDataset {
  if (!Number.isInteger(dim) || dim < ds.dim) throw new RingError('E_DATA', `cannot shrink dataset dim ${ds.dim} to ${dim}`);
  return dim === ds.dim ? ds : { ...ds, dim };
}
