/**
 * WebAssembly SIMD kernels for the 1-bit codec (onebit.ts), assembled by hand like simd.ts.
 *
 * The kernels compute exactly what the codec's JS loops compute (the codec's header comment
 * gives the arithmetic), only four lanes at a time:
 *  - `sums`: u = v + r (f32x4.add), mask = u >= 0 (f32x4.ge); the positive count (i32x4.sub of
 *    the mask) and, per lane i mod 4, the f64 sum of the positive and of the negative u
 *    (v128.and / v128.andnot of u and the mask, then f64x2.promote_low_f32x4 and f64x2.add). The
 *    partial sums are loaded from and stored back to memory, so a segment can be summed a block
 *    at a time in the same order as one pass.
 *  - `signs`: the same u and mask; residual = u - bitselect(avg+, avg-, mask) (f32x4.sub) over
 *    r, and the sign bits of 16 values (two narrows and i8x16.bitmask) as one i32.store16.
 *  - `decode`: 32 values per little-endian word of sign bits: splat the word, test each lane's
 *    bit against a constant mask (v128.and, i32x4.eq), bitselect(avg+, avg-), store or add.
 * Each has a variant without residual (sums/signs) or in add mode (decode).
 *  - `addsums` and `signs_set`, the two passes of OneBitCodec.addDecodedThenEncode (a requantizing
 *    reduce-scatter step): addsums adds the decoded incoming bits into v (as decode_add, 16 bits
 *    per i32.load16_u), stores it, then sums u = v + r as `sums` does; signs_set is `signs` that
 *    also stores the decoded value over v (after the residual). Two passes over the values and
 *    residual instead of decode-add, sums, signs and decode-set.
 *
 * Wasm can only touch its own memory, so OneBitKernel copies a block of values (and residual, or
 * the decode target in add mode) in with TypedArray.set, runs the kernel there and copies the
 * residual / values / sign bits out. The kernels work on multiples of 16 values (32 for decode);
 * the copies pad with zeros, which count as non-negative and add +0 to the positive sums (a no-op:
 * those sums are never -0); encode subtracts them from the count and clears their sign bits.
 *
 * A ring vector (simd.ts) is already in wasm memory: OneBitArenaKernel, the same module
 * instantiated against the vector's arena, runs both encode passes on the values and residual
 * where they are and decodes straight into the vector, reading the sign bits where the link
 * assembled the frame (its staging area) or from the arena's scratch. Only the sign bits (1/32 of
 * the data) are copied. There is no padding to write beyond a view's end, so the kernels take the
 * whole multiples of 16 (32) values and the last few are done in JS, continuing the same sums.
 *
 * The module is compiled once per thread; the copying kernel is shared by every OneBitCodec and
 * each arena gets one in-place instance (calls are synchronous).
 */
import { HOST_LE } from './bytes.js';
import { arenaOf, type RingArena } from './simd.js';
import { compileWasm, simdWasmApi, growMemoryTo, lazyKernel, uleb, wasmName, wasmSection, wasmVec, type WasmApi, type WasmMemory } from './wasm-bytes.js';
import {
  simd, get, set, mem, zero, bump, loopWhile, locals, END, F32, F32X4_ADD, F32X4_GE, F32X4_SPLAT,
  F32X4_SUB, F64X2_ADD, F64X2_PROMOTE_LOW_F32X4, I16X8_NARROW_I32X4_S, I32, I32X4_EQ, I32X4_SPLAT,
  I32X4_SUB, I32_ADD, I32_CONST, I32_LOAD, I32_LOAD16_U, I32_SHL, I32_STORE16, I8X16_BITMASK,
  I8X16_NARROW_I16X8_S, I8X16_SHUFFLE, LOCAL_TEE, V128, V128_AND, V128_ANDNOT, V128_BITSELECT,
  V128_CONST, V128_LOAD, V128_STORE,
} from './wasm-ops.js';

/**
 * Values per block: the segment is copied in and worked on this many at a time. Ring segments
 * (512 KiB by default) fit in one block, which is copied in once for both passes; a longer
 * segment is copied in twice (pass 1, then pass 2), and wasm memory stays at ~1 MiB.
 */
export const ONEBIT_BLOCK = 128 * 1024;

/** Layout of the kernel's memory (byte offsets). */
const ACC = 0; // pLo, pHi, nLo, nHi (f64x2 each), count (i32x4): 80 bytes
const VALUES = 128;
/** Byte runs up to this long are copied with a loop: a view for TypedArray.set costs ~0.1 µs. */
const SHORT_COPY = 64;

/** Sums after pass 1: [p0, p1, p2, p3, n0, n1, n2, n3, positive count], lane j = values i ≡ j mod 4. */
export type SignSums = Float64Array;

type SumsFn = (v: number, r: number, n: number, acc: number) => void;
type SignsFn = (v: number, r: number, n: number, bits: number, pos: number, neg: number) => void;
type DecodeFn = (out: number, bits: number, words: number, pos: number, neg: number) => void;
type AddSumsFn = (v: number, r: number, bits: number, n: number, acc: number, pos: number, neg: number) => void;

/**
 * The module's ten kernels, bound once per instance: one plain object of fixed shape, so taking a
 * kernel costs one property load more than a field of the class, and no lookup by name.
 */
