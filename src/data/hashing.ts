import { RingError } from '../errors.js';
import type { CsrBuilder } from './csr.js';

/**
 * Feature hashing shared by the Criteo, text and SpamAssassin readers.
 *
 * Hash: MurmurHash3 x86_32 (Appleby) over the UTF-8 bytes of the string, seed HASH_SEED.
 * Stable across platforms and Node versions (it is written here, not taken from V8), so every peer
 * maps the same token to the same bucket. Bucket = hash & (2^bits - 1): murmur3's low bits mix well.
 */
export const HASH_SEED = 0x5eed2024;

/** Default number of hash bits per format (2^bits buckets). */
export const DEFAULT_HASH_BITS = 20;
export const MIN_HASH_BITS = 1;
/** 2^28 Float32 weights are already 1 GiB per peer. */
export const MAX_HASH_BITS = 28;

export function checkHashBits(bits: number, what = 'hashBits'): number {
  if (!Number.isInteger(bits) || bits < MIN_HASH_BITS || bits > MAX_HASH_BITS) {
    throw new RingError('E_DATA', `${what} must be an integer in [${MIN_HASH_BITS}, ${MAX_HASH_BITS}], got ${bits}`);
  }
  return bits;
}

/** Dimension for a hashed format: 2^bits, or an explicit dim that covers every bucket. */
export function hashedDim(bits: number, dim: number | undefined): number {
  const buckets = 2 ** bits;
  if (dim === undefined) return buckets;
  if (!Number.isInteger(dim) || dim < buckets) {
    throw new RingError('E_DATA', `dim ${dim} is smaller than the 2^${bits} = ${buckets} hash buckets; raise dim or lower hashBits`);
  }
  return dim;
}

/** Rows up to 2^21 entries merge by sorting packed keys; longer ones (never seen in practice) via a Map. */
const POS_LIMIT = 2 ** 21;

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** murmur3_32 building blocks, shared with the seeded PRNGs in codec/ and optim/. */
export function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

export function mixH(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number, k: number, nk: number, len: number): number {
  if (nk > 0) h ^= mixK(k);
  return fmix32(h ^ len);
}

/** murmur3's finalizer: full avalanche of a 32-bit state. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * MurmurHash3 x86_32 of the UTF-8 encoding of `s` (lone surrogates encode as U+FFFD, like
 * TextEncoder). Returns an unsigned 32-bit integer. No allocation: bytes are produced on the fly.
 */
export function murmur3(s: string, seed: number = HASH_SEED): number {
  let h = seed | 0;
  let k = 0; // pending bytes, little-endian
  let nk = 0; // number of pending bytes (0..3)
  let len = 0;
  const put = (byte: number): void => {
    k |= byte << (nk << 3);
    if (++nk === 4) {
      h = mixH(h, k);
      k = 0;
      nk = 0;
    }
    len++;
  };
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      put(c);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      } else {
        c = 0xfffd;
      }
    }
    if (c < 0x800) {
      put(0xc0 | (c >> 6));
      put(0x80 | (c & 63));
    } else if (c < 0x10000) {
      put(0xe0 | (c >> 12));
      put(0x80 | ((c >> 6) & 63));
      put(0x80 | (c & 63));
    } else {
      put(0xf0 | (c >> 18));
      put(0x80 | ((c >> 12) & 63));
      put(0x80 | ((c >> 6) & 63));
      put(0x80 | (c & 63));
    }
  }
  return finish(h, k, nk, len);
}

/** Bucket of a feature name in 2^bits buckets. */
export function bucketOf(name: string, bits: number): number {
  return bits >= 32 ? murmur3(name) : (murmur3(name) & ((1 << bits) - 1)) >>> 0;
}

// Token characters: letters and digits, i.e. Unicode \p{L} and \p{N}. Classes of BMP characters are
// cached in a 64 KiB table (0 = not yet known, 1 = word, 2 = other); ASCII is filled up front.
const CHAR_CLASS = new Uint8Array(65536);
for (let c = 0; c < 128; c++) CHAR_CLASS[c] = 2;
for (let c = 48; c <= 57; c++) CHAR_CLASS[c] = 1;
for (let c = 65; c <= 90; c++) CHAR_CLASS[c] = 1;
for (let c = 97; c <= 122; c++) CHAR_CLASS[c] = 1;
const UNICODE_WORD = /^[\p{L}\p{N}]$/u;

