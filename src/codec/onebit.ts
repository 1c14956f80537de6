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
 * Arithmetic (every peer, JS or WebAssembly, gets the same bits): u_i = values_i + residual_i
 * rounded to f32 (an IEEE f32 add; without error feedback u_i = values_i). The means are f64
 * sums in four lanes, lane j holding the u_i with i ≡ j (mod 4) in index order (what a SIMD
 * f64x2 pair sees), combined as (lane0 + lane1) + (lane2 + lane3), divided by the count in f64
 * and rounded once to f32: avg+ over the u_i ≥ 0 (so -0 counts as non-negative), avg- over the
 * others. The decoded value is exactly that f32. Error feedback (Karimireddy et al. 2019): with
 * ctx.residual, the codec encodes u and stores residual = u - decoded (an f32 subtraction), so
 * what a step loses the next step sends; without feedback 1-bit is biased and training can
 * stall. The residual stays bounded (the codec is a projection, so ||u - decoded|| ≤ ||u||) but
 * is not small: a few times the gradient's spread on long segments. A u_i that is NaN or
 * ±Infinity (including values + residual overflowing f32) is refused with its index.
 *
 * With WebAssembly SIMD (onebit-kernel.ts) both encode passes and the decoder run four lanes at a
 * time: encode ~12-17×, decode ~4-6× the JS loops here (scripts/bench-onebit.ts). On a ring
 * vector (simd.ts: values, residual and decode target in one wasm memory) they run in place,
 * with no copies in and out: encode ~1.4×, decode ~2× faster again on 64K-128K-value segments.
 * The JS loops are the reference and the fallback (RINGTRAIN_NO_SIMD, big-endian hosts, segments
 * under 64 values); tests check that every path gives the same bits. addDecodedThenEncode fuses
 * a requantizing reduce-scatter step (add the incoming frame, re-encode, on the owner's step set
 * the decoded values) into two kernel passes: ~1.1-1.2× faster than the three calls in place on
 * ring segments out of cache, ~1.2-1.3× with the set (bench-onebit's second table).
 *
 * The decoder rejects: wrong length, a non-finite scale, avg+ < 0 or avg- > 0 (impossible for
 * means of those sets), and non-zero padding bits.
 */
import { CodecIds, type Codec, type EncodeContext } from './codec.js';
import { HOST_LE, codecError, overlaps, usageError } from './bytes.js';
import { oneBitArenaKernel, oneBitKernel, type FusedFrames, type OneBitKernel, type SignSums } from './onebit-kernel.js';

const HEADER = 8;

/**
 * Which implementation a codec runs: 'auto' (the WebAssembly kernel when available and the
 * segment is long enough, else JS), or one forced, for tests and benchmarks ('wasm' throws when
 * the kernel is unavailable).
 */
export type OneBitImpl = 'auto' | 'js' | 'wasm';

const FRAME_SLAB = 64 * 1024;

/** Shorter segments run the JS loops: below ~32-64 values the kernel's calls and copies cost more. */
const KERNEL_MIN_VALUES = 64;

export class OneBitCodec implements Codec {
  readonly name = 'onebit' as const;
  readonly id = CodecIds.onebit;
  readonly lossless = false;
  /**
   * Segments of 2× the dense values (1 MiB of values per 32 KiB frame at the default 512 KiB):
   * on a 1 Gbit/s emulated link, N = 2, 16/64 MiB, 1.0-1.17 → 1.21-1.29 GB/s dense-equivalent
   * (scripts/lan-sim.sh, two interleaved runs); 4× measured no better (1.13-1.31).
   */
  readonly segmentScale = 2;
  private readonly kernel: OneBitKernel | null;
  private readonly kernelMin: number;
  private readonly sums: SignSums = new Float64Array(9);
  private readonly scalePair = new Float32Array(2);
  private slab = new ArrayBuffer(0);
  private slabUsed = 0;
  private zeroBuf = new Float32Array(0);
  private discardBuf = new Float32Array(0);

  constructor(impl: OneBitImpl = 'auto') {
    this.kernel = impl === 'js' ? null : oneBitKernel();
    if (impl === 'wasm' && !this.kernel) {
      throw usageError('onebit: the WebAssembly SIMD kernel is unavailable (no WebAssembly SIMD, a big-endian host, or RINGTRAIN_NO_SIMD set)');
    }
    this.kernelMin = impl === 'wasm' ? 0 : KERNEL_MIN_VALUES;
  }

  /** The implementation segments of `n` values run on. */
  implFor(n: number): 'js' | 'wasm' {
    return this.kernel && n >= this.kernelMin ? 'wasm' : 'js';
  }

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
    const bytes = this.frame(HEADER + ((n + 7) >>> 3));
    const sums = this.sums;
    let sc: Float32Array;
    if (this.kernel && n >= this.kernelMin) {
      const scales = (s: SignSums): Float32Array => this.scales(s, values, res);
      // A ring vector (and its residual): both passes run where the values are, no copies.
      const inPlace = oneBitArenaKernel(values.buffer);
      if (inPlace?.holdsSegment(values, res)) sc = inPlace.encode(values, res, bytes, HEADER, sums, scales);
      else sc = this.kernel.encode(values, res, bytes, HEADER, sums, scales);
    } else {
      // Without feedback u = values + 0: the same signs and sums (-0 + 0 = +0 only changes a +0
      // added to a positive sum), and the residual goes to a scratch buffer nobody reads.
      const r = res ?? this.zeros(n);
      sumSigns(values, r, sums);
      sc = this.scales(sums, values, r);
      signBits(values, r, sc[0], sc[1], res ?? this.discard(n), bytes);
    }
    writeScales(bytes, sc[0], sc[1]);
    return bytes;
  }

  /**
   * A zeroed frame of `len` bytes for the caller to keep. Short frames are views of a shared
   * 64 KiB slab, never reused (a slab is freed with its last frame): a `new Uint8Array` of a few
   * hundred bytes gets a backing store of its own, which cost ~0.3 µs more per frame here (~7 %
   * of a 4K-value encode).
   */
  private frame(len: number): Uint8Array {
    if (len > FRAME_SLAB / 8) return new Uint8Array(len);
    if (this.slabUsed + len > this.slab.byteLength) {
      this.slab = new ArrayBuffer(FRAME_SLAB);
      this.slabUsed = 0;
    }
    const f = new Uint8Array(this.slab, this.slabUsed, len);
    this.slabUsed += (len + 7) & ~7;
    return f;
  }

  /** [avg+, avg-] from the pass-1 sums; throws E_CODEC (nothing written yet) unless both are finite. */
  private scales(s: SignSums, values: Float32Array, residual: Float32Array | undefined): Float32Array {
    const cntPos = s[8];
    const cntNeg = values.length - cntPos;
    // prettier-ignore
    const sumPos = (s[0] + s[1]) + (s[2] + s[3]);
    // prettier-ignore
    const sumNeg = (s[4] + s[5]) + (s[6] + s[7]);
    const avgPos = Math.fround(cntPos === 0 ? 0 : sumPos / cntPos);
    const avgNeg = Math.fround(cntNeg === 0 ? 0 : sumNeg / cntNeg);
    // A NaN u fails u >= 0 and lands in the negative sum, ±Infinity in one of them.
    if (!Number.isFinite(avgPos) || !Number.isFinite(avgNeg)) throw notEncodable(values, residual ?? this.zeros(values.length));
    this.scalePair[0] = avgPos;
    this.scalePair[1] = avgNeg;
    return this.scalePair;
  }

  /** Checks everything before writing, so on E_CODEC out is unchanged. */
  decodeInto(bytes: Uint8Array, out: Float32Array, mode: 'set' | 'add'): void {
    const n = out.length;
    checkFrame(bytes, n);
    const pos = scaleF32[0];
    const neg = scaleF32[1];
    if (this.kernel && n >= this.kernelMin) {
      const inPlace = oneBitArenaKernel(out.buffer);
      if (inPlace?.holdsOutput(out)) inPlace.decode(bytes, HEADER, out, pos, neg, mode);
      else this.kernel.decode(bytes, HEADER, out, pos, neg, mode);
    } else decodeJs(bytes, out, pos, neg, mode);
  }

  /**
   * decodeInto(frame, values, 'add'), then encode(values, ctx), then, when setDecoded,
   * decodeInto(the new frame, values, 'set'): a reduce-scatter step of the ring in requantize mode
   * (setDecoded on the last one, where this peer owns the segment), in two passes over the values
   * and residual instead of three or four (the codec is memory-bound on ring-sized segments). The
   * returned frame, the values and ctx.residual end bit for bit as those calls leave them, on
   * every path (in place on a ring vector, copying kernel, JS).
   *
   * Errors: the frame is checked first, exactly as decodeInto checks it, and the residual's
   * length, so on those errors nothing is written. A non-finite u = values + residual (E_CODEC,
   * as encode) can only be found after the frame has been added: the values then hold the frame
   * added (what decodeInto(…, 'add') had left when encode threw in the sequential version) and
   * the residual is unchanged.
   */
  addDecodedThenEncode(frame: Uint8Array, values: Float32Array, ctx: EncodeContext, setDecoded: boolean): Uint8Array {
    const n = values.length;
    const res = ctx.residual;
    if (res !== undefined && res.length !== n) {
      throw usageError(`onebit encode: residual has ${res.length} values, segment has ${n}`);
    }
    checkFrame(frame, n);
    // A frame that shares bytes with the values or residual would be overwritten while read.
    if (!this.kernel || n < this.kernelMin || overlaps(frame, values) || (res !== undefined && overlaps(frame, res))) {
      this.decodeInto(frame, values, 'add');
      const bytes = this.encode(values, ctx);
      if (setDecoded) this.decodeInto(bytes, values, 'set');
      return bytes;
    }
    const bytes = this.frame(HEADER + ((n + 7) >>> 3));
    const f: FusedFrames = { inFrame: frame, inBitsAt: HEADER, inPos: scaleF32[0], inNeg: scaleF32[1], out: bytes, outBitsAt: HEADER };
    const scales = (s: SignSums): Float32Array => this.scales(s, values, res);
    const inPlace = oneBitArenaKernel(values.buffer);
    const sc = inPlace?.holdsSegment(values, res)
      ? inPlace.addDecodedThenEncode(f, values, res, this.sums, scales, setDecoded)
      : this.kernel.addDecodedThenEncode(f, values, res, this.sums, scales, setDecoded);
    writeScales(bytes, sc[0], sc[1]);
    return bytes;
  }
}