interface OneBitExports {
  readonly sumsR: SumsFn;
  readonly sums0: SumsFn;
  readonly signsR: SignsFn;
  readonly signs0: SignsFn;
  readonly decodeSet: DecodeFn;
  readonly decodeAdd: DecodeFn;
  readonly signsSetR: SignsFn;
  readonly signsSet0: SignsFn;
  readonly addSumsR: AddSumsFn;
  readonly addSums0: AddSumsFn;
}

function bindOneBitExports(e: Record<string, unknown>): OneBitExports {
  return {
    sumsR: e.sums_r as SumsFn,
    sums0: e.sums as SumsFn,
    signsR: e.signs_r as SignsFn,
    signs0: e.signs as SignsFn,
    decodeSet: e.decode_set as DecodeFn,
    decodeAdd: e.decode_add as DecodeFn,
    signsSetR: e.signs_set_r as SignsFn,
    signsSet0: e.signs_set as SignsFn,
    addSumsR: e.addsums_r as AddSumsFn,
    addSums0: e.addsums as AddSumsFn,
  };
}

/**
 * What the fused add-then-encode needs besides the segment: the incoming frame's sign bits (at
 * inBitsAt) and scales, checked by the codec; the outgoing frame and where its sign bits go.
 */
export interface FusedFrames {
  inFrame: Uint8Array;
  inBitsAt: number;
  inPos: number;
  inNeg: number;
  out: Uint8Array;
  outBitsAt: number;
}

export class OneBitKernel {
  private readonly memory: WasmMemory;
  private readonly kernels: OneBitExports;
  /** Values the current memory holds per region (a multiple of 32). */
  private capacity = 0;
  private f32 = new Float32Array(0);
  private f64 = new Float64Array(0);
  private i32 = new Int32Array(0);
  private u8 = new Uint8Array(0);
  /**
   * Views of memory regions by (offset, length). Making a view costs ~0.1 µs, as much as the
   * kernel takes for ~200 values, and a ring sends segments of a few lengths only.
   */
  private views = new Map<number, Float32Array | Uint8Array>();
  /** Fused add-then-encodes run on copies so far. */
  fused = 0;

  constructor(wasm: WasmApi, module: object) {
    this.memory = new wasm.Memory({ initial: 1 });
    const e = new wasm.Instance(module, { env: { mem: this.memory } }).exports;
    this.kernels = bindOneBitExports(e);
    this.ensure(1024);
  }

  /** Room for `values` values in each region (values, residual, sign bits). */
  private ensure(values: number): void {
    if (values <= this.capacity) return;
    const cap = roundUp(values, 32);
    const need = VALUES + 8 * cap + cap / 8;
    const buf = growMemoryTo(this.memory, need);
    this.f32 = new Float32Array(buf);
    this.f64 = new Float64Array(buf);
    this.i32 = new Int32Array(buf);
    this.u8 = new Uint8Array(buf);
    this.views.clear();
    this.capacity = cap;
  }

  private f32View(at: number, len: number): Float32Array {
    const key = 2 * (at * 2 ** 24 + len);
    let v = this.views.get(key) as Float32Array | undefined;
    if (!v) {
      if (this.views.size >= 64) this.views.clear();
      v = new Float32Array(this.memory.buffer, at, len);
      this.views.set(key, v);
    }
    return v;
  }

  private u8View(at: number, len: number): Uint8Array {
    const key = 2 * (at * 2 ** 24 + len) + 1;
    let v = this.views.get(key) as Uint8Array | undefined;
    if (!v) {
      if (this.views.size >= 64) this.views.clear();
      v = new Uint8Array(this.memory.buffer, at, len);
      this.views.set(key, v);
    }
    return v;
  }

  private get residualAt(): number {
    return VALUES + 4 * this.capacity;
  }

  private get bitsAt(): number {
    return VALUES + 8 * this.capacity;
  }

  /**
   * Pass 1 into `sums`, then `scales(sums)` (returns [avg+, avg-] or throws; on a throw the
   * residual is untouched), then pass 2: the sign bits into frame[bitsAt..] (ceil(n/8) bytes,
   * padding bits cleared) and, with a residual, the new residual into it. Returns what `scales`
   * returned.
   */
  encode(values: Float32Array, residual: Float32Array | undefined, frame: Uint8Array, bitsAt: number, sums: SignSums, scales: (sums: SignSums) => Float32Array): Float32Array {
    const n = values.length;
    const block = Math.min(ONEBIT_BLOCK, roundUp(Math.max(n, 1), 32));
    this.ensure(block);
    const vAt = VALUES, rAt = this.residualAt, bAt = this.bitsAt;
    const sumsFn = residual ? this.kernels.sumsR : this.kernels.sums0;
    const f64 = this.f64, i32 = this.i32;
    for (let j = 0; j < 8; j++) f64[(ACC >> 3) + j] = 0;
    for (let j = 0; j < 4; j++) i32[((ACC + 64) >> 2) + j] = 0;
    let padded = 0;
    for (let a = 0; a < n; a += block) {
      const len = Math.min(block, n - a);
      const len16 = this.load(values, residual, a, len);
      padded += len16 - len;
      sumsFn(vAt, rAt, len16, ACC);
    }
    for (let j = 0; j < 8; j++) sums[j] = f64[(ACC >> 3) + j];
    const c = (ACC + 64) >> 2;
    // The zero padding counted as non-negative.
    sums[8] = i32[c] + i32[c + 1] + i32[c + 2] + i32[c + 3] - padded;

    const sc = scales(sums);
    const signsFn = residual ? this.kernels.signsR : this.kernels.signs0;
    for (let a = 0; a < n; a += block) {
      const len = Math.min(block, n - a);
      // One block is still in memory from pass 1; more are copied in again.
      const len16 = n <= block ? roundUp(len, 16) : this.load(values, residual, a, len);
      signsFn(vAt, rAt, len16, bAt, sc[0], sc[1]);
      if (residual) residual.set(this.f32View(rAt, len), a);
      const nb = (len + 7) >>> 3;
      const to = bitsAt + (a >>> 3);
      if (nb <= SHORT_COPY) for (let i = 0; i < nb; i++) frame[to + i] = this.u8[bAt + i];
      else frame.set(this.u8View(bAt, nb), to);
    }
    if ((n & 7) !== 0) frame[bitsAt + ((n - 1) >>> 3)] &= (1 << (n & 7)) - 1;
    return sc;
  }

