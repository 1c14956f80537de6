import { describe, it, expect } from 'vitest';
import { startRing, stopRing, expectRingsAgree } from '../helpers/ring.js';
import { StochasticCodec } from '../../src/codec/stochastic.js';
import { stochasticKernel } from '../../src/codec/stochastic-kernel.js';
import type { Codec } from '../../src/codec/codec.js';

/**
 * The ring's reduce-scatter with StochasticCodec.addDecodedThenEncode (modelled on
 * fused-ring.test.ts): real peers on loopback must end bit-identical to each other and to a ring
 * whose codec lacks the fused method (it then decodes, re-encodes and, as owner, decodes in
 * turn), values and residuals, with and without error feedback.
 */
const LEVELS = 7;

/** The stochastic codec without its fused method. */
function unfused(): Codec {
  const c: Codec = new StochasticCodec(LEVELS);
  return { name: c.name, id: c.id, lossless: c.lossless, segmentScale: c.segmentScale, encode: (v, ctx) => c.encode(v, ctx), decodeInto: (b, out, mode) => c.decodeInto(b, out, mode) };
}

describe('the ring reduce-scatter with the fused stochastic add+encode', () => {
  for (const n of [2, 3, 5]) {
    it(`N=${n}: the same bits (values and residuals) as the unfused sequence, over three steps`, async () => {
      const d = 150_001;
      const fusedRing = await startRing(n, { codec: () => new StochasticCodec(LEVELS), segmentBytes: 64 * 1024 });
      const plainRing = await startRing(n, { codec: unfused, segmentBytes: 64 * 1024 });
      try {
        // Peers 0 and 1 with error feedback, the others without (the ring passes what it is given).
        const withResidual = (r: number) => r < 2;
        const a = fusedRing.map((p, r) => {
          const v = p.allocVector(d);
          return { v, r: withResidual(r) ? p.allocResidual(v) : undefined };
        });
        const b = plainRing.map((p, r) => {
          const v = p.allocVector(d);
          return { v, r: withResidual(r) ? p.allocResidual(v) : undefined };
        });
        // Without WebAssembly SIMD (RINGTRAIN_NO_SIMD) there is no kernel: the bits must still match.
        const k = stochasticKernel();
        const before = k?.fused ?? 0;
        await expectRingsAgree(fusedRing, a, plainRing, b);
        // Every peer is in this process and shares the kernel; the plain ring never calls it fused.
        if (k) expect(k.fused - before, 'the fused kernel ran').toBeGreaterThan(0);
      } finally {
        await stopRing(fusedRing);
        await stopRing(plainRing);
      }
    }, 60_000);
  }
});
