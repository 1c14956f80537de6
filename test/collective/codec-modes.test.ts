import { describe, it, expect } from 'vitest';
import { startRing, stopRing, seededVector, sameBytes } from '../helpers/ring.js';
import { createCodec, type CodecName } from '../../src/codec/index.js';

/** Sparse-ish gradients: most entries zero, like κ·x over a mini-batch. */
function sparseVector(d: number, seed: number): Float32Array {
  const v = seededVector(d, seed, 1);
  const mask = seededVector(d, seed + 999, 1);
  for (let i = 0; i < d; i++) if (mask[i] < 0.8) v[i] = 0;
  return v;
}

const CASES: Array<{ codec: CodecName; mode: 'requantize' | 'allgather' }> = [
  { codec: 'sparse', mode: 'requantize' },
  { codec: 'sparse', mode: 'allgather' },
  { codec: 'onebit', mode: 'requantize' },
  { codec: 'onebit', mode: 'allgather' },
  { codec: 'stochastic', mode: 'requantize' },
  { codec: 'stochastic', mode: 'allgather' },
  { codec: 'shared', mode: 'requantize' },
];

describe('codecs in the ring: every peer ends bit-identical', () => {
  for (const { codec, mode } of CASES) {
    it(`${codec} / ${mode}, N = 1..8`, async () => {
      for (const n of [1, 2, 3, 4, 5, 8]) {
        const peers = await startRing(n, { codecName: codec, mode, segmentBytes: 8192 });
        try {
          for (const d of [0, 1, n + 1, 5003]) {
            const inputs = peers.map((_, r) => sparseVector(d, 31 * d + r));
            const bufs = inputs.map((v) => v.slice());
            const residuals = peers.map(() => new Float32Array(d));
            await Promise.all(peers.map((p, r) => p.allreduce(bufs[r], residuals[r])));
            for (let r = 1; r < n; r++) expect(sameBytes(bufs[r], bufs[0]), `${codec}/${mode} N=${n} d=${d} rank ${r}`).toBe(true);
            for (let i = 0; i < d; i++) expect(Number.isFinite(bufs[0][i])).toBe(true);
            if (codec === 'sparse') {
              // Lossless: equal to the naive sum up to float32 rounding.
              for (let i = 0; i < d; i++) {
                let ref = 0;
                let abs = 0;
                for (const v of inputs) {
                  ref += v[i];
                  abs += Math.abs(v[i]);
                }
                expect(Math.abs(bufs[0][i] - ref)).toBeLessThanOrEqual((n + 1) * 2 ** -24 * abs);
              }
            }
          }
        } finally {
          await stopRing(peers);
        }
      }
    });
  }

  it('allgather mode equals the rank-order sum of each peer\'s decoded encoding (independent reference)', async () => {
    const n = 4;
    const d = 3001;
    const peers = await startRing(n, { codecName: 'onebit', mode: 'allgather', segmentBytes: 4096 });
    try {
      const inputs = peers.map((_, r) => seededVector(d, 500 + r));
      const bufs = inputs.map((v) => v.slice());
      await Promise.all(peers.map((p, r) => p.allreduce(bufs[r])));
      const codec = createCodec('onebit');
      // A 1-bit segment holds segmentScale times a dense segment's values.
      const seg = (4096 / 4) * (codec.segmentScale ?? 1);
      expect(seg).toBe(2048);
      const ref = new Float32Array(d);
      for (let a = 0, k = 0; a < d; a += seg, k++) {
        const out = ref.subarray(a, Math.min(d, a + seg));
        for (let r = 0; r < n; r++) {
          // The step is 1: the readiness barrier used step 0.
          const bytes = codec.encode(inputs[r].subarray(a, Math.min(d, a + seg)), { seed: 7, step: 1, rank: r, chunk: 0, segment: k });
          codec.decodeInto(bytes, out, r === 0 ? 'set' : 'add');
        }
      }
      expect(sameBytes(bufs[0], ref)).toBe(true);
    } finally {
      await stopRing(peers);
    }
  });

  it('stochastic ring sums are unbiased: the mean over many steps approaches the true sum', async () => {
    const n = 3;
    const d = 64;
    const peers = await startRing(n, { codecName: 'stochastic', mode: 'allgather', segmentBytes: 4096 });
    try {
      const inputs = peers.map((_, r) => seededVector(d, 900 + r));
      const truth = new Float64Array(d);
      for (const v of inputs) for (let i = 0; i < d; i++) truth[i] += v[i];
      const mean = new Float64Array(d);
      const T = 400;
      for (let t = 0; t < T; t++) {
        const bufs = inputs.map((v) => v.slice());
        await Promise.all(peers.map((p, r) => p.allreduce(bufs[r])));
        for (let i = 0; i < d; i++) mean[i] += bufs[0][i] / T;
      }
      let err = 0;
      let norm = 0;
      for (let i = 0; i < d; i++) {
        err += (mean[i] - truth[i]) ** 2;
        norm += truth[i] ** 2;
      }
      expect(Math.sqrt(err / norm)).toBeLessThan(0.15);
    } finally {
      await stopRing(peers);
    }
  });
});