  /** Copies values[a, a+len) (and residual) into memory, zero-padded to a multiple of 16; the padded length. */
  private load(values: Float32Array, residual: Float32Array | undefined, a: number, len: number): number {
    const f32 = this.f32;
    const v = VALUES >> 2;
    const r = this.residualAt >> 2;
    const len16 = roundUp(len, 16);
    f32.set(a === 0 && len === values.length ? values : values.subarray(a, a + len), v);
    for (let i = len; i < len16; i++) f32[v + i] = 0;
    if (residual) {
      f32.set(a === 0 && len === residual.length ? residual : residual.subarray(a, a + len), r);
      for (let i = len; i < len16; i++) f32[r + i] = 0;
    }
    return len16;
  }

  /**
   * out = (set) or += (add) avg+ where the bit is 1, else avg-; the bits are ceil(n/8) bytes at
   * frame[bitsAt..].
   */
  decode(frame: Uint8Array, bitsAt: number, out: Float32Array, pos: number, neg: number, mode: 'set' | 'add'): void {
    const n = out.length;
    const block = Math.min(ONEBIT_BLOCK, roundUp(Math.max(n, 1), 32));
    this.ensure(block);
    const u8 = this.u8;
    const oAt = VALUES, bAt = this.bitsAt;
    const fn = mode === 'add' ? this.kernels.decodeAdd : this.kernels.decodeSet;
    for (let a = 0; a < n; a += block) {
      const len = Math.min(block, n - a);
      const nb = (len + 7) >>> 3;
      const words = (len + 31) >>> 5;
      const from = bitsAt + (a >>> 3);
      if (nb <= SHORT_COPY) for (let i = 0; i < nb; i++) u8[bAt + i] = frame[from + i];
      else u8.set(frame.subarray(from, from + nb), bAt);
      for (let i = nb; i < 4 * words; i++) u8[bAt + i] = 0;
      const dst = a === 0 && len === n ? out : out.subarray(a, a + len);
      if (mode === 'add') this.f32.set(dst, oAt >> 2);
      fn(oAt, bAt, words, pos, neg);
      dst.set(this.f32View(oAt, len));
    }
  }

  /**
   * OneBitCodec.addDecodedThenEncode on copies. Pass A adds the incoming frame's decoded values
   * into the values and sums u = values + residual; then `scales(sums)`; pass B writes the sign
   * bits into f.out, the residual and, with setDecoded, the decoded values. A segment of one block
   * is copied in once and out once for both passes. The kernels take whole multiples of 16 values
   * and the last few are done in JS, continuing the sums: zero padding would not stay out of the
   * sums once the incoming avg± is added to it. When `scales` throws, the values hold the frame
   * added (as after decodeInto(…, 'add')) and the residual is unchanged.
   */
  addDecodedThenEncode(f: FusedFrames, values: Float32Array, residual: Float32Array | undefined, sums: SignSums, scales: (sums: SignSums) => Float32Array, setDecoded: boolean): Float32Array {
    const n = values.length;
    const block = Math.min(ONEBIT_BLOCK, roundUp(Math.max(n, 1), 32));
    this.ensure(block);
    const vAt = VALUES, rAt = this.residualAt, bAt = this.bitsAt;
    const f64 = this.f64, i32 = this.i32, u8 = this.u8;
    for (let j = 0; j < 8; j++) f64[(ACC >> 3) + j] = 0;
    for (let j = 0; j < 4; j++) i32[((ACC + 64) >> 2) + j] = 0;
    sums.fill(0);
    const one = n <= block;
    const addSums = residual ? this.kernels.addSumsR : this.kernels.addSums0;
    for (let a = 0; a < n; a += block) {
      const len = Math.min(block, n - a);
      const m = len & ~15; // below len only in the last block
      this.load(values, residual, a, len);
      const nb = m >>> 3;
      const from = f.inBitsAt + (a >>> 3);
      if (nb <= SHORT_COPY) for (let i = 0; i < nb; i++) u8[bAt + i] = f.inFrame[from + i];
      else u8.set(f.inFrame.subarray(from, from + nb), bAt);
      addSums(vAt, rAt, bAt, m, ACC, f.inPos, f.inNeg);
      const v = this.f32View(vAt, len);
      if (a + len === n) {
        for (let j = 0; j < 8; j++) sums[j] = f64[(ACC >> 3) + j];
        const c = (ACC + 64) >> 2;
        sums[8] = i32[c] + i32[c + 1] + i32[c + 2] + i32[c + 3];
        // a is a multiple of 32: local index i is in lane i & 3 and at bit i & 7 of its byte.
        addSumsTail(v, residual ? this.f32View(rAt, len) : undefined, m, len, f.inFrame, from, f.inPos, f.inNeg, sums);
      }
      if (!one) values.set(v, a);
    }

    let sc: Float32Array;
    try {
      sc = scales(sums);
    } catch (e) {
      if (one) {
        // As the sequential composition leaves them; then the codec names the bad value.
        values.set(this.f32View(vAt, n));
        scales(sums);
      }
      throw e;
    }
    const pos = sc[0], neg = sc[1];
    const signsFn = setDecoded ? (residual ? this.kernels.signsSetR : this.kernels.signsSet0) : residual ? this.kernels.signsR : this.kernels.signs0;
    for (let a = 0; a < n; a += block) {
      const len = Math.min(block, n - a);
      const m = len & ~15;
      if (!one) this.load(values, residual, a, len);
      signsFn(vAt, rAt, m, bAt, pos, neg);
      const nb = m >>> 3;
      const to = f.outBitsAt + (a >>> 3);
      if (nb <= SHORT_COPY) for (let i = 0; i < nb; i++) f.out[to + i] = u8[bAt + i];
      else f.out.set(this.u8View(bAt, nb), to);
      const v = this.f32View(vAt, len);
      const r = residual ? this.f32View(rAt, len) : undefined;
      signsTail(v, r, m, len, f.out, to, pos, neg, setDecoded);
      if (residual) residual.set(r!, a);
      if (one || setDecoded) values.set(v, a);
    }
    this.fused++;
    return sc;
  }
}

