import { describe, it, expect } from 'vitest';
import { startRing, stopRing, expectRingsAgree } from '../helpers/ring.js';
import { OneBitCodec } from '../../src/codec/onebit.js';
import type { Codec } from '../../src/codec/codec.js';
import { oneBitArenaKernel } from '../../src/codec/onebit-kernel.js';

/** The 1-bit codec without its fused method: the ring then decodes, re-encodes and decodes in turn. */
function unfused(): Codec {
  const c = new OneBitCodec();
  return { name: c.name, id: c.id, lossless: c.lossless, segmentScale: c.segmentScale, encode: (v, ctx) => c.encode(v, ctx), decodeInto: (b, out, mode) => c.decodeInto(b, out, mode) };
}

describe('the ring reduce-scatter with the fused 1-bit add+encode', () => {
  for (const n of [2, 3, 5]) {
    it(`N=${n}: the same bits (values and residuals) as the unfused sequence, over three steps, on ring vectors`, async () => {
      const d = 150_001;
      const fusedRing = await startRing(n, { codecName: 'onebit', segmentBytes: 64 * 1024 });
      const plainRing = await startRing(n, { codec: unfused, segmentBytes: 64 * 1024 });
      try {
        const a = fusedRing.map((p) => {
          const v = p.allocVector(d);
          return { v, r: p.allocResidual(v) };
        });
        const b = plainRing.map((p) => {
          const v = p.allocVector(d);
          return { v, r: p.allocResidual(v) };
        });
        // Without WebAssembly SIMD (RINGTRAIN_NO_SIMD) there is no kernel: the bits must still match.
        const fusedCalls = (v: Float32Array) => {
          const k = oneBitArenaKernel(v.buffer);
          return k ? k.fusedInStaging + k.fusedViaScratch : null;
        };
        const before = a.map((x) => fusedCalls(x.v));
        await expectRingsAgree(fusedRing, a, plainRing, b);
        for (let r = 0; r < n; r++) if (before[r] !== null) expect(fusedCalls(a[r].v), `rank ${r} ran the fused kernel`).toBeGreaterThan(before[r]!);
      } finally {
        await stopRing(fusedRing);
        await stopRing(plainRing);
      }
    }, 60_000);
  }
});
