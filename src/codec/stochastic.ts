/**
 * Stochastic quantization, QSGD (Alistarh et al. 2017) with s levels:
 *   Q(v)_i = ||v||₂ · sgn(v_i) · ξ_i / s,  ξ_i ∈ {l, l+1}, l = ⌊s|v_i|/||v||⌋,
 *   P(ξ_i = l+1) = s|v_i|/||v|| - l,  so E[Q(v)] = v.
 * The coin flips come from prng.ts keyed by (seed, step, rank, chunk, segment), so a re-encode is
 * reproducible and no two peers or steps share flips.
 *
 * The norm is sent as an f32 rounded *up* (never below the f64 norm), and the level probabilities
 * are computed against that same f32, so the decoded values are unbiased (to within the 2^-32
 * grid of the coin) and no level can exceed s. Decoded magnitude for level l:
 * fround(norm · l / s), identical on every peer. One PRNG draw per position.
 *
 * Frame (little-endian), n = out.length:
 *   byte 0      form: 0 = packed, 1 = sparse
 *   byte 1      zero (reserved)
 *   bytes 2..3  s (u16, 1..65535); the decoder reads s from here, so any peer can decode any s
 *   bytes 4..7  scale N (f32, finite, ≥ 0): the norm, or α·norm with error feedback
 *   packed:  n codes of bp = 1 + bitsFor(s) bits, code = level << 1 | negative, LSB first
 *                                                          → 8 + ceil(n·bp/8) bytes
 *   sparse:  bytes 8..11 count k (u32) of nonzero levels; k LEB128 position gaps (as in sparse.ts);
 *            then k codes of bs = 1 + bitsFor(s - 1) bits, code = (level - 1) << 1 | negative
 *                                                          → 12 + Σ varint + ceil(k·bs/8) bytes
 * The encoder sends the smaller form. With s = 1 most levels are 0 (E[#nonzero] ≤ √n), so the
 * sparse form is usually far smaller: ~1 bit + a varint per nonzero instead of 2 bits per value.
 *
 * Error feedback: with ctx.residual the codec quantizes u = values + residual, sends α·Q(u)
 * (α < 1, see encode: plain Q would make the residual diverge) and stores residual = u - decoded.
 * QSGD is unbiased on its own and normally runs without feedback; feedback trades that
 * unbiasedness for a bounded accumulated error.
 *
 * The decoder rejects: unknown form, s = 0, a non-finite or negative norm, a level > s, a
 * zero level with the sign bit set, non-zero padding bits, and any length other than exact.
 *
 * Speed: with WebAssembly (stochastic-kernel.ts) encode and decode run in a hand-assembled kernel
 * that does the JS loops' arithmetic in the same order (scripts/bench-stochastic.ts, N(0,1)
 * segments of 128K-256K values, s = 7, sparse frames): encode ~15-16 → ~4.7 ns per value (with
 * error feedback ~25 → ~7), decode ~4-6 → ~0.3-0.6. Profile of the JS encode at s = 7 (~15 ns):
 * the quantize loop ~10 (its f64 divide, floor and coin, plus the varint bookkeeping per nonzero),
 * fillUint32 ~2, the norm's add chain ~1; at s = 255, where most levels are nonzero, the
 * bookkeeping, varint writes and packFields push it to ~35-60. The JS decode ran unpackFields
 * (~8 ns per field) or two varint passes, then a table lookup per value. The kernel takes the
 * norm (one f64 add chain, ~1 ns per value, the floor for a bit-identical sum), quantizes four
 * values at a time with the draws made in the loop, works out the sparse form's varints only when
 * that form can win, and decodes a sparse frame by touching only its nonzero positions (plus a
 * +0 pass in add mode). The JS loops are the reference and the fallback (RINGTRAIN_NO_SIMD,
 * big-endian hosts, segments under 64 values); tests pin both paths to the codec's output before
 * the kernel (test/codec/stochastic-kernel.test.ts).
 *
 * addDecodedThenEncode fuses a requantizing reduce-scatter step (add the incoming frame,
 * re-encode, on the owner's step set the decoded values) in the kernel's memory: the values go
 * in and out once. The step is the encoder's arithmetic, so the gain is the copies and the
 * re-decode (bench-stochastic's second table, 128K-value segments, noisy 2-core machine):
 * ~1.0-1.06× at s = 1 and 7 (~4.2-9.4 ns per value), ~1.2× at s = 255 with the set;
 * test/codec/stochastic-fused.test.ts pins it to the three calls.
 */
