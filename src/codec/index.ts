/** The codec layer's entry point: a factory by name, a lookup by wire id, and re-exports. */
import { CodecIds, type Codec, type CodecName } from './codec.js';
import { codecError } from './bytes.js';
import { DenseCodec } from './dense.js';
import { OneBitCodec } from './onebit.js';
import { SharedLevelsCodec } from './shared.js';
import { SparseCodec } from './sparse.js';
import { DEFAULT_STOCHASTIC_LEVELS, StochasticCodec } from './stochastic.js';

export * from './codec.js';
export { DenseCodec } from './dense.js';
export { SparseCodec } from './sparse.js';
export { OneBitCodec } from './onebit.js';
export { StochasticCodec, MAX_STOCHASTIC_LEVELS, DEFAULT_STOCHASTIC_LEVELS } from './stochastic.js';
export { SharedLevelsCodec, quantizeToLevels, dequantizeLevels, localScale, MAX_SHARED_INT, DEFAULT_SHARED_LEVELS } from './shared.js';
export { Prng, PrngStream, type PrngKey } from './prng.js';

export interface CodecOptions {
  /** Stochastic codec: levels s (default DEFAULT_STOCHASTIC_LEVELS = 7). Ignored by the others. */
  levels?: number;
}

/**
 * A new codec instance (each keeps its own scratch buffers; use one per link or per thread of
 * work, they are cheap).
 */
export function createCodec(name: CodecName, opts: CodecOptions = {}): Codec {
  switch (name) {
    case 'dense':
      return new DenseCodec();
    case 'sparse':
      return new SparseCodec();
    case 'onebit':
      return new OneBitCodec();
    case 'stochastic':
      return new StochasticCodec(opts.levels ?? DEFAULT_STOCHASTIC_LEVELS);
    case 'shared':
      return new SharedLevelsCodec();
  }
  // Reached only from untyped callers (a config value that skipped validation).
  throw codecError(`unknown codec name ${String(name)}`);
}

const NAMES_BY_ID: ReadonlyMap<number, CodecName> = new Map(
  (Object.keys(CodecIds) as CodecName[]).map((name) => [CodecIds[name], name]),
);

/** The codec name for a wire id; an unknown id (from an untrusted frame header) throws E_CODEC. */
export function codecNameById(id: number): CodecName {
  const name = NAMES_BY_ID.get(id);
  if (name === undefined) throw codecError(`unknown codec id ${id} in frame header`);
  return name;
}

/**
 * A codec for a wire id. Every decoder reads what it needs from the frame (the stochastic one
 * reads s), so the result decodes any frame of that id; opts matter only for encoding.
 */
export function codecById(id: number, opts: CodecOptions = {}): Codec {
  return createCodec(codecNameById(id), opts);
}
