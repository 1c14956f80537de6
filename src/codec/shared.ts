/**
 * Shared-scale integer quantization: the ring's way to sum quantized gradients exactly.
 *
 * All peers agree on one scale first (the ring runs a tiny max-allreduce of localScale() for
 * that), then each quantizes with quantizeToLevels: q_i = stochastic rounding of
 * (u_i / scale) · levels, an integer with E[q_i] = u_i · levels / scale. Integers below 2^24 add
 * exactly in float32 in any order, so the ring moves these integer-valued Float32Arrays with
 * SharedLevelsCodec (lossless) and adds them like any other segment; the owner dequantizes the
 * sum once. For the sums to stay exact, |Σ over peers| must stay ≤ 2^24: with
 * scale ≥ max |u| every |q_i| ≤ levels, so levels ≤ 2^24 / N is enough.
 *
 * SharedLevelsCodec frame, n = out.length:
 *   byte 0   form: 0 = varints, 1 = packed
 *   byte 1   packed: field width w (0..26); varint form: 0
 *   varints: n zigzag LEB128 varints (each 1..4 bytes)     → 2 + Σ varint bytes
 *   packed:  n zigzag fields of w bits, LSB first           → 2 + ceil(n·w/8) bytes
 * zigzag: 0, -1, 1, -2, ... → 0, 1, 2, 3, ...; w = bits of the largest zigzag value. The encoder
 * sends the smaller form (packed wins when magnitudes are alike; varints win with rare outliers).
 */
import { CodecIds, type Codec, type EncodeContext } from './codec.js';
import {
  Scratch,
  VarintReader,
  bitsFor,
  codecError,
  encodeInput,
  packFields,
  packedBytes,
  unpackFields,
  usageError,
  varintSize,
  writeVarint,
} from './bytes.js';
import { Prng, PrngStream } from './prng.js';

/**
 * Suggested levels for the shared-scale ring (the ring takes levels from the config; this is the
 * value a config without one should use). Measured on a9a, 4 peers (scripts/bench-codecs.ts):
 * s = 1 cost 0.25–0.65 accuracy points after 1 epoch and did not reach the dense objective within
 * 2× the steps; s = 7 matched dense within ~0.1 points for ~15–45 % more bytes than s = 1
 * (sums need 1 + bitsFor(7·N) bits instead of 1 + bitsFor(N)).
 */
export const DEFAULT_SHARED_LEVELS = 7;
/** Largest |integer| a segment may hold: float32 integers are exact up to here. */
export const MAX_SHARED_INT = 2 ** 24;
const MAX_ZIGZAG = 2 * MAX_SHARED_INT; // zigzag(2^24)
const MAX_WIDTH = 26; // bitsFor(MAX_ZIGZAG)
export const SHARED_FORM_VARINT = 0;
export const SHARED_FORM_PACKED = 1;
const HEADER = 2;
const TWO_POW_32 = 4294967296;
/** Scratch for quantizeToLevels (synchronous, so never used by two calls at once). */
const scratch = new Scratch();

/** This peer's part of the scale agreement: max |values + residual| (the ring takes the max over peers). */
export function localScale(values: Float32Array, residual?: Float32Array): number {
  checkResidual('localScale', values, residual);
  let m = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(residual === undefined ? values[i] : values[i] + residual[i]);
    if (!(a <= m)) m = a; // also lets NaN through, so the caller sees it
  }
  return m;
}

/**
 * Stochastic rounding of (u / scale) · levels to integers, u = values + ctx.residual (or values),
 * unbiased: E[q_i] = u_i · levels / scale. The coin flips come from prng.ts keyed by ctx.
 * With ctx.residual, stores residual = u - dequantized(q) (error feedback).
 * Throws E_CODEC when some |q_i| would exceed 2^24 (the scale is too small for these values).
 */
export function quantizeToLevels(values: Float32Array, scale: number, levels: number, ctx: EncodeContext): Float32Array {
  if (!Number.isInteger(levels) || levels < 1 || levels > MAX_SHARED_INT) {
    throw usageError(`quantizeToLevels: levels must be an integer in 1..2^24, got ${levels}`);
  }
  if (!(scale >= 0) || !Number.isFinite(scale)) {
    throw usageError(`quantizeToLevels: scale must be finite and >= 0, got ${scale}`);
  }
  const res = ctx.residual;
  checkResidual('quantizeToLevels', values, res);
  const n = values.length;
  const u = encodeInput(values, res, scratch);
  const q = new Float32Array(n);
  if (scale === 0) {
    // Legal only when every value is 0 (then every peer's max was 0): all levels are 0.
    for (let i = 0; i < n; i++) if (u[i] !== 0) throw tooManyLevels(u[i], i, Infinity);
  } else {
    // One draw per position; the coin is compared without a branch (see stochastic.ts).
    const draws = scratch.u32b(n);
    Prng.fromKey(ctx, PrngStream.shared).fillUint32(draws);
    for (let i = 0; i < n; i++) {
      // Divide first: |u| ≤ scale then gives |u/scale| ≤ 1 and |x| ≤ levels despite rounding.
      const x = (u[i] / scale) * levels;
      if (!(Math.abs(x) <= MAX_SHARED_INT)) throw tooManyLevels(u[i], i, x);
      const floor = Math.floor(x);
      const p = x - floor;
      q[i] = floor + +(draws[i] < p * TWO_POW_32) + 0; // + 0 turns -0 into +0
    }
  }
  if (res !== undefined) {
    for (let i = 0; i < n; i++) res[i] = u[i] - dequantizeLevel(q[i], scale, levels);
  }
  return q;
}

