import { readFileSync, existsSync } from 'node:fs';
import { RingError } from '../errors.js';
import { CsrBuilder, type CsrDataset } from './csr.js';

export interface LibsvmOptions {
  /** Fix the feature dimension (else: largest index seen). Indices >= dim are an error. */
  dim?: number;
}

/**
 * Reads a LIBSVM / svmlight file: `label idx:val idx:val ...`, 1-based indices.
 * Labels -1/+1 or 0/1 become 0/1. Errors name the file and line.
 */
export function readLibsvm(path: string, opts: LibsvmOptions = {}): CsrDataset {
  if (!existsSync(path)) throw new RingError('E_FILE_NOT_FOUND', `data file not found: ${path}`);
  const text = readFileSync(path, 'utf8');
  return parseLibsvm(text, path, opts);
}

export function parseLibsvm(text: string, source: string, opts: LibsvmOptions = {}): CsrDataset {
  const b = new CsrBuilder();
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    let line = lines[ln];
    const hash = line.indexOf('#');
    if (hash >= 0) line = line.slice(0, hash);
    line = line.trim();
    if (line === '') continue;
    const tokens = line.split(/\s+/);
    const where = `${source}:${ln + 1}`;
    const label = Number(tokens[0]);
    let label01: 0 | 1;
    if (label === 1) label01 = 1;
    else if (label === -1 || label === 0) label01 = 0;
    else throw new RingError('E_DATA_PARSE', `${where}: label must be -1, 0 or +1, got '${tokens[0]}'`);
    let prev = -1;
    for (let t = 1; t < tokens.length; t++) {
      const tok = tokens[t];
      const colon = tok.indexOf(':');
      if (colon <= 0) throw new RingError('E_DATA_PARSE', `${where}: expected idx:value, got '${tok}'`);
      const idx = Number(tok.slice(0, colon));
      const val = Number(tok.slice(colon + 1));
      if (!Number.isInteger(idx) || idx < 1) throw new RingError('E_DATA_PARSE', `${where}: feature index must be an integer >= 1, got '${tok}'`);
      if (!Number.isFinite(val)) throw new RingError('E_DATA_PARSE', `${where}: feature value is not a finite number: '${tok}'`);
      const i0 = idx - 1;
      if (i0 <= prev) throw new RingError('E_DATA_PARSE', `${where}: feature indices must be ascending ('${tok}')`);
      if (opts.dim !== undefined && i0 >= opts.dim) throw new RingError('E_DATA_PARSE', `${where}: feature index ${idx} exceeds dimension ${opts.dim}`);
      prev = i0;
      if (val !== 0) b.push(i0, val);
    }
    b.endRow(label01);
  }
  if (b.rows === 0) throw new RingError('E_DATA', `${source}: no data rows`);
  return b.build(opts.dim ?? b.observedDim);
}
