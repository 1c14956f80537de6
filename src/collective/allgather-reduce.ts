import { buildFrame, expectHeader, payloadOf, Phase, readHeader, type FrameHeader } from '../transport/frame.js';
import { mod, segmentCount, trackSend } from './chunks.js';
import type { AllreduceOptions, RingLinks } from './ring-allreduce.js';

/**
 * Allgather of encoded gradients, then a local sum in rank order (DESIGN.md, "Compression in the
 * ring", design 2). Each peer encodes its own vector once; those exact bytes travel the ring and
 * every peer decodes all N encodings and adds them in the order 0, 1, …, N−1. Same bytes, same
 * order, same arithmetic: every peer ends bit-identical, and the sum is exact for the codec (no
 * re-quantization per hop). Costs (N−1)·encoded size per peer, so it pays off when the encoding
 * is much smaller than d/N floats (1-bit, sparse, low-level stochastic).
 */
export async function allgatherReduce(links: RingLinks | null, buf: Float32Array, o: AllreduceOptions<Float32Array>): Promise<void> {
  const { rank: r, size: n, codec } = o;
  const d = buf.length;
  const segs = segmentCount(d, o.segmentElems);
  const range = (k: number): [number, number] => [k * o.segmentElems, Math.min(d, (k + 1) * o.segmentElems)];
  const header = (k: number, count: number, origin: number): FrameHeader => ({
    codec: codec.id,
    phase: Phase.gatherEncoded,
    dtype: codec.dtype,
    generation: o.generation,
    step: o.step,
    chunk: 0,
    segment: k,
    count,
    origin,
  });
  // encoded[origin][k]: payload bytes of segment k of that rank's vector.
  const encoded: Uint8Array[][] = Array.from({ length: n }, () => new Array<Uint8Array>(segs));
  const pending: Promise<void>[] = [];
  for (let k = 0; k < segs; k++) {
    const [a, b] = range(k);
    const bytes = codec.encode(buf.subarray(a, b), { seed: o.seed, step: o.step, rank: r, chunk: 0, segment: k, residual: o.residual?.subarray(a, b) });
    const frame = buildFrame(header(k, b - a, r), bytes);
    encoded[r][k] = payloadOf(frame);
    if (links && n > 1) trackSend(pending, links.toSuccessor.send(frame));
  }
  if (links && n > 1) {
    const from = `rank ${mod(r - 1, n)}`;
    for (let s = 0; s < n - 1; s++) {
      const origin = mod(r - s - 1, n);
      for (let k = 0; k < segs; k++) {
        const [a, b] = range(k);
        const frame = await links.fromPredecessor.recv();
        expectHeader(readHeader(frame), header(k, b - a, origin), from);
        encoded[origin][k] = payloadOf(frame);
        if (s < n - 2) trackSend(pending, links.toSuccessor.send(frame));
      }
    }
  }
  for (let k = 0; k < segs; k++) {
    const [a, b] = range(k);
    const out = buf.subarray(a, b);
    for (let origin = 0; origin < n; origin++) codec.decodeInto(encoded[origin][k], out, origin === 0 ? 'set' : 'add');
  }
  await Promise.all(pending);
}
