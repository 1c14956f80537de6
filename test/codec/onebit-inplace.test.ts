import { describe, it, expect } from 'vitest';
import { OneBitCodec } from '../../src/codec/onebit.js';
import { oneBitArenaKernel, oneBitKernel } from '../../src/codec/onebit-kernel.js';
import { allocRingVector, arenaOf, ringResidualOf } from '../../src/codec/simd.js';
import { startRing, stopRing, seededVector, sameBytes as sameFloats } from '../helpers/ring.js';
import { ctxFor, expectCodecError, expectSameBits, gaussianVector, malformedOneBitFrames, sameFrameBytes, mixedVector, ringSegment, type RingSegment, oneBitEdgeCases, LANE_PINNING_TAILS } from './util.js';

/**
 * The 1-bit kernels run in place on ring vectors (values, residual and decode target in one wasm
 * memory, frames assembled in its staging area). They must give exactly the bits of the copying
 * kernel and of the JS loops, at every length and offset, and must actually run.
 */
const hasKernel = oneBitKernel() !== null;
const hasArena = arenaOf(allocRingVector(64, 0).buffer) !== undefined;
const enabled = hasKernel && hasArena;

const LENGTHS = [...Array.from({ length: 66 }, (_, n) => n), 127, 1000, 4097, 131072];
/** Element offsets of the segment inside the ring vector (odd ones: not 16-byte aligned). */
const OFFSETS = [0, 1, 3, 6];

/** Bits of everything in the arena's vector and residual outside [offset, offset + n). */
function neighbours(s: RingSegment): Uint32Array[] {
  const a = s.arena;
  const v = new Uint32Array(a.vector.buffer, 0, a.vector.length);
  const r = new Uint32Array(a.vector.buffer, a.residual!.byteOffset, a.vector.length);
  const from = s.values.byteOffset >> 2, to = from + s.values.length;
  return [v.slice(0, from), v.slice(to), r.slice(0, from), r.slice(to)];
}

