import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    // Ring tests start real peer processes; two cores cannot take many suites at once.
    maxWorkers: 2,
    fileParallelism: true,
  },
});