import { CodecIds, type Codec, type EncodeContext } from './codec.js';
import {
  Scratch,
  VarintReader,
  bitsFor,
  codecError,
  dataView,
  overlaps,
  encodeInput,
  packFields,
  packedBytes,
  unpackFields,
  usageError,
  varintSize,
  writeVarint,
} from './bytes.js';
import { Prng, PrngStream } from './prng.js';
import { UNPACK_ABOVE_MAX, stochasticKernel, type StochasticKernel } from './stochastic-kernel.js';

export const STOCHASTIC_FORM_PACKED = 0;
export const STOCHASTIC_FORM_SPARSE = 1;
export const MAX_STOCHASTIC_LEVELS = 0xffff;
/**
 * Default levels. s = 7: 4-bit packed codes (8× smaller than f32; s = 2^k − 1 fills its field).
 * a9a, 4 peers, 1 epoch of SGD, seeds 1–3, accuracy vs dense with the same seed: s = 1 lost
 * 1.4–3.4 points in requantize mode (each hop re-quantizes a 31-value chunk) and 0.5–0.8 in
 * allgather mode, s = 3 up to 0.45, s = 7 at most 0.2 (see scripts/bench-codecs.ts); QSGD's
 * variance falls as min(n/s², √n/s). The config's codec.levels, when set, overrides this.
 */
export const DEFAULT_STOCHASTIC_LEVELS = 7;
const PACKED_HEADER = 8;
const SPARSE_HEADER = 12;
const TWO_POW_32 = 4294967296;

/**
 * Which implementation a codec runs: 'auto' (the WebAssembly kernel when available and the
 * segment is long enough, else JS), or one forced, for tests and benchmarks ('wasm' throws when
 * the kernel is unavailable).
 */
export type StochasticImpl = 'auto' | 'js' | 'wasm';

/** Shorter segments run the JS loops: the kernel's calls, copies and views cost more there. */
const KERNEL_MIN_VALUES = 64;
/**
 * addDecodedThenEncode sets the decoded values of a sparse frame with count · this < n nonzero
 * levels by a scatter (a varint and a store per nonzero, a fill per value), else by a lookup
 * over all the codes: at s = 1 and 7 (a few hundred nonzeros in 128K values) ~0.5 ns per value
 * less than the lookup; near n/2 nonzeros (s = 255) the two measured within the noise here.
 */
const SCATTER_SET_BELOW = 4;

export class StochasticCodec implements Codec {
  readonly name = 'stochastic' as const;
  readonly id = CodecIds.stochastic;
  readonly lossless = false;
  readonly levels: number;
  private readonly scratch = new Scratch();
  private readonly kernel: StochasticKernel | null;
  private readonly kernelMin: number;

  constructor(levels = DEFAULT_STOCHASTIC_LEVELS, impl: StochasticImpl = 'auto') {
    if (!Number.isInteger(levels) || levels < 1 || levels > MAX_STOCHASTIC_LEVELS) {
      throw usageError(`stochastic codec: levels must be an integer in 1..${MAX_STOCHASTIC_LEVELS}, got ${levels}`);
    }
    this.levels = levels;
    this.kernel = impl === 'js' ? null : stochasticKernel();
    if (impl === 'wasm' && !this.kernel) {
      throw usageError('stochastic: the WebAssembly kernel is unavailable (no WebAssembly SIMD, a big-endian host, or RINGTRAIN_NO_SIMD set)');
    }
    this.kernelMin = impl === 'wasm' ? 0 : KERNEL_MIN_VALUES;
  }

