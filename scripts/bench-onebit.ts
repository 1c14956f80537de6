/**
 * 1-bit codec micro-benchmark: ns per value of encode and decodeInto ('set' and 'add'), the JS
 * loops against the copying WebAssembly SIMD kernel and the kernel run in place on a ring vector
 * (codec/simd.ts: values, residual and decode target in one wasm memory), on segments of 4K, 64K
 * and 128K values (a 512 KiB ring segment is 128K values).
 *
 *   npx tsx scripts/bench-onebit.ts [--json FILE] [--sizes 4096,65536,131072] [--samples S] [--no-feedback]
 *                                   [--fused-sizes 65536,131072,262144] [--vector-mib 16] [--fused-only | --no-fused]
 *
 * Implementations (columns): js, wasm (copies values/residual/target into the kernel's memory and
 * back), in place (a ring vector and its residual; decode reads a frame assembled in the vector's
 * staging area, as a link does for frames that span reads), in place, frame elsewhere (decode
 * only: the frame is an ordinary buffer, its sign bits are copied into the arena's scratch).
 *
 * encode runs with error feedback (a residual that evolves call to call, as in training) unless
 * --no-feedback; it includes allocating the frame. Inputs are N(0,1). Each cell is the median of
 * S samples (default 15) of a timed loop of ≥ ~10 ms; the implementations' samples alternate so
 * all see the same machine load. Speedups are ratios of medians of the same run. Timings come
 * from a shared machine and are noisy: compare ratios within one run.
 *
 * A second table times a requantizing reduce-scatter step (ring-allreduce.ts) in place: add an
 * incoming frame (assembled in the staging area) into a segment, re-encode it with its residual,
 * and on the owner's last step set it to its decoded value; sequentially (decodeInto 'add',
 * encode, decodeInto 'set') against OneBitCodec.addDecodedThenEncode. Consecutive calls walk the
 * segments of a --vector-mib ring vector (and its residual, as large), so each call finds its
 * segment out of cache as a ring does (L2 is ~1 MiB; pick a vector beyond the last-level cache
 * too, e.g. --vector-mib 64, to time DRAM).
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { OneBitCodec } from '../src/codec/onebit.js';
import { oneBitArenaKernel } from '../src/codec/onebit-kernel.js';
import { allocRingVector, arenaOf, ringResidualOf } from '../src/codec/simd.js';
import type { EncodeContext } from '../src/codec/codec.js';
import { exitUsage, parseFlags } from './lib/bench-harness.js';
import { gaussianVector } from './lib/vectors.js';
import { median } from '../src/bench/units.js';

const HELP = `Usage: npx tsx scripts/bench-onebit.ts [options]

ns per value of the 1-bit codec's encode / decode set / decode add: JS loops, WebAssembly SIMD
copying its operands, and WebAssembly SIMD in place on a ring vector.

  --json FILE       write every measurement as JSON
  --sizes LIST      segment lengths in values (default 4096,65536,131072)
  --samples S       timed samples per cell, median reported (default 15)
  --no-feedback     encode without a residual (default: with error feedback)
  --fused-sizes L   segment lengths for the fused add+encode table (default 65536,131072,262144)
  --vector-mib M    ring vector the fused table walks across, MiB (default 16; its residual as much again)
  --fused-only      only the fused add+encode table
  --no-fused        no fused add+encode table
`;

type Op = 'encode' | 'decode set' | 'decode add';
type Impl = 'js' | 'wasm' | 'inplace' | 'inplace-scratch';
const OPS: readonly Op[] = ['encode', 'decode set', 'decode add'];
const IMPLS: readonly Impl[] = ['js', 'wasm', 'inplace', 'inplace-scratch'];
/** Frame header bytes in front of a payload in the staging area (transport/frame.ts). */
const FRAME_HEADER = 32;

interface Cell {
  values: number;
  op: Op;
  impl: Impl;
  /** Median ns per value over the samples. */
  nsPerValue: number;
  minNsPerValue: number;
  samples: number[];
}



/**
 * One op on one implementation, as a closure the timer calls repeatedly (null: the op has no
 * such variant). In place: the values and residual are a ring vector and its residual, the
 * decode target a ring vector.
 */