/** Layout of an arena's scratch for OneBitArenaKernel (byte offsets from its start). */
const BITS = 128; // the sums (as ACC) at 0, then sign bits

/**
 * The kernels run on a ring vector's own memory (see the header comment): encode reads the
 * values and residual in place and writes the residual in place; decode writes into the vector.
 * Sign bits go through the arena's scratch a block at a time, except a frame's bits that the link
 * assembled in the staging area, which are read where they are.
 */
export class OneBitArenaKernel {
  private readonly arena: RingArena;
  private readonly kernels: OneBitExports;
  /** The whole memory (it never grows, so these views stay valid). */
  private readonly u8: Uint8Array;
  private readonly acc: Float64Array;
  private readonly count: Int32Array;
  private readonly accAt: number;
  private readonly bitsAt: number;
  /** Values per block of sign bits in the scratch (a multiple of 32). */
  private readonly block: number;
  /** Encodes run in place so far. */
  encodes = 0;
  /** Decodes that read the sign bits where the frame lies (the staging area). */
  decodesInStaging = 0;
  /** Decodes that copied the sign bits into the scratch first (the frame lies elsewhere). */
  decodesViaScratch = 0;
  /** Fused add-then-encodes run in place, reading the incoming sign bits where they lie (staging). */
  fusedInStaging = 0;
  /** Fused add-then-encodes run in place, the incoming sign bits copied into the scratch. */
  fusedViaScratch = 0;

  constructor(wasm: WasmApi, module: object, arena: RingArena) {
    this.arena = arena;
    const e = new wasm.Instance(module, { env: { mem: arena.memory } }).exports;
    this.kernels = bindOneBitExports(e);
    const buf = arena.memory.buffer;
    this.accAt = arena.scratch.byteOffset + ACC; // 64-aligned
    this.u8 = new Uint8Array(buf);
    this.acc = new Float64Array(buf, this.accAt, 8);
    this.count = new Int32Array(buf, this.accAt + 64, 4);
    this.bitsAt = arena.scratch.byteOffset + BITS;
    this.block = 8 * ((arena.scratch.byteLength - BITS) & ~3);
  }

  /**
   * Whether encode() can take these: both lie in the arena's vector or residual, and they do not
   * partly overlap (the kernels read a lane group before writing it, as the JS loop reads a value
   * before writing it, so only the same range or disjoint ones give the same bits).
   */
  holdsSegment(values: Float32Array, residual: Float32Array | undefined): boolean {
    const arena = this.arena;
    if (!arena.holdsData(values)) return false;
    if (!residual) return true;
    if (!arena.holdsData(residual)) return false;
    const v = values.byteOffset, r = residual.byteOffset, len = values.byteLength;
    return v === r || v + len <= r || r + len <= v;
  }

  /** Whether decode() can write into `out` (the arena's vector or residual). */
  holdsOutput(out: Float32Array): boolean {
    return this.arena.holdsData(out);
  }

