import { describe, it } from 'vitest';
import { startRing, stopRing, seededVector } from '../helpers/ring.js';
import { smallAlgorithm } from '../../src/collective/ring-allreduce.js';
import { checkSmallPath } from './small-paths.shared.js';
import { expect } from 'vitest';

describe('small allreduces, default paths (gather at N = 2, chain reduce + broadcast at N ≥ 3)', () => {
  it('picks gather for N ≤ 2 and chain above', () => {
    expect([2, 3, 4, 8].map(smallAlgorithm)).toEqual(['gather', 'chain', 'chain', 'chain']);
  });
  for (const n of [2, 3, 4, 5, 8]) {
    it(`N=${n}: every peer holds the exact rank-order float32 sum`, () => checkSmallPath(startRing, stopRing, seededVector, n), 60_000);
  }
});
