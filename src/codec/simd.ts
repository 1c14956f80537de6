/**
 * The WebAssembly SIMD kernels behind the dense codec, and ring vectors that live in WebAssembly
 * memory so the kernels can work on them where they are.
 *
 * A hand-assembled module (no toolchain) exports two functions over 16-float blocks:
 *  - `add(dst, src, n)`: dst[i] += src[i] with f32x4.add,
 *  - `copy(dst, src, n)`: dst[i] = src[i],
 * both unrolled ×4, both returning 1 if any src value was NaN/±Infinity (they sum v - v per lane,
 * which is 0 only for finite v), so the finiteness check every received frame needs rides along.
 *
 * Wasm can only touch its own memory. For an ordinary Float32Array the kernel copies both operands
 * in and the sum out (SimdKernel). A **ring vector** (allocRingVector) is a Float32Array over a
 * wasm memory of its own that also holds a staging area where the transport assembles incoming
 * frames (WsLink.assembleIn); then a reduce-scatter add and an all-gather copy run in place with
 * no copy at all. This is what Gloo and NCCL call a registered buffer.
 *
 * A ring vector for a lossy codec can also carry its error-feedback residual in the same memory
 * (allocRingVector(…, { residual: true }), ringResidualOf), and every arena has a small scratch
 * region, so the 1-bit codec's kernels (onebit-kernel.ts) encode and decode in place too.
 *
 * Layout (byte offsets, each region 64-aligned): vector | residual (optional, same size) |
 * scratch | staging (to the end of the memory).
 */
import { compileWasm, simdWasmApi, sleb, uleb, WASM_PAGE as PAGE, type WasmApi, type WasmMemory } from './wasm-bytes.js';

type KernelFn = (dst: number, src: number, n: number) => number;

/** Elements per kernel call (a multiple of 16); the JS tail handles the rest. */
function blockable(n: number): number {
  return n & ~15;
}

/**
 * Blocks of 64 KiB keep both operands in L2 while they are copied in, added and copied out
 * (blocks of 8K to 64K elements measured alike; the smaller one keeps wasm memory at 128 KiB).
 */
const SIMD_BLOCK_ELEMS = 16 * 1024;

/**
 * The kernel for vectors outside wasm memory: operands are copied in, added, the sum copied out.
 * Measured per byte added (CPU time): 3-4× the JS loop while the operands sit in cache (~6 vs
 * ~1.8 GB/s), 1.0-1.4× once the vector outgrows it. Never slower, so it is used when available.
 */
export class SimdKernel {
  private readonly memory: WasmMemory;
  private readonly addFn: KernelFn;
  private bytes = 0;

  constructor(wasm: WasmApi, module: object) {
    this.memory = new wasm.Memory({ initial: 1 });
    this.bytes = this.memory.buffer.byteLength;
    const instance = new wasm.Instance(module, { env: { mem: this.memory } });
    this.addFn = instance.exports.add as KernelFn;
  }

  private heap(block: number): Uint8Array {
    if (2 * 4 * block > this.bytes) {
      // Grow in whole pages; views are made fresh per call, so detaching the old buffer is fine.
      this.memory.grow(Math.ceil((2 * 4 * block - this.bytes) / PAGE));
      this.bytes = this.memory.buffer.byteLength;
    }
    return new Uint8Array(this.memory.buffer);
  }

  /** out += the little-endian floats in `src` (any alignment); false if any was not finite. */
  addBytes(out: Float32Array, src: Uint8Array): boolean {
    const n = out.length;
    const nv = blockable(n);
    const block = Math.min(nv, SIMD_BLOCK_ELEMS);
    const heap = this.heap(block);
    const srcAt = 4 * block;
    let bad = 0;
    for (let i = 0; i < nv; i += block) {
      const len = 4 * Math.min(block, nv - i);
      const outBytes = new Uint8Array(out.buffer, out.byteOffset + 4 * i, len);
      heap.set(outBytes, 0);
      heap.set(src.subarray(4 * i, 4 * i + len), srcAt);
      bad |= this.addFn(0, srcAt, len >> 2);
      outBytes.set(heap.subarray(0, len));
    }
    return bad === 0 && addTail(out, src, nv, n, 'add');
  }
}

/** What allocRingVector reserves beside the vector. */
export interface RingVectorOptions {
  /** A zeroed residual of the vector's length in the same memory (see ringResidualOf). */
  residual?: boolean;
  /** Bytes of kernel scratch (default: the sign bits of a staging area's worth of floats, ≥ 1 KiB). */
  scratchBytes?: number;
}

/**
 * A Float32Array in a wasm memory of its own, followed by an optional residual, a scratch region
 * for kernels and a staging area for incoming frames. The memory never grows (its maximum is its
 * size), so views of it (the vector, the staging bytes a socket reads into) stay valid for its
 * lifetime.
 */
