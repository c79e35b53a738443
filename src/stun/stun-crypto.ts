/**
 * The hashes STUN and TURN need, given by the shell from the platform: pure code in src/ takes
 * them as a parameter and never hashes in JavaScript on the data path. The relay passes node:crypto
 * and zlib (relay/platform-crypto.ts); tests do the same. All are synchronous: the TURN engine
 * answers a request in one call.
 */
export interface StunCrypto {
  /** HMAC-SHA1 (RFC 2104) of the concatenation of `parts`: MESSAGE-INTEGRITY (RFC 8489 §14.5), TURN REST passwords, nonces. */
  readonly hmacSha1: (key: Uint8Array, parts: readonly Uint8Array[]) => Uint8Array;
  /** MD5 (RFC 1321): the long-term credential key (RFC 8489 §9.2.2). */
  readonly md5: (data: Uint8Array) => Uint8Array;
  /** CRC-32 (ITU-T V.42, as zlib): FINGERPRINT (RFC 8489 §14.7). */
  readonly crc32: (data: Uint8Array) => number;
}