  /** OneBitKernel.encode, in place (the caller has checked holdsSegment). */
  encode(values: Float32Array, residual: Float32Array | undefined, frame: Uint8Array, bitsAt: number, sums: SignSums, scales: (sums: SignSums) => Float32Array): Float32Array {
    const n = values.length;
    const m = n & ~15;
    const vAt = values.byteOffset;
    const rAt = residual ? residual.byteOffset : 0;
    const acc = this.acc, count = this.count;
    acc.fill(0);
    count.fill(0);
    (residual ? this.kernels.sumsR : this.kernels.sums0)(vAt, rAt, m, this.accAt);
    for (let j = 0; j < 8; j++) sums[j] = acc[j];
    sums[8] = count[0] + count[1] + count[2] + count[3];
    // The last n mod 16 values, each in lane i mod 4 after the kernel's values (index order).
    for (let i = m; i < n; i++) {
      const u = residual ? Math.fround(values[i] + residual[i]) : values[i];
      if (u >= 0) {
        sums[i & 3] += u;
        sums[8]++;
      } else sums[4 + (i & 3)] += u;
    }

    const sc = scales(sums);
    const pos = sc[0], neg = sc[1];
    const signsFn = residual ? this.kernels.signsR : this.kernels.signs0;
    const u8 = this.u8, bAt = this.bitsAt;
    for (let a = 0; a < m; a += this.block) {
      const len = Math.min(this.block, m - a);
      signsFn(vAt + 4 * a, rAt + 4 * a, len, bAt, pos, neg);
      const nb = len >>> 3;
      const to = bitsAt + (a >>> 3);
      if (nb <= SHORT_COPY) for (let i = 0; i < nb; i++) frame[to + i] = u8[bAt + i];
      else frame.set(u8.subarray(bAt, bAt + nb), to);
    }
    // The tail starts on a byte (m is a multiple of 16); its last byte gets no padding bits.
    for (let i = m; i < n; i += 8) {
      let byte = 0;
      for (let k = i; k < Math.min(i + 8, n); k++) {
        const u = residual ? Math.fround(values[k] + residual[k]) : values[k];
        if (u >= 0) {
          byte |= 1 << (k & 7);
          if (residual) residual[k] = u - pos;
        } else if (residual) residual[k] = u - neg;
      }
      frame[bitsAt + (i >>> 3)] = byte;
    }
    this.encodes++;
    this.arena.inPlaceFrames++;
    return sc;
  }

  /** OneBitKernel.decode, in place (the caller has checked holdsOutput). */
  decode(frame: Uint8Array, bitsAt: number, out: Float32Array, pos: number, neg: number, mode: 'set' | 'add'): void {
    const n = out.length;
    const words = n >>> 5;
    const oAt = out.byteOffset;
    const fn = mode === 'add' ? this.kernels.decodeAdd : this.kernels.decodeSet;
    if (this.arena.holdsStaged(frame)) {
      // Only whole words of bits, so the kernel reads no byte beyond the frame.
      fn(oAt, frame.byteOffset + bitsAt, words, pos, neg);
      this.decodesInStaging++;
    } else {
      const u8 = this.u8, bAt = this.bitsAt;
      for (let a = 0; a < 32 * words; a += this.block) {
        const len = Math.min(this.block, 32 * words - a);
        const nb = len >>> 3;
        const from = bitsAt + (a >>> 3);
        if (nb <= SHORT_COPY) for (let i = 0; i < nb; i++) u8[bAt + i] = frame[from + i];
        else u8.set(frame.subarray(from, from + nb), bAt);
        fn(oAt + 4 * a, bAt, len >>> 5, pos, neg);
      }
      this.decodesViaScratch++;
    }
    // The last n mod 32 values.
    for (let i = 32 * words; i < n; i++) {
      const x = (frame[bitsAt + (i >>> 3)] >>> (i & 7)) & 1 ? pos : neg;
      if (mode === 'add') out[i] += x;
      else out[i] = x;
    }
    this.arena.inPlaceFrames++;
  }

  /**
   * OneBitKernel.addDecodedThenEncode, in place (the caller has checked holdsSegment): pass A
   * reads the incoming sign bits in the staging area (or block by block from the scratch), pass
   * B writes the outgoing ones through the scratch; the last n mod 16 values are done in JS.
   */
  addDecodedThenEncode(f: FusedFrames, values: Float32Array, residual: Float32Array | undefined, sums: SignSums, scales: (sums: SignSums) => Float32Array, setDecoded: boolean): Float32Array {
    const n = values.length;
    const m = n & ~15;
    const vAt = values.byteOffset;
    const rAt = residual ? residual.byteOffset : 0;
    const acc = this.acc, count = this.count;
    const u8 = this.u8, bAt = this.bitsAt;
    acc.fill(0);
    count.fill(0);
    const addSums = residual ? this.kernels.addSumsR : this.kernels.addSums0;
    if (this.arena.holdsStaged(f.inFrame)) {
      // 2 bytes per 16 values: the kernel reads no byte beyond the frame.
      addSums(vAt, rAt, f.inFrame.byteOffset + f.inBitsAt, m, this.accAt, f.inPos, f.inNeg);
      this.fusedInStaging++;
    } else {
      for (let a = 0; a < m; a += this.block) {
        const len = Math.min(this.block, m - a);
        const nb = len >>> 3;
        const from = f.inBitsAt + (a >>> 3);
        if (nb <= SHORT_COPY) for (let i = 0; i < nb; i++) u8[bAt + i] = f.inFrame[from + i];
        else u8.set(f.inFrame.subarray(from, from + nb), bAt);
        addSums(vAt + 4 * a, rAt + 4 * a, bAt, len, this.accAt, f.inPos, f.inNeg);
      }
      this.fusedViaScratch++;
    }
    for (let j = 0; j < 8; j++) sums[j] = acc[j];
    sums[8] = count[0] + count[1] + count[2] + count[3];
    addSumsTail(values, residual, m, n, f.inFrame, f.inBitsAt, f.inPos, f.inNeg, sums);

    const sc = scales(sums);
    const pos = sc[0], neg = sc[1];
    const signsFn = setDecoded ? (residual ? this.kernels.signsSetR : this.kernels.signsSet0) : residual ? this.kernels.signsR : this.kernels.signs0;
    for (let a = 0; a < m; a += this.block) {
      const len = Math.min(this.block, m - a);
      signsFn(vAt + 4 * a, rAt + 4 * a, len, bAt, pos, neg);
      const nb = len >>> 3;
      const to = f.outBitsAt + (a >>> 3);
      if (nb <= SHORT_COPY) for (let i = 0; i < nb; i++) f.out[to + i] = u8[bAt + i];
      else f.out.set(u8.subarray(bAt, bAt + nb), to);
    }
    signsTail(values, residual, m, n, f.out, f.outBitsAt, pos, neg, setDecoded);
    this.arena.inPlaceFrames += 2; // one frame decoded, one encoded
    return sc;
  }
}

