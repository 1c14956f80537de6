import { extname } from 'node:path';
import { RingError } from '../errors.js';
import type { CsrDataset } from './csr.js';
import { loadCriteo } from './criteo.js';
import { parseDecimal } from './labels.js';
import { loadLibsvm } from './libsvm.js';
import { checkReadableFile, readFirstLine } from './lines.js';
import { loadTextCsv } from './text.js';

export type DataFormat = 'libsvm' | 'criteo' | 'text';

export interface DatasetSpec {
  path: string;
  /** Default 'auto': see detectFormat. */
  format?: DataFormat | 'auto';
  /**
   * Feature dimension. LIBSVM: fixes it; an index >= dim is an error (omit it to take largest
   * index + 1; see agreeDim in shard.ts for combining it with a configured dim). Hashed formats:
   * must be >= 2^hashBits (default 2^hashBits).
   */
  dim?: number;
  /** Hashed formats (criteo, text): log2 of the bucket count (default 20). */
  hashBits?: number;
  /** LIBSVM: index base (default 'auto': 0-based iff some index is 0). */
  indexBase?: 0 | 1 | 'auto';
  /** Text: header names of the label and text columns (defaults 'label', 'text'). */
  labelColumn?: string;
  textColumn?: string;
  /** Text: field delimiter (default by extension: '\t' for .tsv, else ','). */
  delimiter?: string;
  /** Text: string labels (e.g. 'spam' / 'ham') instead of numeric ones. */
  positiveLabel?: string;
  negativeLabel?: string;
}

/**
 * Format from the file name (and, for .tsv, the first line):
 * - `.csv` → text (CSV with a header row);
 * - `.tsv` / `.tab` → criteo, unless the first field of the first line is not a number (a header
 *   row, as in `label\ttext`), then text;
 * - anything else (`.txt`, `.svm`, `.libsvm`, no extension, …) → libsvm.
 * Criteo's own `train.txt` therefore needs `format: 'criteo'`.
 */
export function detectFormat(path: string): DataFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return 'text';
  if (ext === '.tsv' || ext === '.tab') {
    const first = readFirstLine(path).split('\t')[0].trim();
    return Number.isNaN(parseDecimal(first)) && first !== '' ? 'text' : 'criteo';
  }
  return 'libsvm';
}

/** Loads a dataset file (streaming) in the given or detected format. */
export async function loadDataset(spec: DatasetSpec): Promise<CsrDataset> {
  const format = spec.format ?? 'auto';
  checkReadableFile(spec.path);
  const resolved = format === 'auto' ? detectFormat(spec.path) : format;
  switch (resolved) {
    case 'libsvm':
      return loadLibsvm(spec.path, { dim: spec.dim, indexBase: spec.indexBase });
    case 'criteo':
      return loadCriteo(spec.path, { dim: spec.dim, hashBits: spec.hashBits });
    case 'text':
      return loadTextCsv(spec.path, {
        dim: spec.dim,
        hashBits: spec.hashBits,
        labelColumn: spec.labelColumn,
        textColumn: spec.textColumn,
        delimiter: spec.delimiter,
        positiveLabel: spec.positiveLabel,
        negativeLabel: spec.negativeLabel,
      });
    default:
      throw new RingError('E_DATA', `unknown data format '${String(format)}' (use libsvm, criteo, text or auto)`);
  }
}

export { type CsrDataset, CsrBuilder, selectRows } from './csr.js';
export { readLibsvm, loadLibsvm, parseLibsvm, type LibsvmOptions } from './libsvm.js';
export { readCriteo, loadCriteo, parseCriteo, type CriteoOptions } from './criteo.js';
export { readTextCsv, loadTextCsv, parseTextCsv, type TextOptions } from './text.js';
export { loadSpamAssassin, type SpamOptions, type SpamDataset, type SpamInfo } from './spam.js';
export { shardRows, shardDataset, sliceRows, datasetDigest, agreeDim, withDim } from './shard.js';
export { stratifiedSplit, splitDataset } from './split.js';
export { murmur3, bucketOf, tokenize, HASH_SEED } from './hashing.js';
