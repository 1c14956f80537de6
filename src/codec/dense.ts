/**
 * Dense f32, little-endian, lossless: the frame is exactly 4·n bytes, no header (the frame header
 * already names the codec, and n is out.length).
 */
import { CodecIds, type Codec, type EncodeContext } from './codec.js';
import { HOST_LE, Scratch, allFinite, codecError, copyF32sInto, nonFiniteError, writeF32s } from './bytes.js';
import { arenaOf, simdKernel } from './simd.js';

export { simdKernel } from './simd.js';

export class DenseCodec implements Codec {
  readonly name = 'dense' as const;
  readonly id = CodecIds.dense;
  readonly lossless = true;
  private readonly scratch = new Scratch();

  /**
   * Zero-copy on little-endian hosts: the result is a view over `values`' own bytes (use its
   * byteOffset/byteLength, never `.buffer`). The caller must not modify `values` until those bytes
   * have been handed to the socket (ws send callback), or the frame changes under it. Copying
   * 1 MiB costs about as much as sending it here, which is why the view is the default.
   * Non-finite values are not checked here; every decoder rejects them.
   */
  encode(values: Float32Array, _ctx?: EncodeContext): Uint8Array {
    if (HOST_LE) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    const bytes = new Uint8Array(values.byteLength);
    writeF32s(bytes, 0, values);
    return bytes;
  }

  /**
   * On E_CODEC, 'set' may have overwritten out and 'add' may have added a prefix: the caller drops
   * the whole step anyway, and checking before adding would cost a second pass over the data.
   */
  decodeInto(bytes: Uint8Array, out: Float32Array, mode: 'set' | 'add'): void {
    decodeDenseBody(bytes, 0, out, mode, this.scratch, 'dense frame');
  }
}

/** Decodes out.length f32s at bytes[offset..], which must end exactly at bytes.length. */
export function decodeDenseBody(
  bytes: Uint8Array,
  offset: number,
  out: Float32Array,
  mode: 'set' | 'add',
  scratch: Scratch,
  what: string,
): void {
  const n = out.length;
  if (bytes.length - offset !== 4 * n) {
    throw codecError(`${what}: ${bytes.length - offset} bytes of values, expected ${4 * n} for ${n} values`);
  }
  const at = bytes.byteOffset + offset;
  const aligned = HOST_LE && (at & 3) === 0;
  // A ring vector and a frame assembled in its staging area: add or copy in place, check riding along.
  const arena = aligned && n > 0 ? arenaOf(out.buffer) : undefined;
  if (arena) {
    const src = bytes.subarray(offset);
    if (arena.holds(out, src)) {
      if (!arena.apply(out, src, mode)) throw nonFiniteError(what, f32Copy(src));
      return;
    }
  }
  if (mode === 'set') {
    // JS check + memcpy: measured faster than the SIMD check here, whose two copies through wasm
    // memory cost more than the check saves once vectors outgrow the caches.
    if (aligned) {
      const src = new Float32Array(bytes.buffer, at, n);
      if (!allFinite(src)) throw nonFiniteError(what, src);
      out.set(src);
    } else {
      // One copy straight into out, then check it there.
      copyF32sInto(bytes, offset, out);
      if (!allFinite(out)) throw nonFiniteError(what, out);
    }
    return;
  }
  const k = n >= SIMD_MIN_ELEMS && HOST_LE ? simdKernel() : null;
  if (k) {
    // Bytes go into wasm memory with a byte copy, so alignment does not matter here.
    const src = bytes.subarray(offset);
    if (!k.addBytes(out, src)) throw nonFiniteError(what, f32Copy(src));
    return;
  }
  let src: Float32Array;
  if (aligned) {
    src = new Float32Array(bytes.buffer, at, n);
  } else {
    src = scratch.f32(n);
    copyF32sInto(bytes, offset, src);
  }
  if (!addChecked(out, src)) throw nonFiniteError(what, src);
}

/** A Float32Array copy of little-endian bytes (error messages only). */
function f32Copy(bytes: Uint8Array): Float32Array {
  const out = new Float32Array(bytes.byteLength >> 2);
  copyF32sInto(bytes, 0, out);
  return out;
}

/**
 * out += src, and whether every src value was finite (one pass: the check rides on the add).
 * Uses the WebAssembly SIMD kernel when the runtime has it (see SimdKernel), else the JS loop.
 * Both round each sum to float32 once (IEEE add), so they produce identical bits.
 */
export function addChecked(out: Float32Array, src: Float32Array): boolean {
  const n = src.length;
  const bytes = new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  const arena = arenaOf(out.buffer);
  if (arena?.holds(out, bytes)) return arena.apply(out, bytes, 'add');
  if (n >= SIMD_MIN_ELEMS) {
    const k = simdKernel();
    if (k) return k.addBytes(out, bytes);
  }
  return addCheckedJs(out, src, 0, n);
}

/** Unrolled by four: ~1.7× the plain loop here (the fallback when SIMD is off or n is small). */
function addCheckedJs(out: Float32Array, src: Float32Array, from: number, to: number): boolean {
  let bad = 0;
  let i = from;
  for (; i + 4 <= to; i += 4) {
    const v0 = src[i], v1 = src[i + 1], v2 = src[i + 2], v3 = src[i + 3];
    bad += v0 - v0 + (v1 - v1) + (v2 - v2) + (v3 - v3);
    out[i] += v0;
    out[i + 1] += v1;
    out[i + 2] += v2;
    out[i + 3] += v3;
  }
  for (; i < to; i++) {
    const v = src[i];
    bad += v - v;
    out[i] += v;
  }
  return bad === 0;
}

/** Below this the call and copies cost more than the JS loop saves. */
const SIMD_MIN_ELEMS = 64;
