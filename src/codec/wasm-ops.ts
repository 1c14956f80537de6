/**
 * Opcodes and small code builders for the hand-assembled WebAssembly kernels (onebit-kernel.ts,
 * stochastic-kernel.ts), per the WebAssembly binary format: a builder returns the bytes of one
 * instruction or of a common shape (a counted loop, a local declaration), so a kernel body reads
 * as a list of instructions.
 */
import { sleb, uleb, wasmVec } from './wasm-bytes.js';

// Value types.
export const I32 = 0x7f, I64 = 0x7e, F32 = 0x7d, F64 = 0x7c, V128 = 0x7b;
// Control, locals, memory and scalar numeric instructions.
export const BLOCK = 0x02, LOOP = 0x03, IF = 0x04, END = 0x0b, BR = 0x0c, BR_IF = 0x0d, RETURN = 0x0f;
export const LOCAL_GET = 0x20, LOCAL_SET = 0x21, LOCAL_TEE = 0x22, I32_LOAD = 0x28, F32_LOAD = 0x2a;
export const F64_LOAD = 0x2b, I32_LOAD8_U = 0x2d, I32_LOAD16_U = 0x2f, I64_LOAD32_U = 0x35, I32_STORE = 0x36;
export const I64_STORE = 0x37, F32_STORE = 0x38, F64_STORE = 0x39, I32_STORE8 = 0x3a, I32_STORE16 = 0x3b;
export const VOID = 0x40, I32_CONST = 0x41, I64_CONST = 0x42, F64_CONST = 0x44, I32_EQZ = 0x45;
export const I32_EQ = 0x46, I32_NE = 0x47, I32_LT_U = 0x49, I32_GT_U = 0x4b, I32_GE_U = 0x4f, I64_GT_U = 0x56;
export const I64_GE_U = 0x5a, I32_ADD = 0x6a, I32_SUB = 0x6b, I32_MUL = 0x6c, I32_AND = 0x71, I32_OR = 0x72;
export const I32_XOR = 0x73, I32_SHL = 0x74, I32_SHR_U = 0x76, I32_ROTL = 0x77;
export const I64_ADD = 0x7c, I64_OR = 0x84, I64_SHL = 0x86;
export const I64_SHR_U = 0x88, F32_ADD = 0x92, F64_ADD = 0xa0, F64_MUL = 0xa2, I32_WRAP_I64 = 0xa7;
export const I64_EXTEND_I32_U = 0xad, F64_CONVERT_I32_U = 0xb8, F64_PROMOTE_F32 = 0xbb;
// SIMD opcodes (after the 0xfd prefix; see simd()).
export const V128_LOAD = 0x00, V128_STORE = 0x0b, V128_CONST = 0x0c, I8X16_SHUFFLE = 0x0d, I32X4_SPLAT = 0x11;
export const F32X4_SPLAT = 0x13, F64X2_SPLAT = 0x14, I32X4_EXTRACT_LANE = 0x1b, I32X4_REPLACE_LANE = 0x1c;
export const F32X4_REPLACE_LANE = 0x20, F64X2_EXTRACT_LANE = 0x21, I32X4_EQ = 0x37, I32X4_NE = 0x38;
export const F32X4_LT = 0x43, F32X4_GE = 0x46, F64X2_LT = 0x49, V128_AND = 0x4e, V128_ANDNOT = 0x4f;
export const V128_OR = 0x50, V128_BITSELECT = 0x52, V128_ANY_TRUE = 0x53, F32X4_DEMOTE_F64X2_ZERO = 0x5e;
export const F64X2_PROMOTE_LOW_F32X4 = 0x5f, I8X16_BITMASK = 0x64, I8X16_NARROW_I16X8_S = 0x65;
export const F64X2_FLOOR = 0x75, I16X8_NARROW_I32X4_S = 0x85, I32X4_SHL = 0xab, I32X4_SHR_U = 0xad;
export const I32X4_SUB = 0xb1, I32X4_MUL = 0xb5, F32X4_ADD = 0xe4, F32X4_SUB = 0xe5, F64X2_ABS = 0xec;
export const F64X2_ADD = 0xf0, F64X2_SUB = 0xf1, F64X2_MUL = 0xf2, F64X2_DIV = 0xf3, F64X2_PMIN = 0xf6;
export const F64X2_CONVERT_LOW_I32X4_U = 0xff;

export const simd = (op: number, ...imm: number[]): number[] => [0xfd, ...uleb(op), ...imm];
export const get = (i: number): number[] => [LOCAL_GET, i];
export const set = (i: number): number[] => [LOCAL_SET, i];
export const tee = (i: number): number[] => [LOCAL_TEE, i];
export const i32c = (x: number): number[] => [I32_CONST, ...sleb(x | 0)];
export const i64c = (x: number): number[] => [I64_CONST, ...sleb(x)];
export const f64c = (x: number): number[] => [F64_CONST, ...new Uint8Array(new Float64Array([x]).buffer)];
/** memarg: log2 alignment (only a hint: any address is legal), offset. */
export const mem = (align: number, offset = 0): number[] => [align, ...uleb(offset)];
export const v128c = (bytes: number[]): number[] => simd(V128_CONST, ...bytes);
export const zero = (): number[] => v128c(new Array<number>(16).fill(0));
/** `p += n` for an i32 local. */
export const bump = (p: number, n: number): number[] => [...get(p), ...i32c(n), I32_ADD, ...set(p)];
/** block; if p >= end skip; loop BODY; while p < end. BODY advances p. */
export const loopWhile = (p: number, end: number, body: number[]): number[] => [
  BLOCK, VOID, ...get(p), ...get(end), I32_GE_U, BR_IF, 0,
  LOOP, VOID, ...body, ...get(p), ...get(end), I32_LT_U, BR_IF, 0, END,
  END,
];
/** A function's local declarations: [count, type] groups. */
export const locals = (groups: Array<[number, number]>): number[] => wasmVec(groups.map(([count, type]) => [...uleb(count), type]));