  /** The implementation segments of `n` values run on. */
  implFor(n: number): 'js' | 'wasm' {
    return this.kernel && n >= this.kernelMin ? 'wasm' : 'js';
  }

  encode(values: Float32Array, ctx: EncodeContext): Uint8Array {
    const n = values.length;
    const res = ctx.residual;
    if (res !== undefined && res.length !== n) {
      throw usageError(`stochastic encode: residual has ${res.length} values, segment has ${n}`);
    }
    const k = this.kernel;
    if (k && n >= this.kernelMin) {
      k.ensure(n, this.levels);
      k.load(values, k.vAt);
      if (res !== undefined) k.load(res, k.rAt);
      return this.encodeWasm(k, n, ctx, null, false);
    }
    return this.encodeJs(values, ctx);
  }

  /** The reference encoder (and the fallback): every other path gives its bytes and residual. */
  private encodeJs(values: Float32Array, ctx: EncodeContext): Uint8Array {
    const n = values.length;
    const s = this.levels;
    const res = ctx.residual;
    const u = encodeInput(values, res, this.scratch);

    // Pass 1: the norm of u, in f64.
    let sumSq = 0;
    for (let i = 0; i < n; i++) sumSq += u[i] * u[i];
    const norm = roundUpToF32(Math.sqrt(sumSq));
    if (!Number.isFinite(norm)) throw normError(sumSq);

    // Pass 2: levels (as packed codes), the sizes of both forms, and the variance of Q(u).
    // One draw per position, so a value's coin does not depend on the other values; the coin
    // is compared without a branch (a random branch per value mispredicts half the time).
    const codes = this.scratch.u32(n);
    let count = 0;
    let gapBytes = 0;
    let prev = -1;
    let variance = 0; // E||Q(u) - u||² / (norm/s)² = Σ p(1 - p)
    if (norm > 0) {
      const draws = this.scratch.u32b(n);
      Prng.fromKey(ctx, PrngStream.stochastic).fillUint32(draws);
      for (let i = 0; i < n; i++) {
        const x = u[i];
        // |x| ≤ norm, so a ≤ s; the clamp below only guards against f64 rounding.
        const a = (Math.abs(x) / norm) * s;
        const floor = Math.floor(a);
        const p = a - floor;
        variance += p * (1 - p);
        let level = floor + +(draws[i] < p * TWO_POW_32); // P(round up) = p to within 2^-32
        if (level > s) level = s;
        codes[i] = (level << 1) | (+(x < 0) & +(level > 0));
        if (level !== 0) {
          gapBytes += varintSize(i - prev - 1);
          prev = i;
          count++;
        }
      }
    } else {
      codes.fill(0);
    }

    // The norm field scales every decoded value. Plain QSGD sends the norm itself (unbiased).
    // With error feedback it sends α·norm, α = ||u||² / (||u||² + E||Q(u) - u||²): the scalar that
    // minimizes the expected error, which makes α·Q a contraction. Unscaled, Q's variance exceeds
    // ||u||² whenever s² < n and the residual grows without bound.
    let sent = norm;
    if (res !== undefined && sumSq > 0) {
      sent = feedbackScale(norm, sumSq, variance, s);
      const value = codeValues(sent, s);
      for (let i = 0; i < n; i++) res[i] = u[i] - value[codes[i]];
    }

    const bp = 1 + bitsFor(s);
    const bs = 1 + bitsFor(s - 1);
    const packedSize = PACKED_HEADER + packedBytes(n, bp);
    const sparseSize = SPARSE_HEADER + gapBytes + packedBytes(count, bs);
    const sparse = sparseSize < packedSize;
    const bytes = frameWithHeader(sparse, sparseSize, packedSize, s, sent, count);
    if (!sparse) {
      packFields(codes, bp, bytes, PACKED_HEADER);
      return bytes;
    }
    let pos = SPARSE_HEADER;
    const nonzero = this.scratch.u32b(count); // the draws are used up; reuse their slot
    let j = 0;
    prev = -1;
    for (let i = 0; i < n; i++) {
      const c = codes[i];
      if (c !== 0) {
        pos = writeVarint(bytes, pos, i - prev - 1);
        prev = i;
        nonzero[j++] = c - 2; // (level - 1) << 1 | negative
      }
    }
    packFields(nonzero, bs, bytes, pos);
    return bytes;
  }

