/**
 * A labelled sparse dataset in compressed-sparse-row form.
 * Row i's features are indices[indptr[i] .. indptr[i+1]) (0-based, ascending) with the matching values.
 * Labels are stored as 0/1 whatever the file used ({-1,+1} or {0,1}).
 */
export interface CsrDataset {
  readonly rows: number;
  /** Number of features (columns); every index is < dim. */
  readonly dim: number;
  readonly indptr: Uint32Array;
  readonly indices: Uint32Array;
  readonly values: Float32Array;
  /** 0 or 1 per row. */
  readonly labels: Uint8Array;
}

/** Grows a CSR dataset row by row without boxing numbers. */
export class CsrBuilder {
  private indices = new Uint32Array(1024);
  private values = new Float32Array(1024);
  private indptr = new Uint32Array(1025);
  private labels = new Uint8Array(1024);
  private nnz = 0;
  private rowCount = 0;
  private maxIndex = -1;

  get rows(): number {
    return this.rowCount;
  }

  /** Appends one feature to the current (open) row. Call endRow to close it. */
  push(index: number, value: number): void {
    if (this.nnz === this.indices.length) {
      this.indices = grow(this.indices, this.nnz * 2) as Uint32Array;
      this.values = grow(this.values, this.nnz * 2) as Float32Array;
    }
    this.indices[this.nnz] = index;
    this.values[this.nnz] = value;
    this.nnz++;
    if (index > this.maxIndex) this.maxIndex = index;
  }

  endRow(label01: 0 | 1): void {
    // Keep labels.length === indptr.length - 1: growing both by "length * 2" let them drift apart
    // and labels past the end were silently dropped (typed-array writes out of range are no-ops).
    if (this.rowCount >= this.labels.length) {
      const rowsCap = this.labels.length * 2;
      this.indptr = grow(this.indptr, rowsCap + 1) as Uint32Array;
      this.labels = grow(this.labels, rowsCap) as Uint8Array;
    }
    this.labels[this.rowCount] = label01;
    this.rowCount++;
    this.indptr[this.rowCount] = this.nnz;
  }

  /** Largest feature index seen + 1. */
  get observedDim(): number {
    return this.maxIndex + 1;
  }

  build(dim = this.observedDim): CsrDataset {
    return {
      rows: this.rowCount,
      dim,
      indptr: this.indptr.slice(0, this.rowCount + 1),
      indices: this.indices.slice(0, this.nnz),
      values: this.values.slice(0, this.nnz),
      labels: this.labels.slice(0, this.rowCount),
    };
  }
}

type Typed = Uint32Array | Float32Array | Uint8Array;
function grow(a: Typed, size: number): Typed {
  const b = new (a.constructor as { new (n: number): Typed })(size);
  b.set(a);
  return b;
}

/** Rows [start, end) as a new dataset with the same dim (used by sharding and splits). */
export function selectRows(ds: CsrDataset, rowIds: ArrayLike<number>): CsrDataset {
  const b = new CsrBuilder();
  for (let k = 0; k < rowIds.length; k++) {
    const i = rowIds[k];
    for (let p = ds.indptr[i]; p < ds.indptr[i + 1]; p++) b.push(ds.indices[p], ds.values[p]);
    b.endRow(ds.labels[i] as 0 | 1);
  }
  return b.build(ds.dim);
}