/**
 * Checks a frame of n values (length, scales, padding bits) and leaves its scales in scaleF32;
 * throws E_CODEC otherwise.
 */
function checkFrame(bytes: Uint8Array, n: number): void {
  const expected = HEADER + ((n + 7) >>> 3);
  if (bytes.length !== expected) {
    throw codecError(`onebit frame: ${bytes.length} bytes, expected ${expected} for ${n} values`);
  }
  readScales(bytes);
  const pos = scaleF32[0];
  const neg = scaleF32[1];
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
}

/**
 * Pass 1: the lane sums and the positive count into s (layout: SignSums), lane i mod 4 as in the
 * kernel. The lanes are also independent add chains (one accumulator per sign measured ~4×
 * slower here); branches beat the branch-free `b·x` form.
 */
function sumSigns(values: Float32Array, r: Float32Array, s: SignSums): void {
  const n = values.length;
  let p0 = 0, p1 = 0, p2 = 0, p3 = 0, n0 = 0, n1 = 0, n2 = 0, n3 = 0, cntPos = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const u0 = Math.fround(values[i] + r[i]);
    const u1 = Math.fround(values[i + 1] + r[i + 1]);
    const u2 = Math.fround(values[i + 2] + r[i + 2]);
    const u3 = Math.fround(values[i + 3] + r[i + 3]);
    if (u0 >= 0) {
      p0 += u0;
      cntPos++;
    } else n0 += u0;
    if (u1 >= 0) {
      p1 += u1;
      cntPos++;
    } else n1 += u1;
    if (u2 >= 0) {
      p2 += u2;
      cntPos++;
    } else n2 += u2;
    if (u3 >= 0) {
      p3 += u3;
      cntPos++;
    } else n3 += u3;
  }
  // The last 1-3 values go to lanes 0, 1, 2.
  for (let lane = 0; i < n; i++, lane++) {
    const u = Math.fround(values[i] + r[i]);
    if (u >= 0) {
      cntPos++;
      if (lane === 0) p0 += u;
      else if (lane === 1) p1 += u;
      else p2 += u;
    } else if (lane === 0) n0 += u;
    else if (lane === 1) n1 += u;
    else n2 += u;
  }
  s[0] = p0;
  s[1] = p1;
  s[2] = p2;
  s[3] = p3;
  s[4] = n0;
  s[5] = n1;
  s[6] = n2;
  s[7] = n3;
  s[8] = cntPos;
}

