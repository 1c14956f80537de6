import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { RingError } from '../errors.js';

/**
 * Line sources shared by every reader: one splitter, fed either synchronously (readSync on a
 * fixed buffer) or asynchronously (a read stream). Files are never held as one big string.
 *
 * Lines end at '\n'; a '\r' just before it is dropped (CRLF files). A UTF-8 BOM at the start of
 * the file is dropped. Line numbers are 1-based.
 */
export type OnLine = (line: string, lineNo: number) => void;

const CHUNK_BYTES = 1 << 20;

/** Splits decoded text chunks into lines; keeps the unfinished tail between chunks. */
export class LineSplitter {
  private tail = '';
  private lineNo = 0;
  private first = true;

  constructor(private readonly onLine: OnLine) {}

  push(chunk: string): void {
    if (this.first && chunk.length > 0) {
      this.first = false;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    let start = 0;
    let nl = chunk.indexOf('\n');
    if (nl < 0) {
      this.tail += chunk;
      return;
    }
    if (this.tail.length > 0) {
      this.emit(this.tail + chunk.slice(0, nl));
      this.tail = '';
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    while (nl >= 0) {
      this.emit(chunk.slice(start, nl));
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    this.tail = chunk.slice(start);
  }

  /** Flushes a last line without a trailing newline. Returns the number of lines seen. */
  end(): number {
    if (this.tail.length > 0) this.emit(this.tail);
    this.tail = '';
    return this.lineNo;
  }

  private emit(line: string): void {
    this.lineNo++;
    const n = line.length;
    this.onLine(n > 0 && line.charCodeAt(n - 1) === 13 ? line.slice(0, n - 1) : line, this.lineNo);
  }
}

function fsError(e: unknown, path: string): RingError {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT') return new RingError('E_FILE_NOT_FOUND', `data file not found: ${path}`);
  if (code === 'EISDIR') return new RingError('E_DATA', `${path}: is a directory, expected a data file`);
  const msg = e instanceof Error ? e.message : String(e);
  return new RingError('E_DATA', `${path}: cannot read data file (${msg})`);
}

/** Throws E_FILE_NOT_FOUND / E_DATA early with a clear message. */
export function checkReadableFile(path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw fsError(e, path);
  }
  if (st.isDirectory()) throw fsError(Object.assign(new Error('EISDIR'), { code: 'EISDIR' }), path);
}

/** Reads `path` line by line synchronously in 1 MiB chunks. Returns the number of lines. */
export function readLinesSync(path: string, onLine: OnLine): number {
  checkReadableFile(path);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw fsError(e, path);
  }
  try {
    const buf = Buffer.allocUnsafe(CHUNK_BYTES);
    const dec = new StringDecoder('utf8');
    const split = new LineSplitter(onLine);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        throw fsError(e, path);
      }
      if (n === 0) break;
      split.push(dec.write(buf.subarray(0, n)));
    }
    split.push(dec.end());
    return split.end();
  } finally {
    closeSync(fd);
  }
}

/** Reads `path` line by line from a read stream. Resolves to the number of lines. */
export async function readLines(path: string, onLine: OnLine): Promise<number> {
  checkReadableFile(path);
  const dec = new StringDecoder('utf8');
  const split = new LineSplitter(onLine);
  const stream = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  try {
    for await (const chunk of stream) split.push(dec.write(chunk as Buffer));
  } catch (e) {
    stream.destroy();
    if (e instanceof RingError) throw e;
    throw fsError(e, path);
  }
  split.push(dec.end());
  return split.end();
}

/** Splits an in-memory string with the same rules (for parse* functions and tests). */
export function forEachLine(text: string, onLine: OnLine): number {
  const split = new LineSplitter(onLine);
  split.push(text);
  return split.end();
}

/** The first line of a file (reads at most 64 KiB); '' for an empty file. */
export function readFirstLine(path: string): string {
  checkReadableFile(path);
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 16);
    const n = readSync(fd, buf, 0, buf.length, 0);
    let text = buf.subarray(0, n).toString('utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const nl = text.indexOf('\n');
    const line = nl >= 0 ? text.slice(0, nl) : text;
    return line.endsWith('\r') ? line.slice(0, -1) : line;
  } finally {
    closeSync(fd);
  }
}
