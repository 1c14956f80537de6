import { z } from 'zod';
import { pack, unpack } from 'msgpackr';
import { RingError } from '../errors.js';

/**
 * Control messages between neighbours (msgpack on the wire, zod-checked on arrival).
 * Handshake: the listening side sends `challenge`; the dialler answers `hello` with an HMAC of
 * the nonce (when a secret is set) and its own nonce; the listener answers `welcome` with an HMAC
 * of that nonce, so both sides prove they know the secret without sending it.
 */
const Hex = z.string().regex(/^[0-9a-f]*$/).max(128);

export const ChallengeMsg = z.object({ t: z.literal('challenge'), nonce: Hex, rank: z.number().int().nonnegative(), version: z.number().int() }).strict();
export const HelloMsg = z
  .object({
    t: z.literal('hello'),
    rank: z.number().int().nonnegative(),
    size: z.number().int().positive(),
    configHash: Hex,
    generation: z.number().int().nonnegative(),
    nonce: Hex,
    mac: Hex,
    version: z.number().int(),
    /**
     * 'ring': take a place in generation `generation`; 'join': a (re)started peer asks to be let in;
     * 'probe': `ringtrain doctor` checks secret and config hash only (welcome, then hang up).
     */
    intent: z.enum(['ring', 'join', 'probe']).default('ring'),
    /** A ring-intent dial that admits waiting joiners (a planned re-form), not a crash recovery. */
    admit: z.boolean().default(false),
  })
  .strict();
export const WelcomeMsg = z.object({ t: z.literal('welcome'), mac: Hex }).strict();
export const RefuseMsg = z.object({ t: z.literal('refuse'), code: z.string().max(40), reason: z.string().max(500) }).strict();

/** Census after a ring re-forms: each peer's id travels once around; seeing your own id back means you know everyone. */
export const CensusMsg = z.object({ t: z.literal('census'), generation: z.number().int().nonnegative(), id: z.number().int().nonnegative() }).strict();
/** To a waiting joiner: the ring will re-form as generation `generation`; dial in then. */
export const JoinAckMsg = z.object({ t: z.literal('join-ack'), generation: z.number().int().nonnegative() }).strict();

export const ControlMsg = z.discriminatedUnion('t', [ChallengeMsg, HelloMsg, WelcomeMsg, RefuseMsg, CensusMsg, JoinAckMsg]);
export type ControlMsg = z.infer<typeof ControlMsg>;

export const PROTOCOL_VERSION = 1;

export function encodeControl(msg: z.input<typeof ControlMsg>): Uint8Array {
  return pack(msg);
}

/**
 * Control messages are small (a hello is ~300 bytes, a refusal at most ~600). Anything bigger is
 * refused before msgpack sees it: unpacking a large hostile array costs seconds of CPU and
 * gigabytes of heap (a 30 MB one: 1 s and 240 MB; with one trailing byte msgpackr's error message
 * JSON-encodes it all: 25 s and 1.8 GB), and any dialer may send one before authenticating.
 */
export const MAX_CONTROL_BYTES = 16 * 1024;

/** Never trusts the bytes: size, msgpack and schema errors all become E_FRAME. */
export function decodeControl(bytes: Uint8Array, from: string): ControlMsg {
  if (bytes.byteLength > MAX_CONTROL_BYTES) {
    throw new RingError('E_FRAME', `control message from ${from} is ${bytes.byteLength} bytes, over the ${MAX_CONTROL_BYTES}-byte limit`);
  }
  let raw: unknown;
  try {
    raw = unpack(bytes);
  } catch (e) {
    throw new RingError('E_FRAME', `unreadable control message from ${from}: ${(e as Error).message}`);
  }
  const parsed = ControlMsg.safeParse(raw);
  if (!parsed.success) {
    throw new RingError('E_FRAME', `malformed control message from ${from}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  }
  return parsed.data;
}
