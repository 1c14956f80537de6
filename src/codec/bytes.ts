/**
 * Byte-level helpers shared by the codecs: little-endian f32 runs, LEB128 varints, bit packing,
 * finiteness checks and reusable scratch buffers. All wire data is little-endian. The fast paths
 * view bytes as Float32Array, which is only right on a little-endian host (x86-64, arm64); the
 * DataView fallbacks keep big-endian hosts correct, just slower.
 */
import { RingError } from '../errors.js';

export const HOST_LE = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A malformed frame (or an unencodable input): always code E_CODEC. */
export function codecError(message: string, details?: Record<string, unknown>): RingError {
  return new RingError('E_CODEC', message, details);
}

/** A caller bug (wrong residual length, bad option), not a bad frame. */
export function usageError(message: string): RingError {
  return new RingError('E_INTERNAL', message);
}

/**
 * Grow-only scratch buffers, one per codec instance. Decoders are synchronous, so one buffer per
 * slot is never used by two calls at once; reusing them avoids an allocation per frame.
 */
export class Scratch {
  private f32buf = new Float32Array(0);
  private f64buf = new Float64Array(0);
  private u32buf = new Uint32Array(0);
  private u32bbuf = new Uint32Array(0);

  f32(n: number): Float32Array {
    if (this.f32buf.length < n) this.f32buf = new Float32Array(grownSize(n));
    return this.f32buf.subarray(0, n);
  }

  f64(n: number): Float64Array {
    if (this.f64buf.length < n) this.f64buf = new Float64Array(grownSize(n));
    return this.f64buf.subarray(0, n);
  }

  u32(n: number): Uint32Array {
    if (this.u32buf.length < n) this.u32buf = new Uint32Array(grownSize(n));
    return this.u32buf.subarray(0, n);
  }

  /** A second Uint32Array slot (PRNG draws, gathered codes), used alongside u32. */
  u32b(n: number): Uint32Array {
    if (this.u32bbuf.length < n) this.u32bbuf = new Uint32Array(grownSize(n));
    return this.u32bbuf.subarray(0, n);
  }
}

/**
 * What a lossy encoder quantizes: values itself, or values + residual in f64 (one rounding, far
 * finer than f32) when error feedback is on. One pass up front keeps the hot loops free of a
 * per-value "is there a residual" branch.
 */
export function encodeInput(values: Float32Array, residual: Float32Array | undefined, scratch: Scratch): Float32Array | Float64Array {
  if (residual === undefined) return values;
  const u = scratch.f64(values.length);
  for (let i = 0; i < values.length; i++) u[i] = values[i] + residual[i];
  return u;
}

function grownSize(n: number): number {
  return Math.max(n, 64);
}

/**
 * `count` little-endian f32s starting at bytes[offset]: an aligned view over the frame when the
 * host is little-endian and the address is 4-aligned (no copy), else one copy into `scratch`.
 * The caller has already checked that the range lies inside `bytes`.
 */
export function f32Run(bytes: Uint8Array, offset: number, count: number, scratch: Scratch): Float32Array {
  const at = bytes.byteOffset + offset;
  if (HOST_LE && (at & 3) === 0) return new Float32Array(bytes.buffer, at, count);
  const dst = scratch.f32(count);
  copyF32sInto(bytes, offset, dst);
  return dst;
}

/** Copies dst.length little-endian f32s from bytes[offset..] into dst (any alignment, any host). */
export function copyF32sInto(bytes: Uint8Array, offset: number, dst: Float32Array): void {
  if (HOST_LE) {
    new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength).set(
      bytes.subarray(offset, offset + dst.byteLength),
    );
    return;
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset + offset, dst.byteLength);
  for (let i = 0; i < dst.length; i++) dst[i] = dv.getFloat32(4 * i, true);
}

/** Writes src as little-endian f32s at dst[offset..]. */
export function writeF32s(dst: Uint8Array, offset: number, src: Float32Array): void {
  if (HOST_LE) {
    dst.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), offset);
    return;
  }
  const dv = new DataView(dst.buffer, dst.byteOffset + offset, src.byteLength);
  for (let i = 0; i < src.length; i++) dv.setFloat32(4 * i, src[i], true);
}

