import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { forEachLine, LineSplitter, readFirstLine, readLines, readLinesSync } from '../../src/data/lines.js';

const dir = mkdtempSync(join(tmpdir(), 'ringtrain-lines-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function collect(feed: (on: (l: string, n: number) => void) => void): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  feed((l, n) => out.push([l, n]));
  return out;
}

describe('LineSplitter', () => {
  const text = '\ufeffa b\r\n\r\nc\nlast\r\nend';
  const want: Array<[string, number]> = [
    ['a b', 1],
    ['', 2],
    ['c', 3],
    ['last', 4],
    ['end', 5],
  ];

  it('splits LF/CRLF, drops a BOM, numbers lines from 1, keeps a last line without newline', () => {
    expect(collect((on) => forEachLine(text, on))).toEqual(want);
  });

  it('gives the same lines whatever the chunk boundaries (incl. between \\r and \\n)', () => {
    for (let cut1 = 0; cut1 <= text.length; cut1++) {
      for (let cut2 = cut1; cut2 <= text.length; cut2 += 3) {
        const got = collect((on) => {
          const s = new LineSplitter(on);
          s.push(text.slice(0, cut1));
          s.push(text.slice(cut1, cut2));
          s.push(text.slice(cut2));
          s.end();
        });
        expect(got).toEqual(want);
      }
    }
  });
});

describe('file line sources', () => {
  it('sync and streaming readers agree on a multi-chunk file with multi-byte chars on chunk edges', async () => {
    // > 2 MiB so both readers cross chunk boundaries; 3-byte chars make boundaries fall mid-char.
    const lines: string[] = [];
    let size = 0;
    for (let i = 0; size < 2.5 * 1024 * 1024; i++) {
      const l = `${i} 東京€ ${'é'.repeat(i % 17)}`;
      lines.push(l);
      size += Buffer.byteLength(l) + 2;
    }
    const path = join(dir, 'big.txt');
    writeFileSync(path, lines.join('\r\n'));
    const a: string[] = [];
    const b: string[] = [];
    const n1 = readLinesSync(path, (l) => a.push(l));
    const n2 = await readLines(path, (l) => b.push(l));
    expect(n1).toBe(lines.length);
    expect(n2).toBe(lines.length);
    expect(a).toEqual(lines);
    expect(b).toEqual(lines);
  });

  it('reports missing files and directories with codes', async () => {
    const missing = join(dir, 'nope.txt');
    expect(() => readLinesSync(missing, () => {})).toThrow(expect.objectContaining({ code: 'E_FILE_NOT_FOUND' }));
    await expect(readLines(missing, () => {})).rejects.toMatchObject({ code: 'E_FILE_NOT_FOUND' });
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    expect(() => readLinesSync(sub, () => {})).toThrow(expect.objectContaining({ code: 'E_DATA' }));
  });

  it('propagates an error thrown by the line consumer and stops', async () => {
    const path = join(dir, 'three.txt');
    writeFileSync(path, 'a\nb\nc\n');
    const seen: number[] = [];
    const consumer = (_: string, n: number): void => {
      seen.push(n);
      if (n === 2) throw new Error('stop at 2');
    };
    await expect(readLines(path, consumer)).rejects.toThrow('stop at 2');
    expect(seen).toEqual([1, 2]);
  });

  it('readFirstLine', () => {
    const path = join(dir, 'first.tsv');
    writeFileSync(path, '\ufefflabel\ttext\r\n1\thi\n');
    expect(readFirstLine(path)).toBe('label\ttext');
    writeFileSync(path, '');
    expect(readFirstLine(path)).toBe('');
  });
});
