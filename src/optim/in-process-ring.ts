/**
 * In-process stand-ins for the ring: N optimizer instances in one process, summing exactly as the
 * ring does but without sockets. Optimizer tests use them, and scripts/bench-optim.ts uses them to
 * count steps to a target objective (the real ring is tested and benchmarked with sockets).
 * - identityContext(): the exact 1-peer ring (allreduce of one vector is the vector).
 * - simulatedRing(n): n contexts whose allreduce waits for all n peers, sums their vectors in
 *   rank order (float32 vectors in float32 arithmetic, like the ring's adds) and gives every peer
 *   the same bytes.
 */
import { selectRows, type CsrDataset } from '../data/csr.js';
import type { Optimizer, RingContext } from './types.js';

export function identityContext(): RingContext & { calls: number } {
  const ctx = {
    rank: 0,
    size: 1,
    calls: 0,
    async allreduce(): Promise<void> {
      ctx.calls++;
    },
  };
  return ctx;
}

interface Pending {
  vectors: (Float32Array | Float64Array | undefined)[];
  waiters: { resolve: () => void; reject: (e: Error) => void }[];
  arrived: number;
}

export function simulatedRing(n: number): (RingContext & { calls: number })[] {
  const rounds = new Map<number, Pending>();
  const seq = new Array<number>(n).fill(0);
  const contexts: (RingContext & { calls: number })[] = [];
  for (let rank = 0; rank < n; rank++) {
    const ctx = {
      rank,
      size: n,
      calls: 0,
      allreduce(v: Float32Array | Float64Array): Promise<void> {
        ctx.calls++;
        const id = seq[rank]++;
        let round = rounds.get(id);
        if (!round) {
          round = { vectors: new Array(n).fill(undefined), waiters: [], arrived: 0 };
          rounds.set(id, round);
        }
        const r = round;
        r.vectors[rank] = v;
        r.arrived++;
        const p = new Promise<void>((resolve, reject) => r.waiters.push({ resolve, reject }));
        if (r.arrived === n) {
          rounds.delete(id);
          const vs = r.vectors as (Float32Array | Float64Array)[];
          const bad = vs.find((x) => x.length !== vs[0].length || x.constructor !== vs[0].constructor);
          if (bad) {
            const e = new Error(`allreduce #${id}: peers passed different vectors (${vs.map((x) => `${x.constructor.name}[${x.length}]`).join(', ')})`);
            for (const w of r.waiters) w.reject(e);
          } else {
            const acc = vs[0] instanceof Float32Array ? Float32Array.from(vs[0]) : Float64Array.from(vs[0]);
            for (let k = 1; k < n; k++) {
              const x = vs[k];
              for (let i = 0; i < acc.length; i++) acc[i] += x[i];
            }
            for (const x of vs) x.set(acc);
            for (const w of r.waiters) w.resolve();
          }
        }
        return p;
      },
    };
    contexts.push(ctx);
  }
  return contexts;
}

/** Peer r of n gets rows r, r+n, r+2n, ... */
export function shardOf(ds: CsrDataset, n: number, r: number): CsrDataset {
  const ids: number[] = [];
  for (let i = r; i < ds.rows; i += n) ids.push(i);
  return selectRows(ds, ids);
}

/** Runs every optimizer until it reports converged (or maxSteps), concurrently, in lockstep. */
export async function runAll(opts: Optimizer[], maxSteps = Infinity): Promise<void> {
  await Promise.all(
    opts.map(async (o) => {
      while (!o.converged && o.steps < maxSteps) await o.step();
    }),
  );
}
