import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CsrDataset } from '../../src/data/csr.js';
import { loadLibsvm, parseLibsvm, readLibsvm } from '../../src/data/libsvm.js';
import { datasetDigest } from '../../src/data/shard.js';
import { dataFile } from '../helpers/paths.js';

// From /work/shared/data/README.md (independent reference): rows, max feature index (1-based),
// positive rate, nnz, sha256.
const TABLE: Array<[string, number, number, number, number, string]> = [
  ['a9a', 32561, 123, 0.2408, 451592, 'f5d5ffd8d865ff41328e7ee043e4b020816914ff6843ff15b98905ddbedce906'],
  ['a9a.t', 16281, 122, 0.2362, 225731, '1f448a153f0320399a7e40836eb207655b0bde0f21fc941cc472193daa9f5de9'],
  ['mushrooms.train', 6499, 112, 0.4836, 136479, '95ec0a202300f48807de11a8395758a4732495c632a607b35c255af42974bfb9'],
  ['mushrooms.test', 1625, 112, 0.4757, 34125, 'f44068fa493cf6aae640763a0b96a0b70599acc6cc77635be1cc1b9bd04a48e2'],
  ['breast-cancer_scale.train', 546, 9, 0.359, 4914, 'c4f1a29cce22885b790037f8d7f23a3f1c70b376eee8a081101248b079dea2b8'],
  ['breast-cancer_scale.test', 137, 9, 0.3139, 1233, 'b4635687456c82bfa705f74e7c5ce34e3b584607dbadd8b9ccb2f1a2633ad843'],
  ['wdbc_scale.train', 455, 30, 0.3868, 13650, 'c2efa649a957b036adbf97f29301afabc22a237ce997a292ae903f87e8259a78'],
  ['wdbc_scale.test', 114, 30, 0.3158, 3420, '4e026655e9189b0fe2fc445b2cc761be74ca7b5f2b68f68bb1ddc1e7e37fb6a2'],
];

function positives(ds: CsrDataset): number {
  let n = 0;
  for (let i = 0; i < ds.rows; i++) n += ds.labels[i];
  return n;
}

/** Checks the CSR invariants every consumer relies on. */
function expectWellFormed(ds: CsrDataset): void {
  expect(ds.indptr.length).toBe(ds.rows + 1);
  expect(ds.labels.length).toBe(ds.rows);
  expect(ds.indptr[0]).toBe(0);
  expect(ds.indptr[ds.rows]).toBe(ds.indices.length);
  expect(ds.values.length).toBe(ds.indices.length);
  let bad = 0;
  for (let i = 0; i < ds.rows; i++) {
    if (ds.labels[i] > 1) bad++;
    for (let p = ds.indptr[i]; p < ds.indptr[i + 1]; p++) {
      if (ds.indices[p] >= ds.dim) bad++;
      if (p > ds.indptr[i] && ds.indices[p] <= ds.indices[p - 1]) bad++;
      if (ds.values[p] === 0 || !Number.isFinite(ds.values[p])) bad++;
    }
  }
  expect(bad).toBe(0);
}

describe('LIBSVM reader on the shared benchmark files', () => {
  it.each(TABLE)('%s: rows %i, max index %i, positive rate %f, nnz %i', async (name, rows, maxIndex, rate, nnz, sha) => {
    const path = dataFile(name);
    expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(sha);
    const ds = readLibsvm(path);
    expectWellFormed(ds);
    expect(ds.rows).toBe(rows);
    expect(ds.dim).toBe(maxIndex); // 1-based max index = dimension
    expect(Number((positives(ds) / ds.rows).toFixed(4))).toBe(rate);
    expect(ds.indices.length).toBe(nnz);
    let maxSeen = 0;
    for (const i of ds.indices) maxSeen = Math.max(maxSeen, i + 1);
    expect(maxSeen).toBe(maxIndex);
    // The streaming reader gives the same bytes.
    const streamed = await loadLibsvm(path);
    expect(datasetDigest(streamed)).toBe(datasetDigest(ds));
  });

  it('a9a.t read with the training dim', () => {
    const ds = readLibsvm(dataFile('a9a.t'), { dim: 123 });
    expect(ds.dim).toBe(123);
  });

  it('first a9a row matches the file text', () => {
    const first = readFileSync(dataFile('a9a'), 'utf8').split('\n')[0];
    const ds = readLibsvm(dataFile('a9a'));
    const [label, ...feats] = first.trim().split(/\s+/);
    expect(ds.labels[0]).toBe(label === '+1' ? 1 : 0);
    const want = feats.map((f) => Number(f.split(':')[0]) - 1);
    expect(Array.from(ds.indices.subarray(ds.indptr[0], ds.indptr[1]))).toEqual(want);
  });
});

