/**
 * WebAssembly kernels for the stochastic codec (stochastic.ts), assembled by hand like
 * onebit-kernel.ts. They compute exactly what the codec's JS loops compute (same f64 operations
 * in the same order, the same xoshiro128** stream), so frames, decoded values and residuals are
 * bit-identical; test/codec/stochastic-kernel.test.ts checks that on every path.
 *
 * Encode:
 *  - `sumsq` / `sumsq_r`: Σ u_i² in index order (one f64 add chain, as the JS loop), u = v or
 *    v + r in f64.
 *  - `quantize` / `quantize_r`: per value the QSGD level (|u| / norm · s, floor, coin), the code
 *    level << 1 | negative and the count of nonzero levels; the coin's draw comes from xoshiro128**
 *    run in the same loop (state update in scalar i32 ops, output scrambler four lanes at a time;
 *    state in memory), so the draws never go through memory. The _r variant also sums the
 *    variance Σ p(1 - p) in index order. Four values per iteration in two f64x2 halves; the
 *    ordered f64 sums stay scalar chains. ~3.5 ns per value (_r ~4.3) here, of the JS loop's ~15
 *    (with fillUint32's ~2): the xoshiro steps cost ~1.5 of it, and i32x4.trunc_sat_f64x2_s_zero
 *    (avoided, see quantizeBody) would cost ~2.
 *  - `residual`: r = f32(u - table[code]) (f64 subtraction, one rounding, as the JS loop), four
 *    values per iteration: ~1.4 ns per value (1.8 scalar).
 *  - `gather`: for the sparse form, each nonzero code's position gap as a LEB128 varint and the
 *    code - 2 (a zero-code test on four codes at once skips runs of zeros); returns the varint bytes.
 *  - `pack`: codes as `width`-bit fields, LSB first, through a 64-bit accumulator stored 32 bits
 *    at a time.
 * Decode:
 *  - `unpack`: `width`-bit fields back into codes, flagging a code above maxCode (bit 0) or equal
 *    to 1 (bit 1: a zero level with its sign set, which only the packed form forbids).
 *  - `lookup_set` / `lookup_add`: out = / += table[code] (f32).
 *  - `positions`: a sparse frame's LEB128 gaps into positions, with every check VarintReader
 *    makes (≤ 5 bytes, not overlong, < 2^32, inside the frame and the segment); -1 on any.
 *  - `scatter_set` / `scatter_add`: out[pos] = / += table[nz + 2].
 *  - `add_zero`: out += +0 (what the JS decoder's add does at every zero code: -0 becomes +0).
 * A kernel reports a malformed frame; the codec then runs its JS checks, which throw the exact
 * E_CODEC message, and `out` is only written once everything passed.
 *
 * Wasm can only touch its own memory: StochasticKernel copies the values (and residual, or the
 * decode target) in with TypedArray.set, zero-padded to a multiple of 4 (zeros leave every sum
 * and count alone and get code 0), and copies results out. Memory grows to ~20 bytes per value of
 * the longest segment seen (2.6 MiB for a 128K-value ring segment) and is kept.
 */
import { HOST_LE } from './bytes.js';
import { compileWasm, simdWasmApi, growMemoryTo, lazyKernel, uleb, wasmName, wasmSection, wasmVec, type WasmApi, type WasmMemory } from './wasm-bytes.js';
import {
  simd, get, set, tee, i32c, i64c, f64c, mem, v128c, zero, bump, loopWhile, locals, BLOCK, BR,
  BR_IF, END, F32X4_ADD, F32X4_DEMOTE_F64X2_ZERO, F32X4_LT, F32X4_REPLACE_LANE, F32X4_SPLAT,
  F32_ADD, F32_LOAD, F32_STORE, F64, F64X2_ABS, F64X2_ADD, F64X2_CONVERT_LOW_I32X4_U, F64X2_DIV,
  F64X2_EXTRACT_LANE, F64X2_FLOOR, F64X2_LT, F64X2_MUL, F64X2_PMIN, F64X2_PROMOTE_LOW_F32X4,
  F64X2_SPLAT, F64X2_SUB, F64_ADD, F64_CONVERT_I32_U, F64_LOAD, F64_MUL, F64_PROMOTE_F32,
  F64_STORE, I32, I32X4_EXTRACT_LANE, I32X4_MUL, I32X4_NE, I32X4_REPLACE_LANE, I32X4_SHL,
  I32X4_SHR_U, I32X4_SPLAT, I32X4_SUB, I32_ADD, I32_AND, I32_EQ, I32_EQZ, I32_GE_U, I32_GT_U,
  I32_LOAD, I32_LOAD8_U, I32_LT_U, I32_MUL, I32_NE, I32_OR, I32_ROTL, I32_SHL, I32_SHR_U,
  I32_STORE, I32_STORE8, I32_SUB, I32_WRAP_I64, I32_XOR, I64, I64_ADD, I64_EXTEND_I32_U, I64_GE_U,
  I64_GT_U, I64_LOAD32_U, I64_OR, I64_SHL, I64_SHR_U, I64_STORE, I8X16_SHUFFLE, IF, LOOP, RETURN,
  V128, V128_AND, V128_ANY_TRUE, V128_LOAD, V128_OR, V128_STORE, VOID,
} from './wasm-ops.js';