/**
 * Pass A of the fused add-then-encode in JS over [from, to) of v (and r): v[i] += the decoded
 * value of bit i at frame[bitsAt..], then u = v[i] + r[i] (f32) goes into the sums, lane i & 3.
 */
function addSumsTail(v: Float32Array, r: Float32Array | undefined, from: number, to: number, frame: Uint8Array, bitsAt: number, pos: number, neg: number, sums: SignSums): void {
  for (let i = from; i < to; i++) {
    v[i] += (frame[bitsAt + (i >>> 3)] >>> (i & 7)) & 1 ? pos : neg;
    const x = v[i];
    const u = r ? Math.fround(x + r[i]) : x;
    if (u >= 0) {
      sums[i & 3] += u;
      sums[8]++;
    } else sums[4 + (i & 3)] += u;
  }
}

/**
 * Pass B in JS over [from, to), from a multiple of 8: the sign bits into out[bitsAt..] (the last
 * byte without padding bits), the residual u - decoded, and with `set` v[i] = decoded (after the
 * residual, so a residual that is the values' own range ends as the sequential version leaves it).
 */
function signsTail(v: Float32Array, r: Float32Array | undefined, from: number, to: number, out: Uint8Array, bitsAt: number, pos: number, neg: number, set: boolean): void {
  for (let i = from; i < to; i += 8) {
    let byte = 0;
    const end = Math.min(i + 8, to);
    for (let k = i; k < end; k++) {
      const u = r ? Math.fround(v[k] + r[k]) : v[k];
      const d = u >= 0 ? pos : neg;
      if (u >= 0) byte |= 1 << (k & 7);
      if (r) r[k] = u - d;
      if (set) v[k] = d;
    }
    out[bitsAt + (i >>> 3)] = byte;
  }
}

function roundUp(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}

/** Memory views are host-endian, wasm memory is little-endian: big-endian hosts run the JS loops. */
function wasmApi(): WasmApi | null {
  return HOST_LE ? simdWasmApi() : null;
}

let compiled: object | null | undefined;

/** The compiled module, or null when WebAssembly SIMD is unavailable (or RINGTRAIN_NO_SIMD is set). */
function oneBitModule(): object | null {
  if (compiled !== undefined) return compiled;
  compiled = compileWasm(wasmApi(), oneBitModuleBytes);
  return compiled;
}

/**
 * The 1-bit kernel, or null when WebAssembly SIMD is unavailable (or RINGTRAIN_NO_SIMD is set,
 * read once). One per thread: calls are synchronous, so codecs can share it.
 */
export const oneBitKernel = lazyKernel((): OneBitKernel | null => {
  const wasm = wasmApi();
  const module = oneBitModule();
  return wasm && module ? new OneBitKernel(wasm, module) : null;
});

/** Arena → its in-place kernel (null: could not be instantiated, use the copying kernel). */
const arenaKernels = new WeakMap<RingArena, OneBitArenaKernel | null>();

/**
 * The in-place kernel for the ring vector (simd.ts) whose memory is `buffer`, made on first use
 * and kept with the arena; null for any other buffer or without the kernel.
 */
export function oneBitArenaKernel(buffer: ArrayBufferLike): OneBitArenaKernel | null {
  const arena = arenaOf(buffer);
  if (!arena) return null;
  let k = arenaKernels.get(arena);
  if (k === undefined) {
    k = null;
    const wasm = wasmApi();
    const module = oneBitModule();
    // The sums and at least one word of sign bits must fit the scratch.
    if (wasm && module && arena.scratch.byteLength >= BITS + 4) {
      try {
        k = new OneBitArenaKernel(wasm, module, arena);
      } catch {
        k = null;
      }
    }
    arenaKernels.set(arena, k);
  }
  return k;
}

// ---- The module, per the WebAssembly binary format (builders: wasm-ops.ts) ----

/**
 * The alignment hints say what in-place calls guarantee: floats 4-aligned (ring vector views),
 * sign bits anywhere (a frame in the staging area).
 */
const v128Load = (offset: number): number[] => simd(V128_LOAD, ...mem(2, offset));
const v128Store = (offset: number): number[] => simd(V128_STORE, ...mem(2, offset));
/** Lanes 2, 3 of an f32x4 moved to lanes 0, 1 (for promote_low). */
const highHalf = (): number[] => simd(I8X16_SHUFFLE, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);

/**
 * For the four values (f32x4) in local u: set m to the lanes with u >= 0, count those lanes into
 * cnt and add the values of those lanes to the f64x2 sums pLo/pHi (lanes 0-1 / 2-3), the others
 * to nLo/nHi. Pass 1 and the fused pass A share it, so their sums agree.
 */