function tooManyLevels(u: number, i: number, x: number) {
  return codecError(
    `quantizeToLevels: value ${u} at index ${i} is ${x} levels, beyond 2^24; ` +
      'agree the scale as max |values + residual| over all peers (localScale)',
    { index: i },
  );
}

/** out[i] = ints[i] · scale / levels (in f64, rounded once to f32). out may be ints itself. */
export function dequantizeLevels(ints: Float32Array, scale: number, levels: number, out: Float32Array): void {
  if (out.length !== ints.length) {
    throw usageError(`dequantizeLevels: out has ${out.length} values, ints has ${ints.length}`);
  }
  for (let i = 0; i < ints.length; i++) out[i] = dequantizeLevel(ints[i], scale, levels);
}

/** Rounded to f32 here too, so the residual is u minus exactly what dequantizeLevels gives. */
function dequantizeLevel(q: number, scale: number, levels: number): number {
  return Math.fround((q * scale) / levels);
}

function checkResidual(what: string, values: Float32Array, res: Float32Array | undefined): void {
  if (res !== undefined && res.length !== values.length) {
    throw usageError(`${what}: residual has ${res.length} values, segment has ${values.length}`);
  }
}

/** Lossless wire codec for integer-valued segments with |value| ≤ 2^24 (-0 decodes as +0). */
export class SharedLevelsCodec implements Codec {
  readonly name = 'shared' as const;
  readonly id = CodecIds.shared;
  readonly lossless = true;
  private readonly scratch = new Scratch();

  encode(values: Float32Array, _ctx?: EncodeContext): Uint8Array {
    const n = values.length;
    const zigzag = this.scratch.u32(n);
    let varintBytes = 0;
    let anyBits = 0; // OR of all zigzag values: same bit length as their max
    for (let i = 0; i < n; i++) {
      const v = values[i];
      // v | 0 is v only for integers in int32 range (NaN and ±Infinity fail too).
      if ((v | 0) !== v || v > MAX_SHARED_INT || v < -MAX_SHARED_INT) throw notSharedInt(v, i);
      const z = (v << 1) ^ (v >> 31);
      zigzag[i] = z;
      varintBytes += varintSize(z);
      anyBits |= z;
    }
    const width = bitsFor(anyBits);
    const packedSize = HEADER + packedBytes(n, width);
    const varintSizeTotal = HEADER + varintBytes;

    if (packedSize <= varintSizeTotal) {
      const bytes = new Uint8Array(packedSize);
      bytes[0] = SHARED_FORM_PACKED;
      bytes[1] = width;
      packFields(zigzag, width, bytes, HEADER);
      return bytes;
    }
    const bytes = new Uint8Array(varintSizeTotal);
    bytes[0] = SHARED_FORM_VARINT;
    let pos = HEADER;
    for (let i = 0; i < n; i++) pos = writeVarint(bytes, pos, zigzag[i]);
    return bytes;
  }

  /** Checks the whole frame before writing, so on E_CODEC out is unchanged. */
  decodeInto(bytes: Uint8Array, out: Float32Array, mode: 'set' | 'add'): void {
    const n = out.length;
    if (bytes.length < HEADER) throw codecError(`shared frame: ${bytes.length} bytes is shorter than its header`);
    const form = bytes[0];
    const width = bytes[1];
    const zigzag = this.scratch.u32(n);
    if (form === SHARED_FORM_PACKED) {
      if (width > MAX_WIDTH) throw codecError(`shared frame: field width ${width} exceeds ${MAX_WIDTH} bits`);
      const expected = HEADER + packedBytes(n, width);
      if (bytes.length !== expected) {
        throw codecError(`shared frame: ${bytes.length} bytes, expected ${expected} for ${n} values of ${width} bits`);
      }
      if (unpackFields(bytes, HEADER, width, zigzag) !== 0) {
        throw codecError('shared frame: padding bits after the last value are not zero');
      }
      if (width === MAX_WIDTH) {
        // Only 26-bit fields can hold more than zigzag(2^24).
        for (let i = 0; i < n; i++) {
          if (zigzag[i] > MAX_ZIGZAG) throw codecError(`shared frame: value at position ${i} exceeds 2^24 in magnitude`);
        }
      }
    } else if (form === SHARED_FORM_VARINT) {
      if (width !== 0) throw codecError('shared frame: varint form with a non-zero width byte');
      if (bytes.length - HEADER < n) throw codecError(`shared frame: ${bytes.length} bytes cannot hold ${n} varints`);
      const reader = new VarintReader(bytes, HEADER, bytes.length, 'shared frame');
      for (let i = 0; i < n; i++) zigzag[i] = reader.next(MAX_ZIGZAG, 4);
      if (reader.pos !== bytes.length) {
        throw codecError(`shared frame: ${bytes.length - reader.pos} trailing bytes after the last value`);
      }
    } else {
      throw codecError(`shared frame: unknown form ${form}`);
    }
    if (mode === 'set') {
      for (let i = 0; i < n; i++) {
        const z = zigzag[i];
        out[i] = (z >>> 1) ^ -(z & 1);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const z = zigzag[i];
        out[i] += (z >>> 1) ^ -(z & 1);
      }
    }
  }
}

function notSharedInt(v: number, i: number) {
  const what = Number.isInteger(v) ? `${v}, beyond ±2^24` : `${v}, not an integer`;
  return codecError(`shared encode: value at index ${i} is ${what}; quantize with quantizeToLevels first`, { index: i });
}