type SumSqFn = (v: number, n: number) => number;
type SumSqRFn = (v: number, r: number, n: number) => number;
type QuantizeFn = (v: number, n: number, codes: number, norm: number, s: number, state: number) => number;
type QuantizeRFn = (v: number, r: number, n: number, codes: number, norm: number, s: number, state: number, varAt: number) => number;
type ResidualFn = (v: number, r: number, n: number, codes: number, table: number) => void;
type GatherFn = (codes: number, n: number, varints: number, nz: number) => number;
type PackFn = (src: number, count: number, width: number, dst: number) => void;
type UnpackFn = (src: number, count: number, width: number, maxCode: number, dst: number) => number;
type LookupFn = (codes: number, n: number, table: number, out: number) => void;
type PositionsFn = (src: number, end: number, count: number, n: number, pos: number) => number;
type ScatterFn = (pos: number, nz: number, count: number, table: number, out: number) => void;
type AddZeroFn = (out: number, n: number) => void;

interface StochasticExports {
  readonly sumsq: SumSqFn;
  readonly sumsqR: SumSqRFn;
  readonly quantize: QuantizeFn;
  readonly quantizeR: QuantizeRFn;
  readonly residual: ResidualFn;
  readonly gather: GatherFn;
  readonly pack: PackFn;
  readonly unpack: UnpackFn;
  readonly lookupSet: LookupFn;
  readonly lookupAdd: LookupFn;
  readonly positions: PositionsFn;
  readonly scatterSet: ScatterFn;
  readonly scatterAdd: ScatterFn;
  readonly addZero: AddZeroFn;
}

/** unpack's flags: a code above maxCode; a code of 1 (zero level, sign set). */
export const UNPACK_ABOVE_MAX = 1;
export const UNPACK_SIGNED_ZERO = 2;

/** Layout: a 64-byte header (PRNG state at 0, variance f64 at 16), then regions sized by capacity. */
const STATE = 0;
const VARIANCE = 16;
const REGIONS = 64;

/**
 * The kernels over one wasm memory. Region offsets follow the capacity (values per region, a
 * multiple of 16): V values / decode target (f32), R residual / sparse positions or codes (u32),
 * C codes (u32), B frame body bytes (8 per value: varints ≤ 5, packed codes ≤ 17 bits), T the
 * decoded value of every code (f32; room for any code a field of the frame's width can hold).
 */
export class StochasticKernel {
  private readonly memory: WasmMemory;
  readonly k: StochasticExports;
  private capacity = -1;
  private tableEntries = 0;
  /** What setCodeTable last wrote (tableS = 0: nothing yet). */
  private tableS = 0;
  private tableNorm = 0;
  private tableAt = 0;
  /** Fused add-then-encodes (StochasticCodec.addDecodedThenEncode) run here so far. */
  fused = 0;
  vAt = 0;
  rAt = 0;
  cAt = 0;
  bAt = 0;
  tAt = 0;
  f32 = new Float32Array(0);
  u32 = new Uint32Array(0);
  i32 = new Int32Array(0);
  f64 = new Float64Array(0);
  u8 = new Uint8Array(0);

  constructor(wasm: WasmApi, module: object) {
    this.memory = new wasm.Memory({ initial: 1 });
    const e = new wasm.Instance(module, { env: { mem: this.memory } }).exports;
    this.k = {
      sumsq: e.sumsq as SumSqFn,
      sumsqR: e.sumsq_r as SumSqRFn,
      quantize: e.quantize as QuantizeFn,
      quantizeR: e.quantize_r as QuantizeRFn,
      residual: e.residual as ResidualFn,
      gather: e.gather as GatherFn,
      pack: e.pack as PackFn,
      unpack: e.unpack as UnpackFn,
      lookupSet: e.lookup_set as LookupFn,
      lookupAdd: e.lookup_add as LookupFn,
      positions: e.positions as PositionsFn,
      scatterSet: e.scatter_set as ScatterFn,
      scatterAdd: e.scatter_add as ScatterFn,
      addZero: e.add_zero as AddZeroFn,
    };
  }

