import { RingError } from '../errors.js';
import { forEachLine } from './lines.js';

/**
 * A small RFC 4180 reader fed line by line (so it runs over the shared streaming line sources).
 *
 * - Fields are separated by `delimiter` (',' or '\t'); records end at a newline outside quotes.
 * - A field that starts with '"' is quoted: it runs to the next lone '"'; '""' inside it is one '"';
 *   delimiters and newlines inside it are data. Newlines inside quotes come out as '\n' (a CRLF
 *   inside a quoted field becomes '\n' because the line source strips the '\r').
 * - Strict where silence would corrupt data: a '"' inside an unquoted field, text between a closing
 *   quote and the next delimiter, and a quote still open at end of file are errors naming the line.
 * - Blank lines outside quotes are skipped.
 */
export type OnRecord = (fields: string[], startLine: number, endLine: number) => void;

export class CsvRecordReader {
  private fields: string[] = [];
  private field = '';
  /** Inside a quoted field that continues on the next line. */
  private inQuotes = false;
  /** A closing quote has been consumed; the field is complete but not yet pushed. */
  private afterQuote = false;
  private startLine = 0;
  private quoteLine = 0;

  constructor(
    private readonly source: string,
    private readonly delimiter: string,
    private readonly onRecord: OnRecord,
  ) {
    if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
      throw new RingError('E_DATA', `CSV delimiter must be one character other than '"' and newline, got ${JSON.stringify(delimiter)}`);
    }
  }

  readonly line = (text: string, lineNo: number): void => {
    const n = text.length;
    const d = this.delimiter;
    let i = 0;
    if (this.inQuotes) {
      this.field += '\n';
      i = this.quoted(text, 0);
      if (this.inQuotes) return;
    } else {
      if (n === 0) return;
      this.startLine = lineNo;
    }
    for (;;) {
      if (this.afterQuote) {
        // Just past a closing quote: only a delimiter or the line end may follow.
        this.afterQuote = false;
        this.fields.push(this.field);
        this.field = '';
        if (i === n) break;
        if (text[i] !== d) {
          throw this.err(lineNo, `unexpected '${text[i]}' after a closing quote (a quoted field must end at a delimiter or line end; write "" for a literal quote)`);
        }
        i++;
        // fall through: i starts the next field
      }
      if (i < n && text.charCodeAt(i) === 34) {
        this.quoteLine = lineNo;
        i = this.quoted(text, i + 1);
        if (this.inQuotes) return; // the field continues on the next line
        continue;
      }
      const next = text.indexOf(d, i);
      const end = next < 0 ? n : next;
      const q = text.indexOf('"', i);
      if (q >= 0 && q < end) {
        throw this.err(lineNo, `'"' inside an unquoted field (quote the whole field and double inner quotes: "a ""b"" c")`);
      }
      this.fields.push(text.slice(i, end));
      if (next < 0) break;
      i = next + 1; // a delimiter at the line end leaves one more (empty) field for the next pass
    }
    this.emit(lineNo);
  };

  /** Scans quoted content from `i` into `field`; returns the index after the closing quote. */
  private quoted(text: string, i: number): number {
    const n = text.length;
    for (;;) {
      const q = text.indexOf('"', i);
      if (q < 0) {
        this.field += text.slice(i);
        this.inQuotes = true;
        return n;
      }
      this.field += text.slice(i, q);
      if (q + 1 < n && text.charCodeAt(q + 1) === 34) {
        this.field += '"';
        i = q + 2;
        continue;
      }
      this.inQuotes = false;
      this.afterQuote = true;
      return q + 1;
    }
  }

  private emit(lineNo: number): void {
    const rec = this.fields;
    this.fields = [];
    this.field = '';
    this.onRecord(rec, this.startLine, lineNo);
  }

  /** Call after the last line: a quote still open is an error. */
  end(): void {
    if (this.inQuotes) {
      throw this.err(this.quoteLine, `quoted field never closed (opened on this line, still open at end of file)`);
    }
  }

  private err(lineNo: number, what: string): RingError {
    return new RingError('E_DATA_PARSE', `${this.source}:${lineNo}: ${what}`);
  }
}

/** Parses CSV/TSV text held in memory into records (for tests and small inputs). */
export function parseCsv(text: string, source = '<csv>', delimiter = ','): string[][] {
  const out: string[][] = [];
  const r = new CsvRecordReader(source, delimiter, (f) => out.push(f));
  forEachLine(text, r.line);
  r.end();
  return out;
}
