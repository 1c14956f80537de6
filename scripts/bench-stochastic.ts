/**
 * Stochastic (QSGD) codec micro-benchmark: ns per value of encode (without and with error
 * feedback) and decodeInto ('set' and 'add'), the JS loops (the reference) against the
 * WebAssembly kernel (codec/stochastic-kernel.ts), for several levels s and segment lengths.
 *
 *   npx tsx scripts/bench-stochastic.ts [--json FILE] [--sizes 4096,131072,262144] [--levels 1,7,255] [--samples S]
 *
 * Inputs are N(0,1); the frame decoded is the encoding of such a segment (at s = 1 and 7 the
 * sparse form, at s = 255 mostly sparse too from a few thousand values on). encode includes
 * allocating the frame; with feedback the residual evolves call to call as in training. Each
 * cell is the median of S samples (default 15) of a timed loop of ≥ ~10 ms; the two
 * implementations' samples alternate so both see the same machine load. Timings come from a
 * shared machine and are noisy: compare ratios within one run.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { StochasticCodec } from '../src/codec/stochastic.js';
import type { EncodeContext } from '../src/codec/codec.js';
import { exitUsage, parseFlags } from './lib/bench-harness.js';

const HELP = `Usage: npx tsx scripts/bench-stochastic.ts [options]

ns per value of the stochastic codec's encode / encode with feedback / decode set / decode add:
the JS loops against the WebAssembly kernel.

  --json FILE       write every measurement as JSON
  --sizes LIST      segment lengths in values (default 4096,131072,262144)
  --levels LIST     QSGD levels s (default 1,7,255)
  --samples S       timed samples per cell, median reported (default 15)
`;

type Op = 'encode' | 'encode+feedback' | 'decode set' | 'decode add';
type Impl = 'js' | 'wasm';
const OPS: readonly Op[] = ['encode', 'encode+feedback', 'decode set', 'decode add'];
const IMPLS: readonly Impl[] = ['js', 'wasm'];

interface Cell {
  values: number;
  levels: number;
  op: Op;
  impl: Impl;
  /** Median ns per value over the samples. */
  nsPerValue: number;
  minNsPerValue: number;
  samples: number[];
  /** Form of the frame encoded / decoded (0 packed, 1 sparse) and its bytes. */
  form: number;
  frameBytes: number;
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

/** One op as a closure the timer calls repeatedly, and the frame it encodes or decodes. */
function workload(codec: StochasticCodec, op: Op, n: number): { fn: () => void; frame: Uint8Array } {
  const values = gaussianVector(n, 1 + n);
  const residual = op === 'encode+feedback' ? new Float32Array(n) : undefined;
  let step = 0;
  const ctx = (): EncodeContext => ({ seed: 1, step: step++, rank: 0, chunk: 0, segment: 0, residual });
  const frame = codec.encode(values, { seed: 1, step: 0, rank: 0, chunk: 0, segment: 0 });
  if (op === 'encode' || op === 'encode+feedback') return { fn: () => void codec.encode(values, ctx()), frame };
  const out = gaussianVector(n, 2 + n);
  // 'add' drifts out by a level per call; harmless for timing.
  return { fn: () => codec.decodeInto(frame, out, op === 'decode set' ? 'set' : 'add'), frame };
}

/** Repetitions for a sample of ≥ ~10 ms (after a warm-up of ≥ ~50 ms). */
function calibrate(fn: () => void): number {
  const t0 = performance.now();
  let reps = 0;
  while (performance.now() - t0 < 50) {
    fn();
    reps++;
  }
  return Math.max(1, Math.ceil(reps / 5));
}

function sample(fn: () => void, n: number, reps: number): number {
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) fn();
  return ((performance.now() - t0) * 1e6) / (reps * n);
}

function list(v: string | boolean | undefined, dflt: string, flag: string): number[] {
  const xs = [...new Set(((v as string | undefined) ?? dflt).split(',').map((x) => Number(x.trim())))];
  for (const x of xs) if (!Number.isInteger(x) || x < 1) exitUsage('bench-stochastic', `--${flag} takes positive integers, got '${String(v)}'`);
  return xs;
}

function main(): void {
  const v = parseFlags('bench-stochastic', HELP, process.argv.slice(2), {
    json: { type: 'string' },
    sizes: { type: 'string' },
    levels: { type: 'string' },
    samples: { type: 'string' },
  });
  const sizes = list(v.sizes, '4096,131072,262144', 'sizes');
  const levels = list(v.levels, '1,7,255', 'levels');
  for (const s of levels) if (s > 65535) exitUsage('bench-stochastic', `--levels takes s in 1..65535, got ${s}`);
  const samples = Number(v.samples ?? 15);
  if (!Number.isInteger(samples) || samples < 1) exitUsage('bench-stochastic', `--samples takes a positive integer, got '${String(v.samples)}'`);

  const cells: Cell[] = [];
  for (const s of levels) {
    let codecs: Record<Impl, StochasticCodec>;
    try {
      codecs = { js: new StochasticCodec(s, 'js'), wasm: new StochasticCodec(s, 'wasm') };
    } catch (e) {
      exitUsage('bench-stochastic', (e as Error).message);
    }
    for (const n of sizes) {
      for (const op of OPS) {
        const work = IMPLS.map((impl) => [impl, workload(codecs[impl], op, n)] as const);
        const reps = work.map(([, w]) => calibrate(w.fn));
        const got: number[][] = work.map(() => []);
        for (let k = 0; k < samples; k++) work.forEach(([, w], j) => got[j].push(sample(w.fn, n, reps[j])));
        work.forEach(([impl, w], j) => {
          cells.push({ values: n, levels: s, op, impl, nsPerValue: median(got[j]), minNsPerValue: Math.min(...got[j]), samples: got[j], form: w.frame[0], frameBytes: w.frame.length });
        });
      }
    }
  }

  const cell = (s: number, n: number, op: Op, impl: Impl): Cell => cells.find((c) => c.levels === s && c.values === n && c.op === op && c.impl === impl)!;
  const lines = [
    `Stochastic codec, ns per value (median of ${samples}; N(0,1) segments)`,
    '',
    '| s | values | frame | op | js | wasm | js / wasm |',
    '|---:|---:|---|---|---:|---:|---:|',
  ];
  for (const s of levels) {
    for (const n of sizes) {
      for (const op of OPS) {
        const a = cell(s, n, op, 'js'), b = cell(s, n, op, 'wasm');
        const frame = `${a.form === 1 ? 'sparse' : 'packed'} ${a.frameBytes} B`;
        lines.push(`| ${s} | ${n} | ${frame} | ${op} | ${a.nsPerValue.toFixed(3)} | ${b.nsPerValue.toFixed(3)} | ${(a.nsPerValue / b.nsPerValue).toFixed(1)}× |`);
      }
    }
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (v.json) {
    const report = {
      script: 'bench-stochastic',
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      loadavg: loadavg(),
      samples,
      cells,
    };
    writeFileSync(v.json as string, `${JSON.stringify(report, null, 2)}\n`);
  }
}

main();