function signSums(u: number, m: number, t: number, cnt: number, pLo: number, pHi: number, nLo: number, nHi: number): number[] {
  const out: number[] = [...get(u), ...zero(), ...simd(F32X4_GE), ...set(m)];
  out.push(...get(cnt), ...get(m), ...simd(I32X4_SUB), ...set(cnt));
  for (const [op, lo, hi] of [[V128_AND, pLo, pHi], [V128_ANDNOT, nLo, nHi]] as const) {
    out.push(...get(u), ...get(m), ...simd(op), ...set(t));
    out.push(...get(lo), ...get(t), ...simd(F64X2_PROMOTE_LOW_F32X4), ...simd(F64X2_ADD), ...set(lo));
    out.push(...get(hi), ...get(t), ...get(t), ...highHalf(), ...simd(F64X2_PROMOTE_LOW_F32X4), ...simd(F64X2_ADD), ...set(hi));
  }
  return out;
}

/** sums(v, r, n, acc): pass 1 over n (a multiple of 16) values, accumulating into acc. */
function sumsBody(withResidual: boolean): number[] {
  const v = 0, r = 1, n = 2, acc = 3;
  const pLo = 4, pHi = 5, nLo = 6, nHi = 7, cnt = 8, u = 9, m = 10, t = 11, end = 12;
  const accLocals = [pLo, pHi, nLo, nHi, cnt];
  const body: number[] = [];
  accLocals.forEach((l, k) => body.push(...get(acc), ...v128Load(16 * k), ...set(l)));
  body.push(...get(v), ...get(n), I32_CONST, 2, I32_SHL, I32_ADD, ...set(end));
  const step: number[] = [];
  for (let k = 0; k < 4; k++) {
    step.push(...get(v), ...v128Load(16 * k));
    if (withResidual) step.push(...get(r), ...v128Load(16 * k), ...simd(F32X4_ADD));
    step.push(...set(u), ...signSums(u, m, t, cnt, pLo, pHi, nLo, nHi));
  }
  step.push(...bump(v, 64));
  if (withResidual) step.push(...bump(r, 64));
  body.push(...loopWhile(v, end, step));
  accLocals.forEach((l, k) => body.push(...get(acc), ...get(l), ...v128Store(16 * k)));
  return [...locals([[8, V128], [1, I32]]), ...body, END];
}

/**
 * signs(v, r, n, bits, pos, neg): pass 2 over n (a multiple of 16) values; with setDecoded
 * (signs_set) also v = bitselect(avg+, avg-, mask), stored after the residual.
 */
function signsBody(withResidual: boolean, setDecoded = false): number[] {
  const v = 0, r = 1, n = 2, bits = 3, pos = 4, neg = 5;
  const P = 6, N = 7, u = 8, m0 = 9, end = 13;
  const body: number[] = [...get(pos), ...simd(F32X4_SPLAT), ...set(P), ...get(neg), ...simd(F32X4_SPLAT), ...set(N)];
  body.push(...get(v), ...get(n), I32_CONST, 2, I32_SHL, I32_ADD, ...set(end));
  const step: number[] = [];
  for (let k = 0; k < 4; k++) {
    step.push(...get(v), ...v128Load(16 * k));
    if (withResidual) step.push(...get(r), ...v128Load(16 * k), ...simd(F32X4_ADD));
    step.push(LOCAL_TEE, u, ...zero(), ...simd(F32X4_GE), ...set(m0 + k));
    if (withResidual) {
      step.push(...get(r), ...get(u), ...get(P), ...get(N), ...get(m0 + k), ...simd(V128_BITSELECT), ...simd(F32X4_SUB), ...v128Store(16 * k));
    }
    if (setDecoded) step.push(...get(v), ...get(P), ...get(N), ...get(m0 + k), ...simd(V128_BITSELECT), ...v128Store(16 * k));
  }
  // Masks are 0 / -1 per lane: narrowing keeps that, and lane j of the bytes is value j.
  step.push(...get(bits));
  step.push(...get(m0), ...get(m0 + 1), ...simd(I16X8_NARROW_I32X4_S));
  step.push(...get(m0 + 2), ...get(m0 + 3), ...simd(I16X8_NARROW_I32X4_S));
  step.push(...simd(I8X16_NARROW_I16X8_S), ...simd(I8X16_BITMASK), I32_STORE16, ...mem(1, 0));
  step.push(...bump(v, 64));
  if (withResidual) step.push(...bump(r, 64));
  step.push(...bump(bits, 2));
  body.push(...loopWhile(v, end, step));
  return [...locals([[7, V128], [1, I32]]), ...body, END];
}

/**
 * addsums(v, r, bits, n, acc, pos, neg): the fused add-then-encode's pass A over n (a multiple
 * of 16) values: v += bitselect(pos, neg, bit) for the 16 sign bits of an i32.load16_u (as
 * decode_add), stored; then u = v + r and the sums exactly as `sums`.
 */
