/**
 * 1-bit codec micro-benchmark: ns per value of encode and decodeInto ('set' and 'add'), the JS
 * loops against the WebAssembly SIMD kernel, on segments of 4K, 64K and 128K values (a 512 KiB
 * ring segment is 128K values).
 *
 *   npx tsx scripts/bench-onebit.ts [--json FILE] [--sizes 4096,65536,131072] [--samples S] [--no-feedback]
 *
 * encode runs with error feedback (a residual that evolves call to call, as in training) unless
 * --no-feedback; it includes allocating the frame. Inputs are N(0,1). Each cell is the median of
 * S samples (default 15) of a timed loop of ≥ ~10 ms; JS and wasm samples alternate so both see
 * the same machine load. The speedup column is js / wasm from the medians of the same run.
 * Timings come from a shared machine and are noisy: compare ratios within one run.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { OneBitCodec } from '../src/codec/onebit.js';
import type { EncodeContext } from '../src/codec/codec.js';
import { exitUsage, parseFlags } from './lib/bench-harness.js';

const HELP = `Usage: npx tsx scripts/bench-onebit.ts [options]

ns per value of the 1-bit codec's encode / decode set / decode add, JS loops vs WebAssembly SIMD.

  --json FILE       write every measurement as JSON
  --sizes LIST      segment lengths in values (default 4096,65536,131072)
  --samples S       timed samples per cell, median reported (default 15)
  --no-feedback     encode without a residual (default: with error feedback)
`;

type Op = 'encode' | 'decode set' | 'decode add';
type Impl = 'js' | 'wasm';
const OPS: readonly Op[] = ['encode', 'decode set', 'decode add'];

interface Cell {
  values: number;
  op: Op;
  impl: Impl;
  /** Median ns per value over the samples. */
  nsPerValue: number;
  minNsPerValue: number;
  samples: number[];
}

function gaussianVector(n: number, seed: number): Float32Array {
  let a = seed >>> 0;
  const rnd = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  return v;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** One op on one implementation, as a closure the timer calls repeatedly. */
function workload(codec: OneBitCodec, op: Op, n: number, feedback: boolean): () => void {
  const values = gaussianVector(n, 1 + n);
  const residual = feedback ? new Float32Array(n) : undefined;
  const ctx: EncodeContext = { seed: 1, step: 0, rank: 0, chunk: 0, segment: 0, residual };
  if (op === 'encode') return () => void codec.encode(values, ctx);
  const frame = codec.encode(values, { ...ctx, residual: undefined });
  const out = gaussianVector(n, 2 + n);
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

function main(): void {
  const v = parseFlags('bench-onebit', HELP, process.argv.slice(2), {
    json: { type: 'string' },
    sizes: { type: 'string' },
    samples: { type: 'string' },
    'no-feedback': { type: 'boolean' },
  });
  const sizes = [...new Set(((v.sizes as string | undefined) ?? '4096,65536,131072').split(',').map((x) => Number(x.trim())))];
  for (const n of sizes) if (!Number.isInteger(n) || n < 1) exitUsage('bench-onebit', `--sizes takes positive integers, got '${String(v.sizes)}'`);
  const samples = Number(v.samples ?? 15);
  if (!Number.isInteger(samples) || samples < 1) exitUsage('bench-onebit', `--samples takes a positive integer, got '${String(v.samples)}'`);
  const feedback = !v['no-feedback'];

  let wasm: OneBitCodec;
  try {
    wasm = new OneBitCodec('wasm');
  } catch (e) {
    exitUsage('bench-onebit', (e as Error).message);
  }
  const codecs: Record<Impl, OneBitCodec> = { js: new OneBitCodec('js'), wasm };

  const cells: Cell[] = [];
  for (const n of sizes) {
    for (const op of OPS) {
      const fns = { js: workload(codecs.js, op, n, feedback), wasm: workload(codecs.wasm, op, n, feedback) };
      // Warm-up (JIT tiers, wasm memory growth), then a loop length per implementation.
      const reps = { js: calibrate(fns.js), wasm: calibrate(fns.wasm) };
      const got: Record<Impl, number[]> = { js: [], wasm: [] };
      for (let s = 0; s < samples; s++) {
        for (const impl of ['js', 'wasm'] as const) got[impl].push(sample(fns[impl], n, reps[impl]));
      }
      for (const impl of ['js', 'wasm'] as const) {
        cells.push({ values: n, op, impl, nsPerValue: median(got[impl]), minNsPerValue: Math.min(...got[impl]), samples: got[impl] });
      }
    }
  }

  const lines = [
    `1-bit codec, ns per value (median of ${samples}; encode ${feedback ? 'with' : 'without'} error feedback)`,
    '',
    '| values | op | js ns/value | wasm ns/value | speedup |',
    '|---:|---|---:|---:|---:|',
  ];
  for (const n of sizes) {
    for (const op of OPS) {
      const js = cells.find((c) => c.values === n && c.op === op && c.impl === 'js')!;
      const wa = cells.find((c) => c.values === n && c.op === op && c.impl === 'wasm')!;
      lines.push(`| ${n} | ${op} | ${js.nsPerValue.toFixed(2)} | ${wa.nsPerValue.toFixed(3)} | ${(js.nsPerValue / wa.nsPerValue).toFixed(1)}× |`);
    }
  }
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
    };
    writeFileSync(v.json as string, `${JSON.stringify(report, null, 2)}\n`);
  }
}

main();