describe.skipIf(!enabled)('OneBitCodec in place on ring vectors', () => {
  const js = new OneBitCodec('js');
  // (vitest still runs this body when the suite is skipped, so no throwing constructor then)
  const wasm = new OneBitCodec(enabled ? 'wasm' : 'js');
  const auto = new OneBitCodec();

  it('ringResidualOf: a zeroed residual in the same memory, per range; the memory cannot grow', () => {
    const v = allocRingVector(1000, 4096, { residual: true });
    const arena = arenaOf(v.buffer)!;
    const r = ringResidualOf(v)!;
    expect(r.buffer).toBe(v.buffer);
    expect(r.length).toBe(1000);
    expect(r.every((x) => x === 0)).toBe(true);
    expect(r.byteOffset).toBeGreaterThanOrEqual(v.byteOffset + v.byteLength);
    expect(r.byteOffset + r.byteLength).toBeLessThanOrEqual(arena.scratch.byteOffset);
    expect(arena.scratch.byteOffset + arena.scratch.byteLength).toBeLessThanOrEqual(arena.staging.byteOffset);
    expect(arena.staging.byteLength).toBeGreaterThanOrEqual(4096);
    const sub = ringResidualOf(v.subarray(7, 20))!;
    expect(sub.byteOffset).toBe(r.byteOffset + 28);
    expect(sub.length).toBe(13);
    expect(ringResidualOf(r)).toBeUndefined(); // the residual has no residual
    expect(ringResidualOf(new Float32Array(1000))).toBeUndefined();
    expect(ringResidualOf(allocRingVector(1000, 4096))).toBeUndefined();
    expect(() => arena.memory.grow(1)).toThrow();
    expect(v.length).toBe(1000); // views still valid
  });

  it('encodes bit-identically in place, copying and in JS (frame and residual), every length and offset', () => {
    for (const n of LENGTHS) {
      for (const offset of OFFSETS) {
        const v = offset % 2 ? mixedVector(n, 10 + n) : gaussianVector(n, 10 + n);
        const r0 = gaussianVector(n, 30 + n, 0.7);
        const s = ringSegment(n, offset);
        const around = neighbours(s);
        s.values.set(v);
        s.residual.set(r0);
        const rJs = r0.slice();
        const rCopy = r0.slice();
        const before = s.kernel.encodes;
        // Three steps with error feedback, as in training.
        for (let step = 0; step < 3; step++) {
          const fJs = js.encode(v, ctxFor(1, rJs));
          const fCopy = wasm.encode(v.slice(), ctxFor(1, rCopy));
          const fIn = wasm.encode(s.values, ctxFor(1, s.residual));
          const what = `n=${n} offset=${offset} step=${step}`;
          expect(sameFrameBytes(fCopy, fJs), `copying kernel frame ${what}`).toBe(true);
          expect(sameFrameBytes(fIn, fJs), `in-place frame ${what}`).toBe(true);
          expectSameBits(rCopy, rJs);
          expectSameBits(s.residual, rJs);
        }
        expectSameBits(s.values, v);
        // Without a residual.
        const f0 = js.encode(v, ctxFor(1));
        expect(sameFrameBytes(wasm.encode(s.values, ctxFor(1)), f0), `no residual n=${n} offset=${offset}`).toBe(true);
        expect(s.kernel.encodes - before, `in place ran, n=${n}`).toBe(4);
        neighbours(s).forEach((x, k) => expect(Buffer.compare(Buffer.from(x.buffer), Buffer.from(around[k].buffer)), `neighbours ${k} n=${n} offset=${offset}`).toBe(0));
        // 'auto' takes the kernel (and so the in-place path) from 64 values on.
        const ran = s.kernel.encodes;
        expect(sameFrameBytes(auto.encode(s.values, ctxFor(1)), f0)).toBe(true);
        expect(s.kernel.encodes - ran).toBe(n >= 64 ? 1 : 0);
      }
    }
  });

  it('edge values in place: ±0, one sign only, subnormals, float32 extremes', () => {
    for (const n of [1, 15, 16, 17, 33, 100, 1001]) {
      const cases = oneBitEdgeCases(n);
      for (const [name, v, r] of cases) {
        const s = ringSegment(n, 1);
        s.values.set(v);
        const rJs = r?.slice();
        if (r) s.residual.set(r);
        const fJs = js.encode(v, ctxFor(1, rJs));
        const fIn = wasm.encode(s.values, ctxFor(1, r ? s.residual : undefined));
        expect(sameFrameBytes(fIn, fJs), `${name} n=${n}`).toBe(true);
        if (rJs) expectSameBits(s.residual, rJs);
      }
    }
  });

  it('the last n mod 16 values (done in JS) land in lane i mod 4 of the kernel sums', () => {
    // From onebit-kernel.test.ts: moving any of the last n mod 4 values to another lane changes
    // the rounded mean avg+. Behind 0, 16 or 32 negative values (which leave avg+ alone) they are
    // the tail after the kernel's whole multiples of 16.
    const cases = LANE_PINNING_TAILS;
    for (const [tail, avgPos] of cases) {
      for (const lead of [0, 16, 32]) {
        const v = Float32Array.from([...new Array<number>(lead).fill(-1), ...tail]);
        const s = ringSegment(v.length, 1);
        s.values.set(v);
        const frame = wasm.encode(s.values, ctxFor(1));
        expect(new DataView(frame.buffer, frame.byteOffset).getFloat32(0, true), `lead ${lead}, n=${v.length}`).toBe(avgPos);
        expect(sameFrameBytes(frame, js.encode(v, ctxFor(1)))).toBe(true);
      }
    }
    // A tail value in the same lane as a kernel sum it rounds against: lane 0 holds 1 + 1 and
    // lane 1 holds 2^53 + 2^29, so (2 + (2^53 + 2^29)) / 4 lies just above an f32 midpoint; with
    // the tail's 1 added to lane 1 instead, 2^53 + 2^29 + 1 rounds (ties to even) and the mean
    // drops onto the midpoint, which rounds down.
    for (const lead of [0, 16]) {
      const v = new Float32Array(lead + 17).fill(-1);
      v[lead] = 1;
      v[lead + 1] = 2 ** 53;
      v[lead + 5] = 2 ** 29;
      v[lead + 16] = 1;
      const s = ringSegment(v.length, 3);
      s.values.set(v);
      const frame = wasm.encode(s.values, ctxFor(1));
      expect(new DataView(frame.buffer, frame.byteOffset).getFloat32(0, true), `lead ${lead}`).toBe(2 ** 51 + 2 ** 28);
      expect(sameFrameBytes(frame, js.encode(v, ctxFor(1)))).toBe(true);
    }
  });

  it('decodes set and add bit-identically, frames in the staging area (any offset) or elsewhere', () => {
    for (const n of LENGTHS) {
      const frame = js.encode(mixedVector(n, 40 + n), ctxFor(1));
      for (const offset of OFFSETS) {
        for (const mode of ['set', 'add'] as const) {
          const base = mixedVector(n, 50 + n);
          const ref = base.slice();
          js.decodeInto(frame, ref, mode);
          const copy = base.slice();
          wasm.decodeInto(frame, copy, mode);
          expectSameBits(copy, ref);
          // In the staging area behind a 32-byte header (and at odd offsets), then elsewhere.
          for (const at of [32, 33, 35]) {
            const s = ringSegment(n, offset);
            const around = neighbours(s);
            s.values.set(base);
            const staged = s.arena.staging.subarray(at, at + frame.length);
            staged.set(frame);
            const before = s.kernel.decodesInStaging;
            wasm.decodeInto(staged, s.values, mode);
            expectSameBits(s.values, ref);
            expect(s.kernel.decodesInStaging - before, `staged n=${n}`).toBe(1);
            neighbours(s).forEach((x, k) => expect(Buffer.compare(Buffer.from(x.buffer), Buffer.from(around[k].buffer))).toBe(0));
          }
          const s = ringSegment(n, offset);
          s.values.set(base);
          const before = [s.kernel.decodesViaScratch, s.arena.inPlaceFrames];
          wasm.decodeInto(frame, s.values, mode);
          expectSameBits(s.values, ref);
          expect([s.kernel.decodesViaScratch - before[0], s.arena.inPlaceFrames - before[1]], `via scratch n=${n}`).toEqual([1, 1]);
        }
      }
    }
  });

  it('segments longer than the scratch go block by block (encode, decode via scratch)', () => {
    for (const n of [1024, 1025, 4097, 131072 + 45]) {
      const v = gaussianVector(n, 60 + n);
      const r0 = gaussianVector(n, 70 + n, 0.3);
      // 256 bytes of scratch: 128 bytes of sign bits, 1024 values per block.
      const s = ringSegment(n, 3, 256);
      s.values.set(v);
      s.residual.set(r0);
      const rJs = r0.slice();
      const fJs = js.encode(v, ctxFor(1, rJs));
      expect(sameFrameBytes(wasm.encode(s.values, ctxFor(1, s.residual)), fJs), `encode n=${n}`).toBe(true);
      expectSameBits(s.residual, rJs);
      for (const mode of ['set', 'add'] as const) {
        const ref = r0.slice();
        js.decodeInto(fJs, ref, mode);
        s.residual.set(r0); // decode into the residual region: it is arena data too
        wasm.decodeInto(fJs, s.residual, mode);
        expectSameBits(s.residual, ref);
      }
      expect(s.kernel.encodes).toBe(1);
      expect(s.kernel.decodesViaScratch).toBe(2);
    }
  });

  it('views outside the vector and residual (scratch, staging) are not taken in place, and still decode right', () => {
    const n = 200;
    const frame = js.encode(gaussianVector(n, 3), ctxFor(1));
    const s = ringSegment(n, 0);
    const out = new Float32Array(s.arena.memory.buffer, s.arena.staging.byteOffset + 1024, n);
    out.fill(1);
    const ref = new Float32Array(n).fill(1);
    js.decodeInto(frame, ref, 'add');
    const before = s.arena.inPlaceFrames;
    wasm.decodeInto(frame, out, 'add');
    expectSameBits(out, ref);
    expect(s.arena.inPlaceFrames).toBe(before);
    expect(s.kernel.holdsSegment(s.values, s.values.subarray(0, n))).toBe(true);
    expect(s.kernel.holdsSegment(s.values.subarray(1, n), s.values.subarray(0, n - 1))).toBe(false); // partial overlap
    expect(s.kernel.holdsSegment(s.values, new Float32Array(n))).toBe(false);
  });

  it('refuses a non-finite value + residual in place, leaving values and residual alone', () => {
    const MAX = 3.4028234663852886e38;
    for (const n of [3, 17, 64, 1000, 4097]) {
      for (const at of [0, n >> 1, n - 1]) {
        const cases: Array<[(v: Float32Array, r: Float32Array) => void, string]> = [
          [(v) => (v[at] = Number.NaN), 'NaN'],
          [(v) => (v[at] = -Infinity), '-Infinity'],
          [(v, r) => ((v[at] = MAX), (r[at] = MAX)), 'Infinity'],
          [(_v, r) => (r[at] = Number.NaN), 'NaN'],
        ];
        for (const [poison, reported] of cases) {
          const s = ringSegment(n, 1);
          s.values.set(gaussianVector(n, 60 + n));
          s.residual.set(gaussianVector(n, 70 + n, 0.1));
          poison(s.values, s.residual);
          const v0 = s.values.slice();
          const r0 = s.residual.slice();
          expectCodecError(() => wasm.encode(s.values, ctxFor(1, s.residual)), `value at index ${at} is ${reported} `);
          expectSameBits(s.residual, r0);
          expectSameBits(s.values, v0);
        }
      }
    }
  });

  it('rejects every malformed frame, in the staging area or elsewhere, leaving out unchanged', () => {
    for (const n of [13, 64, 1003]) {
      const good = js.encode(gaussianVector(n, 80 + n), ctxFor(1));
      const frames = malformedOneBitFrames(good, n);
      for (const [frame, msg, len] of frames) {
        for (const staged of [false, true]) {
          for (const mode of ['set', 'add'] as const) {
            const s = ringSegment(len + 8, 1);
            const out = s.values.subarray(0, len).fill(2);
            const bytes = staged ? s.arena.staging.subarray(33, 33 + frame.length) : frame;
            if (staged) bytes.set(frame);
            const before = s.arena.inPlaceFrames;
            expectCodecError(() => wasm.decodeInto(bytes, out, mode), msg);
            expect(out.every((x) => x === 2)).toBe(true);
            expect(s.arena.inPlaceFrames).toBe(before);
          }
        }
      }
    }
  });
});

