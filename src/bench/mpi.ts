/**
 * The MPI baseline: when `mpicc` and `mpirun` are on PATH, compile src/bench/mpi/allreduce.c into
 * a temporary directory and run it over TCP loopback (`--mca btl tcp,self`: no shared memory, so
 * it crosses the same kernel path as our sockets). Anything missing is a note, never a failure.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface MpiCell {
  bytes: number;
  inner: number;
  samplesUs: number[];
  wrong: number;
}

export const MPI_SOURCE = fileURLToPath(new URL('./mpi/allreduce.c', import.meta.url));

async function onPath(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

export class MpiBaseline {
  private constructor(
    private readonly dir: string,
    private readonly exe: string,
    readonly version: string,
  ) {}

  /** Compiles the benchmark; returns a reason string when MPI is not usable here. */
  static async prepare(): Promise<MpiBaseline | string> {
    if (!(await onPath('mpicc')) || !(await onPath('mpirun'))) {
      return 'mpicc/mpirun not on PATH (e.g. apt-get install openmpi-bin libopenmpi-dev)';
    }
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-mpi-'));
    const exe = join(dir, 'allreduce');
    try {
      await run('mpicc', ['-O2', '-o', exe, MPI_SOURCE]);
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      return `mpicc failed: ${String((e as { stderr?: string }).stderr ?? e).trim().split('\n').slice(-3).join(' | ')}`;
    }
    let version = 'MPI';
    try {
      const { stdout } = await run('mpirun', ['--version']);
      version = stdout.split('\n')[0].trim();
    } catch {
      // keep the generic name
    }
    return new MpiBaseline(dir, exe, version);
  }

  /**
   * One mpirun of the benchmark. `ringOnly`: Open MPI's own ring allreduce (tuned component,
   * algorithm 4) instead of the algorithm it picks by size, for a same-algorithm comparison: at
   * N = 4, 1 MiB its default (recursive doubling or Rabenseifner, 4 steps instead of 6) took
   * 2.9-3.4 ms here and its ring 4.7-5.2 ms.
   */
  async run(n: number, sizes: number[], iters: number, warmup: number | 'auto', timeoutMs: number, ringOnly = false): Promise<MpiCell[]> {
    const args = [
      '--allow-run-as-root',
      '--oversubscribe',
      '--bind-to',
      'none',
      '--mca',
      'btl',
      'tcp,self',
      '--mca',
      'btl_tcp_if_include',
      'lo',
      '--mca',
      'oob_tcp_if_include',
      'lo',
      ...(ringOnly ? ['--mca', 'coll_tuned_use_dynamic_rules', '1', '--mca', 'coll_tuned_allreduce_algorithm', '4'] : []),
      '-np',
      String(n),
      this.exe,
      String(iters),
      String(warmup),
      ...sizes.map(String),
    ];
    const { stdout } = await run('mpirun', args, {
      timeout: timeoutMs,
      maxBuffer: 16 << 20,
      env: { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' },
    });
    return parseMpiOutput(stdout);
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function parseMpiOutput(text: string): MpiCell[] {
  const out: MpiCell[] = [];
  for (const line of text.split('\n')) {
    const m = /^RESULT bytes=(\d+) inner=(\d+) wrong=(\d+) samples=([\d.,]+)\s*$/.exec(line.trim());
    if (!m) continue;
    out.push({ bytes: Number(m[1]), inner: Number(m[2]), wrong: Number(m[3]), samplesUs: m[4].split(',').map(Number) });
  }
  return out;
}
