import { describe, expect, it } from 'vitest';
import { CsrBuilder } from '../../src/data/csr.js';
import {
  addTokenCounts,
  bucketOf,
  checkHashBits,
  forEachToken,
  HASH_SEED,
  HashedRow,
  hashedDim,
  murmur3,
  tokenize,
} from '../../src/data/hashing.js';
import { seededRandom } from '../../src/data/split.js';

describe('murmur3 (x86_32 over UTF-8)', () => {
  // Published MurmurHash3_x86_32 test vectors.
  const vectors: Array<[string, number, number]> = [
    ['', 0, 0x00000000],
    ['', 1, 0x514e28b7],
    ['', 0xffffffff, 0x81f16f39],
    ['\0\0\0\0', 0, 0x2362f9de],
    ['aaaa', 0x9747b28c, 0x5a97808a],
    ['abc', 0, 0xb3dd93fa],
    ['Hello, world!', 0x9747b28c, 0x24884cba],
    ['The quick brown fox jumps over the lazy dog', 0x9747b28c, 0x2fa826cd],
    ['ππππππππ', 0x9747b28c, 0xd58063c1],
  ];
  it.each(vectors)('murmur3(%j, %i)', (s, seed, want) => {
    expect(murmur3(s, seed)).toBe(want);
  });

  it('hashes the UTF-8 bytes (astral characters and lone surrogates like TextEncoder)', () => {
    // A surrogate pair is one 4-byte code point; a lone surrogate encodes as U+FFFD (EF BF BD).
    expect(murmur3('\ud83d\ude00')).toBe(murmur3('😀'));
    expect(murmur3('a\ud800b')).toBe(murmur3('a\ufffdb'));
    expect(murmur3('x')).not.toBe(murmur3('y'));
  });

  it('uses a fixed documented default seed', () => {
    expect(HASH_SEED).toBe(0x5eed2024);
    expect(murmur3('token')).toBe(murmur3('token', HASH_SEED));
  });

  it('bucketOf stays in range and spreads evenly', () => {
    const bits = 8;
    const counts = new Uint32Array(1 << bits);
    let outOfRange = 0;
    for (let i = 0; i < 256 * 200; i++) {
      const b = bucketOf(`feature${i}`, bits);
      if (!(Number.isInteger(b) && b >= 0 && b < 256)) outOfRange++;
      else counts[b]++;
    }
    expect(outOfRange).toBe(0);
    // 200 expected per bucket; a broken mix would leave buckets empty or overfull.
    expect(Math.min(...counts)).toBeGreaterThan(130);
    expect(Math.max(...counts)).toBeLessThan(280);
  });

  it('validates hash bits and hashed dims', () => {
    expect(checkHashBits(20)).toBe(20);
    expect(() => checkHashBits(0)).toThrow(/hashBits/);
    expect(() => checkHashBits(29)).toThrow(/hashBits/);
    expect(() => checkHashBits(3.5)).toThrow(/hashBits/);
    expect(hashedDim(4, undefined)).toBe(16);
    expect(hashedDim(4, 20)).toBe(20);
    expect(() => hashedDim(4, 15)).toThrow(/smaller than/);
  });
});

