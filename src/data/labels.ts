import { RingError } from '../errors.js';

/** Decimal number syntax accepted in data files: [+-]digits[.digits][e[+-]digits], at least one
 * digit before the exponent; no hex, no Infinity/NaN, no empty string. */
/** Parses a decimal number token; NaN when the token is not one. */
export function parseDecimal(tok: string): number {
  return parseDecimalAt(tok, 0, tok.length);
}

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

/**
 * parseDecimal of s[start, end) without taking a substring in the common case. Same result as
 * Number(): with at most 15 significant digits and a decimal exponent within ±22, both the digits
 * and the power of ten are exact doubles, so one multiplication or division is correctly rounded
 * (Clinger's fast path). Anything else goes through Number() on the substring.
 */
export function parseDecimalAt(s: string, start: number, end: number): number {
  let i = start;
  let neg = false;
  if (i < end) {
    const c = s.charCodeAt(i);
    if (c === 45 || c === 43) {
      neg = c === 45;
      i++;
    }
  }
  let mant = 0;
  let digits = 0; // significant digits accumulated (leading zeros skipped)
  let any = false;
  let scale = 0; // decimal exponent adjustment from the fraction
  let exact = true;
  for (; i < end; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    any = true;
    if (mant !== 0 || d !== 0) {
      if (++digits > 15) exact = false;
      else mant = mant * 10 + d;
      if (!exact) scale++;
    }
  }
  if (i < end && s.charCodeAt(i) === 46) {
    i++;
    for (; i < end; i++) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      any = true;
      if (mant !== 0 || d !== 0) {
        if (++digits > 15) exact = false;
        else {
          mant = mant * 10 + d;
          scale--;
        }
      } else scale--;
    }
  }
  if (!any) return NaN;
  if (i < end && (s.charCodeAt(i) | 32) === 101) {
    i++;
    let eneg = false;
    if (i < end && (s.charCodeAt(i) === 45 || s.charCodeAt(i) === 43)) {
      eneg = s.charCodeAt(i) === 45;
      i++;
    }
    let e = 0;
    const e0 = i;
    for (; i < end; i++) {
      const d = s.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      if (e < 1e6) e = e * 10 + d;
    }
    if (i === e0) return NaN;
    scale += eneg ? -e : e;
  }
  if (i !== end) return NaN;
  if (exact && scale >= -22 && scale <= 22) {
    const v = scale >= 0 ? mant * POW10[scale] : mant / POW10[-scale];
    return neg ? -v : v;
  }
  return Number(s.slice(start, end));
}

/**
 * Binary labels as files write them: `+1`/`1`/`1.0` → 1, `-1`/`-1.0` → 0, `0`/`0.0` → 0.
 * One file must use one convention: a file that has both a `0` and a `-1` label is probably a
 * multi-class or regression file, so that is an error naming the line.
 */
export class LabelParser {
  private zeroLine = 0;
  private minusLine = 0;

  constructor(private readonly source: string) {}

  parse(tok: string, lineNo: number): 0 | 1 {
    const v = parseDecimal(tok);
    if (v === 1) return 1;
    if (v === -1) {
      if (this.minusLine === 0) this.minusLine = lineNo;
      if (this.zeroLine !== 0) this.mixed(lineNo);
      return 0;
    }
    if (v === 0) {
      if (this.zeroLine === 0) this.zeroLine = lineNo;
      if (this.minusLine !== 0) this.mixed(lineNo);
      return 0;
    }
    throw new RingError(
      'E_DATA_PARSE',
      `${this.source}:${lineNo}: label must be -1/+1 or 0/1, got '${tok}' (multi-class and regression files are not supported)`,
    );
  }

  private mixed(lineNo: number): never {
    const first = this.zeroLine < this.minusLine ? `0 on line ${this.zeroLine}` : `-1 on line ${this.minusLine}`;
    throw new RingError(
      'E_DATA_PARSE',
      `${this.source}:${lineNo}: labels mix the 0/1 and -1/+1 conventions (first ${first}); use one of them`,
    );
  }
}
