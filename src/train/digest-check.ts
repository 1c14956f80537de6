import { createHash } from 'node:crypto';
import { RingError } from '../errors.js';
import type { RingContext } from '../optim/types.js';

const WORDS = 8; // sha256 as 8 × u32, each exact in a float64

/**
 * Every peer hashes its weights; one exact allreduce of a rank-slotted vector (zeros except our
 * own 8 words) hands everyone every digest, so all peers reach the same verdict in one step.
 */
export async function checkDigests(w: Float64Array, ctx: RingContext, step: number): Promise<string[]> {
  const hash = createHash('sha256').update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)).digest();
  const v = new Float64Array(ctx.size * WORDS);
  for (let i = 0; i < WORDS; i++) v[ctx.rank * WORDS + i] = hash.readUInt32BE(i * 4);
  await ctx.allreduce(v);
  const digests: string[] = [];
  for (let r = 0; r < ctx.size; r++) {
    const b = Buffer.alloc(32);
    for (let i = 0; i < WORDS; i++) b.writeUInt32BE(v[r * WORDS + i], i * 4);
    digests.push(b.toString('hex'));
  }
  const differ = digests.map((d, r) => (d === digests[0] ? -1 : r)).filter((r) => r >= 0);
  if (differ.length > 0) {
    throw new RingError(
      'E_WEIGHTS_DIVERGED',
      `weights diverged at step ${step}: rank(s) ${differ.join(', ')} differ from rank 0 ` +
        `(${differ.map((r) => `${r}:${digests[r].slice(0, 12)}`).join(' ')} vs 0:${digests[0].slice(0, 12)}). ` +
        'Peers must run the same code, config and data; this is a bug if they do.',
      { step, digests },
    );
  }
  return digests;
}