export class RingArena {
  readonly vector: Float32Array;
  /** The vector's error-feedback residual, when it was asked for (see ringResidualOf). */
  readonly residual: Float32Array | undefined;
  /** Where a link may assemble incoming frames (see WsLink.assembleIn). */
  readonly staging: Uint8Array;
  /**
   * Bytes any kernel may use during one synchronous call (nothing survives between calls); the
   * 1-bit codec keeps its sums and one block of sign bits here (onebit-kernel.ts).
   */
  readonly scratch: Uint8Array;
  /** The memory itself, for kernels instantiated against it (onebit-kernel.ts). */
  readonly memory: WasmMemory;
  private readonly addFn: KernelFn;
  private readonly copyFn: KernelFn;
  /** Frames added, copied, encoded or decoded in place so far (how tests see that the fast path ran). */
  inPlaceFrames = 0;

  constructor(wasm: WasmApi, module: object, length: number, stagingBytes: number, opts: RingVectorOptions = {}) {
    const vectorBytes = roundUp(4 * length, 64);
    const residualBytes = opts.residual ? vectorBytes : 0;
    const scratchBytes = roundUp(opts.scratchBytes ?? Math.max(1024, 192 + Math.ceil(stagingBytes / 32)), 64);
    const scratchAt = vectorBytes + residualBytes;
    const stagingAt = scratchAt + scratchBytes;
    const pages = Math.max(1, Math.ceil((stagingAt + roundUp(stagingBytes, 64)) / PAGE));
    this.memory = new wasm.Memory({ initial: pages, maximum: pages });
    const instance = new wasm.Instance(module, { env: { mem: this.memory } });
    this.addFn = instance.exports.add as KernelFn;
    this.copyFn = instance.exports.copy as KernelFn;
    const buffer = this.memory.buffer;
    this.vector = new Float32Array(buffer, 0, length);
    this.residual = opts.residual ? new Float32Array(buffer, vectorBytes, length) : undefined;
    this.scratch = new Uint8Array(buffer, scratchAt, scratchBytes);
    this.staging = new Uint8Array(buffer, stagingAt);
  }

  /**
   * dst (a view of this arena) += or = the floats of src (bytes of this arena, 4-aligned), in
   * place; false if any src value was not finite.
   */
  apply(dst: Float32Array, src: Uint8Array, mode: 'set' | 'add'): boolean {
    const n = dst.length;
    const nv = blockable(n);
    this.inPlaceFrames++;
    const bad = nv > 0 ? (mode === 'add' ? this.addFn : this.copyFn)(dst.byteOffset, src.byteOffset, nv) : 0;
    return bad === 0 && addTail(dst, src, nv, n, mode);
  }

  /** Both views are bytes of this arena and src is 4-aligned: apply() may take them. */
  holds(dst: Float32Array, src: Uint8Array): boolean {
    return dst.buffer === this.vector.buffer && src.buffer === this.vector.buffer && (src.byteOffset & 3) === 0;
  }

  /** `view` lies in the vector or the residual (not in scratch or staging, which kernels reuse). */
  holdsData(view: ArrayBufferView): boolean {
    return view.buffer === this.vector.buffer && view.byteOffset + view.byteLength <= this.scratch.byteOffset;
  }

  /** `bytes` lie in the staging area (a frame a link assembled there). */
  holdsStaged(bytes: Uint8Array): boolean {
    return bytes.buffer === this.vector.buffer && bytes.byteOffset >= this.staging.byteOffset;
  }
}

const arenas = new WeakMap<ArrayBufferLike, RingArena>();

/** The arena a ring vector lives in (undefined for any other array). */
export function arenaOf(buffer: ArrayBufferLike): RingArena | undefined {
  return arenas.get(buffer);
}

/**
 * A zeroed Float32Array for allreduces: inside its own wasm memory with `stagingBytes` of frame
 * staging behind it (and a residual, with opts.residual) when WebAssembly SIMD is available, else
 * an ordinary Float32Array. Use it for vectors that are allreduced again and again (gradients,
 * benchmark buffers).
 */
export function allocRingVector(length: number, stagingBytes: number, opts?: RingVectorOptions): Float32Array {
  const wasm = wasmApi();
  const module = simdModule();
  if (!wasm || !module || length < 16) return new Float32Array(length);
  try {
    const arena = new RingArena(wasm, module, length, stagingBytes, opts);
    arenas.set(arena.vector.buffer, arena);
    return arena.vector;
  } catch {
    // Out of wasm address space (4 GiB per memory): an ordinary array still works, with copies.
    return new Float32Array(length);
  }
}

/**
 * The error-feedback residual that belongs to `vector` (a ring vector allocated with
 * { residual: true }, or a subarray of one): the same range of the arena's residual, zeroed at
 * allocation, the same memory on every call. Undefined for any other array.
 */
export function ringResidualOf(vector: Float32Array): Float32Array | undefined {
  const arena = arenaOf(vector.buffer);
  const residual = arena?.residual;
  if (!arena || !residual || vector.byteOffset + vector.byteLength > arena.vector.byteLength) return undefined;
  const at = vector.byteOffset >> 2;
  return residual.subarray(at, at + vector.length);
}

const tailView = new DataView(new ArrayBuffer(4));
function readF32(bytes: Uint8Array, at: number): number {
  tailView.setUint32(0, bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16) | (bytes[at + 3] << 24), true);
  return tailView.getFloat32(0, true);
}

