/**
 * What an optimizer is handed: its rank, the ring size, and a way to sum vectors across the
 * ring. It never sees sockets. allreduce sums element-wise in place and every peer ends with
 * identical bytes; Float64Array goes through exactly (dense f64), Float32Array through the
 * configured gradient codec.
 */
export interface RingContext {
  readonly rank: number;
  readonly size: number;
  allreduce(v: Float32Array | Float64Array): Promise<void>;
}
