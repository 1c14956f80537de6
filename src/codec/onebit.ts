/**
 * 1-bit SGD (Seide et al. 2014): one sign bit per value plus two scales per segment.
 *
 * Frame (little-endian), n = out.length:
 *   bytes 0..3  avg+ (f32): mean of the values ≥ 0 (0 when there are none)
 *   bytes 4..7  avg- (f32): mean of the values < 0 (0 when there are none)
 *   bytes 8..   ceil(n/8) bytes of sign bits, value i at bit (i % 8) of byte 8 + ⌊i/8⌋;
 *               1 = value ≥ 0 (so -0 counts as non-negative); unused high bits of the last byte 0
 *                                                                    → 8 + ceil(n/8) bytes
 * Decoded value i = avg+ if its bit is 1, else avg-.
 *
 * The means are taken in f64 and rounded once to f32; the decoded value is exactly that f32, on
 * every peer. Error feedback (Karimireddy et al. 2019): with ctx.residual, the codec encodes
 * u = values + residual and stores residual = u - decoded, so what a step loses the next step
 * sends; without feedback 1-bit is biased and training can stall. The residual stays bounded
 * (the codec is a projection, so ||u - decoded|| ≤ ||u||) but is not small: a few times the
 * gradient's spread on long segments.
 *
 * The decoder rejects: wrong length, a non-finite scale, avg+ < 0 or avg- > 0 (impossible for
 * means of those sets), and non-zero padding bits.
 */
import { CodecIds, type Codec, type EncodeContext } from './codec.js';
import { codecError, dataView, usageError } from './bytes.js';

const HEADER = 8;

export class OneBitCodec implements Codec {
  readonly name = 'onebit' as const;
  readonly id = CodecIds.onebit;
  readonly lossless = false;
  private zeroBuf = new Float32Array(0);

  /** n zeros, the residual of an encode without error feedback. */
  private zeros(n: number): Float32Array {
    if (this.zeroBuf.length < n) this.zeroBuf = new Float32Array(n);
    return this.zeroBuf.subarray(0, n);
  }

  encode(values: Float32Array, ctx: EncodeContext): Uint8Array {
    const n = values.length;
    const res = ctx.residual;
    if (res !== undefined && res.length !== n) {
      throw usageError(`onebit encode: residual has ${res.length} values, segment has ${n}`);
    }
    // u = values + residual, in f64 (exact), is never stored: both passes recompute it, which
    // costs less than writing and re-reading an f64 copy (4 passes over memory became 2).
    const r = res ?? this.zeros(n);

    // The two means, in f64. Signs of gradients are coin flips, so the loops avoid branches on
    // them (a mispredicted branch per value cost 4-7× here): b·x adds x or an exact zero.
    // NaN/±Infinity poison both sums (0·Infinity is NaN), which the check below catches.
    let sumPos = 0, sumNeg = 0, cntPos = 0;
    for (let i = 0; i < n; i++) {
      const x = values[i] + r[i];
      const b = +(x >= 0);
      sumPos += b * x;
      sumNeg += (1 - b) * x;
      cntPos += b;
    }
    const cntNeg = n - cntPos;
    const scales = new Float32Array(2); // [avg-, avg+], indexed by the sign bit
    scales[1] = cntPos === 0 ? 0 : sumPos / cntPos;
    scales[0] = cntNeg === 0 ? 0 : sumNeg / cntNeg;
    if (!Number.isFinite(scales[0]) || !Number.isFinite(scales[1])) throw notEncodable(values, r);

    // Sign bits and the new residual (u - decoded) in one pass; nothing was written to the
    // residual before the checks above.
    const bytes = new Uint8Array(HEADER + ((n + 7) >>> 3));
    const dv = dataView(bytes);
    dv.setFloat32(0, scales[1], true);
    dv.setFloat32(4, scales[0], true);
    const out = res ?? null;
    let byte = 0;
    for (let i = 0; i < n; i++) {
      const x = values[i] + r[i];
      const b = +(x >= 0);
      byte |= b << (i & 7);
      if (out !== null) out[i] = x - scales[b];
      if ((i & 7) === 7) {
        bytes[HEADER + (i >>> 3)] = byte;
        byte = 0;
      }
    }
    if ((n & 7) !== 0) bytes[HEADER + (n >>> 3)] = byte;
    return bytes;
  }

  /** Checks everything before writing, so on E_CODEC out is unchanged. */
  decodeInto(bytes: Uint8Array, out: Float32Array, mode: 'set' | 'add'): void {
    const n = out.length;
    const expected = HEADER + ((n + 7) >>> 3);
    if (bytes.length !== expected) {
      throw codecError(`onebit frame: ${bytes.length} bytes, expected ${expected} for ${n} values`);
    }
    const dv = dataView(bytes);
    const pos = dv.getFloat32(0, true);
    const neg = dv.getFloat32(4, true);
    if (!Number.isFinite(pos) || !Number.isFinite(neg)) {
      throw codecError(`onebit frame: scales must be finite, got avg+ ${pos}, avg- ${neg}`);
    }
    if (pos < 0 || neg > 0) {
      throw codecError(`onebit frame: avg+ must be >= 0 and avg- <= 0, got ${pos} and ${neg}`);
    }
    const tail = n & 7;
    if (tail !== 0 && bytes[expected - 1] >>> tail !== 0) {
      throw codecError('onebit frame: padding bits after the last value are not zero');
    }

    // Table lookup instead of `bit ? pos : neg`: the bits are random, branches would mispredict.
    const t = new Float32Array(2);
    t[0] = neg;
    t[1] = pos;
    const full = n >>> 3;
    if (mode === 'set') {
      for (let j = 0; j < full; j++) {
        const b = bytes[HEADER + j];
        const o = j << 3;
        out[o] = t[b & 1];
        out[o + 1] = t[(b >>> 1) & 1];
        out[o + 2] = t[(b >>> 2) & 1];
        out[o + 3] = t[(b >>> 3) & 1];
        out[o + 4] = t[(b >>> 4) & 1];
        out[o + 5] = t[(b >>> 5) & 1];
        out[o + 6] = t[(b >>> 6) & 1];
        out[o + 7] = t[b >>> 7];
      }
      for (let i = full << 3; i < n; i++) out[i] = t[(bytes[HEADER + full] >>> (i & 7)) & 1];
    } else {
      for (let j = 0; j < full; j++) {
        const b = bytes[HEADER + j];
        const o = j << 3;
        out[o] += t[b & 1];
        out[o + 1] += t[(b >>> 1) & 1];
        out[o + 2] += t[(b >>> 2) & 1];
        out[o + 3] += t[(b >>> 3) & 1];
        out[o + 4] += t[(b >>> 4) & 1];
        out[o + 5] += t[(b >>> 5) & 1];
        out[o + 6] += t[(b >>> 6) & 1];
        out[o + 7] += t[b >>> 7];
      }
      for (let i = full << 3; i < n; i++) out[i] += t[(bytes[HEADER + full] >>> (i & 7)) & 1];
    }
  }
}

function notEncodable(values: Float32Array, residual: Float32Array) {
  for (let i = 0; i < values.length; i++) {
    const u = values[i] + residual[i];
    if (!Number.isFinite(u)) {
      return codecError(`onebit encode: value at index ${i} is ${u} (gradient + residual); only finite values can be sent`, { index: i });
    }
  }
  return codecError('onebit encode: a mean of the values overflows float32');
}
