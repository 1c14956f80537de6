import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBenchCommand } from '../../src/bench/cli.js';
import { parseSize, parseSizeList, formatSize, busbwFactor, median } from '../../src/bench/units.js';
import { fillExpected, fillInput, countWrong } from '../../src/bench/pattern.js';
import { parseMpiOutput } from '../../src/bench/mpi.js';
import { formatComparison, makeRecord, roundRatioRange } from '../../src/bench/report.js';
import { CellPool } from '../../src/bench/pool.js';
import { parseWarmup, warmupSamples } from '../../src/bench/job.js';
import { renderSvg } from '../../src/bench/svg.js';
import { TcpRing } from '../../src/bench/tcp-ring.js';

/** Minimal XML well-formedness check: every tag closes in order, attributes are quoted. */
function expectWellFormedXml(text: string): void {
  const body = text.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|([^<]+)/g;
  let consumed = 0;
  for (let m = tag.exec(body); m; m = tag.exec(body)) {
    expect(m.index).toBe(consumed);
    consumed = tag.lastIndex;
    if (m[5] !== undefined) {
      expect(m[5]).not.toMatch(/&(?!amp;|lt;|gt;|quot;|apos;)/);
      continue;
    }
    if (m[1]) expect(stack.pop()).toBe(m[2]);
    else if (!m[4]) stack.push(m[2]);
  }
  expect(consumed).toBe(body.length);
  expect(stack).toEqual([]);
}