function addSumsBody(withResidual: boolean): number[] {
  const v = 0, r = 1, bits = 2, n = 3, acc = 4, pos = 5, neg = 6;
  const pLo = 7, pHi = 8, nLo = 9, nHi = 10, cnt = 11, u = 12, m = 13, t = 14, P = 15, N = 16, b = 17, c0 = 18, end = 22;
  const accLocals = [pLo, pHi, nLo, nHi, cnt];
  const body: number[] = [];
  accLocals.forEach((l, k) => body.push(...get(acc), ...v128Load(16 * k), ...set(l)));
  body.push(...get(pos), ...simd(F32X4_SPLAT), ...set(P), ...get(neg), ...simd(F32X4_SPLAT), ...set(N));
  for (let k = 0; k < 4; k++) {
    // Lane l of mask k tests bit 4k + l (value 4k + l of the 16).
    const lanes: number[] = [];
    for (let l = 0; l < 4; l++) {
      const x = 1 << (4 * k + l);
      lanes.push(x & 0xff, (x >>> 8) & 0xff, 0, 0);
    }
    body.push(...simd(V128_CONST, ...lanes), ...set(c0 + k));
  }
  body.push(...get(v), ...get(n), I32_CONST, 2, I32_SHL, I32_ADD, ...set(end));
  const step: number[] = [...get(bits), I32_LOAD16_U, ...mem(0, 0), ...simd(I32X4_SPLAT), ...set(b)];
  for (let k = 0; k < 4; k++) {
    step.push(...get(v), ...get(v), ...v128Load(16 * k));
    step.push(...get(P), ...get(N), ...get(b), ...get(c0 + k), ...simd(V128_AND), ...get(c0 + k), ...simd(I32X4_EQ), ...simd(V128_BITSELECT));
    step.push(...simd(F32X4_ADD), LOCAL_TEE, u, ...v128Store(16 * k));
    if (withResidual) step.push(...get(u), ...get(r), ...v128Load(16 * k), ...simd(F32X4_ADD), ...set(u));
    step.push(...signSums(u, m, t, cnt, pLo, pHi, nLo, nHi));
  }
  step.push(...bump(v, 64));
  if (withResidual) step.push(...bump(r, 64));
  step.push(...bump(bits, 2));
  body.push(...loopWhile(v, end, step));
  accLocals.forEach((l, k) => body.push(...get(acc), ...get(l), ...v128Store(16 * k)));
  return [...locals([[15, V128], [1, I32]]), ...body, END];
}

/** decode(out, bits, words, pos, neg): 32 values per 4-byte word of sign bits. */
function decodeBody(add: boolean): number[] {
  const out = 0, bits = 1, words = 2, pos = 3, neg = 4;
  const P = 5, N = 6, b = 7, c0 = 8, end = 16;
  const body: number[] = [...get(pos), ...simd(F32X4_SPLAT), ...set(P), ...get(neg), ...simd(F32X4_SPLAT), ...set(N)];
  for (let k = 0; k < 8; k++) {
    // Lane l of mask k tests bit 4k + l (value 4k + l of the word).
    const lanes: number[] = [];
    for (let l = 0; l < 4; l++) {
      const x = (1 << (4 * k + l)) >>> 0;
      lanes.push(x & 0xff, (x >>> 8) & 0xff, (x >>> 16) & 0xff, x >>> 24);
    }
    body.push(...simd(V128_CONST, ...lanes), ...set(c0 + k));
  }
  body.push(...get(bits), ...get(words), I32_CONST, 2, I32_SHL, I32_ADD, ...set(end));
  const step: number[] = [...get(bits), I32_LOAD, ...mem(0, 0), ...simd(I32X4_SPLAT), ...set(b)];
  for (let k = 0; k < 8; k++) {
    step.push(...get(out));
    if (add) step.push(...get(out), ...v128Load(16 * k));
    step.push(...get(P), ...get(N), ...get(b), ...get(c0 + k), ...simd(V128_AND), ...get(c0 + k), ...simd(I32X4_EQ), ...simd(V128_BITSELECT));
    if (add) step.push(...simd(F32X4_ADD));
    step.push(...v128Store(16 * k));
  }
  step.push(...bump(out, 128), ...bump(bits, 4));
  body.push(...loopWhile(bits, end, step));
  return [...locals([[11, V128], [1, I32]]), ...body, END];
}

/** Sections: type, import (memory env.mem), function, export, code. */
export function oneBitModuleBytes(): Uint8Array {
  const funcType = (params: number[]): number[] => [0x60, ...wasmVec(params.map((p) => [p])), 0x00];
  const types = [
    funcType([I32, I32, I32, I32]), // sums
    funcType([I32, I32, I32, I32, F32, F32]), // signs
    funcType([I32, I32, I32, F32, F32]), // decode
    funcType([I32, I32, I32, I32, I32, F32, F32]), // addsums
  ];
  const funcs: Array<[string, number, number[]]> = [
    ['sums_r', 0, sumsBody(true)],
    ['sums', 0, sumsBody(false)],
    ['signs_r', 1, signsBody(true)],
    ['signs', 1, signsBody(false)],
    ['decode_set', 2, decodeBody(false)],
    ['decode_add', 2, decodeBody(true)],
    ['signs_set_r', 1, signsBody(true, true)],
    ['signs_set', 1, signsBody(false, true)],
    ['addsums_r', 3, addSumsBody(true)],
    ['addsums', 3, addSumsBody(false)],
  ];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...wasmSection(1, wasmVec(types)),
    ...wasmSection(2, [0x01, ...wasmName('env'), ...wasmName('mem'), 0x02, 0x00, 0x01]),
    ...wasmSection(3, wasmVec(funcs.map(([, type]) => [type]))),
    ...wasmSection(7, wasmVec(funcs.map(([name], i) => [...wasmName(name), 0x00, i]))),
    ...wasmSection(10, wasmVec(funcs.map(([, , body]) => [...uleb(body.length), ...body]))),
  ]);
}
