import { readdirSync, readFileSync } from 'node:fs';

/** PIDs of live processes whose environment carries KEY=value (how we find a run's peers). */
export function pidsWithEnv(key: string, value: string): number[] {
  const needle = `${key}=${value}`;
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
      if (env.includes(needle)) out.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}