  /**
   * encodeJs in the kernel (stochastic-kernel.ts), on the n values (and residual) already in V
   * (and R), zero-padded: the same norm, draws, levels, form choice, bytes and residual. The
   * sparse form's gaps are only worked out when it can win: each takes at least a byte, so with
   * count + its codes at least the packed size it cannot.
   *
   * For addDecodedThenEncode, `valuesOut` takes V at the end (the values with the frame added),
   * or with setDecoded the decoded values of the frame produced (from the codes still in C, or
   * the sparse form's varints and codes still at B and R); on a non-finite norm it takes V
   * before the error is thrown, as the three calls leave the values.
   */
  private encodeWasm(k: StochasticKernel, n: number, ctx: EncodeContext, valuesOut: Float32Array | null, setDecoded: boolean): Uint8Array {
    const s = this.levels;
    const res = ctx.residual;
    const n4 = (n + 3) & ~3; // the kernels take multiples of 4 values; the zero padding is inert
    const sumSq = res !== undefined ? k.k.sumsqR(k.vAt, k.rAt, n4) : k.k.sumsq(k.vAt, n4);
    const norm = roundUpToF32(Math.sqrt(sumSq));
    if (!Number.isFinite(norm)) {
      if (valuesOut) valuesOut.set(k.f32.subarray(k.vAt >> 2, (k.vAt >> 2) + n));
      throw normError(sumSq);
    }

    const bp = 1 + bitsFor(s);
    const bs = 1 + bitsFor(s - 1);
    const packedSize = PACKED_HEADER + packedBytes(n, bp);
    if (norm === 0) {
      // Every level is 0 (and sumSq = 0, so no residual update): all-zero codes or no nonzeros,
      // which decode to +0 (C was not written).
      if (valuesOut) {
        if (setDecoded) valuesOut.fill(0);
        else valuesOut.set(k.f32.subarray(k.vAt >> 2, (k.vAt >> 2) + n));
      }
      return frameWithHeader(SPARSE_HEADER < packedSize, SPARSE_HEADER, packedSize, s, 0, 0);
    }
    Prng.fromKey(ctx, PrngStream.stochastic).stateInto(k.i32, k.stateAt >> 2);
    let count: number;
    let sent = norm;
    if (res !== undefined) {
      k.f64[k.varianceAt >> 3] = 0;
      count = k.k.quantizeR(k.vAt, k.rAt, n4, k.cAt, norm, s, k.stateAt, k.varianceAt);
      sent = feedbackScale(norm, sumSq, k.variance(), s);
      k.setCodeTable(sent, s, codeValues);
      k.k.residual(k.vAt, k.rAt, n4, k.cAt, k.tAt);
      res.set(k.f32.subarray(k.rAt >> 2, (k.rAt >> 2) + n));
    } else {
      count = k.k.quantize(k.vAt, n4, k.cAt, norm, s, k.stateAt);
    }

    let sparseSize = Infinity;
    let gapBytes = 0;
    if (SPARSE_HEADER + count + packedBytes(count, bs) < packedSize) {
      // The varints at B, the nonzero codes - 2 over the residual region (copied out already).
      gapBytes = k.k.gather(k.cAt, n4, k.bAt, k.rAt);
      sparseSize = SPARSE_HEADER + gapBytes + packedBytes(count, bs);
    }
    const sparse = sparseSize < packedSize;
    const bytes = frameWithHeader(sparse, sparseSize, packedSize, s, sent, count);
    if (sparse) {
      k.k.pack(k.rAt, count, bs, k.bAt + gapBytes);
      bytes.set(k.u8.subarray(k.bAt, k.bAt + sparseSize - SPARSE_HEADER), SPARSE_HEADER);
    } else {
      k.k.pack(k.cAt, n, bp, k.bAt);
      bytes.set(k.u8.subarray(k.bAt, k.bAt + packedSize - PACKED_HEADER), PACKED_HEADER);
    }
    if (valuesOut) {
      if (setDecoded) {
        // What decodeInto(bytes, values, 'set') gives: codeValues(sent, s) at every code. A
        // sparse frame with few nonzeros is cheaper to scatter (its positions from the varints
        // still at B, over the codes, packed already; its codes - 2 still at R) than to look up.
        k.setCodeTable(sent, s, codeValues);
        if (sparse && count * SCATTER_SET_BELOW < n) {
          k.k.positions(k.bAt, k.bAt + gapBytes, count, n, k.cAt);
          k.f32.fill(0, k.vAt >> 2, (k.vAt >> 2) + n);
          k.k.scatterSet(k.cAt, k.rAt, count, k.tAt, k.vAt);
        } else {
          k.k.lookupSet(k.cAt, n, k.tAt, k.vAt);
        }
      }
      valuesOut.set(k.f32.subarray(k.vAt >> 2, (k.vAt >> 2) + n));
    }
    return bytes;
  }

