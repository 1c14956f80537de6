import { extname } from 'node:path';
import { RingError } from '../errors.js';
import { CsrBuilder, type CsrDataset } from './csr.js';
import { CsvRecordReader } from './csv.js';
import { addTokenCounts, checkHashBits, DEFAULT_HASH_BITS, HashedRow, hashedDim, sublinearTf } from './hashing.js';
import { LabelParser } from './labels.js';
import { forEachLine, readLines, readLinesSync } from './lines.js';

/**
 * Labelled text in CSV/TSV with a header row, e.g.
 *   label,text
 *   1,"Win a FREE prize, click now"
 *
 * Each row's text becomes a hashed bag of words:
 * - tokens: maximal runs of letters/digits, lowercased (hashing.ts forEachToken);
 * - token t → bucket murmur3(t) mod 2^hashBits, counting occurrences per bucket;
 * - weight log(1 + count) per bucket (sublinear: the 10th "free" says less than the 1st), then the
 *   row is scaled to unit L2 norm, so long and short documents weigh alike and ||x|| <= 1 bounds the
 *   logistic-loss curvature (step sizes need no per-dataset tuning). Empty texts give empty rows.
 */
export interface TextOptions {
  /** log2 of the number of buckets (default 20). */
  hashBits?: number;
  /** Dimension of the result; must be >= 2^hashBits (default 2^hashBits). */
  dim?: number;
  /** Header name of the label column (default 'label'). */
  labelColumn?: string;
  /** Header name of the text column (default 'text'). */
  textColumn?: string;
  /** Field delimiter; default '\t' for .tsv/.tab files, else ','. */
  delimiter?: string;
  /**
   * Label value that means positive (e.g. 'spam'). When set, labels are compared as strings
   * (trimmed): this one → 1, `negativeLabel` → 0, anything else is an error; without
   * `negativeLabel`, every other value → 0. When unset, labels are numeric (-1/+1 or 0/1).
   */
  positiveLabel?: string;
  negativeLabel?: string;
}

export function defaultDelimiter(path: string): string {
  const ext = extname(path).toLowerCase();
  return ext === '.tsv' || ext === '.tab' ? '\t' : ',';
}

/** Record consumer shared by readTextCsv, loadTextCsv and parseTextCsv. */
export class TextCsvParser {
  private readonly b = new CsrBuilder();
  private readonly row = new HashedRow();
  private readonly labels: LabelParser;
  private readonly bits: number;
  private readonly dim: number;
  private readonly labelColumn: string;
  private readonly textColumn: string;
  private header: string[] | null = null;
  private labelAt = -1;
  private textAt = -1;
  private readonly csv: CsvRecordReader;

  constructor(
    private readonly source: string,
    private readonly opts: TextOptions = {},
  ) {
    this.bits = checkHashBits(opts.hashBits ?? DEFAULT_HASH_BITS);
    this.dim = hashedDim(this.bits, opts.dim);
    this.labelColumn = opts.labelColumn ?? 'label';
    this.textColumn = opts.textColumn ?? 'text';
    this.labels = new LabelParser(source);
    this.csv = new CsvRecordReader(source, opts.delimiter ?? defaultDelimiter(source), this.record);
  }

  readonly line = (text: string, lineNo: number): void => this.csv.line(text, lineNo);

  private readonly record = (fields: string[], startLine: number): void => {
    if (this.header === null) {
      this.readHeader(fields, startLine);
      return;
    }
    if (fields.length !== this.header.length) {
      throw this.err(startLine, `expected ${this.header.length} fields as in the header, got ${fields.length} (quote fields that contain the delimiter)`);
    }
    const label01 = this.label(fields[this.labelAt].trim(), startLine);
    addTokenCounts(this.row, fields[this.textAt], this.bits);
    this.row.flushTo(this.b, { weight: sublinearTf, l2normalize: true });
    this.b.endRow(label01);
  };

  private readHeader(fields: string[], lineNo: number): void {
    const names = fields.map((f) => f.trim());
    this.header = names;
    this.labelAt = names.indexOf(this.labelColumn);
    this.textAt = names.indexOf(this.textColumn);
    const have = names.map((n) => `'${n}'`).join(', ');
    if (this.labelAt < 0) throw this.err(lineNo, `no label column '${this.labelColumn}' in the header (columns: ${have}); set labelColumn`);
    if (this.textAt < 0) throw this.err(lineNo, `no text column '${this.textColumn}' in the header (columns: ${have}); set textColumn`);
  }

  private label(tok: string, lineNo: number): 0 | 1 {
    const { positiveLabel, negativeLabel } = this.opts;
    if (positiveLabel === undefined) return this.labels.parse(tok, lineNo);
    if (tok === positiveLabel) return 1;
    if (negativeLabel === undefined || tok === negativeLabel) return 0;
    throw this.err(lineNo, `label must be '${positiveLabel}' or '${negativeLabel}', got '${tok}'`);
  }

  finish(): CsrDataset {
    this.csv.end();
    if (this.header === null) throw new RingError('E_DATA', `${this.source}: empty file (expected a header row)`);
    if (this.b.rows === 0) throw new RingError('E_DATA', `${this.source}: no data rows after the header`);
    return this.b.build(this.dim);
  }

  private err(lineNo: number, what: string): RingError {
    return new RingError('E_DATA_PARSE', `${this.source}:${lineNo}: ${what}`);
  }
}

/** Reads a labelled CSV/TSV text file synchronously in chunks. */
export function readTextCsv(path: string, opts: TextOptions = {}): CsrDataset {
  const p = new TextCsvParser(path, opts);
  readLinesSync(path, p.line);
  return p.finish();
}

/** Streams a labelled CSV/TSV text file. */
export async function loadTextCsv(path: string, opts: TextOptions = {}): Promise<CsrDataset> {
  const p = new TextCsvParser(path, opts);
  await readLines(path, p.line);
  return p.finish();
}

/** Parses labelled CSV/TSV text held in memory; `source` names it in errors (and picks the delimiter by extension). */
export function parseTextCsv(text: string, source: string, opts: TextOptions = {}): CsrDataset {
  const p = new TextCsvParser(source, opts);
  forEachLine(text, p.line);
  return p.finish();
}
