import { describe, it } from 'vitest';
import { startRing, stopRing, seededVector } from '../helpers/ring.js';
import { CHAIN_ALLREDUCE_BYTES, SMALL_ALLREDUCE_BYTES, smallPath } from '../../src/collective/ring-allreduce.js';
import { checkSmallPath } from './small-paths.shared.js';
import { expect } from 'vitest';

describe('small allreduces, default paths (gather at N = 2, chain reduce + broadcast at N ≥ 3 on loopback)', () => {
  it('picks the chain at N ≥ 3 where it is on, the gather at N = 2 and off loopback, the ring above both limits', () => {
    const pick = (n: number, bytes: number, chain: number) => smallPath(n, bytes, SMALL_ALLREDUCE_BYTES, chain);
    expect([2, 3, 4, 8].map((n) => pick(n, 4096, CHAIN_ALLREDUCE_BYTES))).toEqual(['gather', 'chain', 'chain', 'chain']);
    expect([2, 3, 4, 8].map((n) => pick(n, 4096, 0))).toEqual(['gather', 'gather', 'gather', 'gather']);
    expect(pick(4, CHAIN_ALLREDUCE_BYTES, CHAIN_ALLREDUCE_BYTES)).toBe('chain');
    expect(pick(4, CHAIN_ALLREDUCE_BYTES + 4, CHAIN_ALLREDUCE_BYTES)).toBe(null);
    expect(pick(2, 2 * SMALL_ALLREDUCE_BYTES, CHAIN_ALLREDUCE_BYTES)).toBe(null);
    // The gather's inflow limit: N-1 vectors of 8 KiB at N = 8 is over 4 × 8 KiB.
    expect(pick(8, SMALL_ALLREDUCE_BYTES, 0)).toBe(null);
  });
  for (const n of [2, 3, 4, 5, 8]) {
    it(`N=${n}: every peer holds the exact rank-order float32 sum`, () => checkSmallPath(startRing, stopRing, seededVector, n), 60_000);
  }
});