  /** Checks the whole frame before writing, so on E_CODEC out is unchanged. */
  decodeInto(bytes: Uint8Array, out: Float32Array, mode: 'set' | 'add'): void {
    const n = out.length;
    const { form, s, norm } = readHeader(bytes);
    // The kernel reports a malformed frame as false; the JS checks below then throw its error
    // (or, for the one frame the kernel leaves to JS, pass and the JS loop decodes it).
    if (this.kernel && n >= this.kernelMin && decodeWasm(this.kernel, bytes, out, mode, form, s, norm)) return;

    // codes[i] = level << 1 | negative for every value (0 = zero), checked before out is touched.
    const codes = this.scratch.u32(n);
    if (form === STOCHASTIC_FORM_PACKED) readPacked(bytes, s, codes);
    else readSparse(bytes, s, codes, this.scratch);

    // A lookup per code: signs are random, so `negative ? -m : m` would mispredict.
    const value = codeValues(norm, s);
    if (mode === 'set') {
      for (let i = 0; i < n; i++) out[i] = value[codes[i]];
    } else {
      for (let i = 0; i < n; i++) out[i] += value[codes[i]];
    }
  }

  /**
   * decodeInto(frame, values, 'add'), then encode(values, ctx), then, when setDecoded,
   * decodeInto(the new frame, values, 'set'): a reduce-scatter step of the ring in requantize
   * mode (setDecoded on the owner's last one). In the kernel the values (and residual) are copied
   * in once, the frame is added there (lookup-add, or the +0 pass and a scatter-add for a sparse
   * frame), the encoder runs on the same memory, and the values go out once (with setDecoded,
   * the new codes' values: a lookup, or a scatter for a sparse frame); the three calls copy the
   * values in and out two or three times, and the set copies in and parses its own frame again.
   * The returned frame, the values and ctx.residual end bit for bit as the three calls leave
   * them. The JS loops (and segments under 64 values) run the three calls, as does a frame that
   * shares memory with the values or residual (as OneBitCodec does; here the frame is copied
   * into the kernel before anything is written, so only for symmetry and safety).
   *
   * Errors, as the three calls: a malformed frame throws decodeInto's E_CODEC before anything is
   * written (values and residual unchanged); a norm beyond f32 throws encode's E_CODEC with the
   * frame added to the values and the residual unchanged. A residual of the wrong length is
   * refused first, before the values are touched.
   */
  addDecodedThenEncode(frame: Uint8Array, values: Float32Array, ctx: EncodeContext, setDecoded: boolean): Uint8Array {
    const n = values.length;
    const res = ctx.residual;
    if (res !== undefined && res.length !== n) {
      throw usageError(`stochastic encode: residual has ${res.length} values, segment has ${n}`);
    }
    const { form, s, norm } = readHeader(frame);
    const k = this.kernel;
    if (k && n >= this.kernelMin && !overlaps(frame, values) && !(res !== undefined && overlaps(frame, res))) {
      k.ensure(n, Math.max(s, this.levels));
      k.load(values, k.vAt);
      // Sparse positions go through R, so the residual comes in after the frame is added.
      if (decodeInKernel(k, frame, n, 'add', form, s, norm)) {
        if (res !== undefined) k.load(res, k.rAt);
        const bytes = this.encodeWasm(k, n, ctx, values, setDecoded);
        k.fused++;
        return bytes;
      }
      // Malformed (the three calls throw decodeInto's error; nothing written yet), or the frame
      // decodeInKernel leaves to the JS loop.
    }
    this.decodeInto(frame, values, 'add');
    const bytes = this.encode(values, ctx);
    if (setDecoded) this.decodeInto(bytes, values, 'set');
    return bytes;
  }
}


