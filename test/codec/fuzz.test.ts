/**
 * Decoders never trust their input. Valid frames of every codec are mutated (bit flips,
 * truncation, extension, random bytes, huge counts, wrong-codec frames, splices) and decoded into
 * a canaried window: each call must either succeed with finite output or throw RingError
 * E_CODEC, must never write outside out, and (for the codecs that promise it) must leave out
 * unchanged when it throws.
 */
import { describe, it, expect } from 'vitest';
import type { Codec } from '../../src/codec/codec.js';
import { DenseCodec } from '../../src/codec/dense.js';
import { OneBitCodec } from '../../src/codec/onebit.js';
import { SharedLevelsCodec } from '../../src/codec/shared.js';
import { SparseCodec } from '../../src/codec/sparse.js';
import { StochasticCodec } from '../../src/codec/stochastic.js';
import { RingError } from '../../src/errors.js';
import { ctxFor, gaussianVector, intVector, rng, sparseVector, type Rng } from './util.js';

interface Target {
  name: string;
  decoder: Codec;
  /** Out is unchanged when decodeInto throws (dense and sparse's dense form write as they check). */
  keepsOutOnError: (bytes: Uint8Array) => boolean;
  frames: Array<{ n: number; bytes: Uint8Array }>;
}

const ITERATIONS = 120_000;
const POOL = 150;
const CANARY = 1234.5;
const PAD = 8;

function pickLength(r: Rng): number {
  const x = r();
  if (x < 0.05) return 0;
  if (x < 0.7) return 1 + Math.floor(r() * 40);
  if (x < 0.95) return 41 + Math.floor(r() * 260);
  return 301 + Math.floor(r() * 1700);
}

function buildTargets(r: Rng): Target[] {
  const make = (n: number, k: number, kind: string): Float32Array => {
    if (kind === 'sparse') return sparseVector(n, [0, 0.01, 0.2, 0.9][k % 4], k);
    if (kind === 'int') return intVector(n, [0, 1, 100, 2 ** 24][k % 4], k, 0.3);
    const v = gaussianVector(n, k);
    if (k % 5 === 0) v.fill(0);
    if (k % 7 === 0) for (let i = 0; i < n; i += 3) v[i] = -0;
    return v;
  };
  const pool = (encode: (v: Float32Array, k: number) => Uint8Array, kind: string) =>
    Array.from({ length: POOL }, (_, k) => {
      const n = pickLength(r);
      return { n, bytes: encode(make(n, k, kind), k).slice() };
    });
  const stochastic = [1, 3, 4, 16].map((s) => new StochasticCodec(s));
  return [
    { name: 'dense', decoder: new DenseCodec(), keepsOutOnError: () => false, frames: pool((v) => new DenseCodec().encode(v), 'gauss') },
    {
      name: 'sparse',
      decoder: new SparseCodec(),
      keepsOutOnError: (b) => b[0] !== 0,
      frames: pool((v) => new SparseCodec().encode(v), 'sparse'),
    },
    {
      name: 'onebit',
      decoder: new OneBitCodec(),
      keepsOutOnError: () => true,
      frames: pool((v, k) => new OneBitCodec().encode(v, ctxFor(k)), 'gauss'),
    },
    {
      name: 'stochastic',
      decoder: new StochasticCodec(1),
      keepsOutOnError: () => true,
      frames: pool((v, k) => stochastic[k % 4].encode(v, ctxFor(k)), k0(r) ? 'gauss' : 'sparse'),
    },
    {
      name: 'shared',
      decoder: new SharedLevelsCodec(),
      keepsOutOnError: () => true,
      frames: pool((v) => new SharedLevelsCodec().encode(v), 'int'),
    },
  ];
}

function k0(r: Rng): boolean {
  return r() < 0.5;
}

const HUGE = [0xffffffff, 0x80000000, 0x7fffffff, 0x10000, 0xff, 1];

/** One hostile frame derived from `base` (and sometimes `other`, a frame of any codec). */
function mutate(r: Rng, base: Uint8Array, other: Uint8Array): Uint8Array {
  const randomByte = () => Math.floor(r() * 256);
  const kind = Math.floor(r() * 10);
  let b = base.slice();
  switch (kind) {
    case 0:
      return b; // valid
    case 1: {
      const flips = 1 + Math.floor(r() * 4);
      for (let k = 0; k < flips && b.length > 0; k++) b[Math.floor(r() * b.length)] ^= 1 << Math.floor(r() * 8);
      return b;
    }
    case 2:
      return b.subarray(0, Math.floor(r() * b.length));
    case 3: {
      const ext = new Uint8Array(b.length + 1 + Math.floor(r() * 8));
      ext.set(b);
      for (let i = b.length; i < ext.length; i++) ext[i] = r() < 0.5 ? 0 : randomByte();
      return ext;
    }
    case 4: {
      const len = Math.floor(r() * (b.length * 2 + 16));
      const rnd = new Uint8Array(len);
      for (let i = 0; i < len; i++) rnd[i] = randomByte();
      return rnd;
    }
    case 5: {
      if (b.length === 0) return b;
      b[Math.floor(r() * Math.min(b.length, 16))] = [0, 0xff, 0x80, 1, randomByte()][Math.floor(r() * 5)];
      return b;
    }
    case 6: {
      // a huge count or length field at a header offset
      const at = [0, 2, 4, 8][Math.floor(r() * 4)];
      if (b.length < at + 4) b = Uint8Array.from([...b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0].slice(0, at + 4));
      new DataView(b.buffer, b.byteOffset).setUint32(at, HUGE[Math.floor(r() * HUGE.length)], true);
      return b;
    }
    case 7:
      return other.slice();
    case 8: {
      const cut = Math.floor(r() * (b.length + 1));
      const cut2 = Math.floor(r() * (other.length + 1));
      const sp = new Uint8Array(cut + other.length - cut2);
      sp.set(b.subarray(0, cut));
      sp.set(other.subarray(cut2), cut);
      return sp;
    }
    default: {
      // long varint runs in the body
      const tail = new Uint8Array(b.length + 8);
      tail.set(b);
      tail.fill(r() < 0.5 ? 0xff : 0x80, Math.floor(r() * (b.length + 1)));
      return tail;
    }
  }
}

