import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeCsr, encodeCsr, readCachedCsr, writeCachedCsr } from '../../src/data/cache.js';
import { parseLibsvm } from '../../src/data/libsvm.js';
import { datasetDigest } from '../../src/data/shard.js';

const dir = mkdtempSync(join(tmpdir(), 'ringtrain-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ds = parseLibsvm('+1 1:0.5 7:2\n-1\n-1 2:-1 3:1e-3\n', 'mem');

describe('CSR cache file', () => {
  it('round-trips', () => {
    const back = decodeCsr(encodeCsr(ds, 'k1'), 'k1');
    expect(back).not.toBeNull();
    expect(datasetDigest(back!)).toBe(datasetDigest(ds));
  });

  it('rejects another key, truncation and any flipped byte', () => {
    const buf = encodeCsr(ds, 'k1');
    expect(decodeCsr(buf, 'k2')).toBeNull();
    expect(decodeCsr(buf.subarray(0, buf.length - 1), 'k1')).toBeNull();
    expect(decodeCsr(Buffer.alloc(0), 'k1')).toBeNull();
    for (let i = 0; i < buf.length; i += 7) {
      const bad = Buffer.from(buf);
      bad[i] ^= 0x10;
      expect(decodeCsr(bad, 'k1')).toBeNull();
    }
  });

  it('writes atomically and reads back; damaged or missing files are misses', () => {
    const path = join(dir, 'sub', 'x.csr');
    expect(readCachedCsr(path, 'k')).toBeNull();
    expect(writeCachedCsr(path, 'k', ds)).toBe(true);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['x.csr']); // no temp file left behind
    expect(datasetDigest(readCachedCsr(path, 'k')!)).toBe(datasetDigest(ds));
    const bytes = readFileSync(path);
    bytes[bytes.length - 40] ^= 1;
    writeFileSync(path, bytes);
    expect(readCachedCsr(path, 'k')).toBeNull();
  });

  it('an unwritable location reports false instead of throwing', () => {
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'x');
    expect(writeCachedCsr(join(file, 'cannot', 'be', 'here.csr'), 'k', ds)).toBe(false);
  });
});