interface FrameHeader {
  readonly form: number;
  readonly s: number;
  readonly norm: number;
}

/** The header's form, s and norm; throws E_CODEC when any is malformed. */
function readHeader(bytes: Uint8Array): FrameHeader {
  if (bytes.length < PACKED_HEADER) {
    throw codecError(`stochastic frame: ${bytes.length} bytes is shorter than its header`);
  }
  const dv = dataView(bytes);
  const form = bytes[0];
  if (bytes[1] !== 0) throw codecError('stochastic frame: reserved header byte is not zero');
  const s = dv.getUint16(2, true);
  if (s === 0) throw codecError('stochastic frame: levels s = 0');
  const norm = dv.getFloat32(4, true);
  if (!(norm >= 0) || !Number.isFinite(norm)) {
    throw codecError(`stochastic frame: norm must be finite and >= 0, got ${norm}`);
  }
  if (form !== STOCHASTIC_FORM_PACKED && form !== STOCHASTIC_FORM_SPARSE) {
    throw codecError(`stochastic frame: unknown form ${form}`);
  }
  return { form, s, norm };
}

/**
 * decodeInto in the kernel, once the header has passed: false (out untouched) when anything
 * else about the frame is wrong, as the JS checks would find.
 */
function decodeWasm(k: StochasticKernel, bytes: Uint8Array, out: Float32Array, mode: 'set' | 'add', form: number, s: number, norm: number): boolean {
  const n = out.length;
  k.ensure(n, s);
  if (mode === 'add') k.load(out, k.vAt);
  if (!decodeInKernel(k, bytes, n, mode, form, s, norm)) return false;
  out.set(k.f32.subarray(k.vAt >> 2, (k.vAt >> 2) + n));
  return true;
}

/**
 * A frame of n values (header checked) decoded into V, which in add mode holds the target,
 * zero-padded to a multiple of 4 values; the caller has called k.ensure(n, ≥ s). False, V
 * untouched, when anything else about the frame is wrong, or for the one sparse frame the
 * kernel cannot add exactly (below); the JS loops then check and decode it. Uses B, C, T and
 * (sparse) R.
 */
