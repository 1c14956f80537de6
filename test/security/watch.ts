import { beforeAll, afterAll, expect } from 'vitest';

/**
 * Records every uncaught exception and unhandled rejection in this process while a fuzz storm
 * runs. vitest reports them too, but only after the fact; the tests assert that none fired.
 */
export interface ProcessWatch {
  readonly errors: string[];
  stop(): void;
}

export function watchProcess(): ProcessWatch {
  const errors: string[] = [];
  const onException = (e: unknown) => errors.push(`uncaughtException: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  const onRejection = (e: unknown) => errors.push(`unhandledRejection: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return {
    errors,
    stop() {
      process.off('uncaughtException', onException);
      process.off('unhandledRejection', onRejection);
    },
  };
}

/** For a whole test file: watch from the first test on, and fail the file if anything fired. */
export function expectNoProcessErrors(): void {
  let watch: ProcessWatch;
  beforeAll(() => {
    watch = watchProcess();
  });
  afterAll(() => {
    watch.stop();
    expect(watch.errors).toEqual([]);
  });
}
