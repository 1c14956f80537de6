import { RingError } from '../errors.js';
import { CsrBuilder, type CsrDataset } from './csr.js';
import { bucketOf, checkHashBits, DEFAULT_HASH_BITS, HashedRow, hashedDim } from './hashing.js';
import { LabelParser } from './labels.js';
import { forEachLine, readLines, readLinesSync } from './lines.js';

/**
 * Criteo display-advertising TSV (Kaggle `train.txt` layout): one row per line,
 *   label \t I1 .. I13 \t C1 .. C26
 * i.e. 40 tab-separated fields. Any feature field may be empty (missing).
 *
 * Features (all hashed into 2^hashBits buckets with murmur3, see hashing.ts):
 * - integer column j (1..13) with value x → bucket hash("I" + j), value sign(x)·log(1 + |x|).
 *   Counts are heavy-tailed, so the log keeps one huge count from dominating the margin; x >= 0 is
 *   log(1+x), and the few negative values (Criteo's I2 has -1, -2, -3) mirror it. x = 0 gives 0 and
 *   is therefore not stored, like a missing field.
 * - categorical column j (1..26) with string v → bucket hash("C" + j + "=" + v), value 1.
 * Two features that land in one bucket are summed; each row comes out ascending and deduplicated.
 */
export interface CriteoOptions {
  /** log2 of the number of buckets (default 20). */
  hashBits?: number;
  /** Dimension of the result; must be >= 2^hashBits (default 2^hashBits). */
  dim?: number;
}

export const CRITEO_INT_COLUMNS = 13;
export const CRITEO_CAT_COLUMNS = 26;
export const CRITEO_FIELDS = 1 + CRITEO_INT_COLUMNS + CRITEO_CAT_COLUMNS;

const INTEGER = /^[+-]?\d+$/;

/** Line parser shared by readCriteo, loadCriteo and parseCriteo. */
export class CriteoParser {
  private readonly b = new CsrBuilder();
  private readonly row = new HashedRow();
  private readonly labels: LabelParser;
  private readonly bits: number;
  private readonly dim: number;
  /** Buckets of the integer columns do not depend on the data: hash them once. */
  private readonly intBuckets: Uint32Array;
  private readonly catPrefix: string[] = [];

  constructor(
    private readonly source: string,
    opts: CriteoOptions = {},
  ) {
    this.bits = checkHashBits(opts.hashBits ?? DEFAULT_HASH_BITS);
    this.dim = hashedDim(this.bits, opts.dim);
    this.labels = new LabelParser(source);
    this.intBuckets = new Uint32Array(CRITEO_INT_COLUMNS);
    for (let j = 1; j <= CRITEO_INT_COLUMNS; j++) this.intBuckets[j - 1] = bucketOf(`I${j}`, this.bits);
    for (let j = 1; j <= CRITEO_CAT_COLUMNS; j++) this.catPrefix.push(`C${j}=`);
  }

  readonly line = (text: string, lineNo: number): void => {
    if (text.length === 0) return; // a blank line (e.g. the final newline of a hand-written file)
    const fields = text.split('\t');
    if (fields.length !== CRITEO_FIELDS) {
      throw this.err(lineNo, `expected ${CRITEO_FIELDS} tab-separated fields (label, ${CRITEO_INT_COLUMNS} integer, ${CRITEO_CAT_COLUMNS} categorical), got ${fields.length}`);
    }
    const label01 = this.labels.parse(fields[0].trim(), lineNo);
    const row = this.row;
    for (let j = 1; j <= CRITEO_INT_COLUMNS; j++) {
      const f = fields[j].trim();
      if (f === '') continue;
      if (!INTEGER.test(f)) throw this.err(lineNo, `integer column I${j} (field ${j + 1}) is not an integer: '${f}'`);
      const x = Number(f);
      const v = x >= 0 ? Math.log1p(x) : -Math.log1p(-x);
      if (v !== 0) row.add(this.intBuckets[j - 1], v);
    }
    for (let j = 1; j <= CRITEO_CAT_COLUMNS; j++) {
      const f = fields[CRITEO_INT_COLUMNS + j].trim();
      if (f === '') continue;
      row.add(bucketOf(this.catPrefix[j - 1] + f, this.bits), 1);
    }
    row.flushTo(this.b);
    this.b.endRow(label01);
  };

  finish(): CsrDataset {
    if (this.b.rows === 0) throw new RingError('E_DATA', `${this.source}: no data rows`);
    return this.b.build(this.dim);
  }

  private err(lineNo: number, what: string): RingError {
    return new RingError('E_DATA_PARSE', `${this.source}:${lineNo}: ${what}`);
  }
}

/** Reads a Criteo-style TSV file synchronously in chunks. */
export function readCriteo(path: string, opts: CriteoOptions = {}): CsrDataset {
  const p = new CriteoParser(path, opts);
  readLinesSync(path, p.line);
  return p.finish();
}

/** Streams a Criteo-style TSV file. */
export async function loadCriteo(path: string, opts: CriteoOptions = {}): Promise<CsrDataset> {
  const p = new CriteoParser(path, opts);
  await readLines(path, p.line);
  return p.finish();
}

/** Parses Criteo-style TSV held in memory; `source` names it in errors. */
export function parseCriteo(text: string, source: string, opts: CriteoOptions = {}): CsrDataset {
  const p = new CriteoParser(source, opts);
  forEachLine(text, p.line);
  return p.finish();
}
