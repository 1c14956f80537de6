import { describe, it, expect } from 'vitest';
import { CodecIds, codecById, codecNameById, createCodec, type CodecName } from '../../src/codec/index.js';
import { DEFAULT_STOCHASTIC_LEVELS, StochasticCodec } from '../../src/codec/stochastic.js';
import { ctxFor, expectCodecError, gaussianVector } from './util.js';

const names: CodecName[] = ['dense', 'sparse', 'onebit', 'stochastic', 'shared'];

describe('codec factory', () => {
  it('creates each codec by name with its wire id and lossless flag', () => {
    const lossless: Record<CodecName, boolean> = { dense: true, sparse: true, onebit: false, stochastic: false, shared: true };
    for (const name of names) {
      const c = createCodec(name);
      expect(c.name).toBe(name);
      expect(c.id).toBe(CodecIds[name]);
      expect(c.lossless).toBe(lossless[name]);
      expect(codecById(CodecIds[name]).name).toBe(name);
      expect(codecNameById(CodecIds[name])).toBe(name);
    }
  });

  it('passes levels to the stochastic codec, and any instance decodes any s', () => {
    const c = createCodec('stochastic', { levels: 8 }) as StochasticCodec;
    expect(c.levels).toBe(8);
    expect((createCodec('stochastic') as StochasticCodec).levels).toBe(DEFAULT_STOCHASTIC_LEVELS);
    expect(DEFAULT_STOCHASTIC_LEVELS).toBe(7);
    const v = gaussianVector(50, 1);
    const a = new Float32Array(50);
    const b = new Float32Array(50);
    const bytes = c.encode(v, ctxFor(1));
    c.decodeInto(bytes, a, 'set');
    codecById(CodecIds.stochastic).decodeInto(bytes, b, 'set');
    expect(b).toEqual(a);
  });

  it('rejects unknown ids (they come from untrusted frame headers) and names', () => {
    for (const id of [-1, 5, 255, 1.5, Number.NaN]) expectCodecError(() => codecById(id), /unknown codec id/);
    expectCodecError(() => createCodec('zstd' as CodecName), /unknown codec name/);
  });
});