export function dataView(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * True when every element is finite. x - x is 0 for finite x and NaN for NaN/±Infinity, so one
 * sum tells; unrolled by four because this pass sits on the dense hot path (~5 GB/s here).
 */
export function allFinite(a: Float32Array): boolean {
  const n = a.length;
  const n4 = n - (n & 3);
  let bad = 0;
  let i = 0;
  for (; i < n4; i += 4) {
    const a0 = a[i], a1 = a[i + 1], a2 = a[i + 2], a3 = a[i + 3];
    bad += a0 - a0 + (a1 - a1) + (a2 - a2) + (a3 - a3);
  }
  for (; i < n; i++) bad += a[i] - a[i];
  return bad === 0;
}

/** Index of the first NaN/±Infinity, or -1. Only used to word error messages. */
export function firstNonFinite(a: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return i;
  return -1;
}

export function nonFiniteError(what: string, values: ArrayLike<number>): RingError {
  const i = firstNonFinite(values);
  return codecError(`${what}: value at index ${i} is ${values[i]}; only finite values can be sent`, {
    index: i,
  });
}

// ---- LEB128 varints (unsigned, ≤ 32 bits) ----

/** Bytes of x as a varint. Branch-free: sizes vary value to value, so branches would mispredict. */
export function varintSize(x: number): number {
  return 1 + +(x >= 0x80) + +(x >= 0x4000) + +(x >= 0x200000) + +(x >= 0x10000000);
}

/** Writes x (0 ≤ x < 2^32) at buf[pos] and returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, x: number): number {
  while (x >= 0x80) {
    buf[pos++] = (x & 0x7f) | 0x80;
    x >>>= 7; // unsigned: right for every x < 2^32
  }
  buf[pos++] = x;
  return pos;
}

/**
 * Reads varints from bytes[pos..end) without trusting them: a varint that runs past `end`, is
 * longer than `maxBytes`, is overlong (a redundant trailing zero group, so every number has one
 * encoding) or exceeds `max` throws E_CODEC.
 */
export class VarintReader {
  pos: number;

  constructor(
    private readonly bytes: Uint8Array,
    pos: number,
    private readonly end: number,
    private readonly what: string,
  ) {
    this.pos = pos;
  }

  next(max: number, maxBytes: number): number {
    const bytes = this.bytes;
    let pos = this.pos;
    let x = 0;
    let mul = 1;
    for (let k = 0; ; k++) {
      if (pos >= this.end) throw codecError(`${this.what}: varint runs past the end of the frame`);
      if (k >= maxBytes) throw codecError(`${this.what}: varint longer than ${maxBytes} bytes`);
      const b = bytes[pos++];
      x += (b & 0x7f) * mul;
      if (b < 0x80) {
        if (b === 0 && k > 0) throw codecError(`${this.what}: overlong varint at byte ${pos - 1}`);
        break;
      }
      mul *= 128;
    }
    if (x > max) throw codecError(`${this.what}: varint value ${x} exceeds the limit ${max}`);
    this.pos = pos;
    return x;
  }
}

// ---- bit packing, LSB first ----

/** Number of bits needed to write x (≥ 0): 0 for 0, 1 for 1, 2 for 2..3, ... */
export function bitsFor(x: number): number {
  return x === 0 ? 0 : 32 - Math.clz32(x);
}

/** Bytes that `count` fields of `width` bits take. */
export function packedBytes(count: number, width: number): number {
  return Math.ceil((count * width) / 8);
}

/**
 * Packs every src value as a `width`-bit field (width ≤ 26), LSB first, at buf[pos..]; the last
 * byte is zero-padded. Returns the position after it. The accumulator holds < 8 pending bits plus
 * one field, which fits 32 bits for fields ≤ 24 bits; wider fields go as a 16-bit low half and
 * a high half. Locals, not an object, so the loop stays in registers.
 */
export function packFields(src: Uint32Array, width: number, buf: Uint8Array, pos: number): number {
  if (width === 8) {
    buf.set(src, pos); // byte-sized fields: a plain (truncating) copy
    return pos + src.length;
  }
  const split = width > 24;
  const lo = split ? 16 : width;
  const hi = split ? width - 16 : 0;
  const loMask = lo === 0 ? 0 : (1 << lo) - 1;
  let acc = 0;
  let nbits = 0;
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    acc |= (v & loMask) << nbits;
    nbits += lo;
    while (nbits >= 8) {
      buf[pos++] = acc;
      acc >>>= 8;
      nbits -= 8;
    }
    if (split) {
      acc |= (v >>> 16) << nbits;
      nbits += hi;
      while (nbits >= 8) {
        buf[pos++] = acc;
        acc >>>= 8;
        nbits -= 8;
      }
    }
  }
  if (nbits > 0) buf[pos++] = acc;
  return pos;
}

/**
 * Reads dst.length fields of `width` bits (≤ 26) from buf[pos..], as packFields wrote them. The
 * caller has checked that buf holds them all. Returns the unused high bits of the last byte,
 * which a canonical frame has zero.
 */
export function unpackFields(buf: Uint8Array, pos: number, width: number, dst: Uint32Array): number {
  if (width === 8) {
    dst.set(buf.subarray(pos, pos + dst.length));
    return 0;
  }
  const split = width > 24;
  const lo = split ? 16 : width;
  const hi = split ? width - 16 : 0;
  const loMask = lo === 0 ? 0 : (1 << lo) - 1;
  const hiMask = (1 << hi) - 1;
  let acc = 0;
  let nbits = 0;
  for (let i = 0; i < dst.length; i++) {
    while (nbits < lo) {
      acc |= buf[pos++] << nbits;
      nbits += 8;
    }
    let v = acc & loMask;
    acc >>>= lo;
    nbits -= lo;
    if (split) {
      while (nbits < hi) {
        acc |= buf[pos++] << nbits;
        nbits += 8;
      }
      v += (acc & hiMask) * 0x10000;
      acc >>>= hi;
      nbits -= hi;
    }
    dst[i] = v;
  }
  return acc;
}

/** Whether two views share any byte of memory (a frame read while the values it overlaps are written would be corrupted). */
export function overlaps(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}
