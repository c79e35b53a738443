/**
 * The platform's cryptography for the pure cores: src/ takes a synchronous MAC as a parameter and
 * the relay gives it node:crypto (OpenSSL), so nothing on the data path hashes in JavaScript.
 */
import { createHash, createHmac } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { HmacSha256 } from '../src/backbone/frame-mac.ts';
import type { StunCrypto } from '../src/stun/stun-crypto.ts';

/** HMAC-SHA256 (RFC 2104), for the backbone's run keys (src/backbone/key-ring.ts). */
export const hmacSha256: HmacSha256 = (key, data) => createHmac('sha256', key).update(data).digest();

/** HMAC-SHA1 (RFC 2104) over the concatenation of `parts`. */
export const hmacSha1: StunCrypto['hmacSha1'] = (key, parts) => {
  const h = createHmac('sha1', key);
  for (const p of parts) h.update(p);
  return h.digest();
};

/** STUN and TURN's hashes (MESSAGE-INTEGRITY, long-term keys, TURN REST, FINGERPRINT) from Node. */
export const stunCrypto: StunCrypto = Object.freeze({
  hmacSha1,
  md5: (data: Uint8Array) => new Uint8Array(createHash('md5').update(data).digest()),
  // zlib.crc32 is in Node from 20.15 and 22.2; package.json requires 20.18.
  crc32: (data: Uint8Array) => crc32(data),
});
