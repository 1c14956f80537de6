import { RingError } from '../errors.js';
import { CsrBuilder, type CsrDataset } from './csr.js';
import { LabelParser, parseDecimalAt } from './labels.js';
import { forEachLine, readLines, readLinesSync } from './lines.js';

export interface LibsvmOptions {
  /** Fix the feature dimension (else: largest index seen + 1). Indices >= dim are an error. */
  dim?: number;
  /**
   * Index base of the file. `1`: LIBSVM's usual 1-based indices (feature k is column k-1).
   * `0`: 0-based. `'auto'` (default): 0-based if any index 0 appears anywhere in the file, else
   * 1-based. A 0-based file that never uses feature 0 is therefore read as 1-based (shifted by one);
   * pass `indexBase: 0` for such files.
   */
  indexBase?: 0 | 1 | 'auto';
}

/**
 * The one LIBSVM/SVMlight line parser behind readLibsvm, loadLibsvm and parseLibsvm.
 *
 * Line format: `label [qid:N] idx:val idx:val ... [# comment]`. Tokens are separated by spaces or
 * tabs; trailing spaces and CRLF are fine; blank and comment-only lines are skipped. Labels: see
 * LabelParser. `qid:` tokens are skipped. Indices must be strictly ascending within a row (what
 * liblinear requires). Explicit zero values are not stored, but their index still counts for the
 * dimension (files add e.g. `123:0` to pin the dimension).
 */
export class LibsvmParser {
  private readonly b = new CsrBuilder();
  private readonly labels: LabelParser;
  private maxRaw = -1;
  private maxRawLine = 0;
  private zeroLine = 0;

  constructor(
    private readonly source: string,
    private readonly opts: LibsvmOptions = {},
  ) {
    this.labels = new LabelParser(source);
    const base = opts.indexBase ?? 'auto';
    if (base !== 0 && base !== 1 && base !== 'auto') {
      throw new RingError('E_DATA', `indexBase must be 0, 1 or 'auto', got ${String(base)}`);
    }
    if (opts.dim !== undefined && !(Number.isInteger(opts.dim) && opts.dim >= 0)) {
      throw new RingError('E_DATA', `dim must be a non-negative integer, got ${opts.dim}`);
    }
  }

  readonly line = (text: string, lineNo: number): void => {
    const hash = text.indexOf('#');
    const end = hash >= 0 ? hash : text.length;
    let i = skipBlanks(text, 0, end);
    if (i === end) return;
    let j = tokenEnd(text, i, end);
    const label01 = this.labels.parse(text.slice(i, j), lineNo);
    let prev = -1;
    for (i = skipBlanks(text, j, end); i < end; i = skipBlanks(text, j, end)) {
      j = tokenEnd(text, i, end);
      // Fast path: digits then ':'. Anything else is qid:N or an error, sorted out off the hot path.
      let colon = i;
      let raw = 0;
      while (colon < j) {
        const d = text.charCodeAt(colon) - 48;
        if (d < 0 || d > 9) break;
        raw = raw * 10 + d;
        colon++;
      }
      if (colon === i || colon === j || text.charCodeAt(colon) !== 58 || colon - i > 10 || raw >= 0xffffffff) {
        const c = text.indexOf(':', i);
        if (c < 0 || c >= j || c === i) throw this.err(lineNo, `expected idx:value, got '${text.slice(i, j)}'`);
        // qid:N (SVMlight ranking files) carries no feature.
        if (c - i === 3 && text.startsWith('qid', i)) continue;
        throw this.err(lineNo, `feature index must be a non-negative integer, got '${text.slice(i, j)}'`);
      }
      const val = parseDecimalAt(text, colon + 1, j);
      if (!(Math.abs(val) <= F32_MAX)) throw this.err(lineNo, `feature value is not a finite decimal number in float32 range: '${text.slice(i, j)}'`);
      if (raw <= prev) throw this.err(lineNo, `feature indices must be strictly ascending ('${text.slice(i, j)}' after index ${prev})`);
      if (raw === 0) {
        if (this.opts.indexBase === 1) throw this.err(lineNo, `feature index 0 in a file read as 1-based (indexBase: 1)`);
        if (this.zeroLine === 0) this.zeroLine = lineNo;
      }
      prev = raw;
      if (raw > this.maxRaw) {
        this.maxRaw = raw;
        this.maxRawLine = lineNo;
      }
      if (val !== 0) this.b.push(raw, val);
    }
    this.b.endRow(label01);
  };

  /** Closes the dataset: resolves the index base and checks the dimension. */
  finish(): CsrDataset {
    if (this.b.rows === 0) throw new RingError('E_DATA', `${this.source}: no data rows`);
    const base = this.indexBase();
    const observedDim = this.maxRaw + 1 - base;
    const dim = this.opts.dim ?? observedDim;
    if (observedDim > dim) {
      throw this.err(this.maxRawLine, `feature index ${this.maxRaw} exceeds dimension ${dim} (indices read as ${base}-based)`);
    }
    const ds = this.b.build(dim);
    if (base === 1) {
      const ix = ds.indices;
      for (let p = 0; p < ix.length; p++) ix[p] -= 1;
    }
    return ds;
  }

  /** The base actually used: explicit, or 0 if some index 0 was seen. */
  indexBase(): 0 | 1 {
    const base = this.opts.indexBase ?? 'auto';
    if (base !== 'auto') return base;
    return this.zeroLine > 0 ? 0 : 1;
  }

  private err(lineNo: number, what: string): RingError {
    return new RingError('E_DATA_PARSE', `${this.source}:${lineNo}: ${what}`);
  }
}

const F32_MAX = 3.4028234663852886e38;

function skipBlanks(s: string, i: number, end: number): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13 && c !== 11 && c !== 12) break;
    i++;
  }
  return i;
}

function tokenEnd(s: string, i: number, end: number): number {
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 9 || c === 13 || c === 11 || c === 12) break;
    i++;
  }
  return i;
}

/**
 * Reads a LIBSVM / svmlight file synchronously (1 MiB chunks; no whole-file string).
 * Labels -1/+1 or 0/1 become 0/1. Errors name the file and line.
 */
export function readLibsvm(path: string, opts: LibsvmOptions = {}): CsrDataset {
  const p = new LibsvmParser(path, opts);
  readLinesSync(path, p.line);
  return p.finish();
}

/** Streams a LIBSVM / svmlight file (same rules as readLibsvm). */
export async function loadLibsvm(path: string, opts: LibsvmOptions = {}): Promise<CsrDataset> {
  const p = new LibsvmParser(path, opts);
  await readLines(path, p.line);
  return p.finish();
}

/** Parses LIBSVM text held in memory; `source` names it in errors. */
export function parseLibsvm(text: string, source: string, opts: LibsvmOptions = {}): CsrDataset {
  const p = new LibsvmParser(source, opts);
  forEachLine(text, p.line);
  return p.finish();
}
