/**
 * Every error a user can meet carries a stable `code` and a message that says what to do.
 * Exit codes: 2 = bad input (config, flags, data files), 3 = ring/network failure, 4 = diverged/internal.
 */
export const ErrorCodes = {
  E_CONFIG: 2,
  E_USAGE: 2,
  E_DATA: 2,
  E_DATA_PARSE: 2,
  E_FILE_NOT_FOUND: 2,
  E_MODEL_FILE: 2,
  E_PORT_IN_USE: 3,
  E_PEER_TIMEOUT: 3,
  E_PEER_LOST: 3,
  E_AUTH: 3,
  E_HANDSHAKE: 3,
  E_FRAME: 3,
  E_FRAME_TOO_LARGE: 3,
  E_FRAME_MISMATCH: 3,
  E_CODEC: 3,
  E_WEIGHTS_DIVERGED: 4,
  E_CHECKPOINT: 2,
  E_INTERNAL: 4,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class RingError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'RingError';
    this.code = code;
    this.details = details;
  }

  get exitCode(): number {
    return ErrorCodes[this.code];
  }
}

export function isRingError(e: unknown): e is RingError {
  return e instanceof RingError;
}

/** Exit code for any thrown value: a RingError's own, else 1. */
export function exitCodeOf(e: unknown): number {
  return isRingError(e) ? e.exitCode : 1;
}

/** One line a user can read: `E_CODE: message`. */
export function describeError(e: unknown): string {
  if (isRingError(e)) return `${e.code}: ${e.message}`;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}