describe('tokenizer', () => {
  it('splits on non letters/digits and lowercases', () => {
    expect(tokenize('Hello, World! FREE-money 4U x_y')).toEqual(['hello', 'world', 'free', 'money', '4u', 'x', 'y']);
    expect(tokenize('Ça va? ÉTÉ 東京 ١٢٣')).toEqual(['ça', 'va', 'été', '東京', '١٢٣']);
    expect(tokenize('')).toEqual([]);
    expect(tokenize('  ,,, ')).toEqual([]);
  });

  it('skips tokens longer than the limit', () => {
    expect(tokenize(`a ${'b'.repeat(41)} c ${'d'.repeat(40)}`)).toEqual(['a', 'c', 'd'.repeat(40)]);
    expect(tokenize('abcdef', 3)).toEqual([]);
  });

  it('keeps astral letters together and treats emoji as separators', () => {
    expect(tokenize('a😀b 𝐀x')).toEqual(['a', 'b', '𝐀x']);
  });

  // addTokenCounts hashes ASCII tokens straight from char codes; it must equal the plain definition.
  it('addTokenCounts equals forEachToken + bucketOf on random text (seeded)', () => {
    const rand = seededRandom(7);
    const alphabet = ['a', 'Z', 'q', '0', '9', ' ', ',', '\n', 'É', 'ß', 'İ', 'Σ', '東', '😀', '𝐀', '\ud800', '-', '_', 'x'];
    for (let trial = 0; trial < 300; trial++) {
      let s = '';
      const len = Math.floor(rand() * 60);
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
      for (const prefix of ['', 's:', 'préfixe:', 'abcd', 'abcde']) {
        const fast = new HashedRow();
        const slow = new HashedRow();
        addTokenCounts(fast, s, 12, prefix, 8);
        forEachToken(s, (t) => slow.add(bucketOf(prefix + t, 12), 1), 8);
        const b1 = new CsrBuilder();
        const b2 = new CsrBuilder();
        fast.flushTo(b1);
        slow.flushTo(b2);
        b1.endRow(0);
        b2.endRow(0);
        const d1 = b1.build(4096);
        const d2 = b2.build(4096);
        expect(Array.from(d1.indices), JSON.stringify({ s, prefix })).toEqual(Array.from(d2.indices));
        expect(Array.from(d1.values)).toEqual(Array.from(d2.values));
      }
    }
  });
});

describe('HashedRow', () => {
  function naive(pairs: Array<[number, number]>): Array<[number, number]> {
    const m = new Map<number, number>();
    for (const [i, v] of pairs) m.set(i, (m.get(i) ?? 0) + v);
    return [...m.entries()].filter(([, v]) => Math.fround(v) !== 0).sort((a, b) => a[0] - b[0]);
  }

  it('writes rows ascending and deduplicated, summing collisions (short and long rows)', () => {
    const rand = seededRandom(11);
    const row = new HashedRow();
    const b = new CsrBuilder();
    const want: Array<Array<[number, number]>> = [];
    for (let r = 0; r < 60; r++) {
      const n = r % 3 === 0 ? Math.floor(rand() * 2000) : Math.floor(rand() * 50);
      const range = 1 + Math.floor(rand() * (r % 2 ? 30 : 100000));
      const pairs: Array<[number, number]> = [];
      for (let k = 0; k < n; k++) pairs.push([Math.floor(rand() * range), Math.floor(rand() * 7) - 3]);
      for (const [i, v] of pairs) row.add(i, v);
      row.flushTo(b);
      b.endRow(0);
      want.push(naive(pairs));
    }
    const ds = b.build(100000);
    for (let r = 0; r < ds.rows; r++) {
      const got: Array<[number, number]> = [];
      for (let p = ds.indptr[r]; p < ds.indptr[r + 1]; p++) got.push([ds.indices[p], ds.values[p]]);
      expect(got).toEqual(want[r]);
    }
  });

  it('applies the weight and L2 normalization', () => {
    const row = new HashedRow();
    const b = new CsrBuilder();
    for (const i of [5, 1, 5, 5, 9]) row.add(i, 1);
    row.flushTo(b, { weight: Math.log1p, l2normalize: true });
    b.endRow(1);
    const ds = b.build(10);
    expect(Array.from(ds.indices)).toEqual([1, 5, 9]);
    const raw = [Math.log1p(1), Math.log1p(3), Math.log1p(1)];
    const norm = Math.hypot(...raw);
    expect(Array.from(ds.values)).toEqual(raw.map((v) => Math.fround(v / norm)));
    // an empty row stays empty
    row.flushTo(b, { weight: Math.log1p, l2normalize: true });
    b.endRow(0);
    expect(b.build(10).indptr[2]).toBe(3);
  });
});