  /** Room for n values per region and a table for levels s (any code of 2 + bitsFor(s) bits). */
  ensure(n: number, s: number): void {
    const entries = 4 * (s + 1);
    if (n <= this.capacity && entries <= this.tableEntries) return;
    const cap = Math.max(this.capacity, roundUp(Math.max(n, 16), 16));
    const tableEntries = Math.max(this.tableEntries, entries);
    this.vAt = REGIONS;
    this.rAt = this.vAt + 4 * cap;
    this.cAt = this.rAt + 4 * cap;
    this.bAt = this.cAt + 4 * cap;
    this.tAt = this.bAt + 8 * cap + 64;
    const need = this.tAt + 4 * tableEntries + 64;
    const buf = growMemoryTo(this.memory, need);
    this.f32 = new Float32Array(buf);
    this.u32 = new Uint32Array(buf);
    this.i32 = new Int32Array(buf);
    this.f64 = new Float64Array(buf);
    this.u8 = new Uint8Array(buf);
    this.capacity = cap;
    this.tableEntries = tableEntries;
  }

  /** Copies src into the f32 region at byte offset `at`, zero-padded to a multiple of 4 values. */
  load(src: Float32Array, at: number): void {
    const f32 = this.f32;
    const i = at >> 2;
    f32.set(src, i);
    for (let k = src.length; k & 3; k++) f32[i + k] = 0;
  }

  get stateAt(): number {
    return STATE;
  }

  get varianceAt(): number {
    return VARIANCE;
  }

  /** The variance quantize_r left. */
  variance(): number {
    return this.f64[VARIANCE >> 3];
  }

  /**
   * codeValues(norm, s) at T, unless it is there already: consecutive frames of a ring step
   * often share the norm, and at large s the table is most of a short decode's work.
   */
  setCodeTable(norm: number, s: number, codeValues: (norm: number, s: number) => Float32Array): void {
    if (this.tableS === s && Object.is(this.tableNorm, norm) && this.tableAt === this.tAt) return;
    this.f32.set(codeValues(norm, s), this.tAt >> 2);
    this.tableS = s;
    this.tableNorm = norm;
    this.tableAt = this.tAt;
  }
}

function roundUp(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}

/** Memory views are host-endian, wasm memory is little-endian: big-endian hosts run the JS loops. */
function wasmApi(): WasmApi | null {
  return HOST_LE ? simdWasmApi() : null;
}

/**
 * The stochastic kernel, or null when WebAssembly SIMD is unavailable (or RINGTRAIN_NO_SIMD is
 * set, read once). One per thread: calls are synchronous, so codecs can share it.
 */
export const stochasticKernel = lazyKernel((): StochasticKernel | null => {
  const wasm = wasmApi();
  const compiled = compileWasm(wasm, stochasticModuleBytes);
  return wasm && compiled ? new StochasticKernel(wasm, compiled) : null;
});

// ---- The module, per the WebAssembly binary format (builders: wasm-ops.ts) ----

const i32x4c = (a: number, b: number, c: number, d: number): number[] => v128c([...new Uint8Array(new Int32Array([a, b, c, d]).buffer)]);
/** end = p + n * scale (byte pointer past the last element). */
const endOf = (p: number, n: number, shift: number, end: number): number[] => [...get(p), ...get(n), ...i32c(shift), I32_SHL, I32_ADD, ...set(end)];

/**
 * sumsq(v, n) / sumsq_r(v, r, n) -> f64: acc += u·u for u = f64(v[i]) (+ f64(r[i])), i in
 * order; n a multiple of 4. The add chain is the loop's whole cost (~1.2 ns per value here).
 */
function sumSqBody(withResidual: boolean): number[] {
  const v = 0, r = 1, n = withResidual ? 2 : 1;
  const base = n + 1;
  const end = base, acc = base + 1, u = base + 2;
  const step: number[] = [];
  for (let k = 0; k < 4; k++) {
    step.push(...get(v), F32_LOAD, ...mem(2, 4 * k), F64_PROMOTE_F32);
    if (withResidual) step.push(...get(r), F32_LOAD, ...mem(2, 4 * k), F64_PROMOTE_F32, F64_ADD);
    step.push(...set(u), ...get(acc), ...get(u), ...get(u), F64_MUL, F64_ADD, ...set(acc));
  }
  step.push(...bump(v, 16));
  if (withResidual) step.push(...bump(r, 16));
  const body = [...endOf(v, n, 2, end), ...loopWhile(v, end, step), ...get(acc), END];
  return [...locals([[1, I32], [2, F64]]), ...body];
}

