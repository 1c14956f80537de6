import { z } from 'zod';
import { PeerAddress } from '../config/schema.js';

/** Launcher → local peer process (over the fork IPC channel). */
export const LauncherMsg = z.discriminatedUnion('t', [
  z.object({
    t: z.literal('init'),
    rank: z.number().int().nonnegative(),
    size: z.number().int().positive(),
    config: z.record(z.string(), z.unknown()),
    saveModel: z.string().optional(),
    checkpoint: z.object({ dir: z.string(), every: z.number().int().nonnegative(), resume: z.boolean() }).optional(),
    injectKillAtStep: z.number().int().positive().optional(),
    injectDelayMs: z.number().nonnegative().optional(),
    elastic: z.boolean().default(true),
    rejoin: z.boolean().default(false),
    listenPort: z.number().int().min(0).max(65535).optional(),
  }),
  z.object({ t: z.literal('peers'), peers: z.array(PeerAddress) }),
]);
export type LauncherMsg = z.infer<typeof LauncherMsg>;

/** Peer → launcher: PeerEvent objects, plus the final result or error. */
export const PeerDoneMsg = z.discriminatedUnion('t', [
  z.object({ t: z.literal('result'), result: z.record(z.string(), z.unknown()) }),
  z.object({ t: z.literal('error'), rank: z.number().int(), code: z.string(), message: z.string(), exitCode: z.number().int() }),
]);