describe('LIBSVM format details', () => {
  const parse = (text: string, opts = {}) => parseLibsvm(text, 'mem.svm', opts);
  const row = (ds: CsrDataset, i: number) => ({
    label: ds.labels[i],
    idx: Array.from(ds.indices.subarray(ds.indptr[i], ds.indptr[i + 1])),
    val: Array.from(ds.values.subarray(ds.indptr[i], ds.indptr[i + 1])),
  });

  it('accepts label forms, qid, comments, tabs, trailing spaces, CRLF, blank lines, empty rows', () => {
    const ds = parse('# header comment\r\n+1 qid:3 1:0.5 3:2 # c\r\n-1.0\t2:1e-1 \r\n\r\n1.0 4:-3\n-1\n');
    expect(ds.rows).toBe(4);
    expect(ds.dim).toBe(4);
    expect(row(ds, 0)).toEqual({ label: 1, idx: [0, 2], val: [0.5, 2] });
    expect(row(ds, 1)).toEqual({ label: 0, idx: [1], val: [Math.fround(0.1)] });
    expect(row(ds, 2)).toEqual({ label: 1, idx: [3], val: [-3] });
    expect(row(ds, 3)).toEqual({ label: 0, idx: [], val: [] });
  });

  it('0/1 labels', () => {
    const ds = parse('0 1:1\n1 2:1\n0.0 1:2\n');
    expect(Array.from(ds.labels)).toEqual([0, 1, 0]);
  });

  it('explicit zeros are not stored but count for the dimension', () => {
    const ds = parse('+1 1:1 123:0\n');
    expect(ds.dim).toBe(123);
    expect(ds.indices.length).toBe(1);
  });

  it('index base: auto is 1-based unless an index 0 appears anywhere', () => {
    expect(Array.from(parse('1 1:1 5:1\n').indices)).toEqual([0, 4]);
    const zero = parse('1 1:1 5:1\n0 0:2\n');
    expect(Array.from(zero.indices)).toEqual([1, 5, 0]);
    expect(zero.dim).toBe(6);
    expect(Array.from(parse('1 1:1 5:1\n', { indexBase: 0 }).indices)).toEqual([1, 5]);
    expect(parse('1 1:1 5:1\n', { indexBase: 0 }).dim).toBe(6);
    expect(() => parse('1 1:1\n1 0:1\n', { indexBase: 1 })).toThrow(/^mem\.svm:2: feature index 0/);
  });

  it('dim fixes the dimension; an index beyond it names the line', () => {
    expect(parse('1 1:1\n0 3:1\n', { dim: 10 }).dim).toBe(10);
    expect(() => parse('1 1:1\n0 3:1\n0 2:1\n', { dim: 2 })).toThrow(/^mem\.svm:2: feature index 3 exceeds dimension 2/);
    // With auto base, an index 0 elsewhere makes the same file 0-based: 3 then needs dim 4.
    expect(() => parse('1 0:1\n0 3:1\n', { dim: 3 })).toThrow(/^mem\.svm:2: .*exceeds dimension 3/);
  });

  const bad: Array<[string, string, RegExp]> = [
    ['bad label', '1 1:1\n2 1:1\n', /^mem\.svm:2: label must be -1\/\+1 or 0\/1, got '2'/],
    ['text label', '1 1:1\n\nspam 1:1\n', /^mem\.svm:3: label/],
    ['mixed label conventions', '1 1:1\n-1 1:1\n0 2:1\n', /^mem\.svm:3: labels mix the 0\/1 and -1\/\+1 conventions \(first -1 on line 2\)/],
    ['token without colon', '1 1:1\n1 5\n', /^mem\.svm:2: expected idx:value, got '5'/],
    ['empty index', '1 :1\n', /^mem\.svm:1: expected idx:value/],
    ['empty value', '1 1:1\n1 3:\n', /^mem\.svm:2: feature value/],
    ['hex value', '1 1:0x10\n', /^mem\.svm:1: feature value/],
    ['NaN value', '1 1:NaN\n', /^mem\.svm:1: feature value/],
    ['overflowing value', '1 1:1e39\n', /^mem\.svm:1: feature value .*float32/],
    ['negative index', '1 -1:1\n', /^mem\.svm:1: feature index must be a non-negative integer/],
    ['fractional index', '1 1.5:1\n', /^mem\.svm:1: feature index must be a non-negative integer/],
    ['descending indices', '1 1:1\n1 1:1 3:1 2:1\n', /^mem\.svm:2: feature indices must be strictly ascending/],
    ['duplicate index', '1 4:1 4:2\n', /^mem\.svm:1: feature indices must be strictly ascending/],
  ];
  it.each(bad)('error names file:line: %s', (_, text, re) => {
    expect(() => parse(text)).toThrow(re);
    try {
      parse(text);
    } catch (e) {
      expect((e as { code: string }).code).toBe('E_DATA_PARSE');
    }
  });

  it('no rows is E_DATA; bad options are E_DATA', () => {
    expect(() => parse('# nothing\n\n')).toThrow(expect.objectContaining({ code: 'E_DATA', message: 'mem.svm: no data rows' }));
    expect(() => parse('1 1:1\n', { indexBase: 2 as 0 })).toThrow(/indexBase/);
    expect(() => parse('1 1:1\n', { dim: -1 })).toThrow(/dim/);
  });

  describe('files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ringtrain-libsvm-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('sync, streaming and in-memory readers agree; errors name the path and line', async () => {
      const path = join(dir, 'small.svm');
      const text = '+1 1:1 2:0.5\r\n-1 3:2\r\n';
      writeFileSync(path, text);
      const a = readLibsvm(path);
      const b = await loadLibsvm(path);
      const c = parseLibsvm(text, path);
      expect(datasetDigest(b)).toBe(datasetDigest(a));
      expect(datasetDigest(c)).toBe(datasetDigest(a));
      writeFileSync(path, '+1 1:1\n-1 3:x\n');
      expect(() => readLibsvm(path)).toThrow(`${path}:2: feature value`);
      await expect(loadLibsvm(path)).rejects.toThrow(`${path}:2: feature value`);
    });

    it('missing file', async () => {
      const path = join(dir, 'missing.svm');
      expect(() => readLibsvm(path)).toThrow(expect.objectContaining({ code: 'E_FILE_NOT_FOUND' }));
      await expect(loadLibsvm(path)).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND', message: expect.stringContaining(path) });
    });
  });
});