function decodeInKernel(k: StochasticKernel, bytes: Uint8Array, n: number, mode: 'set' | 'add', form: number, s: number, norm: number): boolean {
  const len = bytes.length;
  if (form === STOCHASTIC_FORM_PACKED) {
    const bp = 1 + bitsFor(s);
    if (len !== PACKED_HEADER + packedBytes(n, bp) || paddingSet(bytes, n * bp)) return false;
    loadBody(k, bytes, PACKED_HEADER);
    if (k.k.unpack(k.bAt, n, bp, (s << 1) | 1, k.cAt) !== 0) return false;
    k.setCodeTable(norm, s, codeValues);
    (mode === 'add' ? k.k.lookupAdd : k.k.lookupSet)(k.cAt, n, k.tAt, k.vAt);
    return true;
  }
  if (len < SPARSE_HEADER) return false;
  const count = dataView(bytes).getUint32(8, true);
  const bs = 1 + bitsFor(s - 1);
  const codeBytes = packedBytes(count, bs);
  // Each gap takes 1..5 bytes: outside these bounds the JS checks refuse the frame.
  if (count > n || len < SPARSE_HEADER + count + codeBytes || len > SPARSE_HEADER + 5 * count + codeBytes) return false;
  loadBody(k, bytes, SPARSE_HEADER);
  const gapsEnd = k.k.positions(k.bAt, k.bAt + len - SPARSE_HEADER, count, n, k.rAt);
  if (gapsEnd < 0 || SPARSE_HEADER + gapsEnd + codeBytes !== len || paddingSet(bytes, count * bs)) return false;
  if ((k.k.unpack(k.bAt + gapsEnd, count, bs, ((s - 1) << 1) | 1, k.cAt) & UNPACK_ABOVE_MAX) !== 0) return false;
  k.setCodeTable(norm, s, codeValues);
  if (mode === 'add') {
    // The kernel adds +0 everywhere, then the levels: (x + 0) + t, where the JS decoder adds
    // x + t once. They differ only for x = -0, t = -0 (+0 against -0), and t = -0 only when
    // norm / s underflows f32 (a norm of a few subnormals): leave that frame to JS.
    if (Math.fround(norm / s) === 0 && count > 0) return false;
    k.k.addZero(k.vAt, (n + 3) & ~3); // the JS decoder adds +0 at every zero level (-0 becomes +0)
    k.k.scatterAdd(k.rAt, k.cAt, count, k.tAt, k.vAt);
  } else {
    k.f32.fill(0, k.vAt >> 2, (k.vAt >> 2) + n);
    k.k.scatterSet(k.rAt, k.cAt, count, k.tAt, k.vAt);
  }
  return true;
}

/** Frame bytes from `from` on into the kernel's B region, with 8 zero bytes behind (it reads whole words). */
function loadBody(k: StochasticKernel, bytes: Uint8Array, from: number): void {
  const at = k.bAt + bytes.length - from;
  k.u8.set(bytes.subarray(from), k.bAt);
  for (let i = 0; i < 8; i++) k.u8[at + i] = 0;
}

/** Whether the last byte of a frame whose codes take `bits` bits has a padding bit set. */
function paddingSet(bytes: Uint8Array, bits: number): boolean {
  const used = bits & 7;
  return used !== 0 && bytes[bytes.length - 1] >>> used !== 0;
}

/** A frame of the chosen form with its header written (and the sparse count); the rest zero. */
function frameWithHeader(sparse: boolean, sparseSize: number, packedSize: number, s: number, scale: number, count: number): Uint8Array {
  const bytes = new Uint8Array(sparse ? sparseSize : packedSize);
  const dv = dataView(bytes);
  bytes[0] = sparse ? STOCHASTIC_FORM_SPARSE : STOCHASTIC_FORM_PACKED;
  dv.setUint16(2, s, true);
  dv.setFloat32(4, scale, true);
  if (sparse) dv.setUint32(8, count, true);
  return bytes;
}

/**
 * The norm field with error feedback, α·norm with α = ||u||² / (||u||² + E||Q(u) - u||²) (see
 * encodeJs); `variance` is Σ p(1 - p) in index order.
 */
function feedbackScale(norm: number, sumSq: number, variance: number, s: number): number {
  const varianceAbs = variance * (norm / s) ** 2;
  return Math.fround((norm * sumSq) / (sumSq + varianceAbs));
}

function normError(sumSq: number): Error {
  return codecError(`stochastic encode: the norm of the segment is ${Math.sqrt(sumSq)}, beyond float32; only finite values can be sent`);
}

