/**
 * Helpers for WebAssembly modules assembled by hand (no toolchain): LEB128 integers, names and
 * sections per the binary format (https://webassembly.github.io/spec/core/binary/), and the
 * slice of the JS API the kernels use (the project's lib settings do not declare it).
 */

/** Unsigned LEB128 (counts, sizes, indices, memarg offsets, opcodes after a prefix). */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
}

/** Signed LEB128 (the immediate of i32.const). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** A name: its length, then its (ASCII) bytes. */
export function wasmName(s: string): number[] {
  return [s.length, ...Array.from(s, (c) => c.charCodeAt(0))];
}

/** A section: id, byte size, content. */
export function wasmSection(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

/** A vector: element count, then the elements' bytes. */
export function wasmVec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  Memory: new (desc: { initial: number; maximum?: number }) => WasmMemory;
}

export const WASM_PAGE = 65536;

/**
 * A kernel made on first use and kept: `make` returns null when it cannot be built (no
 * WebAssembly SIMD, RINGTRAIN_NO_SIMD), and a throw while instantiating counts as null too.
 */
export function lazyKernel<T>(make: () => T | null): () => T | null {
  let kernel: T | null | undefined;
  return () => {
    if (kernel === undefined) {
      try {
        kernel = make();
      } catch {
        kernel = null;
      }
    }
    return kernel;
  };
}

/** Grows `memory` to at least `bytes` (whole pages) and returns its buffer, which growing replaces. */
export function growMemoryTo(memory: WasmMemory, bytes: number): ArrayBuffer {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / WASM_PAGE));
  return memory.buffer;
}

let api: WasmApi | null | undefined;
/**
 * The WebAssembly API for the SIMD kernels, or null when the runtime has none or
 * RINGTRAIN_NO_SIMD is set (read once, so every kernel module agrees).
 */
export function simdWasmApi(): WasmApi | null {
  if (api === undefined) {
    const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
    api = wasm && !process.env.RINGTRAIN_NO_SIMD ? wasm : null;
  }
  return api;
}

/**
 * A module from bytes built by `bytes`, or null without the API, when the host rejects them (no
 * SIMD support) or when building or compiling them throws: callers then fall back to JS.
 */
export function compileWasm(wasm: WasmApi | null, bytes: () => Uint8Array): object | null {
  if (!wasm) return null;
  try {
    const b = bytes();
    return wasm.validate(b) ? new wasm.Module(b) : null;
  } catch {
    return null;
  }
}
