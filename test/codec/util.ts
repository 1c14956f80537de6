/**
 * Test helpers for the codec suite. The random source here (mulberry32) is deliberately not the
 * codecs' own PRNG, so test data never shares a stream with the code under test.
 */
import { expect } from 'vitest';
import { RingError } from '../../src/errors.js';
import type { EncodeContext } from '../../src/codec/codec.js';
import { allocRingVector, arenaOf, ringResidualOf, type RingArena } from '../../src/codec/simd.js';
import { oneBitArenaKernel, type OneBitArenaKernel } from '../../src/codec/onebit-kernel.js';

export type Rng = () => number;

/** mulberry32: uniform [0, 1). */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(r: Rng): number {
  const u = 1 - r();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

export function gaussianVector(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = gaussian(r) * scale;
  return v;
}

/** Each position nonzero with probability `density`, value gaussian. */
export function sparseVector(n: number, density: number, seed: number): Float32Array {
  const r = rng(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) if (r() < density) v[i] = gaussian(r) || 1;
  return v;
}

/** Integer-valued, |v| ≤ maxAbs, with a given share of zeros. */
export function intVector(n: number, maxAbs: number, seed: number, zeroShare = 0): Float32Array {
  const r = rng(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (r() < zeroShare) continue;
    v[i] = Math.round((r() * 2 - 1) * maxAbs) + 0;
  }
  return v;
}

/** Vectors every codec must handle: lengths 0, 1, 7, 8, 9, 1000 and the special shapes. */
export function edgeVectors(): Array<[string, Float32Array]> {
  const out: Array<[string, Float32Array]> = [];
  for (const n of [0, 1, 7, 8, 9, 1000]) {
    out.push([`gaussian n=${n}`, gaussianVector(n, 100 + n)]);
    out.push([`zeros n=${n}`, new Float32Array(n)]);
    out.push([`negative zeros n=${n}`, new Float32Array(n).fill(-0)]);
    out.push([`all negative n=${n}`, gaussianVector(n, 200 + n).map((x) => -Math.abs(x) - 0.5)]);
    out.push([`all positive n=${n}`, gaussianVector(n, 300 + n).map((x) => Math.abs(x) + 0.5)]);
  }
  const mixed = new Float32Array([0, -0, 1e-45, -1e-45, 3.4028234663852886e38, -3.4028234663852886e38, 1, -1, 0.1]);
  out.push(['mixed specials', mixed]);
  return out;
}

export function ctxFor(seed: number, residual?: Float32Array, step = 0): EncodeContext {
  return { seed, step, rank: 1, chunk: 2, segment: 3, residual };
}

/** Bit-for-bit equality of two Float32Arrays (tells -0 from +0). */
export function expectSameBits(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const b = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      expect.fail(`bits differ at index ${i}: ${actual[i]} vs ${expected[i]}`);
    }
  }
}

export function expectCodecError(fn: () => unknown, messagePart?: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a RingError E_CODEC').toBeInstanceOf(RingError);
  expect((caught as RingError).code).toBe('E_CODEC');
  if (messagePart !== undefined) expect((caught as RingError).message).toMatch(messagePart);
}

/** A copy of bytes at an odd byteOffset, as a socket Buffer may be. */
export function unaligned(bytes: Uint8Array): Uint8Array {
  const host = new Uint8Array(bytes.length + 3);
  host.set(bytes, 1);
  return host.subarray(1, 1 + bytes.length);
}

/** Independent LEB128 size: ⌈bits/7⌉, at least 1. */
export function refVarintSize(x: number): number {
  let bits = 0;
  while (x >= 2 ** bits) bits++;
  return Math.max(1, Math.ceil(bits / 7));
}

/**
 * Every malformed variant of a good 1-bit frame of n values, as [frame, expected message, length
 * to decode at]: truncated, the wrong length (±8), non-finite scales, scales of the wrong sign
 * and, where n leaves padding bits in the last byte, a set padding bit.
 */
