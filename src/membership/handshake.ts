import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * HMAC challenge-response: each side proves it knows the shared secret by MACing the other
 * side's fresh nonce; the secret itself never crosses the wire. With no secret configured the
 * MAC is empty and only rank, ring size and config hash are checked.
 */
export function newNonce(): string {
  return randomBytes(16).toString('hex');
}

export function handshakeMac(secret: string, nonce: string, rank: number, configHash: string, role: 'dialer' | 'listener'): string {
  if (secret === '') return '';
  return createHmac('sha256', secret).update(`ringtrain/1|${role}|${nonce}|${rank}|${configHash}`).digest('hex');
}

export function macEquals(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}
