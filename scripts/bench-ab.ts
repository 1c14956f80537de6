/**
 * A/B runs of `ringtrain bench` under the same conditions: variants (environment switches and
 * extra flags) run interleaved, K rounds, and the table shows per variant the median busbw, the
 * best busbw and the median CPU time per allreduce. On a shared machine, interleaving and the CPU
 * column are what make a before/after comparison fair.
 *
 *   npx tsx scripts/bench-ab.ts --rounds 3 --peers 2,4 --sizes 1MiB,16MiB \
 *     'before:RINGTRAIN_WS_PATH=ws RINGTRAIN_NO_SIMD=1' 'after:'
 *
 * A variant is NAME:ENV=V ENV2=V2[:extra bench flags]. The raw TCP ring runs with every variant;
 * its rows pool all of them.
 */
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rounds: { type: 'string', default: '3' },
    peers: { type: 'string', default: '2,4' },
    sizes: { type: 'string', default: '4KiB,1MiB,16MiB' },
    iters: { type: 'string', default: '9' },
    baselines: { type: 'string', default: 'tcp' },
  },
});
if (positionals.length === 0) {
  process.stderr.write("usage: bench-ab.ts [--rounds K] [--peers L] [--sizes L] 'name:ENV=V ...[:flags]' ...\n");
  process.exit(2);
}

interface Rec {
  impl: string;
  N: number;
  bytes: number;
  busbw_MBps: number;
  cpu_us: number | null;
  median_us: number;
}

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ringtrain-ab-'));
const rows = new Map<string, Rec[]>();
const variants = positionals.map((v) => {
  const [name, env = '', flags = ''] = v.split(':');
  return { name, env: Object.fromEntries(env.split(/\s+/).filter(Boolean).map((kv) => kv.split('=') as [string, string])), flags: flags.split(/\s+/).filter(Boolean) };
});
try {
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const v of variants) {
      const json = join(dir, `${v.name}-${round}.json`);
      process.stderr.write(`bench-ab: round ${round}, ${v.name}\n`);
      const args = ['--import', 'tsx', cli, 'bench', '--peers', values.peers!, '--sizes', values.sizes!, '--iters', values.iters!, '--baselines', values.baselines!, '--json', json, ...v.flags];
      const r = spawnSync(process.execPath, args, { env: { ...process.env, ...v.env }, stdio: ['ignore', 'ignore', 'pipe'] });
      if (r.status !== 0) {
        process.stderr.write(`bench-ab: ${v.name} round ${round} failed: ${r.stderr.toString().trim().split('\n').slice(-2).join(' | ')}\n`);
        continue;
      }
      for (const rec of (JSON.parse(readFileSync(json, 'utf8')) as { records: Rec[] }).records) {
        const key = `${rec.N}|${rec.bytes}|${rec.impl === 'ws' ? `ws:${v.name}` : rec.impl}`;
        rows.set(key, [...(rows.get(key) ?? []), rec]);
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const med = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const lines = ['#  N        bytes  impl                busbw med  busbw best   time med(us)  cpu/op med(us)  runs'];
for (const key of [...rows.keys()].sort((a, b) => {
  const [na, ba, ia] = a.split('|');
  const [nb, bb, ib] = b.split('|');
  return Number(na) - Number(nb) || Number(ba) - Number(bb) || ia.localeCompare(ib);
})) {
  const rs = rows.get(key)!;
  const [n, bytes, impl] = key.split('|');
  const cpu = rs.map((r) => r.cpu_us).filter((x): x is number => x !== null);
  lines.push(
    ` ${n.padStart(2)} ${bytes.padStart(12)}  ${impl.padEnd(18)} ${(med(rs.map((r) => r.busbw_MBps)) / 1000).toFixed(3).padStart(10)} ${(Math.max(...rs.map((r) => r.busbw_MBps)) / 1000).toFixed(3).padStart(11)} ${med(rs.map((r) => r.median_us)).toFixed(0).padStart(14)} ${(cpu.length ? med(cpu).toFixed(0) : '-').padStart(15)} ${String(rs.length).padStart(5)}`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