/** Elements [from, to) in JS (fewer than 16); false if any src value was not finite. */
function addTail(out: Float32Array, src: Uint8Array, from: number, to: number, mode: 'set' | 'add'): boolean {
  let bad = 0;
  for (let i = from; i < to; i++) {
    const v = readF32(src, 4 * i);
    bad += v - v;
    if (mode === 'add') out[i] += v;
    else out[i] = v;
  }
  return bad === 0;
}

function roundUp(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}

const wasmApi = simdWasmApi;

let compiled: object | null | undefined;
function simdModule(): object | null {
  if (compiled !== undefined) return compiled;
  compiled = compileWasm(wasmApi(), simdModuleBytes);
  return compiled;
}

let kernel: SimdKernel | null | undefined;

/** The copying SIMD kernel, or null when WebAssembly SIMD is unavailable (or RINGTRAIN_NO_SIMD is set). */
export function simdKernel(): SimdKernel | null {
  if (kernel !== undefined) return kernel;
  const wasm = wasmApi();
  const module = simdModule();
  kernel = wasm && module ? new SimdKernel(wasm, module) : null;
  return kernel;
}

/** The module's bytes, per the WebAssembly binary format (sections: type, import, func, export, code). */
function simdModuleBytes(): Uint8Array {
  const name = (s: string): number[] => [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
  const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];
  const add = kernelBody(true);
  const copy = kernelBody(false);
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x01, 0x60, 0x03, 0x7f, 0x7f, 0x7f, 0x01, 0x7f]), // one type: (i32 i32 i32) -> i32
    ...section(2, [0x01, ...name('env'), ...name('mem'), 0x02, 0x00, 0x01]), // memory, min 1 page
    ...section(3, [0x02, 0x00, 0x00]), // two functions of type 0
    ...section(7, [0x02, ...name('add'), 0x00, 0x00, ...name('copy'), 0x00, 0x01]),
    ...section(10, [0x02, ...uleb(add.length), ...add, ...uleb(copy.length), ...copy]),
  ]);
}

/**
 * One kernel: for each 16-byte lane group of src, store dst + src (add) or src (copy) at dst, and
 * accumulate v - v; return whether the accumulator is non-zero anywhere (a NaN or an infinity).
 */
function kernelBody(add: boolean): number[] {
  const UNROLL = 4;
  const simd = (op: number): number[] => [0xfd, ...uleb(op)];
  const V128_LOAD = 0x00, V128_STORE = 0x0b, F32X4_NE = 0x42, V128_ANY_TRUE = 0x53, F32X4_ADD = 0xe4, F32X4_SUB = 0xe5;
  const LOCAL_GET = 0x20, LOCAL_SET = 0x21, LOCAL_TEE = 0x22, I32_CONST = 0x41;
  const I32_ADD = 0x6a, I32_SHL = 0x74, I32_GE_U = 0x4f, I32_LT_U = 0x49, BR_IF = 0x0d, END = 0x0b;
  // params: 0 dst, 1 src, 2 n; locals: 3 acc (v128), 4 v (v128), 5 end (i32)
  const body: number[] = [0x02, 0x02, 0x7b, 0x01, 0x7f];
  body.push(LOCAL_GET, 1, LOCAL_GET, 2, I32_CONST, 2, I32_SHL, I32_ADD, LOCAL_SET, 5);
  body.push(0x02, 0x40); // block
  body.push(LOCAL_GET, 1, LOCAL_GET, 5, I32_GE_U, BR_IF, 0);
  body.push(0x03, 0x40); // loop
  for (let u = 0; u < UNROLL; u++) {
    const memarg = [2, ...uleb(16 * u)]; // align 2^2 (Float32Array views are only 4-aligned), offset
    if (add) {
      body.push(LOCAL_GET, 0, LOCAL_GET, 0, ...simd(V128_LOAD), ...memarg);
      body.push(LOCAL_GET, 1, ...simd(V128_LOAD), ...memarg, LOCAL_TEE, 4);
      body.push(...simd(F32X4_ADD), ...simd(V128_STORE), ...memarg);
    } else {
      body.push(LOCAL_GET, 0, LOCAL_GET, 1, ...simd(V128_LOAD), ...memarg, LOCAL_TEE, 4);
      body.push(...simd(V128_STORE), ...memarg);
    }
    body.push(LOCAL_GET, 3, LOCAL_GET, 4, LOCAL_GET, 4, ...simd(F32X4_SUB), ...simd(F32X4_ADD), LOCAL_SET, 3);
  }
  body.push(LOCAL_GET, 0, I32_CONST, ...sleb(16 * UNROLL), I32_ADD, LOCAL_SET, 0);
  body.push(LOCAL_GET, 1, I32_CONST, ...sleb(16 * UNROLL), I32_ADD, LOCAL_TEE, 1);
  body.push(LOCAL_GET, 5, I32_LT_U, BR_IF, 0);
  body.push(END, END); // loop, block
  body.push(LOCAL_GET, 3, LOCAL_GET, 3, ...simd(F32X4_NE), ...simd(V128_ANY_TRUE), END);
  return body;
}