/** Code units taken by the word character at s[i] (1, or 2 for a surrogate pair), 0 if none. */
function wordWidthAt(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
    const d = s.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) return UNICODE_WORD.test(s.slice(i, i + 2)) ? 2 : 0;
  }
  let k = CHAR_CLASS[c];
  if (k === 0) {
    k = UNICODE_WORD.test(String.fromCharCode(c)) ? 1 : 2; // lone surrogates are not words
    CHAR_CLASS[c] = k;
  }
  return k === 1 ? 1 : 0;
}

/** Tokens longer than this many UTF-16 code units are skipped (base64 blobs, long hex ids). */
export const MAX_TOKEN_LENGTH = 40;

/**
 * Calls `onToken(start, end)` for each token of `text`: a maximal run of letters/digits.
 * addTokenCounts inlines the same scan for speed; a seeded test checks that the two agree.
 */
function scanTokens(text: string, onToken: (start: number, end: number) => void, maxLength: number): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    const w = c < 128 ? (CHAR_CLASS[c] === 1 ? 1 : 0) : wordWidthAt(text, i);
    if (w === 0) {
      i++;
      continue;
    }
    const start = i;
    i += w;
    while (i < n) {
      const d = text.charCodeAt(i);
      const v = d < 128 ? (CHAR_CLASS[d] === 1 ? 1 : 0) : wordWidthAt(text, i);
      if (v === 0) break;
      i += v;
    }
    if (i - start <= maxLength) onToken(start, i);
  }
}

/**
 * Calls `onToken` for each token of `text`: maximal runs of letters/digits (Unicode \p{L}\p{N}),
 * lowercased (String#toLowerCase). Everything else separates tokens. Tokens longer than
 * `maxLength` code units are skipped: base64 blobs and long ids carry no reusable signal.
 */
export function forEachToken(text: string, onToken: (token: string) => void, maxLength = MAX_TOKEN_LENGTH): void {
  scanTokens(text, (a, b) => onToken(text.slice(a, b).toLowerCase()), maxLength);
}

/** The tokens as an array (for tests and tools; readers hash without materializing them). */
export function tokenize(text: string, maxLength = MAX_TOKEN_LENGTH): string[] {
  const out: string[] = [];
  forEachToken(text, (t) => out.push(t), maxLength);
  return out;
}

/**
 * Adds the tokens of `text` to `row` with value 1 per occurrence, in bucket
 * bucketOf(prefix + token, bits). Same result as forEachToken + bucketOf, but ASCII tokens are
 * lowercased and hashed straight from the text's char codes (no substring, no toLowerCase): this is
 * the hot loop of the text and spam readers.
 */
export function addTokenCounts(row: HashedRow, text: string, bits: number, prefix = '', maxLength = MAX_TOKEN_LENGTH): void {
  const mask = bits >= 32 ? 0xffffffff : (1 << bits) - 1;
  // Hash state after the prefix bytes; every token continues from it.
  let ph = HASH_SEED | 0;
  let pk = 0;
  let pnk = 0;
  let plen = 0;
  let prefixAscii = true;
  for (let i = 0; i < prefix.length; i++) {
    const c = prefix.charCodeAt(i);
    if (c >= 128) {
      prefixAscii = false;
      break;
    }
    pk |= c << (pnk << 3);
    if (++pnk === 4) {
      ph = mixH(ph, pk);
      pk = 0;
      pnk = 0;
    }
    plen++;
  }
  const n = text.length;
  let i = 0;
  while (i < n) {
    let c = text.charCodeAt(i);
    const w = c < 128 ? (CHAR_CLASS[c] === 1 ? 1 : 0) : wordWidthAt(text, i);
    if (w === 0) {
      i++;
      continue;
    }
    const start = i;
    let h = ph;
    let k = pk;
    let nk = pnk;
    let len = plen;
    let ascii = prefixAscii;
    while (i < n) {
      c = text.charCodeAt(i);
      if (c < 128) {
        if (CHAR_CLASS[c] !== 1) break;
        if (c <= 90 && c >= 65) c |= 32; // ASCII lowercase
        k |= c << (nk << 3);
        if (++nk === 4) {
          h = mixH(h, k);
          k = 0;
          nk = 0;
        }
        len++;
        i++;
      } else {
        const v = wordWidthAt(text, i);
        if (v === 0) break;
        ascii = false;
        i += v;
      }
    }
    if (i - start > maxLength) continue;
    const hash = ascii ? finish(h, k, nk, len) : murmur3(prefix + text.slice(start, i).toLowerCase());
    row.add((hash & mask) >>> 0, 1);
  }
}