function workload(codec: OneBitCodec, impl: Impl, op: Op, n: number, feedback: boolean): (() => void) | null {
  if (impl === 'inplace-scratch' && op === 'encode') return null;
  const inPlace = impl === 'inplace' || impl === 'inplace-scratch';
  const frameBytes = 8 + Math.ceil(n / 8);
  const ring = (): Float32Array => {
    const v = allocRingVector(n, FRAME_HEADER + frameBytes + 64, { residual: true });
    if (!oneBitArenaKernel(v.buffer)) throw new Error('bench-onebit: ring vectors are unavailable (no WebAssembly SIMD?)');
    return v;
  };
  const values = inPlace ? ring() : new Float32Array(n);
  values.set(gaussianVector(n, 1 + n));
  const residual = feedback ? (inPlace ? ringResidualOf(values)! : new Float32Array(n)) : undefined;
  const ctx: EncodeContext = { seed: 1, step: 0, rank: 0, chunk: 0, segment: 0, residual };
  if (op === 'encode') return () => void codec.encode(values, ctx);
  let frame = codec.encode(values, { ...ctx, residual: undefined });
  const out = inPlace ? ring() : new Float32Array(n);
  out.set(gaussianVector(n, 2 + n));
  if (impl === 'inplace') {
    // Where a link assembles a frame that spans reads: behind its header in the staging area.
    const staged = arenaOf(out.buffer)!.staging.subarray(FRAME_HEADER, FRAME_HEADER + frame.length);
    staged.set(frame);
    frame = staged;
  }
  if (op === 'decode set') return () => codec.decodeInto(frame, out, 'set');
  // 'add' drifts out by avg± per call; harmless for timing (values stay finite for ~1e30 calls).
  return () => codec.decodeInto(frame, out, 'add');
}

/** ns per value of one timed loop long enough (≥ ~10 ms) to swamp the timer's resolution. */
function sample(fn: () => void, n: number, reps: number): number {
  const t0 = performance.now();
  for (let k = 0; k < reps; k++) fn();
  return ((performance.now() - t0) * 1e6) / (reps * n);
}

/** Calls per sample so that one sample takes ≥ ~10 ms (and a warm-up). */
function calibrate(fn: () => void): number {
  let reps = 1;
  for (;;) {
    const t0 = performance.now();
    for (let k = 0; k < reps; k++) fn();
    const ms = performance.now() - t0;
    if (ms >= 10 || reps >= 1 << 20) return reps;
    reps = Math.max(reps * 2, Math.ceil((reps * 12) / Math.max(ms, 0.01)));
  }
}

type FusedOp = 'add+encode' | 'add+encode+set';
type FusedImpl = 'sequential' | 'fused';
const FUSED_OPS: readonly FusedOp[] = ['add+encode', 'add+encode+set'];
const FUSED_IMPLS: readonly FusedImpl[] = ['sequential', 'fused'];

interface FusedCell {
  values: number;
  op: FusedOp;
  impl: FusedImpl;
  vectorMiB: number;
  nsPerValue: number;
  minNsPerValue: number;
  samples: number[];
}

/**
 * One requantizing reduce-scatter step per call, on the next segment of a ring vector of
 * `vectorValues` values (wrapping round): the incoming frame (an encoded N(0,1) segment) lies in
 * the staging area behind a frame header, as a link assembles it.
 */
