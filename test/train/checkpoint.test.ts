import { describe, it, expect } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { dataFile } from '../helpers/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'ringtrain-ckpt-'));
// --no-elastic: a killed peer stops the whole ring here (the whole-ring stop that --resume is for).
const RUN = ['launch', '--peers', '3', '--train', dataFile('mushrooms.train'), '--algo', 'sgd', '--batch', '128', '--epochs', '1', '--json', '--quiet', '--no-elastic'];

const digestOf = (stdout: string) => (JSON.parse(stdout) as { digests: string[]; identical: boolean; steps: number });

describe('checkpoints: atomic, per rank, resume is bit-identical', () => {
  it('kill a peer mid-run, --resume, and end with the same weights as an uninterrupted run', async () => {
    const clean = await runCli([...RUN, '--checkpoint-dir', join(tmp, 'clean'), '--checkpoint-every', '5']);
    expect(clean.code, clean.stderr).toBe(0);
    const ref = digestOf(clean.stdout);
    expect(ref.identical).toBe(true);

    const dir = join(tmp, 'killed');
    const killed = await runCli([...RUN, '--checkpoint-dir', dir, '--checkpoint-every', '5', '--inject-kill', '1@23']);
    expect(killed.code).toBe(3);
    expect(killed.stderr).toContain('rank 1');
    // Two newest per rank are kept, no temp files are left behind.
    const files = readdirSync(dir).sort();
    expect(files.filter((f) => f.includes('.tmp'))).toEqual([]);
    expect(files).toContain('rank-1-step-20.ckpt');

    const resumed = await runCli([...RUN, '--checkpoint-dir', dir, '--checkpoint-every', '5', '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const got = digestOf(resumed.stdout);
    expect(got.steps).toBe(ref.steps);
    expect(got.digests).toEqual(ref.digests);
  });

  it('a corrupt newest checkpoint is skipped: the ring agrees on an older step every rank has', async () => {
    const dir = join(tmp, 'corrupt');
    const killed = await runCli([...RUN, '--checkpoint-dir', dir, '--checkpoint-every', '5', '--inject-kill', '0@23']);
    expect(killed.code).toBe(3);
    const newest = join(dir, 'rank-2-step-20.ckpt');
    const bytes = readFileSync(newest);
    bytes[bytes.length - 5] ^= 0xff;
    writeFileSync(newest, bytes);
    const resumed = await runCli([...RUN, '--checkpoint-dir', dir, '--checkpoint-every', '5', '--resume']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(digestOf(resumed.stdout).identical).toBe(true);
  });

  it('--resume with no usable checkpoint says so, exit 2', async () => {
    const r = await runCli([...RUN, '--checkpoint-dir', join(tmp, 'empty'), '--resume']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('E_CHECKPOINT');
  });
});
