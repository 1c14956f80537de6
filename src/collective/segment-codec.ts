import { RingError } from '../errors.js';
import type { Codec, EncodeContext } from '../codec/codec.js';
import { DType, type DTypeId } from '../transport/frame.js';

/** What the ring needs from a codec, for either element type. */
export interface SegmentCodec<T extends Float32Array | Float64Array> {
  readonly id: number;
  readonly lossless: boolean;
  readonly dtype: DTypeId;
  /**
   * encode() returns the values' own bytes and decodeInto(…, 'set') copies bytes back exactly, so
   * a received segment can be forwarded from the vector instead of from the frame (zero-copy).
   */
  readonly raw?: boolean;
  encode(values: T, ctx: EncodeContext): Uint8Array;
  decodeInto(bytes: Uint8Array, out: T, mode: 'set' | 'add'): void;
  /** Codec.addDecodedThenEncode, when the codec has it. */
  addDecodedThenEncode?(bytes: Uint8Array, values: T, ctx: EncodeContext, setDecoded: boolean): Uint8Array;
}

export function f32Codec(codec: Codec): SegmentCodec<Float32Array> {
  return {
    id: codec.id,
    lossless: codec.lossless,
    dtype: DType.f32,
    raw: codec.name === 'dense',
    encode: (v, ctx) => codec.encode(v, ctx),
    decodeInto: (b, out, mode) => codec.decodeInto(b, out, mode),
    ...(codec.addDecodedThenEncode && {
      addDecodedThenEncode: (b: Uint8Array, v: Float32Array, ctx: EncodeContext, setDecoded: boolean) => codec.addDecodedThenEncode!(b, v, ctx, setDecoded),
    }),
  };
}

/** Exact float64 transfer for small control vectors (losses, counts, digests) and exact optimizers. */
export const f64Codec: SegmentCodec<Float64Array> = {
  id: 0,
  lossless: true,
  dtype: DType.f64,
  raw: true,
  encode(values) {
    return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  },
  decodeInto(bytes, out, mode) {
    if (bytes.byteLength !== out.length * 8) {
      throw new RingError('E_CODEC', `f64 segment has ${bytes.byteLength} bytes, expected ${out.length * 8}`);
    }
    let src: Float64Array;
    if (bytes.byteOffset % 8 === 0) {
      src = new Float64Array(bytes.buffer, bytes.byteOffset, out.length);
    } else {
      // Socket buffers can start anywhere; copy once to get an aligned view. (Buffer#slice
      // would not copy, hence the explicit set.)
      src = new Float64Array(out.length);
      new Uint8Array(src.buffer).set(bytes);
    }
    if (mode === 'set') {
      out.set(src);
      return;
    }
    for (let i = 0; i < out.length; i++) out[i] += src[i];
  },
};