function readPacked(bytes: Uint8Array, s: number, codes: Uint32Array): void {
  const n = codes.length;
  const bp = 1 + bitsFor(s);
  const expected = PACKED_HEADER + packedBytes(n, bp);
  if (bytes.length !== expected) {
    throw codecError(`stochastic frame: ${bytes.length} bytes, expected ${expected} for ${n} values at s = ${s}`);
  }
  if (unpackFields(bytes, PACKED_HEADER, bp, codes) !== 0) {
    throw codecError('stochastic frame: padding bits after the last code are not zero');
  }
  const maxCode = (s << 1) | 1;
  for (let i = 0; i < n; i++) {
    const c = codes[i];
    if (c > maxCode) throw codecError(`stochastic frame: level ${c >>> 1} at position ${i} exceeds s = ${s}`);
    if (c === 1) throw codecError(`stochastic frame: zero level with a sign at position ${i}`);
  }
}

function readSparse(bytes: Uint8Array, s: number, codes: Uint32Array, scratch: Scratch): void {
  const n = codes.length;
  if (bytes.length < SPARSE_HEADER) {
    throw codecError(`stochastic frame: ${bytes.length} bytes is shorter than its sparse header`);
  }
  const count = dataView(bytes).getUint32(8, true);
  if (count > n) throw codecError(`stochastic frame: count ${count} exceeds the segment length ${n}`);
  const bs = 1 + bitsFor(s - 1);
  // Each gap takes ≥ 1 byte; this bounds the varint loop before it starts.
  if (bytes.length < SPARSE_HEADER + count + packedBytes(count, bs)) {
    throw codecError(`stochastic frame: ${bytes.length} bytes cannot hold ${count} positions and levels`);
  }
  // Pass 1 checks the positions and finds where the codes start; pass 2 pairs them up.
  let reader = new VarintReader(bytes, SPARSE_HEADER, bytes.length, 'stochastic frame');
  let prev = -1;
  for (let j = 0; j < count; j++) {
    const i = prev + 1 + reader.next(0xffffffff, 5);
    if (i >= n) throw codecError(`stochastic frame: position ${i} is outside the segment of ${n} values`);
    prev = i;
  }
  const expected = reader.pos + packedBytes(count, bs);
  if (bytes.length !== expected) {
    throw codecError(`stochastic frame: ${bytes.length} bytes, expected ${expected} for ${count} nonzero levels`);
  }
  const nonzero = scratch.u32b(count);
  if (unpackFields(bytes, reader.pos, bs, nonzero) !== 0) {
    throw codecError('stochastic frame: padding bits after the last code are not zero');
  }
  const maxCode = ((s - 1) << 1) | 1;
  for (let j = 0; j < count; j++) {
    if (nonzero[j] > maxCode) throw codecError(`stochastic frame: level ${(nonzero[j] >>> 1) + 1} exceeds s = ${s}`);
  }
  codes.fill(0);
  reader = new VarintReader(bytes, SPARSE_HEADER, bytes.length, 'stochastic frame');
  prev = -1;
  for (let j = 0; j < count; j++) {
    const i = prev + 1 + reader.next(0xffffffff, 5);
    codes[i] = nonzero[j] + 2;
    prev = i;
  }
}

/**
 * The decoded value of every packed code (level << 1 | negative): ±fround(norm · level / s).
 * The one formula the encoder (for residuals) and every decoder share.
 */
export function codeValues(norm: number, s: number): Float32Array {
  const value = new Float32Array(2 * s + 2);
  for (let l = 1; l <= s; l++) {
    value[2 * l] = (norm * l) / s;
    value[2 * l + 1] = -value[2 * l];
  }
  return value;
}

/** The smallest f32 ≥ x (x ≥ 0). */
function roundUpToF32(x: number): number {
  const f = Math.fround(x);
  if (f >= x || !Number.isFinite(f)) return f;
  const bits = new Uint32Array(new Float32Array([f]).buffer);
  bits[0] += 1; // next f32 up, for positive f
  return new Float32Array(bits.buffer)[0];
}