/** Pass 2: sign bits (into frame[HEADER..]), a byte (8 values) at a time, and the residual u - decoded. */
function signBits(values: Float32Array, r: Float32Array, avgPos: number, avgNeg: number, out: Float32Array, frame: Uint8Array): void {
  const n = values.length;
  const full = n >>> 3;
  for (let j = 0; j < full; j++) {
    const o = j << 3;
    let byte = 0;
    for (let k = 0; k < 8; k++) {
      const x = Math.fround(values[o + k] + r[o + k]);
      if (x >= 0) {
        byte |= 1 << k;
        out[o + k] = x - avgPos;
      } else out[o + k] = x - avgNeg;
    }
    frame[HEADER + j] = byte;
  }
  if ((n & 7) !== 0) {
    let byte = 0;
    for (let k = full << 3; k < n; k++) {
      const x = Math.fround(values[k] + r[k]);
      if (x >= 0) {
        byte |= 1 << (k & 7);
        out[k] = x - avgPos;
      } else out[k] = x - avgNeg;
    }
    frame[HEADER + full] = byte;
  }
}

/** The two scales as host-endian f32s, and their bytes (a DataView per frame costs ~0.3 µs). */
const scaleF32 = new Float32Array(2);
const scaleBytes = new Uint8Array(scaleF32.buffer);
/** Byte i of the little-endian wire pair is byte BYTE_ORDER[i] of the host pair. */
const BYTE_ORDER = HOST_LE ? [0, 1, 2, 3, 4, 5, 6, 7] : [3, 2, 1, 0, 7, 6, 5, 4];

function writeScales(frame: Uint8Array, pos: number, neg: number): void {
  scaleF32[0] = pos;
  scaleF32[1] = neg;
  for (let i = 0; i < 8; i++) frame[i] = scaleBytes[BYTE_ORDER[i]];
}

/** Frame bytes 0..7 into scaleF32 (the caller has checked the length). */
function readScales(frame: Uint8Array): void {
  for (let i = 0; i < 8; i++) scaleBytes[BYTE_ORDER[i]] = frame[i];
}

function decodeJs(bytes: Uint8Array, out: Float32Array, pos: number, neg: number, mode: 'set' | 'add'): void {
  const n = out.length;
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

function notEncodable(values: Float32Array, residual: Float32Array) {
  for (let i = 0; i < values.length; i++) {
    const u = Math.fround(values[i] + residual[i]);
    if (!Number.isFinite(u)) {
      return codecError(`onebit encode: value at index ${i} is ${u} (gradient + residual); only finite values can be sent`, { index: i });
    }
  }
  return codecError('onebit encode: a mean of the values overflows float32');
}
