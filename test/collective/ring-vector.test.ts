import { describe, it, expect } from 'vitest';
import { startRing, stopRing, seededVector, sameBytes } from '../helpers/ring.js';
import { allocRingVector, arenaOf } from '../../src/codec/simd.js';
import { DenseCodec } from '../../src/codec/dense.js';
import { RingError } from '../../src/errors.js';

/** Ring vectors (registered wasm memory) must give the very bits ordinary arrays give. */
describe('ring vectors: allreduce in WebAssembly memory, frames assembled beside the vector', () => {
  for (const n of [2, 3, 4]) {
    it(`N=${n}: same bits as ordinary Float32Arrays, equal on every peer, and the in-place path ran`, async () => {
      const peers = await startRing(n, { segmentBytes: 256 * 1024 });
      try {
        for (const d of [17, 100_003, 1_000_003]) {
          const inputs = peers.map((_, r) => seededVector(d, 31 * d + r, 4));
          const plain = inputs.map((v) => v.slice());
          await Promise.all(peers.map((p, r) => p.allreduce(plain[r])));
          const vecs = peers.map((p, r) => {
            const v = p.allocVector(d);
            v.set(inputs[r]);
            return v;
          });
          const before = vecs.map((v) => arenaOf(v.buffer)!.inPlaceFrames);
          await Promise.all(peers.map((p, r) => p.allreduce(vecs[r])));
          for (let r = 0; r < n; r++) expect(sameBytes(vecs[r], plain[r]), `rank ${r}, d=${d}: ring vector vs plain array`).toBe(true);
          for (let r = 1; r < n; r++) expect(sameBytes(vecs[r], vecs[0]), `rank ${r} vs rank 0, d=${d}`).toBe(true);
          // Large frames span reads and are assembled in the staging area, then added in place.
          if (d >= 1_000_000) for (let r = 0; r < n; r++) expect(arenaOf(vecs[r].buffer)!.inPlaceFrames - before[r], `rank ${r}`).toBeGreaterThan(0);
        }
      } finally {
        await stopRing(peers);
      }
    });
  }

  it('peers may mix ring vectors and ordinary arrays', async () => {
    const peers = await startRing(3, { segmentBytes: 128 * 1024 });
    try {
      const d = 300_001;
      const inputs = peers.map((_, r) => seededVector(d, 5 + r));
      const plain = inputs.map((v) => v.slice());
      await Promise.all(peers.map((p, r) => p.allreduce(plain[r])));
      const mixed = peers.map((p, r) => (r === 1 ? inputs[r].slice() : Object.assign(p.allocVector(d), {})));
      mixed[0].set(inputs[0]);
      mixed[2].set(inputs[2]);
      await Promise.all(peers.map((p, r) => p.allreduce(mixed[r])));
      for (let r = 0; r < 3; r++) expect(sameBytes(mixed[r], plain[r])).toBe(true);
    } finally {
      await stopRing(peers);
    }
  });
});

describe('ring vector kernels (add and copy in wasm memory)', () => {
  const codec = new DenseCodec();

  /** A ring vector holding `a`, and a frame payload holding `b` in its staging area. */
  function inArena(a: Float32Array, b: Float32Array): { out: Float32Array; payload: Uint8Array } {
    const out = allocRingVector(Math.max(a.length, 16), 4 * b.length + 64).subarray(0, a.length);
    out.set(a);
    const arena = arenaOf(out.buffer)!;
    const payload = arena.staging.subarray(32, 32 + 4 * b.length); // behind a 32-byte frame header
    payload.set(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
    return { out, payload };
  }

  it('adds and copies bit-identically to the JS float32 loop at any length', () => {
    for (const n of [1, 15, 16, 17, 63, 64, 65, 1000, 16 * 1024 + 17]) {
      const a = seededVector(n, n);
      const b = seededVector(n, n + 1000);
      const ref = a.slice();
      for (let i = 0; i < n; i++) ref[i] += b[i];
      const add = inArena(a, b);
      const arena = arenaOf(add.out.buffer)!;
      expect(arena.holds(add.out, add.payload)).toBe(true);
      codec.decodeInto(add.payload, add.out, 'add');
      expect(sameBytes(add.out, ref), `add n=${n}`).toBe(true);
      const set = inArena(a, b);
      codec.decodeInto(set.payload, set.out, 'set');
      expect(sameBytes(set.out, b), `copy n=${n}`).toBe(true);
      expect(arenaOf(set.out.buffer)!.inPlaceFrames).toBe(1);
    }
  });

  it('refuses NaN and ±Infinity anywhere in the frame, in the SIMD body and in the tail', () => {
    for (const n of [16, 100, 16 * 1024 + 5]) {
      for (const pos of [0, 17 % n, n - 1]) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          for (const mode of ['add', 'set'] as const) {
            const b = seededVector(n, 3);
            b[pos] = bad;
            const { out, payload } = inArena(new Float32Array(n), b);
            let err: unknown;
            try {
              codec.decodeInto(payload, out, mode);
            } catch (e) {
              err = e;
            }
            expect(err, `n=${n} pos=${pos} ${bad} ${mode}`).toBeInstanceOf(RingError);
            expect((err as RingError).code).toBe('E_CODEC');
          }
        }
      }
    }
  });

  it('short vectors and plain arrays stay ordinary Float32Arrays', () => {
    expect(arenaOf(allocRingVector(3, 1024).buffer)).toBeUndefined();
    expect(arenaOf(new Float32Array(100).buffer)).toBeUndefined();
    const v = allocRingVector(1000, 4096);
    expect(v.length).toBe(1000);
    expect(v.every((x) => x === 0)).toBe(true);
  });
});