function fusedWorkload(codec: OneBitCodec, impl: FusedImpl, op: FusedOp, n: number, vectorValues: number, feedback: boolean): () => void {
  const segments = Math.max(1, Math.floor(vectorValues / n));
  const frameBytes = 8 + Math.ceil(n / 8);
  const vector = allocRingVector(segments * n, FRAME_HEADER + frameBytes + 64, { residual: feedback });
  if (!oneBitArenaKernel(vector.buffer)) throw new Error('bench-onebit: ring vectors are unavailable (no WebAssembly SIMD?)');
  vector.set(gaussianVector(n, 3 + n)); // every segment starts as the same N(0,1) values
  for (let k = 1; k < segments; k++) vector.copyWithin(k * n, 0, n);
  const staged = arenaOf(vector.buffer)!.staging.subarray(FRAME_HEADER, FRAME_HEADER + frameBytes);
  staged.set(codec.encode(gaussianVector(n, 4 + n), { seed: 1, step: 0, rank: 0, chunk: 0, segment: 0 }));
  const ctxs = Array.from({ length: segments }, (_, k): [Float32Array, EncodeContext] => {
    const values = vector.subarray(k * n, (k + 1) * n);
    return [values, { seed: 1, step: 0, rank: 0, chunk: 0, segment: k, residual: feedback ? ringResidualOf(values) : undefined }];
  });
  // Write every page of the residual now: wasm memory is mapped lazily, first touches would be timed.
  if (feedback) ringResidualOf(vector)!.fill(0);
  const setDecoded = op === 'add+encode+set';
  let k = 0;
  const fn =
    impl === 'fused'
      ? (): void => {
          const [values, ctx] = ctxs[k];
          k = k + 1 === segments ? 0 : k + 1;
          codec.addDecodedThenEncode(staged, values, ctx, setDecoded);
        }
      : (): void => {
          const [values, ctx] = ctxs[k];
          k = k + 1 === segments ? 0 : k + 1;
          codec.decodeInto(staged, values, 'add');
          const bytes = codec.encode(values, ctx);
          if (setDecoded) codec.decodeInto(bytes, values, 'set');
        };
  for (let j = 0; j < segments; j++) fn(); // one walk: warm-up
  return fn;
}

function fusedTable(codec: OneBitCodec, sizes: number[], vectorMiB: number, samples: number, feedback: boolean): { cells: FusedCell[]; lines: string[] } {
  const vectorValues = Math.floor((vectorMiB * 2 ** 20) / 4);
  const cells: FusedCell[] = [];
  for (const n of sizes) {
    for (const op of FUSED_OPS) {
      const fns = FUSED_IMPLS.map((impl) => [impl, fusedWorkload(codec, impl, op, n, vectorValues, feedback)] as const);
      const reps = fns.map(([, fn]) => calibrate(fn));
      const got: number[][] = fns.map(() => []);
      for (let s = 0; s < samples; s++) fns.forEach(([, fn], k) => got[k].push(sample(fn, n, reps[k])));
      fns.forEach(([impl], k) => cells.push({ values: n, op, impl, vectorMiB, nsPerValue: median(got[k]), minNsPerValue: Math.min(...got[k]), samples: got[k] }));
    }
  }
  const cell = (n: number, op: FusedOp, impl: FusedImpl): FusedCell => cells.find((c) => c.values === n && c.op === op && c.impl === impl)!;
  const lines = [
    `Requantizing reduce-scatter step in place, ns per value (median of ${samples}; segments walk a ${vectorMiB} MiB ring vector${feedback ? ' and its residual' : ''}; frame in the staging area)`,
    '',
    '| values | op | sequential | fused | sequential / fused |',
    '|---:|---|---:|---:|---:|',
  ];
  for (const n of sizes) {
    for (const op of FUSED_OPS) {
      const a = cell(n, op, 'sequential'), b = cell(n, op, 'fused');
      lines.push(`| ${n} | ${op} | ${a.nsPerValue.toFixed(3)} | ${b.nsPerValue.toFixed(3)} | ${(a.nsPerValue / b.nsPerValue).toFixed(2)}× |`);
    }
  }
  return { cells, lines };
}

