/**
 * The platform's cryptography for the pure cores: src/ takes a synchronous MAC as a parameter and
 * the relay gives it node:crypto (OpenSSL), so nothing on the data path hashes in JavaScript.
 */
import { createHmac } from 'node:crypto';
import type { HmacSha1 } from '../src/backbone/key-ring.ts';

/** HMAC-SHA1 (RFC 2104) over the concatenation of `parts`. */
export const hmacSha1: HmacSha1 = (key, parts) => {
  const h = createHmac('sha1', key);
  for (const p of parts) h.update(p);
  return h.digest();
};
