/**
 * Stochastic (QSGD) codec micro-benchmark: ns per value of encode (without and with error
 * feedback) and decodeInto ('set' and 'add'), the JS loops (the reference) against the
 * WebAssembly kernel (codec/stochastic-kernel.ts), for several levels s and segment lengths.
 * A second table times a requantizing reduce-scatter step on the kernel: the three calls
 * (decodeInto add, encode, with setDecoded decodeInto set) against addDecodedThenEncode.
 *
 *   npx tsx scripts/bench-stochastic.ts [--json FILE] [--sizes 4096,131072,262144] [--levels 1,7,255]
 *                                       [--fused-sizes 131072] [--samples S]
 *
 * Inputs are N(0,1); the frame decoded is the encoding of such a segment (at s = 1 and 7 the
 * sparse form, at s = 255 mostly sparse too from a few thousand values on). encode includes
 * allocating the frame; with feedback the residual evolves call to call as in training. Each
 * cell is the median of S samples (default 15) of a timed loop of ≥ ~10 ms; the two
 * implementations' samples alternate so both see the same machine load. Timings come from a
 * shared machine and are noisy: compare ratios within one run.
 *
 * The fused rows: the incoming frame is the encoding of another N(0,1) segment at the same s;
 * each call first resets the values to their N(0,1) start (a copy, in both columns, so the
 * values do not drift towards the frame's few levels), the residual evolves as in training.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { StochasticCodec } from '../src/codec/stochastic.js';
import type { EncodeContext } from '../src/codec/codec.js';
import { exitUsage, parseFlags } from './lib/bench-harness.js';
import { gaussianVector } from './lib/vectors.js';
import { median } from '../src/bench/units.js';

const HELP = `Usage: npx tsx scripts/bench-stochastic.ts [options]

ns per value of the stochastic codec's encode / encode with feedback / decode set / decode add:
the JS loops against the WebAssembly kernel; then a requantizing reduce-scatter step on the
kernel, the three calls against addDecodedThenEncode.

  --json FILE          write every measurement as JSON
  --sizes LIST         segment lengths in values (default 4096,131072,262144)
  --levels LIST        QSGD levels s (default 1,7,255)
  --fused-sizes LIST   segment lengths of the fused-step table (default 131072)
  --samples S          timed samples per cell, median reported (default 15)
`;

type Op = 'encode' | 'encode+feedback' | 'decode set' | 'decode add';
type Impl = 'js' | 'wasm';
const OPS: readonly Op[] = ['encode', 'encode+feedback', 'decode set', 'decode add'];
const IMPLS: readonly Impl[] = ['js', 'wasm'];
/** A requantizing reduce-scatter step, as the three calls or as addDecodedThenEncode. */
type StepImpl = 'sequential' | 'fused';
const STEP_IMPLS: readonly StepImpl[] = ['sequential', 'fused'];

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

interface StepCell {
  values: number;
  levels: number;
  residual: boolean;
  setDecoded: boolean;
  impl: StepImpl;
  nsPerValue: number;
  minNsPerValue: number;
  samples: number[];
  /** Form (0 packed, 1 sparse) and bytes of the incoming frame, and of the frame sent. */
  inForm: number;
  inBytes: number;
  outForm: number;
  outBytes: number;
}

/** One reduce-scatter step on the kernel codec, the three calls or fused. */
function stepWorkload(codec: StochasticCodec, impl: StepImpl, n: number, withResidual: boolean, setDecoded: boolean): { fn: () => void; inFrame: Uint8Array; outFrame: () => Uint8Array } {
  const base = gaussianVector(n, 3 + n);
  const values = new Float32Array(n);
  const residual = withResidual ? new Float32Array(n) : undefined;
  const inFrame = codec.encode(gaussianVector(n, 4 + n), { seed: 1, step: 0, rank: 1, chunk: 0, segment: 0 });
  let step = 0;
  let last = inFrame;
  const ctx = (): EncodeContext => ({ seed: 1, step: step++, rank: 0, chunk: 0, segment: 0, residual });
  const fn =
    impl === 'fused'
      ? () => {
          values.set(base);
          last = codec.addDecodedThenEncode(inFrame, values, ctx(), setDecoded);
        }
      : () => {
          values.set(base);
          codec.decodeInto(inFrame, values, 'add');
          last = codec.encode(values, ctx());
          if (setDecoded) codec.decodeInto(last, values, 'set');
        };
  return { fn, inFrame, outFrame: () => last };
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
    'fused-sizes': { type: 'string' },
  });
  const sizes = list(v.sizes, '4096,131072,262144', 'sizes');
  const levels = list(v.levels, '1,7,255', 'levels');
  const fusedSizes = list(v['fused-sizes'], '131072', 'fused-sizes');
  for (const s of levels) if (s > 65535) exitUsage('bench-stochastic', `--levels takes s in 1..65535, got ${s}`);
  const samples = Number(v.samples ?? 15);
  if (!Number.isInteger(samples) || samples < 1) exitUsage('bench-stochastic', `--samples takes a positive integer, got '${String(v.samples)}'`);

  const cells: Cell[] = [];
  const stepCells: StepCell[] = [];
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
    for (const n of fusedSizes) {
      for (const residual of [false, true]) {
        for (const setDecoded of [false, true]) {
          const work = STEP_IMPLS.map((impl) => [impl, stepWorkload(codecs.wasm, impl, n, residual, setDecoded)] as const);
          const reps = work.map(([, w]) => calibrate(w.fn));
          const got: number[][] = work.map(() => []);
          for (let k = 0; k < samples; k++) work.forEach(([, w], j) => got[j].push(sample(w.fn, n, reps[j])));
          work.forEach(([impl, w], j) => {
            const out = w.outFrame();
            stepCells.push({ values: n, levels: s, residual, setDecoded, impl, nsPerValue: median(got[j]), minNsPerValue: Math.min(...got[j]), samples: got[j], inForm: w.inFrame[0], inBytes: w.inFrame.length, outForm: out[0], outBytes: out.length });
          });
        }
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
  const step = (s: number, n: number, residual: boolean, setDecoded: boolean, impl: StepImpl): StepCell =>
    stepCells.find((c) => c.levels === s && c.values === n && c.residual === residual && c.setDecoded === setDecoded && c.impl === impl)!;
  const form = (f: number, b: number): string => `${f === 1 ? 'sparse' : 'packed'} ${b} B`;
  lines.push(
    '',
    `Requantizing reduce-scatter step on the kernel, ns per value (median of ${samples}): decodeInto add + encode (+ decodeInto set) vs addDecodedThenEncode`,
    '',
    '| s | values | feedback | setDecoded | frame in | frame out | three calls | fused | calls / fused |',
    '|---:|---:|---|---|---|---|---:|---:|---:|',
  );
  for (const s of levels) {
    for (const n of fusedSizes) {
      for (const residual of [false, true]) {
        for (const setDecoded of [false, true]) {
          const a = step(s, n, residual, setDecoded, 'sequential'), b = step(s, n, residual, setDecoded, 'fused');
          lines.push(`| ${s} | ${n} | ${residual ? 'yes' : 'no'} | ${setDecoded} | ${form(a.inForm, a.inBytes)} | ${form(a.outForm, a.outBytes)} | ${a.nsPerValue.toFixed(3)} | ${b.nsPerValue.toFixed(3)} | ${(a.nsPerValue / b.nsPerValue).toFixed(2)}× |`);
        }
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
      steps: stepCells,
    };
    writeFileSync(v.json as string, `${JSON.stringify(report, null, 2)}\n`);
  }
}

main();
