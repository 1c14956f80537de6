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
 * The means are taken in f64 (two interleaved partial sums per sign) and rounded once to f32;
 * the decoded value is exactly that f32, on every peer. Error feedback (Karimireddy et al.
 * 2019): with ctx.residual, the codec encodes u = values + residual and stores
 * residual = u - decoded, so what a step loses the next step sends; without feedback 1-bit is biased and training can stall. The residual stays bounded
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

  private discardBuf = new Float32Array(0);

  /** n zeros, the residual of an encode without error feedback. */
  private zeros(n: number): Float32Array {
    if (this.zeroBuf.length < n) this.zeroBuf = new Float32Array(n);
    return this.zeroBuf.subarray(0, n);
  }

  /** Where the residual of an encode without error feedback goes (never read). */
  private discard(n: number): Float32Array {
    if (this.discardBuf.length < n) this.discardBuf = new Float32Array(n);
    return this.discardBuf.subarray(0, n);
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

    // The two means, in f64, as two interleaved partial sums per sign: four independent add
    // chains instead of one loop-carried pair (measured here: 2.7 vs 16 ns per value for the
    // branch-free `b·x` form, 11 ns for one accumulator per sign). The order differs from a
    // plain left-to-right sum only in the last bits of the f64 sums, below the f32 rounding.
    // NaN/±Infinity end up in a sum (NaN fails x >= 0 and goes to the negative side), which the
    // check below catches.
    let pos0 = 0, pos1 = 0, neg0 = 0, neg1 = 0, cntPos = 0;
    let i = 0;
    for (; i + 2 <= n; i += 2) {
      const x0 = values[i] + r[i];
      const x1 = values[i + 1] + r[i + 1];
      if (x0 >= 0) {
        pos0 += x0;
        cntPos++;
      } else neg0 += x0;
      if (x1 >= 0) {
        pos1 += x1;
        cntPos++;
      } else neg1 += x1;
    }
    if (i < n) {
      const x = values[i] + r[i];
      if (x >= 0) {
        pos0 += x;
        cntPos++;
      } else neg0 += x;
    }
    const sumPos = pos0 + pos1;
    const sumNeg = neg0 + neg1;
    const cntNeg = n - cntPos;
    const avgPos = Math.fround(cntPos === 0 ? 0 : sumPos / cntPos);
    const avgNeg = Math.fround(cntNeg === 0 ? 0 : sumNeg / cntNeg);
    if (!Number.isFinite(avgPos) || !Number.isFinite(avgNeg)) throw notEncodable(values, r);

    // Sign bits and the new residual (u - decoded), a byte (8 values) at a time; nothing was
    // written to the residual before the checks above. Without feedback the residual goes to a
    // scratch buffer nobody reads, which keeps one loop.
    const bytes = new Uint8Array(HEADER + ((n + 7) >>> 3));
    const dv = dataView(bytes);
    dv.setFloat32(0, avgPos, true);
    dv.setFloat32(4, avgNeg, true);
    const out = res ?? this.discard(n);
    const full = n >>> 3;
    for (let j = 0; j < full; j++) {
      const o = j << 3;
      let byte = 0;
      for (let k = 0; k < 8; k++) {
        const x = values[o + k] + r[o + k];
        if (x >= 0) {
          byte |= 1 << k;
          out[o + k] = x - avgPos;
        } else out[o + k] = x - avgNeg;
      }
      bytes[HEADER + j] = byte;
    }
    if ((n & 7) !== 0) {
      let byte = 0;
      for (let k = full << 3; k < n; k++) {
        const x = values[k] + r[k];
        if (x >= 0) {
          byte |= 1 << (k & 7);
          out[k] = x - avgPos;
        } else out[k] = x - avgNeg;
      }
      bytes[HEADER + full] = byte;
    }
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