describe('ringtrain bench', () => {
  it('runs N=2 over real peer processes in 2 interleaved rounds: #wrong = 0, pooled JSON records and a well-formed SVG', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-bench-'));
    try {
      const json = join(dir, 'bench.json');
      const svg = join(dir, 'bench.svg');
      const stdout: string[] = [];
      const write = process.stdout.write.bind(process.stdout);
      process.stdout.write = ((chunk: string | Uint8Array) => {
        stdout.push(String(chunk));
        return true;
      }) as typeof process.stdout.write;
      let code: number;
      try {
        code = await runBenchCommand(['--peers', '2', '--sizes', '4KiB,64KiB', '--iters', '3', '--rounds', '2', '--warmup', '1', '--baselines', 'tcp', '--json', json, '--svg', svg]);
      } finally {
        process.stdout.write = write;
      }
      expect(code).toBe(0);
      const text = stdout.join('');
      expect(text).toContain('busbw');
      expect(text).toContain('#wrong');
      // The summary shows the spread of the two rounds' ratios, e.g. "0.93-1.08".
      expect(text).toMatch(/ours\/tcp\s+range/);
      expect(text).toMatch(/\d+\.\d\d-\d+\.\d\d/);
      const doc = JSON.parse(readFileSync(json, 'utf8')) as { meta: { rounds: number }; records: Record<string, unknown>[] };
      expect(doc.meta.rounds).toBe(2);
      const impls = new Set(doc.records.map((r) => r.impl));
      expect(impls).toEqual(new Set(['ws', 'tcp']));
      expect(doc.records).toHaveLength(4);
      for (const r of doc.records) {
        for (const key of ['impl', 'N', 'bytes', 'codec', 'mode', 'median_us', 'min_us', 'algbw_MBps', 'busbw_MBps', 'wireBytesPerPeer', 'wrong']) {
          expect(r, key).toHaveProperty(key);
        }
        expect(r.N).toBe(2);
        expect(r.wrong).toBe(0);
        // One record per cell, pooling both rounds: 3 samples each, and each round's median kept.
        expect(r.samples_us as number[]).toHaveLength(6);
        expect(r.round_medians_us as number[]).toHaveLength(2);
        expect([4096, 65536]).toContain(r.bytes);
        expect(r.busbw_MBps).toBeCloseTo(r.algbw_MBps as number, 1); // 2(N-1)/N = 1 at N=2
        // Bandwidth-optimal: each peer sends 2(N-1)/N of the vector, plus 32-byte frame headers.
        expect((r.wireBytesPerPeer as number) / (r.bytes as number)).toBeGreaterThanOrEqual(1);
        expect((r.wireBytesPerPeer as number) / (r.bytes as number)).toBeLessThan(1.02);
      }
      const chart = readFileSync(svg, 'utf8');
      expect(chart).toMatch(/^<\?xml/);
      expect(chart).toContain('<svg');
      expect(chart).toContain('<path');
      expectWellFormedXml(chart);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('skips what it cannot run with a visible note, not a failure', async () => {
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stdout.write;
    try {
      const code = await runBenchCommand(['--peers', '2', '--sizes', '4KiB', '--iters', '1', '--warmup', '0', '--codec', 'dense', '--mode', 'allgather', '--baselines', 'none']);
      expect(code).toBe(0);
    } finally {
      process.stdout.write = write;
    }
    expect(lines.join('')).toMatch(/note: skipped dense\/allgather/);
  }, 30_000);
});

describe('bench helpers', () => {
  it('parses and formats sizes', () => {
    expect(parseSizeList('4KiB,1MiB,16M,64')).toEqual([4096, 1 << 20, 16 << 20, 64]);
    expect(parseSize('256kib')).toBe(262144);
    expect(formatSize(1 << 20)).toBe('1MiB');
    expect(formatSize(3 * 512 * 1024)).toBe('1.5MiB');
    expect(() => parseSize('3B')).toThrow(/multiple of 4/);
    expect(() => parseSize('lots')).toThrow(/cannot read size/);
  });

  it('busbw = algbw · 2(N-1)/N and the record fields follow from the samples', () => {
    expect(busbwFactor(2)).toBe(1);
    expect(busbwFactor(4)).toBe(1.5);
    expect(busbwFactor(8)).toBe(1.75);
    const r = makeRecord({ impl: 'ws', N: 4, bytes: 1 << 20, codec: 'dense', mode: 'requantize', segmentBytes: 1 << 19 }, [2000, 1000, 3000], 0, 1.5 * (1 << 20));
    expect(r.median_us).toBe(2000);
    expect(r.min_us).toBe(1000);
    expect(r.algbw_MBps).toBeCloseTo((1 << 20) / 2000, 2);
    expect(r.busbw_MBps).toBeCloseTo(((1 << 20) / 2000) * 1.5, 2);
    expect(median([5, 1, 3, 2])).toBe(2.5);
  });

  it('pools rounds: the median over all samples, per-round medians kept, and the per-round ratio range', () => {
    const base = { N: 2, bytes: 1 << 20, codec: 'dense', mode: 'requantize', segmentBytes: 1 << 19 };
    const pool = new CellPool();
    pool.add({ ...base, impl: 'ws' }, [100, 300, 200], 0, 1000, null, 50);
    pool.add({ ...base, impl: 'tcp' }, [100, 100, 100], 0, 1000);
    pool.add({ ...base, impl: 'ws' }, [400, 600, 500], 1, 1200, null, 70);
    pool.add({ ...base, impl: 'tcp' }, [250, 250, 250], 0, 1000);
    const [ws, tcp] = pool.records();
    expect(ws.impl).toBe('ws');
    expect(ws.samples_us).toEqual([100, 300, 200, 400, 600, 500]);
    expect(ws.median_us).toBe(median([100, 200, 300, 400, 500, 600]));
    expect(ws.round_medians_us).toEqual([200, 500]);
    expect(ws.wrong).toBe(1);
    expect(ws.wireBytesPerPeer).toBe(1200);
    expect(ws.cpu_us).toBe(60);
    // busbw ratio per round = baseline time / our time: 100/200 and 250/500.
    expect(roundRatioRange(ws, tcp)).toBe('0.50-0.50');
    pool.add({ ...base, impl: 'tcp' }, [300], 0, 1000);
    expect(roundRatioRange(ws, pool.records()[1])).toBe('-'); // 2 rounds against 3
    expect(roundRatioRange(makeRecord({ ...base, impl: 'ws' }, [1], 0, null), tcp)).toBe('-'); // one round
  });

  it('auto warm-up: 4000 allreduces, at most 2 GiB, at least 2 samples, in timed-sample units', () => {
    expect(warmupSamples(4096, 'auto')).toBe(4000 / 32); // 32 allreduces per 4 KiB sample
    expect(warmupSamples(1 << 20, 'auto')).toBe(2048);
    expect(warmupSamples(64 << 20, 'auto')).toBe(32);
    expect(warmupSamples(2 ** 31, 'auto')).toBe(2);
    expect(warmupSamples(1 << 20, 7)).toBe(7);
    expect(parseWarmup('auto')).toBe('auto');
    expect(parseWarmup('12')).toBe(12);
    expect(parseWarmup('-1')).toBeNull();
  });

  it('the summary adds a column for MPI forced to its ring only when that baseline ran', () => {
    const base = { N: 4, bytes: 1 << 20, codec: 'dense', mode: 'requantize', segmentBytes: null };
    const ours = makeRecord({ ...base, impl: 'ws', segmentBytes: 1 << 19 }, [1000], 0, null);
    const mpi = makeRecord({ ...base, impl: 'mpi' }, [500], 0, null);
    const ring = makeRecord({ ...base, impl: 'mpi-ring' }, [2000], 0, null);
    const without = formatComparison([ours, mpi]);
    expect(without).not.toMatch(/ours\/ring/);
    const withRing = formatComparison([ours, mpi, ring]);
    const [head, row] = withRing.split('\n').slice(-2);
    expect(head).toMatch(/ours\/mpi\s+ring\s+ours\/ring\s+segment/);
    // Columns: N, size, ours, tcp, ours/tcp, mpi, ours/mpi, ring, ours/ring, segment.
    expect(row.trim().split(/\s+/)).toEqual(['4', '1MiB', '1.57', '-', '-', '3.15', '0.50', '0.79', '2.00', '512KiB']);
  });

  it('the input pattern sums exactly, and countWrong finds every difference', () => {
    for (const n of [1, 2, 3, 8]) {
      const d = 1000;
      const sum = new Float32Array(d);
      for (let r = 0; r < n; r++) {
        const v = new Float32Array(d);
        fillInput(v, r);
        for (let i = 0; i < d; i++) sum[i] += v[i];
      }
      const want = new Float32Array(d);
      fillExpected(want, n);
      expect(countWrong(sum, want)).toBe(0);
      sum[7] += 1;
      sum[999] = NaN;
      expect(countWrong(sum, want)).toBe(2);
    }
  });

  it('parses the MPI benchmark output', () => {
    const cells = parseMpiOutput('noise\nRESULT bytes=4096 inner=32 wrong=0 samples=12.5,11.0,13.25\nRESULT bytes=1048576 inner=1 wrong=3 samples=800.000\n');
    expect(cells).toEqual([
      { bytes: 4096, inner: 32, wrong: 0, samplesUs: [12.5, 11, 13.25] },
      { bytes: 1048576, inner: 1, wrong: 3, samplesUs: [800] },
    ]);
  });

  it('renders a well-formed SVG with escaped text and one line per (impl, N)', () => {
    const recs = [2, 4].flatMap((N) =>
      ['ws', 'tcp', 'mpi'].flatMap((impl) => [4096, 1 << 20].map((bytes) => makeRecord({ impl: impl as 'ws', N, bytes, codec: 'dense', mode: 'requantize', segmentBytes: null }, [100, 120], 0, null))),
    );
    const svg = renderSvg(recs, 'busbw <&> "test"');
    expectWellFormedXml(svg);
    expect(svg).toContain('busbw &lt;&amp;&gt; &quot;test&quot;');
    expect(svg.match(/<path /g)).toHaveLength(6);
  });

  it('the raw TCP ring sums exactly in one process (ranks on port 0), f32 and f64, many segments', async () => {
    const n = 3;
    const rings = await Promise.all(Array.from({ length: n }, (_, rank) => TcpRing.listen({ rank, size: n, listenHost: '127.0.0.1', listenPort: 0, segmentBytes: 4096, connectTimeoutMs: 10_000 })));
    try {
      await Promise.all(rings.map((t, r) => t.join({ host: '127.0.0.1', port: rings[(r - 1 + n) % n].port })));
      for (const d of [1, 5, 10_007]) {
        const bufs = rings.map((_, r) => {
          const v = new Float32Array(d);
          fillInput(v, r);
          return v;
        });
        const want = new Float32Array(d);
        fillExpected(want, n);
        await Promise.all(rings.map((t, r) => t.allreduce(bufs[r])));
        for (const b of bufs) expect(countWrong(b, want)).toBe(0);
      }
      const f64 = rings.map((_, r) => Float64Array.from({ length: 3000 }, (_, i) => i * 1e6 + r));
      await Promise.all(rings.map((t, r) => t.allreduce(f64[r])));
      for (const v of f64) for (let i = 0; i < 3000; i += 997) expect(v[i]).toBe(3 * i * 1e6 + 3);
    } finally {
      await Promise.all(rings.map((t) => t.close()));
    }
  });
});