/**
 * Collects (bucket, value) pairs for one row and writes them to a CsrBuilder ascending and
 * deduplicated (values of equal buckets are summed). Reused across rows: no per-row allocation
 * once the buffers have grown.
 */
export class HashedRow {
  private idx = new Uint32Array(64);
  private val = new Float64Array(64);
  private n = 0;
  private keys = new Float64Array(0);
  private vals = new Float64Array(0);

  get size(): number {
    return this.n;
  }

  add(bucket: number, value: number): void {
    if (this.n === this.idx.length) {
      const idx = new Uint32Array(this.n * 2);
      idx.set(this.idx);
      this.idx = idx;
      const val = new Float64Array(this.n * 2);
      val.set(this.val);
      this.val = val;
    }
    this.idx[this.n] = bucket;
    this.val[this.n] = value;
    this.n++;
  }

  /**
   * Sorts and merges the pending pairs in place, then applies `weight` to each summed value,
   * optionally L2-normalizes, drops zeros, and pushes the row's features to `b` (endRow is the
   * caller's). Returns the number of features pushed.
   */
  flushTo(b: CsrBuilder, opts: { weight?: (sum: number) => number; l2normalize?: boolean } = {}): number {
    const m = this.merge();
    const { idx, val } = this;
    const weight = opts.weight;
    let norm2 = 0;
    for (let p = 0; p < m; p++) {
      const v = weight ? weight(val[p]) : val[p];
      val[p] = v;
      norm2 += v * v;
    }
    const scale = opts.l2normalize && norm2 > 0 ? 1 / Math.sqrt(norm2) : 1;
    let pushed = 0;
    for (let p = 0; p < m; p++) {
      const v = val[p] * scale;
      if (v !== 0) {
        b.push(idx[p], v);
        pushed++;
      }
    }
    this.n = 0;
    return pushed;
  }

  /** Leaves the first m slots ascending and unique; returns m. */
  private merge(): number {
    const { idx, val } = this;
    const n = this.n;
    if (n <= 48) {
      // Insertion sort on the pairs: rows of hashed categoricals are short (Criteo: <= 39).
      for (let i = 1; i < n; i++) {
        const ki = idx[i];
        const vi = val[i];
        let j = i - 1;
        while (j >= 0 && idx[j] > ki) {
          idx[j + 1] = idx[j];
          val[j + 1] = val[j];
          j--;
        }
        idx[j + 1] = ki;
        val[j + 1] = vi;
      }
      let m = 0;
      for (let i = 0; i < n; i++) {
        if (m > 0 && idx[m - 1] === idx[i]) val[m - 1] += val[i];
        else {
          idx[m] = idx[i];
          val[m] = val[i];
          m++;
        }
      }
      return m;
    }
    // Long rows (text): sort keys bucket·2^21 + position with the native Float64Array sort (exact:
    // bucket < 2^32, position < 2^21, so keys < 2^53), then sum runs of equal buckets.
    if (n >= POS_LIMIT) return this.mergeWithMap();
    if (this.keys.length < n) {
      this.keys = new Float64Array(Math.max(n, this.keys.length * 2));
      this.vals = new Float64Array(this.keys.length);
    }
    const keys = this.keys.subarray(0, n);
    for (let i = 0; i < n; i++) keys[i] = idx[i] * POS_LIMIT + i;
    keys.sort();
    const vals = this.vals;
    vals.set(val.subarray(0, n));
    let m = 0;
    let last = -1;
    for (let i = 0; i < n; i++) {
      const key = keys[i];
      const bucket = Math.floor(key / POS_LIMIT);
      const v = vals[key - bucket * POS_LIMIT];
      if (bucket === last) val[m - 1] += v;
      else {
        idx[m] = bucket;
        val[m] = v;
        m++;
        last = bucket;
      }
    }
    return m;
  }

  private mergeWithMap(): number {
    const { idx, val } = this;
    const n = this.n;
    const sums = new Map<number, number>();
    for (let i = 0; i < n; i++) sums.set(idx[i], (sums.get(idx[i]) ?? 0) + val[i]);
    let m = 0;
    for (const key of sums.keys()) idx[m++] = key;
    idx.subarray(0, m).sort();
    for (let i = 0; i < m; i++) val[i] = sums.get(idx[i]) as number;
    return m;
  }
}

/** Sublinear term weight used by the text and spam readers: log(1 + count). */
export const sublinearTf = (count: number): number => Math.log1p(count);
