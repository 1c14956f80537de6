import { dequantizeLevels, localScale, quantizeToLevels, MAX_SHARED_INT } from '../codec/shared.js';
import { RingError } from '../errors.js';

/**
 * Shared-scale integer quantization (QSGD levels with one scale for the whole ring):
 *  1. agree on scale = max over peers of max|v + residual| with one tiny exact allreduce
 *     (each peer fills its own slot of an N-vector, so the sum hands everyone every value);
 *  2. stochastically round v·levels/scale to integers (unbiased; PRNG keyed by seed/step/rank);
 *  3. sum the integer vectors with an exact ring allreduce: integers below 2^24 add exactly in
 *     float32 in any order, so the ring needs no re-quantization and no owner rounding;
 *  4. scale back. Every peer applies the same integers and the same scale: identical bytes.
 */
export interface SharedScaleRing {
  readonly rank: number;
  readonly size: number;
  /** Exact float64 allreduce (for the scale). */
  allreduceF64(v: Float64Array): Promise<void>;
  /** Lossless allreduce of integer-valued float32 vectors. */
  allreduceIntegers(v: Float32Array): Promise<void>;
}

export async function sharedScaleAllreduce(
  ring: SharedScaleRing,
  buf: Float32Array,
  levels: number,
  key: { seed: number; step: number },
  residual?: Float32Array,
): Promise<void> {
  if (levels * ring.size > MAX_SHARED_INT) {
    throw new RingError('E_CONFIG', `shared codec: levels (${levels}) × peers (${ring.size}) exceeds 2^24, the exact float32 integer range; lower codec.levels`);
  }
  const scales = new Float64Array(ring.size);
  scales[ring.rank] = localScale(buf, residual);
  await ring.allreduceF64(scales);
  let scale = 0;
  for (let i = 0; i < scales.length; i++) if (scales[i] > scale) scale = scales[i];
  if (!Number.isFinite(scale)) throw new RingError('E_CODEC', 'shared codec: a peer has a non-finite gradient (NaN or Inf); lower the learning rate');
  const ints = quantizeToLevels(buf, scale, levels, { seed: key.seed, step: key.step, rank: ring.rank, chunk: 0, segment: 0, residual });
  await ring.allreduceIntegers(ints);
  if (scale === 0) {
    buf.fill(0);
    return;
  }
  dequantizeLevels(ints, scale, levels, buf);
}
