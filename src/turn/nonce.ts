/**
 * Stateless nonces for the long-term credential mechanism (RFC 8489 §9.2.2): the nonce carries
 * its issue time and an HMAC of that time and the client's IP address under a per-process
 * secret, so the server keeps no table, can tell a stale nonce (438) from a forged one, and a
 * nonce (with the requests signed under it) is good only from the address it was given to
 * (RFC 8489 §9.2.2 leaves the nonce's contents to the server; binding it to the client's address
 * is the hardening RFC 7616 §3.3 suggests for digest nonces). A client whose address changes gets
 * 438 and a fresh nonce: one round trip. Time comes in as a parameter.
 */
import { fromHex, timingSafeEqual, toHex, utf8Encode } from '../crypto/encoding.ts';
import type { StunCrypto } from '../stun/stun-crypto.ts';

export type NonceCheck = 'ok' | 'stale' | 'invalid';

export interface NonceManager {
  /** A nonce for requests from `source` (the client's IP address, canonical). */
  issue(now: number, source: string): string;
  check(nonce: string, now: number, source: string): NonceCheck;
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
  const tag = (stamp: string, source: string): string =>
    toHex(crypto.hmacSha1(secret, [utf8Encode(`${stamp}|${source}`)]).subarray(0, 8));
  return {
    issue(now, source) {
      const stamp = Math.floor(now).toString(16).padStart(12, '0');
      return `${stamp}${tag(stamp, source)}`;
    },
    check(nonce, now, source) {
      if (nonce.length !== 28) return 'invalid';
      const stamp = nonce.slice(0, 12);
      const mac = fromHex(nonce.slice(12));
      const expected = fromHex(tag(stamp, source));
      if (!mac || !expected || !timingSafeEqual(mac, expected)) return 'invalid';
      const issued = Number.parseInt(stamp, 16);
      if (!Number.isFinite(issued) || issued > now + 60_000) return 'invalid';
      return now - issued > lifetimeMs ? 'stale' : 'ok';
    },
  };
}
