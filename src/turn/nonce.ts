/**
 * Stateless nonces for the long-term credential mechanism (RFC 8489 §9.2.2): the nonce carries
 * its issue time and an HMAC of that time under a per-process secret, so the server keeps no table
 * and can tell a stale nonce (438) from a forged one. Time comes in as a parameter.
 */
import { fromHex, timingSafeEqual, toHex, utf8Encode } from '../crypto/encoding.ts';
import type { StunCrypto } from '../stun/stun-crypto.ts';

export type NonceCheck = 'ok' | 'stale' | 'invalid';

export interface NonceManager {
  issue(now: number): string;
  check(nonce: string, now: number): NonceCheck;
}

/**
 * `secret`: random bytes chosen at start; `lifetimeMs`: how long a nonce stays valid; `crypto`:
 * the platform's HMAC-SHA1.
 */
export function createNonceManager(
  secret: Uint8Array,
  lifetimeMs: number,
  crypto: Pick<StunCrypto, 'hmacSha1'>,
): NonceManager {
  const tag = (stamp: string): string => toHex(crypto.hmacSha1(secret, [utf8Encode(stamp)]).subarray(0, 8));
  return {
    issue(now) {
      const stamp = Math.floor(now).toString(16).padStart(12, '0');
      return `${stamp}${tag(stamp)}`;
    },
    check(nonce, now) {
      if (nonce.length !== 28) return 'invalid';
      const stamp = nonce.slice(0, 12);
      const mac = fromHex(nonce.slice(12));
      const expected = fromHex(tag(stamp));
      if (!mac || !expected || !timingSafeEqual(mac, expected)) return 'invalid';
      const issued = Number.parseInt(stamp, 16);
      if (!Number.isFinite(issued) || issued > now + 60_000) return 'invalid';
      return now - issued > lifetimeMs ? 'stale' : 'ok';
    },
  };
}
