import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCriteo, parseCriteo, readCriteo } from '../../src/data/criteo.js';
import type { CsrDataset } from '../../src/data/csr.js';
import { bucketOf } from '../../src/data/hashing.js';
import { datasetDigest } from '../../src/data/shard.js';

const dir = mkdtempSync(join(tmpdir(), 'ringtrain-criteo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One Criteo line from a label, 13 integer fields and 26 categorical fields ('' = missing). */
function line(label: string, ints: Array<string | number>, cats: string[]): string {
  const i = Array.from({ length: 13 }, (_, k) => String(ints[k] ?? ''));
  const c = Array.from({ length: 26 }, (_, k) => cats[k] ?? '');
  return [label, ...i, ...c].join('\t');
}

/** Naive reference: the documented transform, summed per bucket, as a sorted list. */
function reference(ints: Array<string | number>, cats: string[], bits: number): Array<[number, number]> {
  const m = new Map<number, number>();
  const add = (b: number, v: number) => m.set(b, (m.get(b) ?? 0) + v);
  ints.forEach((x, k) => {
    if (x === '') return;
    const n = Number(x);
    const v = Math.sign(n) * Math.log(1 + Math.abs(n));
    if (v !== 0) add(bucketOf(`I${k + 1}`, bits), v);
  });
  cats.forEach((c, k) => {
    if (c !== '') add(bucketOf(`C${k + 1}=${c}`, bits), 1);
  });
  return [...m.entries()]
    .map(([b, v]): [number, number] => [b, Math.fround(v)])
    .filter(([, v]) => v !== 0)
    .sort((a, b) => a[0] - b[0]);
}

function rowPairs(ds: CsrDataset, i: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let p = ds.indptr[i]; p < ds.indptr[i + 1]; p++) out.push([ds.indices[p], ds.values[p]]);
  return out;
}

const ROWS = [
  { label: '1', ints: [1, 0, 5, '', 1000000, -2, 3, 3, 3, 3, 3, 3, 3], cats: ['68fd1e64', '80e26c9b', '', 'fb936136', '7b4723c4', '25c83c98', '7e0ccccf', 'de7995b8', '1f89b562', 'a73ee510', 'a8cd5504', 'b2cb9c98', '37c9c164', '2824a5f6', '1adce6ef', '8ba8b39a', '891b62e7', 'e5ba7672', 'f54016b9', '21ddcdc9', 'b1252a9d', '07b5194c', '', '3a171ecb', 'c5c50484', 'e8b83407'] },
  { label: '0', ints: ['', '', '', '', '', '', '', '', '', '', '', '', ''], cats: [] },
  { label: '0', ints: [2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2], cats: Array.from({ length: 26 }, () => 'abc') },
];

describe('Criteo TSV reader', () => {
  it('hashes integer and categorical columns as documented (rows ascending, deduplicated)', () => {
    for (const bits of [20, 4, 1]) {
      // 2^4 and 2^1 buckets force collisions: values must be summed, indices unique.
      const text = ROWS.map((r) => line(r.label, r.ints, r.cats)).join('\n') + '\n';
      const ds = parseCriteo(text, 'mem.tsv', { hashBits: bits });
      expect(ds.rows).toBe(3);
      expect(ds.dim).toBe(2 ** bits);
      expect(Array.from(ds.labels)).toEqual([1, 0, 0]);
      ROWS.forEach((r, i) => {
        const got = rowPairs(ds, i);
        const want = reference(r.ints, r.cats, bits);
        expect(got.map((p) => p[0])).toEqual(want.map((p) => p[0]));
        got.forEach(([, v], k) => expect(v).toBeCloseTo(want[k][1], 5));
        for (let k = 1; k < got.length; k++) expect(got[k][0]).toBeGreaterThan(got[k - 1][0]);
      });
      expect(ds.indptr[2] - ds.indptr[1]).toBe(0); // all-missing row is empty
    }
  });

  it('transform: log(1+x), mirrored for negatives, 0 not stored', () => {
    const ds = parseCriteo(line('1', [0, 9, -9], []) + '\n', 'mem.tsv', { hashBits: 20 });
    const byBucket = new Map(rowPairs(ds, 0));
    expect(byBucket.has(bucketOf('I1', 20))).toBe(false);
    expect(byBucket.get(bucketOf('I2', 20))).toBeCloseTo(Math.log(10), 6);
    expect(byBucket.get(bucketOf('I3', 20))).toBeCloseTo(-Math.log(10), 6);
  });

  it('default 2^20 buckets; dim option must cover them', () => {
    const text = line('1', [1], ['a']) + '\n';
    expect(parseCriteo(text, 'mem.tsv').dim).toBe(1 << 20);
    expect(parseCriteo(text, 'mem.tsv', { hashBits: 10, dim: 2000 }).dim).toBe(2000);
    expect(() => parseCriteo(text, 'mem.tsv', { hashBits: 10, dim: 1000 })).toThrow(/smaller than/);
  });

  it('file readers (sync, streaming) agree with the in-memory parser; CRLF and blank last line ok', async () => {
    const text = ROWS.map((r) => line(r.label, r.ints, r.cats)).join('\r\n') + '\r\n\r\n';
    const path = join(dir, 'ok.tsv');
    writeFileSync(path, text);
    const a = readCriteo(path, { hashBits: 12 });
    const b = await loadCriteo(path, { hashBits: 12 });
    const c = parseCriteo(text.replace(/\r/g, ''), path, { hashBits: 12 });
    expect(a.rows).toBe(3);
    expect(datasetDigest(b)).toBe(datasetDigest(a));
    expect(datasetDigest(c)).toBe(datasetDigest(a));
  });

  const good = line('0', [1, 2], ['x']);
  const malformed: Array<[string, string, RegExp]> = [
    ['too few columns', `${good}\n${good}\n1\t2\t3\n`, /:3: expected 40 tab-separated fields .*got 3/],
    ['too many columns', `${good}\n${good}\tEXTRA\n`, /:2: expected 40 tab-separated fields .*got 41/],
    ['non-integer in an integer column', `${good}\n${line('1', ['', '', '1.5'], [])}\n`, /:2: integer column I3 \(field 4\) is not an integer: '1\.5'/],
    ['hex in an integer column', `${line('1', ['0x1f'], [])}\n`, /:1: integer column I1 .*'0x1f'/],
    ['bad label', `${good}\n${good}\n${good}\n${line('2', [], [])}\n`, /:4: label must be -1\/\+1 or 0\/1, got '2'/],
    ['empty label', `${line('', [], [])}\n`, /:1: label must be/],
  ];
  it.each(malformed)('error names the file and line: %s', async (_, text, re) => {
    const path = join(dir, 'bad.tsv');
    writeFileSync(path, text);
    expect(() => readCriteo(path)).toThrow(re);
    await expect(loadCriteo(path)).rejects.toThrow(re);
    await expect(loadCriteo(path)).rejects.toMatchObject({ code: 'E_DATA_PARSE', message: expect.stringMatching(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: `)) });
  });

  it('empty file is E_DATA', () => {
    const path = join(dir, 'empty.tsv');
    writeFileSync(path, '\n');
    expect(() => readCriteo(path)).toThrow(expect.objectContaining({ code: 'E_DATA' }));
  });
});
