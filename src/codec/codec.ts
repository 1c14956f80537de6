/**
 * A codec turns one segment of a gradient chunk (Float32Array) into bytes and back.
 * The ring (collective/) calls encode on the sender and decodeInto on the receiver; it never
 * looks inside the bytes. Decoders must not trust their input: every length, index, count and
 * value is checked, and a bad frame throws RingError('E_CODEC', ...).
 */
export type CodecName = 'dense' | 'sparse' | 'onebit' | 'stochastic' | 'shared';

/** Wire ids, carried in every frame header. Never renumber. */
export const CodecIds: Record<CodecName, number> = {
  dense: 0,
  sparse: 1,
  onebit: 2,
  stochastic: 3,
  shared: 4,
};

export interface EncodeContext {
  /** Training seed from the config; with step/rank/chunk/segment it keys the PRNG. */
  readonly seed: number;
  readonly step: number;
  readonly rank: number;
  readonly chunk: number;
  readonly segment: number;
  /**
   * Error-feedback memory for exactly these positions (same length as the values), owned by this
   * peer. A codec with error feedback encodes (values + residual) and stores the new error back
   * into it. Absent when the caller wants no feedback.
   */
  readonly residual?: Float32Array;
}

export interface Codec {
  readonly name: CodecName;
  readonly id: number;
  /** decode(encode(v)) === v bit for bit. */
  readonly lossless: boolean;
  /**
   * Values per ring segment, as a multiple of a dense segment's (segmentBytes / 4); default 1.
   * A codec whose frames are much smaller than the values can take longer segments, so the fixed
   * cost of a frame (a send, a wake-up, a kernel call) is spread over more values.
   */
  readonly segmentScale?: number;
  /** Encodes values (not modified, except through ctx.residual). */
  encode(values: Float32Array, ctx: EncodeContext): Uint8Array;
  /**
   * Decodes bytes that encode exactly out.length values: 'set' overwrites out, 'add' adds into it.
   * Throws RingError('E_CODEC') when the bytes are malformed or do not match out.length.
   */
  decodeInto(bytes: Uint8Array, out: Float32Array, mode: 'set' | 'add'): void;
  /**
   * Optional, for lossy codecs that re-encode what they receive: decodeInto(bytes, values, 'add'),
   * then encode(values, ctx), then when setDecoded decodeInto(the result, values, 'set'), with the
   * same bytes, values and residual as those calls but fewer passes over memory. A malformed
   * frame throws E_CODEC before anything is written.
   */
  addDecodedThenEncode?(bytes: Uint8Array, values: Float32Array, ctx: EncodeContext, setDecoded: boolean): Uint8Array;
}