describe.skipIf(!enabled)('1-bit allreduce on ring vectors with their residual (RingPeer.allocResidual)', () => {
  it('same bits as ordinary arrays over three steps, equal on every peer, and the in-place kernels ran', async () => {
    const n = 3;
    const peers = await startRing(n, { codecName: 'onebit', segmentBytes: 64 * 1024 });
    try {
      const d = 200_003;
      const plain = peers.map(() => ({ v: new Float32Array(d), r: new Float32Array(d) }));
      const ring = peers.map((p) => {
        const v = p.allocVector(d);
        return { v, r: p.allocResidual(v) };
      });
      for (let r = 0; r < n; r++) {
        expect(ring[r].r.buffer, 'the residual lives beside the vector').toBe(ring[r].v.buffer);
        expect(peers[r].allocResidual(ring[r].v)).toEqual(ring[r].r);
        expect(peers[r].allocResidual(plain[r].v).buffer).not.toBe(plain[r].v.buffer);
      }
      const kernels = ring.map((x) => oneBitArenaKernel(x.v.buffer)!);
      for (let step = 0; step < 3; step++) {
        for (let r = 0; r < n; r++) {
          const g = seededVector(d, 1000 * step + r, 2);
          plain[r].v.set(g);
          ring[r].v.set(g);
        }
        await Promise.all(peers.map((p, r) => p.allreduce(plain[r].v, plain[r].r)));
        await Promise.all(peers.map((p, r) => p.allreduce(ring[r].v, ring[r].r)));
        for (let r = 0; r < n; r++) {
          expect(sameFloats(ring[r].v, plain[r].v), `step ${step} rank ${r}: values`).toBe(true);
          expect(sameFloats(ring[r].r, plain[r].r), `step ${step} rank ${r}: residual`).toBe(true);
          expect(sameFloats(ring[r].v, ring[0].v), `step ${step} rank ${r} vs rank 0`).toBe(true);
        }
      }
      for (let r = 0; r < n; r++) {
        expect(kernels[r].encodes, `rank ${r} encodes in place`).toBeGreaterThan(0);
        expect(kernels[r].decodesInStaging + kernels[r].decodesViaScratch, `rank ${r} decodes in place`).toBeGreaterThan(0);
      }
    } finally {
      await stopRing(peers);
    }
  });
});

describe('ring vectors without WebAssembly SIMD', () => {
  it('the in-place path exists on this Node unless RINGTRAIN_NO_SIMD is set (so the tests above cannot skip silently)', () => {
    expect(enabled).toBe(!process.env.RINGTRAIN_NO_SIMD);
  });

  it.skipIf(enabled)('are ordinary arrays: no residual companion, and the codec runs its JS loops', () => {
    const v = allocRingVector(1000, 4096, { residual: true });
    expect(arenaOf(v.buffer)).toBeUndefined();
    expect(ringResidualOf(v)).toBeUndefined();
    expect(oneBitArenaKernel(v.buffer)).toBeNull();
    v.set(gaussianVector(1000, 5));
    const r = new Float32Array(1000);
    const codec = new OneBitCodec();
    expect(codec.implFor(1000)).toBe('js');
    const frame = codec.encode(v, ctxFor(1, r));
    const out = new Float32Array(1000);
    codec.decodeInto(frame, out, 'set');
    expect(out.every((x) => Number.isFinite(x))).toBe(true);
  });
});