function main(): void {
  const v = parseFlags('bench-onebit', HELP, process.argv.slice(2), {
    json: { type: 'string' },
    sizes: { type: 'string' },
    samples: { type: 'string' },
    'no-feedback': { type: 'boolean' },
    'fused-sizes': { type: 'string' },
    'vector-mib': { type: 'string' },
    'fused-only': { type: 'boolean' },
    'no-fused': { type: 'boolean' },
  });
  const sizes = [...new Set(((v.sizes as string | undefined) ?? '4096,65536,131072').split(',').map((x) => Number(x.trim())))];
  for (const n of sizes) if (!Number.isInteger(n) || n < 1) exitUsage('bench-onebit', `--sizes takes positive integers, got '${String(v.sizes)}'`);
  const samples = Number(v.samples ?? 15);
  if (!Number.isInteger(samples) || samples < 1) exitUsage('bench-onebit', `--samples takes a positive integer, got '${String(v.samples)}'`);
  const feedback = !v['no-feedback'];
  const fusedSizes = [...new Set(((v['fused-sizes'] as string | undefined) ?? '65536,131072,262144').split(',').map((x) => Number(x.trim())))];
  for (const n of fusedSizes) if (!Number.isInteger(n) || n < 1) exitUsage('bench-onebit', `--fused-sizes takes positive integers, got '${String(v['fused-sizes'])}'`);
  const vectorMiB = Number(v['vector-mib'] ?? 16);
  if (!(vectorMiB > 0 && vectorMiB <= 1024)) exitUsage('bench-onebit', `--vector-mib takes a size in MiB up to 1024, got '${String(v['vector-mib'])}'`);
  if (v['fused-only'] && v['no-fused']) exitUsage('bench-onebit', '--fused-only and --no-fused exclude each other');

  let wasm: OneBitCodec;
  try {
    wasm = new OneBitCodec('wasm');
  } catch (e) {
    exitUsage('bench-onebit', (e as Error).message);
  }
  const js = new OneBitCodec('js');
  const codecFor = (impl: Impl): OneBitCodec => (impl === 'js' ? js : wasm);

  const cells: Cell[] = [];
  for (const n of v['fused-only'] ? [] : sizes) {
    for (const op of OPS) {
      const fns = IMPLS.map((impl) => [impl, workload(codecFor(impl), impl, op, n, feedback)] as const).filter((x): x is readonly [Impl, () => void] => x[1] !== null);
      // Warm-up (JIT tiers, wasm memory growth), then a loop length per implementation.
      const reps = fns.map(([, fn]) => calibrate(fn));
      const got: number[][] = fns.map(() => []);
      for (let s = 0; s < samples; s++) fns.forEach(([, fn], k) => got[k].push(sample(fn, n, reps[k])));
      fns.forEach(([impl], k) => {
        cells.push({ values: n, op, impl, nsPerValue: median(got[k]), minNsPerValue: Math.min(...got[k]), samples: got[k] });
      });
    }
  }

  const cell = (n: number, op: Op, impl: Impl): Cell | undefined => cells.find((c) => c.values === n && c.op === op && c.impl === impl);
  const ns = (c: Cell | undefined): string => (c ? c.nsPerValue.toFixed(3) : '–');
  const ratio = (a: Cell | undefined, b: Cell | undefined): string => (a && b ? `${(a.nsPerValue / b.nsPerValue).toFixed(2)}×` : '–');
  const lines = v['fused-only'] ? [] : [
    `1-bit codec, ns per value (median of ${samples}; encode ${feedback ? 'with' : 'without'} error feedback)`,
    '',
    '| values | op | js | wasm (copying) | in place | in place, frame elsewhere | js / wasm | wasm / in place | js / in place |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const n of v['fused-only'] ? [] : sizes) {
    for (const op of OPS) {
      const [j, w, p, q] = IMPLS.map((impl) => cell(n, op, impl));
      lines.push(`| ${n} | ${op} | ${ns(j)} | ${ns(w)} | ${ns(p)} | ${ns(q)} | ${ratio(j, w)} | ${ratio(w, p)} | ${ratio(j, p)} |`);
    }
  }
  const fused = v['no-fused'] ? { cells: [], lines: [] } : fusedTable(wasm, fusedSizes, vectorMiB, samples, feedback);
  if (lines.length && fused.lines.length) lines.push('');
  lines.push(...fused.lines);
  process.stdout.write(`${lines.join('\n')}\n`);
  if (v.json) {
    const report = {
      script: 'bench-onebit',
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      loadavg: loadavg(),
      feedback,
      samples,
      cells,
      fused: fused.cells,
    };
    writeFileSync(v.json as string, `${JSON.stringify(report, null, 2)}\n`);
  }
}

main();
