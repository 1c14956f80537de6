import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CsrDataset } from '../../src/data/csr.js';
import { parseCsv } from '../../src/data/csv.js';
import { bucketOf, tokenize } from '../../src/data/hashing.js';
import { datasetDigest } from '../../src/data/shard.js';
import { seededRandom } from '../../src/data/split.js';
import { loadTextCsv, parseTextCsv, readTextCsv } from '../../src/data/text.js';

const dir = mkdtempSync(join(tmpdir(), 'ringtrain-text-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('CSV parser', () => {
  const cases: Array<[string, string[][]]> = [
    ['a,b,c\n1,2,3\n', [['a', 'b', 'c'], ['1', '2', '3']]],
    ['a,"b,c",d\r\n', [['a', 'b,c', 'd']]],
    ['"say ""hi""",z\n', [['say "hi"', 'z']]],
    ['"multi\nline",2\n3,4', [['multi\nline', '2'], ['3', '4']]],
    ['"crlf\r\ninside",2\r\n', [['crlf\ninside', '2']]],
    ['"a\n\nb",1\n', [['a\n\nb', '1']]],
    ['a,\n,b\n,\n', [['a', ''], ['', 'b'], ['', '']]],
    ['"",""\n', [['', '']]],
    ['x,"",y', [['x', '', 'y']]],
    ['\n\nq\n\n', [['q']]],
    ['"ends with quote """\n', [['ends with quote "']]],
    ['"a,""b""\nc",d\n', [['a,"b"\nc', 'd']]],
  ];
  it.each(cases)('%j', (text, want) => {
    expect(parseCsv(text)).toEqual(want);
  });

  it('TSV with quotes', () => {
    expect(parseCsv('a\t"b\tc"\n', 'f.tsv', '\t')).toEqual([['a', 'b\tc']]);
  });

  it('round-trips random fields through a reference writer (seeded)', () => {
    const rand = seededRandom(3);
    const alphabet = ['a', 'b', ',', '"', '\n', ' ', 'é', '\t'];
    const quote = (f: string) => (/[",\n]/.test(f) || f === '' ? `"${f.replace(/"/g, '""')}"` : f);
    for (let trial = 0; trial < 200; trial++) {
      const cols = 1 + Math.floor(rand() * 4);
      const records: string[][] = [];
      for (let r = 0; r < 1 + Math.floor(rand() * 5); r++) {
        const rec: string[] = [];
        for (let c = 0; c < cols; c++) {
          let f = '';
          for (let k = Math.floor(rand() * 8); k > 0; k--) f += alphabet[Math.floor(rand() * alphabet.length)];
          rec.push(f);
        }
        records.push(rec);
      }
      const text = records.map((rec) => rec.map(quote).join(',')).join(rand() < 0.5 ? '\n' : '\r\n');
      const got = parseCsv(text);
      // A CRLF written inside a quoted field comes back as LF (documented).
      expect(got).toEqual(records);
    }
  });

  const errors: Array<[string, string, RegExp]> = [
    ['quote inside unquoted field', 'a,b\n1,x"y\n', /^f\.csv:2: '"' inside an unquoted field/],
    ['text after closing quote', 'a,b\n"x"y,2\n', /^f\.csv:2: unexpected 'y' after a closing quote/],
    ['unterminated quote (line where it opened)', 'a,b\n1,2\n3,"open\nmore\nstill\n', /^f\.csv:3: quoted field never closed/],
    ['error after a multi-line field names the physical line', 'a,b\n"x\ny"z,1\n', /^f\.csv:3: unexpected 'z'/],
  ];
  it.each(errors)('error names the line: %s', (_, text, re) => {
    expect(() => parseCsv(text, 'f.csv')).toThrow(re);
  });
});

function rowMap(ds: CsrDataset, i: number): Map<number, number> {
  const m = new Map<number, number>();
  for (let p = ds.indptr[i]; p < ds.indptr[i + 1]; p++) m.set(ds.indices[p], ds.values[p]);
  return m;
}

/** Reference weighting: counts per bucket → log(1+c) → unit L2 norm. */
function expectedRow(text: string, bits: number): Map<number, number> {
  const counts = new Map<number, number>();
  for (const t of tokenize(text)) {
    const b = bucketOf(t, bits);
    counts.set(b, (counts.get(b) ?? 0) + 1);
  }
  const w = new Map([...counts].map(([b, c]) => [b, Math.log1p(c)]));
  const norm = Math.hypot(...w.values());
  return new Map([...w].map(([b, v]) => [b, v / norm]));
}

describe('text CSV reader', () => {
  const csv = 'id,label,text\n1,1,"FREE money, FREE prizes!!"\n2,0,"Meeting at 10am\nsee you"\n3,0,\n4,1,Win win win WIN\n';

  it('hashes lowercase tokens with log(1+count) and unit L2 norm', () => {
    const ds = parseTextCsv(csv, 'mem.csv', { hashBits: 16 });
    expect(ds.rows).toBe(4);
    expect(ds.dim).toBe(65536);
    expect(Array.from(ds.labels)).toEqual([1, 0, 0, 1]);
    const texts = ['FREE money, FREE prizes!!', 'Meeting at 10am\nsee you', '', 'Win win win WIN'];
    texts.forEach((t, i) => {
      const got = rowMap(ds, i);
      const want = expectedRow(t, 16);
      expect([...got.keys()]).toEqual([...want.keys()].sort((a, b) => a - b));
      for (const [b, v] of want) expect(got.get(b)).toBeCloseTo(v, 6);
    });
    expect(rowMap(ds, 3).size).toBe(1);
    expect(rowMap(ds, 3).get(bucketOf('win', 16))).toBeCloseTo(1, 6);
  });

  it('column names, delimiter by extension, string labels', async () => {
    const tsv = 'body\tclass\n"a ""quoted"" word"\tspam\nplain text\tham\n';
    const path = join(dir, 'mail.tsv');
    writeFileSync(path, tsv);
    const opts = { hashBits: 10, labelColumn: 'class', textColumn: 'body', positiveLabel: 'spam', negativeLabel: 'ham' };
    const a = readTextCsv(path, opts);
    const b = await loadTextCsv(path, opts);
    expect(Array.from(a.labels)).toEqual([1, 0]);
    expect(datasetDigest(b)).toBe(datasetDigest(a));
    expect(rowMap(a, 0).has(bucketOf('quoted', 10))).toBe(true);
    writeFileSync(path, `${tsv}x\teggs\n`);
    expect(() => readTextCsv(path, opts)).toThrow(`${path}:4: label must be 'spam' or 'ham', got 'eggs'`);
  });

  it('sync, streaming and in-memory readers agree', async () => {
    const path = join(dir, 'ok.csv');
    writeFileSync(path, csv.replace(/\n/g, '\r\n'));
    const a = readTextCsv(path, { hashBits: 12 });
    const b = await loadTextCsv(path, { hashBits: 12 });
    const c = parseTextCsv(csv, path, { hashBits: 12 });
    expect(datasetDigest(a)).toBe(datasetDigest(c));
    expect(datasetDigest(b)).toBe(datasetDigest(c));
  });

  const malformed: Array<[string, string, RegExp]> = [
    ['missing label column', 'lbl,text\n1,hi\n', /:1: no label column 'label' in the header \(columns: 'lbl', 'text'\)/],
    ['missing text column', 'label,body\n1,hi\n', /:1: no text column 'text'/],
    ['wrong field count', 'label,text\n1,ok\n0,too,many\n', /:3: expected 2 fields as in the header, got 3/],
    ['wrong field count after a multi-line record', 'label,text\n1,"two\nlines"\n0\n', /:4: expected 2 fields/],
    ['bad numeric label', 'label,text\n1,a\n0,b\nyes,c\n', /:4: label must be -1\/\+1 or 0\/1, got 'yes'/],
    ['stray quote', 'label,text\n1,say "hi"\n', /:2: '"' inside an unquoted field/],
    ['unterminated quote', 'label,text\n1,ok\n0,"never closed\n1,x\n', /:3: quoted field never closed/],
  ];
  it.each(malformed)('error names the file and line: %s', async (_, text, re) => {
    const path = join(dir, 'bad.csv');
    writeFileSync(path, text);
    expect(() => readTextCsv(path)).toThrow(re);
    await expect(loadTextCsv(path)).rejects.toMatchObject({ code: 'E_DATA_PARSE', message: expect.stringMatching(re) });
    expect(() => readTextCsv(path)).toThrow(path + ':');
  });

  it('header only or empty file is E_DATA', () => {
    expect(() => parseTextCsv('label,text\n', 'h.csv')).toThrow(expect.objectContaining({ code: 'E_DATA' }));
    expect(() => parseTextCsv('', 'e.csv')).toThrow(/empty file/);
  });
});