/** Lanes 2, 3 of the two copies of a v128 on the stack moved to lanes 0, 1 (for promote_low / convert_low). */
function highHalf(): number[] {
  return simd(I8X16_SHUFFLE, 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
}

/**
 * xoshiro128**'s state update over locals s0..s3 (its output, rotl(s1 · 5, 7) · 9 of the s1
 * before, is computed four at a time by the caller: 3 scalar ops fewer per draw).
 */
function advance(s0: number, s1: number, s2: number, s3: number, t: number): number[] {
  return [
    ...get(s1), ...i32c(9), I32_SHL, ...set(t),
    ...get(s2), ...get(s0), I32_XOR, ...set(s2),
    ...get(s3), ...get(s1), I32_XOR, ...set(s3),
    ...get(s1), ...get(s2), I32_XOR, ...set(s1),
    ...get(s0), ...get(s3), I32_XOR, ...set(s0),
    ...get(s2), ...get(t), I32_XOR, ...set(s2),
    ...get(s3), ...i32c(11), I32_ROTL, ...set(s3),
  ];
}

/**
 * quantize(v, n, codes, norm, s, state) -> count, and quantize_r(v, r, n, codes, norm, s, state,
 * varAt) -> count (variance Σ p(1-p) stored at varAt). Per value, as the JS loop:
 *   a = (|u| / norm) · s; fl = floor(a); p = a - fl; level = fl + (draw < p · 2^32); min(level, s);
 *   code = level << 1 | (u < 0 and level > 0).
 * Four values per iteration, as two f64x2 halves; n a multiple of 4. The level stays in f64 until
 * it is exact and small, then 2^52 + level puts it in the low word of its lane (one add; V8's
 * i32x4.trunc_sat_f64x2_s_zero measured ~2 ns per value here, 40 % of the loop). u < 0 is taken
 * in f32 (v + r rounded to f32 has the sign of the f64 sum, and the same zero).
 */
function quantizeBody(withResidual: boolean): number[] {
  const P = withResidual
    ? { v: 0, r: 1, n: 2, codes: 3, norm: 4, s: 5, state: 6, varAt: 7 }
    : { v: 0, r: -1, n: 1, codes: 2, norm: 3, s: 4, state: 5, varAt: -1 };
  const first = withResidual ? 8 : 6;
  // i32 locals
  const end = first, s0 = first + 1, s1 = first + 2, s2 = first + 3, s3 = first + 4, t = first + 5;
  // f64 local
  const variance = first + 6;
  // v128 locals
  const X = first + 7, NORM = first + 8, S = first + 9, TWO32 = first + 10, ONE = first + 11, MAGIC = first + 12, CNT = first + 13;
  const D = first + 14, La = first + 15, Lb = first + 16, A = first + 17, F = first + 18, Pp = first + 19, T = first + 20, R = first + 21;
  const body: number[] = [];
  body.push(...get(P.norm), ...simd(F64X2_SPLAT), ...set(NORM));
  body.push(...get(P.s), F64_CONVERT_I32_U, ...simd(F64X2_SPLAT), ...set(S));
  body.push(...f64c(4294967296), ...simd(F64X2_SPLAT), ...set(TWO32));
  body.push(...f64c(1), ...simd(F64X2_SPLAT), ...set(ONE));
  body.push(...f64c(2 ** 52), ...simd(F64X2_SPLAT), ...set(MAGIC));
  body.push(...zero(), ...set(CNT));
  [s0, s1, s2, s3].forEach((l, k) => body.push(...get(P.state), I32_LOAD, ...mem(2, 4 * k), ...set(l)));
  body.push(...endOf(P.v, P.n, 2, end));
  if (withResidual) body.push(...get(P.varAt), F64_LOAD, ...mem(3), ...set(variance));

  const step: number[] = [];
  // four draws, in order: the s1 of four steps as an i32x4, scrambled four at a time
  step.push(...get(s1), ...simd(I32X4_SPLAT), ...advance(s0, s1, s2, s3, t));
  for (let lane = 1; lane < 4; lane++) step.push(...get(s1), ...simd(I32X4_REPLACE_LANE, lane), ...advance(s0, s1, s2, s3, t));
  step.push(...i32x4c(5, 5, 5, 5), ...simd(I32X4_MUL), ...tee(D), ...i32c(7), ...simd(I32X4_SHL), ...get(D), ...i32c(25), ...simd(I32X4_SHR_U), ...simd(V128_OR));
  step.push(...i32x4c(9, 9, 9, 9), ...simd(I32X4_MUL), ...set(D));
  step.push(...get(P.v), ...simd(V128_LOAD, ...mem(2)), ...set(X));
  if (withResidual) step.push(...get(P.r), ...simd(V128_LOAD, ...mem(2)), ...set(R));
  for (const [half, L] of [[0, La], [1, Lb]] as const) {
    // u as f64x2: values 2·half, 2·half + 1 (+ the residual's, added in f64)
    const promoteHalf = (src: number): number[] => [...get(src), ...(half ? [...get(src), ...highHalf()] : []), ...simd(F64X2_PROMOTE_LOW_F32X4)];
    step.push(...promoteHalf(X));
    if (withResidual) step.push(...promoteHalf(R), ...simd(F64X2_ADD));
    step.push(...simd(F64X2_ABS), ...get(NORM), ...simd(F64X2_DIV), ...get(S), ...simd(F64X2_MUL), ...tee(A));
    step.push(...simd(F64X2_FLOOR), ...set(F), ...get(A), ...get(F), ...simd(F64X2_SUB), ...set(Pp));
    if (withResidual) {
      // variance += p(1 - p) for the two values, in index order
      step.push(...get(Pp), ...get(ONE), ...get(Pp), ...simd(F64X2_SUB), ...simd(F64X2_MUL), ...set(T));
      step.push(...get(variance), ...get(T), ...simd(F64X2_EXTRACT_LANE, 0), F64_ADD);
      step.push(...get(T), ...simd(F64X2_EXTRACT_LANE, 1), F64_ADD, ...set(variance));
    }
    // coin: draw (exact as f64) < p · 2^32; level = min(fl + coin, s); then 2^52 + level
    step.push(...get(D), ...(half ? [...get(D), ...highHalf()] : []), ...simd(F64X2_CONVERT_LOW_I32X4_U));
    step.push(...get(Pp), ...get(TWO32), ...simd(F64X2_MUL), ...simd(F64X2_LT), ...get(ONE), ...simd(V128_AND));
    step.push(...get(F), ...simd(F64X2_ADD), ...get(S), ...simd(F64X2_PMIN), ...get(MAGIC), ...simd(F64X2_ADD), ...set(L));
  }
  // the levels' low words as one i32x4; nonzero and negative masks; code = (level << 1) - (neg & nonzero)
  step.push(...get(La), ...get(Lb), ...simd(I8X16_SHUFFLE, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27), ...set(La));
  step.push(...get(La), ...zero(), ...simd(I32X4_NE), ...set(T));
  step.push(...get(CNT), ...get(T), ...simd(I32X4_SUB), ...set(CNT));
  step.push(...get(P.codes), ...get(La), ...i32c(1), ...simd(I32X4_SHL));
  step.push(...get(X), ...(withResidual ? [...get(R), ...simd(F32X4_ADD)] : []), ...zero(), ...simd(F32X4_LT), ...get(T), ...simd(V128_AND), ...simd(I32X4_SUB));
  step.push(...simd(V128_STORE, ...mem(2)));
  step.push(...bump(P.v, 16), ...bump(P.codes, 16));
  if (withResidual) step.push(...bump(P.r, 16));
  body.push(...loopWhile(P.v, end, step));
  [s0, s1, s2, s3].forEach((l, k) => body.push(...get(P.state), ...get(l), I32_STORE, ...mem(2, 4 * k)));
  if (withResidual) body.push(...get(P.varAt), ...get(variance), F64_STORE, ...mem(3));
  // lanes hold counts of values i ≡ lane (mod 4), each < 2^31
  body.push(...get(CNT), ...simd(I32X4_EXTRACT_LANE, 0), ...get(CNT), ...simd(I32X4_EXTRACT_LANE, 1), I32_ADD);
  body.push(...get(CNT), ...simd(I32X4_EXTRACT_LANE, 2), I32_ADD, ...get(CNT), ...simd(I32X4_EXTRACT_LANE, 3), I32_ADD, END);
  return [...locals([[6, I32], [1, F64], [15, V128]]), ...body];
}

/**
 * residual(v, r, n, codes, table): r[i] = f32(f64(v[i]) + f64(r[i]) - f64(table[codes[i]])), four
 * values per iteration (the table values gathered by four scalar loads); n a multiple of 4.
 */
function residualBody(): number[] {
  const v = 0, r = 1, n = 2, codes = 3, table = 4, end = 5;
  const X = 6, R = 7, C = 8, T = 9, LO = 10;
  const step: number[] = [
    ...get(v), ...simd(V128_LOAD, ...mem(2)), ...set(X),
    ...get(r), ...simd(V128_LOAD, ...mem(2)), ...set(R),
    ...get(codes), ...simd(V128_LOAD, ...mem(2)), ...set(C),
  ];
  // T = the four codes' table values (splat, then replace lanes 1-3)
  for (let lane = 0; lane < 4; lane++) {
    if (lane > 0) step.push(...get(T));
    step.push(...get(table), ...get(C), ...simd(I32X4_EXTRACT_LANE, lane), ...i32c(2), I32_SHL, I32_ADD, F32_LOAD, ...mem(2));
    step.push(...(lane === 0 ? simd(F32X4_SPLAT) : simd(F32X4_REPLACE_LANE, lane)), ...set(T));
  }
  // each half: promote, add, subtract in f64, demote (lanes 0, 1)
  for (const half of [0, 1]) {
    const promote = (l: number): number[] => [...get(l), ...(half ? [...get(l), ...highHalf()] : []), ...simd(F64X2_PROMOTE_LOW_F32X4)];
    step.push(...promote(X), ...promote(R), ...simd(F64X2_ADD), ...promote(T), ...simd(F64X2_SUB), ...simd(F32X4_DEMOTE_F64X2_ZERO));
    if (half === 0) step.push(...set(LO));
  }
  step.push(...set(T), ...get(r), ...get(LO), ...get(T), ...simd(I8X16_SHUFFLE, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), ...simd(V128_STORE, ...mem(2)));
  step.push(...bump(v, 16), ...bump(r, 16), ...bump(codes, 16));
  return [...locals([[1, I32], [5, V128]]), ...endOf(v, n, 2, end), ...loopWhile(v, end, step), END];
}

/** Writes x (an i32 local, < 2^32 unsigned) as LEB128 at the pointer local p, advancing p. */
function writeVarint(x: number, p: number): number[] {
  return [
    BLOCK, VOID, LOOP, VOID,
    ...get(x), ...i32c(0x80), I32_LT_U, BR_IF, 1,
    ...get(p), ...get(x), ...i32c(0x7f), I32_AND, ...i32c(0x80), I32_OR, I32_STORE8, ...mem(0),
    ...bump(p, 1),
    ...get(x), ...i32c(7), I32_SHR_U, ...set(x),
    BR, 0,
    END, END,
    ...get(p), ...get(x), I32_STORE8, ...mem(0),
    ...bump(p, 1),
  ];
}

/**
 * gather(codes, n, varints, nz) -> varint bytes: for each nonzero code, in order, the gap
 * i - prev - 1 as a varint at varints and code - 2 at nz (u32). n a multiple of 4.
 */
function gatherBody(): number[] {
  const codes = 0, n = 1, varints = 2, nz = 3;
  const i = 4, end = 5, prev = 6, c = 7, x = 8, p = 9, q = 10;
  const body: number[] = [...get(varints), ...set(p), ...i32c(-1), ...set(prev), ...get(n), ...set(end)];
  const one = (j: number): number[] => [
    ...get(q), I32_LOAD, ...mem(2, 4 * j), ...tee(c),
    IF, VOID,
    ...get(i), ...i32c(j), I32_ADD, ...tee(x), ...get(x), ...get(prev), I32_SUB, ...i32c(1), I32_SUB, ...set(x), ...set(prev),
    ...writeVarint(x, p),
    ...get(nz), ...get(c), ...i32c(2), I32_SUB, I32_STORE, ...mem(2),
    ...bump(nz, 4),
    END,
  ];
  const step: number[] = [
    ...get(codes), ...get(i), ...i32c(2), I32_SHL, I32_ADD, ...tee(q), ...simd(V128_LOAD, ...mem(2)), ...simd(V128_ANY_TRUE),
    IF, VOID, ...one(0), ...one(1), ...one(2), ...one(3), END,
    ...bump(i, 4),
  ];
  body.push(...loopWhile(i, end, step));
  body.push(...get(p), ...get(varints), I32_SUB, END);
  return [...locals([[7, I32]]), ...body];
}

/** pack(src, count, width, dst): count u32 codes as width-bit fields (≤ 32), LSB first, at dst. */
function packBody(): number[] {
  const src = 0, count = 1, width = 2, dst = 3;
  const end = 4, nb = 5, acc = 6, w64 = 7;
  const body: number[] = [...endOf(src, count, 2, end), ...get(width), I64_EXTEND_I32_U, ...set(w64)];
  const step: number[] = [
    ...get(acc), ...get(src), I64_LOAD32_U, ...mem(2), ...get(nb), I64_EXTEND_I32_U, I64_SHL, I64_OR, ...set(acc),
    ...get(nb), ...get(width), I32_ADD, ...tee(nb), ...i32c(32), I32_GE_U,
    IF, VOID,
    ...get(dst), ...get(acc), I32_WRAP_I64, I32_STORE, ...mem(0),
    ...bump(dst, 4),
    ...get(acc), ...i64c(32), I64_SHR_U, ...set(acc),
    ...get(nb), ...i32c(32), I32_SUB, ...set(nb),
    END,
    ...bump(src, 4),
  ];
  body.push(...loopWhile(src, end, step));
  body.push(...get(dst), ...get(acc), I64_STORE, ...mem(0), END);
  return [...locals([[2, I32], [2, I64]]), ...body];
}

/**
 * unpack(src, count, width, maxCode, dst) -> flags: count width-bit fields into dst (u32);
 * UNPACK_ABOVE_MAX if some code > maxCode, UNPACK_SIGNED_ZERO if some code is 1. Reads whole
 * 32-bit words: the frame body is copied in with 8 zero bytes behind it.
 */
function unpackBody(): number[] {
  const src = 0, count = 1, width = 2, maxCode = 3, dst = 4;
  const end = 5, nb = 6, c = 7, bad = 8, mask = 9, acc = 10, w64 = 11;
  const body: number[] = [
    ...endOf(dst, count, 2, end),
    ...get(width), I64_EXTEND_I32_U, ...set(w64),
    ...i32c(1), ...get(width), I32_SHL, ...i32c(1), I32_SUB, ...set(mask),
  ];
  const step: number[] = [
    ...get(nb), ...get(width), I32_LT_U,
    IF, VOID,
    ...get(acc), ...get(src), I64_LOAD32_U, ...mem(0), ...get(nb), I64_EXTEND_I32_U, I64_SHL, I64_OR, ...set(acc),
    ...bump(src, 4),
    ...get(nb), ...i32c(32), I32_ADD, ...set(nb),
    END,
    ...get(acc), I32_WRAP_I64, ...get(mask), I32_AND, ...set(c),
    ...get(acc), ...get(w64), I64_SHR_U, ...set(acc),
    ...get(nb), ...get(width), I32_SUB, ...set(nb),
    ...get(dst), ...get(c), I32_STORE, ...mem(2),
    ...get(bad),
    ...get(c), ...get(maxCode), I32_GT_U, I32_OR,
    ...get(c), ...i32c(1), I32_EQ, ...i32c(1), I32_SHL, I32_OR,
    ...set(bad),
    ...bump(dst, 4),
  ];
  body.push(...loopWhile(dst, end, step), ...get(bad), END);
  return [...locals([[5, I32], [2, I64]]), ...body];
}

/** lookup(codes, n, table, out): out[i] = (or +=) table[codes[i]] (f32). */
function lookupBody(add: boolean): number[] {
  const codes = 0, n = 1, table = 2, out = 3, end = 4;
  const step: number[] = [...get(out)];
  if (add) step.push(...get(out), F32_LOAD, ...mem(2));
  step.push(...get(table), ...get(codes), I32_LOAD, ...mem(2), ...i32c(2), I32_SHL, I32_ADD, F32_LOAD, ...mem(2));
  if (add) step.push(F32_ADD);
  step.push(F32_STORE, ...mem(2), ...bump(codes, 4), ...bump(out, 4));
  return [...locals([[1, I32]]), ...endOf(codes, n, 2, end), ...loopWhile(codes, end, step), END];
}

/**
 * positions(src, end, count, n, pos) -> the offset after the last varint, or -1: count LEB128
 * gaps from src (not past end) into positions prev + 1 + gap (u32 at pos), refusing what
 * VarintReader refuses (a varint past end, longer than 5 bytes, overlong, or ≥ 2^32) and a
 * position ≥ n.
 */
function positionsBody(): number[] {
  const src = 0, endP = 1, count = 2, n = 3, pos = 4;
  const p = 5, j = 6, b = 7, k = 8, x = 9, prev = 10;
  const body: number[] = [...get(src), ...set(p), ...i64c(-1), ...set(prev)];
  const fail = [...i32c(-1), RETURN];
  const readOne: number[] = [
    ...i64c(0), ...set(x), ...i32c(0), ...set(k),
    BLOCK, VOID, LOOP, VOID,
    // past the end, or a sixth byte
    ...get(p), ...get(endP), I32_GE_U, IF, VOID, ...fail, END,
    ...get(k), ...i32c(5), I32_GE_U, IF, VOID, ...fail, END,
    ...get(p), I32_LOAD8_U, ...mem(0), ...set(b),
    ...bump(p, 1),
    ...get(x), ...get(b), ...i32c(0x7f), I32_AND, I64_EXTEND_I32_U, ...get(k), ...i32c(7), I32_MUL, I64_EXTEND_I32_U, I64_SHL, I64_OR, ...set(x),
    ...get(b), ...i32c(0x80), I32_LT_U,
    IF, VOID,
    // overlong: a last byte of zero after the first
    ...get(b), I32_EQZ, ...get(k), ...i32c(0), I32_NE, I32_AND, IF, VOID, ...fail, END,
    BR, 2,
    END,
    ...bump(k, 1),
    BR, 0,
    END, END,
    ...get(x), ...i64c(0xffffffff), I64_GT_U, IF, VOID, ...fail, END,
    ...get(prev), ...i64c(1), I64_ADD, ...get(x), I64_ADD, ...tee(prev),
    ...get(n), I64_EXTEND_I32_U, I64_GE_U, IF, VOID, ...fail, END,
    ...get(pos), ...get(prev), I32_WRAP_I64, I32_STORE, ...mem(2),
    ...bump(pos, 4),
    ...bump(j, 1),
  ];
  body.push(...loopWhile(j, count, readOne));
  body.push(...get(p), ...get(src), I32_SUB, END);
  return [...locals([[4, I32], [2, I64]]), ...body];
}

/** scatter(pos, nz, count, table, out): out[pos[j]] = (or +=) table[nz[j] + 2]. */
function scatterBody(add: boolean): number[] {
  const pos = 0, nz = 1, count = 2, table = 3, out = 4;
  const end = 5, at = 6;
  const step: number[] = [...get(out), ...get(pos), I32_LOAD, ...mem(2), ...i32c(2), I32_SHL, I32_ADD, ...tee(at)];
  if (add) step.push(...get(at), F32_LOAD, ...mem(2));
  step.push(...get(table), ...get(nz), I32_LOAD, ...mem(2), ...i32c(2), I32_SHL, I32_ADD, F32_LOAD, ...mem(2, 8));
  if (add) step.push(F32_ADD);
  step.push(F32_STORE, ...mem(2), ...bump(pos, 4), ...bump(nz, 4));
  return [...locals([[2, I32]]), ...endOf(pos, count, 2, end), ...loopWhile(pos, end, step), END];
}

/** add_zero(out, n): out[i] += +0 (f32x4), n a multiple of 4. */
function addZeroBody(): number[] {
  const out = 0, n = 1, end = 2;
  const step = [...get(out), ...get(out), ...simd(V128_LOAD, ...mem(2)), ...zero(), ...simd(F32X4_ADD), ...simd(V128_STORE, ...mem(2)), ...bump(out, 16)];
  return [...locals([[1, I32]]), ...endOf(out, n, 2, end), ...loopWhile(out, end, step), END];
}

/** Sections: type, import (memory env.mem), function, export, code. */
export function stochasticModuleBytes(): Uint8Array {
  const funcType = (params: number[], results: number[]): number[] => [0x60, ...wasmVec(params.map((p) => [p])), ...wasmVec(results.map((r) => [r]))];
  const types = [
    funcType([I32, I32], [F64]), // 0 sumsq
    funcType([I32, I32, I32], [F64]), // 1 sumsq_r
    funcType([I32, I32, I32, F64, I32, I32], [I32]), // 2 quantize
    funcType([I32, I32, I32, I32, F64, I32, I32, I32], [I32]), // 3 quantize_r
    funcType([I32, I32, I32, I32, I32], []), // 4 residual, scatter
    funcType([I32, I32, I32, I32], [I32]), // 5 gather
    funcType([I32, I32, I32, I32], []), // 6 pack, lookup
    funcType([I32, I32, I32, I32, I32], [I32]), // 7 unpack, positions
    funcType([I32, I32], []), // 8 add_zero
  ];
  const funcs: Array<[string, number, number[]]> = [
    ['sumsq', 0, sumSqBody(false)],
    ['sumsq_r', 1, sumSqBody(true)],
    ['quantize', 2, quantizeBody(false)],
    ['quantize_r', 3, quantizeBody(true)],
    ['residual', 4, residualBody()],
    ['gather', 5, gatherBody()],
    ['pack', 6, packBody()],
    ['unpack', 7, unpackBody()],
    ['lookup_set', 6, lookupBody(false)],
    ['lookup_add', 6, lookupBody(true)],
    ['positions', 7, positionsBody()],
    ['scatter_set', 4, scatterBody(false)],
    ['scatter_add', 4, scatterBody(true)],
    ['add_zero', 8, addZeroBody()],
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