describe('decoders under hostile input', () => {
  it(`survive ${ITERATIONS} mutated and random frames`, () => {
    const r = rng(20240601);
    const targets = buildTargets(r);
    const allFrames = targets.flatMap((t) => t.frames.map((f) => f.bytes));
    const host = new Float32Array(2 * PAD + 4096);
    const failures: string[] = [];
    const stats = new Map<string, { ok: number; rejected: number }>();
    for (const t of targets) stats.set(t.name, { ok: 0, rejected: 0 });

    for (let it = 0; it < ITERATIONS && failures.length < 5; it++) {
      const t = targets[it % targets.length];
      const frame = t.frames[Math.floor(r() * t.frames.length)];
      const bytes0 = mutate(r, frame.bytes, allFrames[Math.floor(r() * allFrames.length)]);
      // sometimes at an odd address, as a socket Buffer may be
      let bytes = bytes0;
      if (r() < 0.3) {
        const h = new Uint8Array(bytes0.length + 1);
        h.set(bytes0, 1);
        bytes = h.subarray(1);
      }
      let n = frame.n;
      const x = r();
      if (x < 0.05) n = Math.max(0, n - 1 - Math.floor(r() * 3));
      else if (x < 0.1) n = Math.min(4096, n + 1 + Math.floor(r() * 3));
      const mode = r() < 0.5 ? 'set' : 'add';

      host.fill(CANARY);
      const out = host.subarray(PAD, PAD + n);
      for (let i = 0; i < n; i++) out[i] = (i % 7) - 3;
      const keep = t.keepsOutOnError(bytes);
      const before = keep ? out.slice() : undefined;
      const s = stats.get(t.name)!;
      try {
        t.decoder.decodeInto(bytes, out, mode);
        s.ok++;
        for (let i = 0; i < n; i++) {
          if (!Number.isFinite(out[i])) {
            failures.push(`${t.name} it=${it}: accepted a frame that decodes to ${out[i]} at ${i}`);
            break;
          }
        }
      } catch (e) {
        s.rejected++;
        if (!(e instanceof RingError) || e.code !== 'E_CODEC') {
          failures.push(`${t.name} it=${it}: threw ${String(e)} (${(e as Error)?.stack?.split('\n')[1] ?? ''})`);
        } else if (before) {
          for (let i = 0; i < n; i++) {
            if (!Object.is(out[i], before[i])) {
              failures.push(`${t.name} it=${it}: rejected frame changed out[${i}]`);
              break;
            }
          }
        }
      }
      for (let i = 0; i < PAD; i++) {
        if (host[i] !== CANARY || host[PAD + n + i] !== CANARY) {
          failures.push(`${t.name} it=${it}: wrote outside out`);
          break;
        }
      }
    }

    expect(failures).toEqual([]);
    for (const [name, s] of stats) {
      expect(s.ok + s.rejected, name).toBe(ITERATIONS / targets.length);
      // Both outcomes must be common, or the mutations are not probing the decoder.
      expect(s.ok, name).toBeGreaterThan(ITERATIONS / targets.length / 20);
      expect(s.rejected, name).toBeGreaterThan(ITERATIONS / targets.length / 4);
    }
  }, 60_000);

  it('reject huge counts and lengths quickly, for large out too', () => {
    const big = new Float32Array(1 << 20);
    const targets = [new DenseCodec(), new SparseCodec(), new OneBitCodec(), new StochasticCodec(1), new SharedLevelsCodec()];
    const frames = [
      new Uint8Array([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
      new Uint8Array([1, 0, 1, 0, 0, 0, 0x80, 0x3f, 0xff, 0xff, 0xff, 0xff]),
      new Uint8Array([0, 0, 0xff, 0xff, 0xff, 0xff, 0xff]),
      new Uint8Array(0),
      new Uint8Array(4 * (1 << 20) - 1),
    ];
    for (const c of targets) {
      for (const f of frames) {
        try {
          c.decodeInto(f, big, 'add');
        } catch (e) {
          expect(e).toBeInstanceOf(RingError);
          expect((e as RingError).code).toBe('E_CODEC');
          continue;
        }
        expect.fail(`${c.name} accepted a ${f.length}-byte frame for 2^20 values`);
      }
    }
  });
});
