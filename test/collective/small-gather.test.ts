import { describe, it, expect } from 'vitest';

// The path is chosen once, when ring-allreduce.ts loads: set the override first, then import
// (dynamically: static imports would load it before this line runs).
process.env.RINGTRAIN_SMALL_ALGORITHM = 'gather';
const { startRing, stopRing, seededVector } = await import('../helpers/ring.js');
const { smallPath } = await import('../../src/collective/ring-allreduce.js');
const { checkSmallPath } = await import('./small-paths.shared.js');

describe('small allreduces, gather path forced (RINGTRAIN_SMALL_ALGORITHM=gather)', () => {
  it('the override took effect', () => {
    expect([3, 4, 8].map((n) => smallPath(n, 4096, 8192, 65536))).toEqual(['gather', 'gather', 'gather']);
    // Where only the chain may run (over the gather's limits), it still does.
    expect(smallPath(4, 32768, 8192, 65536)).toBe('chain');
  });
  for (const n of [3, 4, 5, 8]) {
    it(`N=${n}: every peer holds the exact rank-order float32 sum, the same bits as the chain`, () => checkSmallPath(startRing, stopRing, seededVector, n), 60_000);
  }
});
