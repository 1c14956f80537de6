/**
 * Node flags for a child process that runs our TypeScript entry files: the parent's own flags,
 * plus tsx's loader (by absolute URL, so it resolves from any working directory) unless the
 * parent already runs under it.
 */
export function tsNodeArgs(): string[] {
  const own = process.execArgv;
  if (own.some((a) => a.includes('tsx'))) return own;
  return [...own, '--import', import.meta.resolve('tsx')];
}
