/**
 * Sparse gradients: the nonzero values and their positions, or plain dense when that is smaller.
 *
 * Frame (little-endian):
 *   byte 0      form: 0 = dense, 1 = sparse
 *   bytes 1..3  zero (reserved; keeps the f32 runs 4-aligned in the frame)
 *   dense form:  bytes 4..      n f32 values                         → 4 + 4n bytes
 *   sparse form: bytes 4..7     count k (u32)
 *                bytes 8..      k f32 values, in position order
 *                then           k LEB128 varints: gap before each position
 *                               (first: index; then: index - previous index - 1)
 *                                                                     → 8 + 4k + Σ varint bytes
 *
 * The encoder measures both sizes and sends the smaller (ties go dense, which decodes faster), so
 * there is no density threshold to tune and a sparse frame is never bigger than 4 + 4n bytes.
 * A "nonzero" is any value whose bits are not all zero, so -0 survives: decode(encode(v)) is v bit
 * for bit (NaN aside, which no decoder accepts). 'add' touches only the carried positions (a +0 is
 * never added, so a -0 already in out stays -0 where a dense add would make it +0).
 */
import { CodecIds, type Codec, type EncodeContext } from './codec.js';
import {
  HOST_LE,
  Scratch,
  VarintReader,
  allFinite,
  codecError,
  dataView,
  f32Run,
  nonFiniteError,
  varintSize,
  writeF32s,
  writeVarint,
} from './bytes.js';
import { decodeDenseBody } from './dense.js';

export const SPARSE_FORM_DENSE = 0;
export const SPARSE_FORM_SPARSE = 1;
const DENSE_HEADER = 4;
const SPARSE_HEADER = 8;

export class SparseCodec implements Codec {
  readonly name = 'sparse' as const;
  readonly id = CodecIds.sparse;
  readonly lossless = true;
  private readonly scratch = new Scratch();

  encode(values: Float32Array, _ctx?: EncodeContext): Uint8Array {
    const n = values.length;
    // Bit view: tells -0 from +0, and reads no float conversions.
    const bits = new Uint32Array(values.buffer, values.byteOffset, n);
    let count = 0;
    let gapBytes = 0;
    let prev = -1;
    for (let i = 0; i < n; i++) {
      if (bits[i] !== 0) {
        gapBytes += varintSize(i - prev - 1);
        prev = i;
        count++;
      }
    }
    const sparseSize = SPARSE_HEADER + 4 * count + gapBytes;
    const denseSize = DENSE_HEADER + 4 * n;
    if (sparseSize >= denseSize) {
      const bytes = new Uint8Array(denseSize);
      bytes[0] = SPARSE_FORM_DENSE;
      writeF32s(bytes, DENSE_HEADER, values);
      return bytes;
    }

    const bytes = new Uint8Array(sparseSize);
    bytes[0] = SPARSE_FORM_SPARSE;
    dataView(bytes).setUint32(4, count, true);
    // Values: straight into the frame when the host is little-endian (offset 8 of a fresh buffer
    // is aligned), else via scratch.
    const vals = HOST_LE ? new Float32Array(bytes.buffer, SPARSE_HEADER, count) : this.scratch.f32(count);
    let pos = SPARSE_HEADER + 4 * count;
    let j = 0;
    prev = -1;
    for (let i = 0; i < n; i++) {
      if (bits[i] !== 0) {
        vals[j++] = values[i];
        pos = writeVarint(bytes, pos, i - prev - 1);
        prev = i;
      }
    }
    if (!HOST_LE) writeF32s(bytes, SPARSE_HEADER, vals);
    return bytes;
  }

  /** Checks the whole frame before writing out, so on E_CODEC out is unchanged (dense form aside). */
  decodeInto(bytes: Uint8Array, out: Float32Array, mode: 'set' | 'add'): void {
    const n = out.length;
    if (bytes.length < DENSE_HEADER) throw codecError(`sparse frame: ${bytes.length} bytes is shorter than its header`);
    if ((bytes[1] | bytes[2] | bytes[3]) !== 0) throw codecError('sparse frame: reserved header bytes are not zero');
    const form = bytes[0];
    if (form === SPARSE_FORM_DENSE) {
      decodeDenseBody(bytes, DENSE_HEADER, out, mode, this.scratch, 'sparse frame (dense form)');
      return;
    }
    if (form !== SPARSE_FORM_SPARSE) throw codecError(`sparse frame: unknown form ${form}`);

    if (bytes.length < SPARSE_HEADER) throw codecError(`sparse frame: ${bytes.length} bytes is shorter than its header`);
    const count = dataView(bytes).getUint32(4, true);
    if (count > n) throw codecError(`sparse frame: count ${count} exceeds the segment length ${n}`);
    const gapsAt = SPARSE_HEADER + 4 * count;
    // Each gap takes at least one byte, so this also bounds the varint loop below.
    if (bytes.length < gapsAt + count) {
      throw codecError(`sparse frame: ${bytes.length} bytes cannot hold ${count} values and positions`);
    }

    const index = this.scratch.u32(count);
    const reader = new VarintReader(bytes, gapsAt, bytes.length, 'sparse frame');
    let prev = -1;
    for (let j = 0; j < count; j++) {
      // Gaps are ≥ 0 by construction, so positions are strictly increasing; only the bound is left.
      const i = prev + 1 + reader.next(0xffffffff, 5);
      if (i >= n) throw codecError(`sparse frame: position ${i} is outside the segment of ${n} values`);
      index[j] = i;
      prev = i;
    }
    if (reader.pos !== bytes.length) {
      throw codecError(`sparse frame: ${bytes.length - reader.pos} trailing bytes after the last position`);
    }
    const vals = f32Run(bytes, SPARSE_HEADER, count, this.scratch);
    if (!allFinite(vals)) throw nonFiniteError('sparse frame', vals);

    if (mode === 'set') {
      out.fill(0);
      for (let j = 0; j < count; j++) out[index[j]] = vals[j];
    } else {
      for (let j = 0; j < count; j++) out[index[j]] += vals[j];
    }
  }
}