export function malformedOneBitFrames(good: Uint8Array, n: number): Array<[Uint8Array, RegExp, number]> {
  const setScale = (at: number, x: number) => {
    const b = good.slice();
    new DataView(b.buffer).setFloat32(at, x, true);
    return b;
  };
  const frames: Array<[Uint8Array, RegExp, number]> = [
    [good.subarray(0, good.length - 1), /bytes, expected/, n],
    [good, /expected/, n + 8],
    [good, /expected/, n - 8],
    [setScale(0, Number.NaN), /finite/, n],
    [setScale(4, Infinity), /finite/, n],
    [setScale(0, -Infinity), /finite/, n],
    [setScale(0, -1e-30), /avg\+ must be >= 0/, n],
    [setScale(4, 1e-30), /avg- <= 0/, n],
  ];
  if (n % 8 !== 0) {
    const pad = good.slice();
    pad[pad.length - 1] |= 0x80;
    frames.push([pad, /padding/, n]);
  }
  return frames;
}

/** Same length and the same bytes (views of any buffer, any offset). */
export const sameFrameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;

/** Floats of every kind: normal at many scales, subnormal, ±0, both signs. */
export function mixedVector(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const k = r();
    if (k < 0.05) v[i] = r() < 0.5 ? 0 : -0;
    else if (k < 0.1) v[i] = (r() - 0.5) * 2 ** -140;
    else v[i] = (r() - 0.5) * 2 ** Math.floor(r() * 80 - 40);
  }
  return v;
}

/** A segment of a ring vector (with its residual) in its arena, and the arena's 1-bit kernel. */
export interface RingSegment {
  arena: RingArena;
  kernel: OneBitArenaKernel;
  values: Float32Array;
  residual: Float32Array;
}

/**
 * A segment of n values at element `offset` of a ring vector with a residual; frames of n values
 * fit its staging area. Everything around it (vector and residual) is NaN, which the codec must
 * not touch.
 */
export function ringSegment(n: number, offset: number, scratchBytes?: number): RingSegment {
  const length = Math.max(16, offset + n + 5);
  const vector = allocRingVector(length, 64 + 8 + Math.ceil(n / 8) + 64, { residual: true, scratchBytes });
  const arena = arenaOf(vector.buffer)!;
  vector.fill(Number.NaN);
  ringResidualOf(vector)!.fill(Number.NaN);
  const values = vector.subarray(offset, offset + n);
  return { arena, kernel: oneBitArenaKernel(vector.buffer)!, values, residual: ringResidualOf(values)! };
}

/**
 * Edge inputs for the 1-bit codec, n values each: [name, values, residual?]. ±0 (and their sums
 * with ±0 residuals), one sign only, subnormals (and residuals that cancel them), float32
 * extremes (and residuals that keep them finite), one negative among positives.
 */
export function oneBitEdgeCases(n: number): Array<[string, Float32Array, Float32Array?]> {
  const MAX = 3.4028234663852886e38;
  const TINY = 1.401298464324817e-45;
  const fill = (f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
  return [
    ['+0', fill(() => 0)],
    ['-0', fill(() => -0)],
    ['-0 + +0 residual', fill(() => -0), fill(() => 0)],
    ['-0 + -0 residual', fill(() => -0), fill(() => -0)],
    ['all positive', fill((i) => 1 + i)],
    ['all negative', fill((i) => -1 - i)],
    ['subnormals', fill((i) => (i % 3 === 0 ? -1 : 1) * TINY * (i + 1))],
    ['subnormal residual cancels', fill((i) => (i % 2 ? TINY : -TINY)), fill((i) => (i % 2 ? -TINY : TINY))],
    ['float32 extremes', fill((i) => (i % 2 ? MAX : -MAX))],
    ['extremes with a residual that stays finite', fill((i) => (i % 2 ? MAX : -MAX)), fill((i) => (i % 2 ? -MAX : MAX))],
    ['one negative among positives', fill((i) => (i === n - 1 ? -5 : 1e-3))],
  ];
}

/**
 * 1-bit inputs whose rounded avg+ changes if any of the last n mod 4 values is summed in another
 * lane (found by search): [values, avg+ as the encoder must round it]. Put behind 0, 16 or 32
 * negative values (which leave avg+ alone), they are the tail the kernels leave to JS.
 */
export const LANE_PINNING_TAILS: ReadonlyArray<readonly [number[], number]> = [
  [[20480, 150994944, 983040, 1.3969838619232178e-8, 2883584, 1.6298145055770874e-9, 3.4924596548080444e-9, 104], 19360270],
  [[448, 251658240, 44, 62914560, 3.3527612686157227e-8, 62914560], 62914644],
  [[109051904, 122880, 5.587935447692871e-9, 83886080, 11, 8.381903171539307e-9, 7.450580596923828e-9], 27580126],
];
