import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectFormat, loadDataset } from '../../src/data/index.js';
import { readLibsvm } from '../../src/data/libsvm.js';
import { datasetDigest } from '../../src/data/shard.js';
import { dataFile } from '../helpers/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'ringtrain-index-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const criteoLine = ['1', '5', ...Array(12).fill(''), 'abc', ...Array(25).fill('')].join('\t');

describe('loadDataset', () => {
  it('detects the format from the extension (and a .tsv header)', () => {
    const csv = join(dir, 'a.csv');
    const criteo = join(dir, 'day0.tsv');
    const textTsv = join(dir, 'texts.tsv');
    writeFileSync(csv, 'label,text\n1,hello\n');
    writeFileSync(criteo, criteoLine + '\n');
    writeFileSync(textTsv, 'label\ttext\n1\thello\n');
    expect(detectFormat(csv)).toBe('text');
    expect(detectFormat(criteo)).toBe('criteo');
    expect(detectFormat(textTsv)).toBe('text');
    expect(detectFormat(dataFile('a9a'))).toBe('libsvm');
    expect(detectFormat(dataFile('mushrooms.train'))).toBe('libsvm');
  });

  it('loads each format', async () => {
    const a9a = await loadDataset({ path: dataFile('a9a') });
    expect(datasetDigest(a9a)).toBe(datasetDigest(readLibsvm(dataFile('a9a'))));
    expect((await loadDataset({ path: dataFile('a9a.t'), dim: 123 })).dim).toBe(123);

    const criteo = join(dir, 'c.tsv');
    writeFileSync(criteo, `${criteoLine}\n${criteoLine}\n`);
    const c = await loadDataset({ path: criteo, hashBits: 10 });
    expect(c.rows).toBe(2);
    expect(c.dim).toBe(1024);
    expect(c.indptr[1]).toBe(2);

    const text = join(dir, 't.csv');
    writeFileSync(text, 'msg,y\n"hi there",0\n');
    const t = await loadDataset({ path: text, labelColumn: 'y', textColumn: 'msg', hashBits: 8 });
    expect(t.rows).toBe(1);
    expect(t.indptr[1]).toBe(2);

    // Explicit format wins over the extension.
    const svmAsTxt = join(dir, 'data.csv');
    writeFileSync(svmAsTxt, '+1 2:1\n');
    expect((await loadDataset({ path: svmAsTxt, format: 'libsvm' })).dim).toBe(2);
  });

  it('errors: missing file, unknown format, parse errors carry file:line', async () => {
    await expect(loadDataset({ path: join(dir, 'missing.svm') })).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
    await expect(loadDataset({ path: dataFile('a9a'), format: 'parquet' as 'libsvm' })).rejects.toThrow(/unknown data format 'parquet'/);
    const bad = join(dir, 'bad.svm');
    writeFileSync(bad, '+1 1:1\n+1 1:1 1:2\n');
    await expect(loadDataset({ path: bad })).rejects.toThrow(`${bad}:2:`);
  });
});
