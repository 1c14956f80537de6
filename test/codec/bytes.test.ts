import { describe, it, expect } from 'vitest';
import { VarintReader, bitsFor, packFields, packedBytes, unpackFields, varintSize, writeVarint } from '../../src/codec/bytes.js';
import { expectCodecError, refVarintSize, rng } from './util.js';

/** Bit-by-bit reference packing, LSB first. */
function refPack(values: number[], width: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((values.length * width) / 8));
  let bit = 0;
  for (const v of values) {
    for (let k = 0; k < width; k++, bit++) if (Math.floor(v / 2 ** k) % 2 === 1) out[bit >> 3] |= 1 << (bit & 7);
  }
  return out;
}

describe('bit packing', () => {
  it('matches a bit-by-bit reference for every width 0..26 and round-trips', () => {
    const r = rng(3);
    for (let width = 0; width <= 26; width++) {
      for (const count of [0, 1, 2, 3, 7, 8, 9, 31, 100]) {
        const vals = Array.from({ length: count }, (_, i) => (i === 0 ? 2 ** width - 1 : Math.floor(r() * 2 ** width)));
        const src = Uint32Array.from(vals);
        const buf = new Uint8Array(packedBytes(count, width) + 2).fill(0xee);
        const end = packFields(src, width, buf, 1);
        expect(end).toBe(1 + packedBytes(count, width));
        expect(buf.subarray(1, end)).toEqual(refPack(vals, width));
        expect(buf[0]).toBe(0xee);
        expect(buf[end]).toBe(0xee);
        const back = new Uint32Array(count);
        expect(unpackFields(buf, 1, width, back)).toBe(0);
        expect(Array.from(back)).toEqual(vals);
      }
    }
  });

  it('reports non-zero padding bits', () => {
    const buf = new Uint8Array([0b1110_0101]);
    expect(unpackFields(buf, 0, 3, new Uint32Array(1))).toBe(0b11100);
    expect(unpackFields(buf, 0, 3, new Uint32Array(2))).toBe(0b11);
  });

  it('bitsFor gives the bit length', () => {
    expect([0, 1, 2, 3, 4, 255, 256, 2 ** 25, 2 ** 32 - 1].map(bitsFor)).toEqual([0, 1, 2, 2, 3, 8, 9, 26, 32]);
  });
});

describe('varints', () => {
  const edges = [0, 1, 127, 128, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31, 2 ** 32 - 1];

  it('write, size and read agree at every length boundary', () => {
    const buf = new Uint8Array(5 * edges.length);
    let pos = 0;
    for (const x of edges) {
      const next = writeVarint(buf, pos, x);
      expect(next - pos).toBe(varintSize(x));
      expect(varintSize(x)).toBe(refVarintSize(x));
      pos = next;
    }
    const reader = new VarintReader(buf, 0, pos, 'test');
    for (const x of edges) expect(reader.next(2 ** 32 - 1, 5)).toBe(x);
    expect(reader.pos).toBe(pos);
  });

  it('rejects overlong, too long, too large and truncated varints', () => {
    const read = (bytes: number[], max = 2 ** 32 - 1, maxBytes = 5) => () =>
      new VarintReader(new Uint8Array(bytes), 0, bytes.length, 'test').next(max, maxBytes);
    expectCodecError(read([0x80, 0x00]), /overlong/);
    expectCodecError(read([0xff, 0x80, 0x00]), /overlong/);
    expectCodecError(read([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]), /longer than 5/);
    expectCodecError(read([0xff, 0xff, 0xff, 0xff, 0x1f]), /exceeds the limit/); // 2^35 - 1
    expectCodecError(read([0x80, 0x01], 127), /exceeds the limit 127/);
    expectCodecError(read([0x80, 0x80]), /past the end/);
    expectCodecError(read([]), /past the end/);
    expect(read([0x00])()).toBe(0);
  });
});
