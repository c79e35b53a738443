/**
 * HMAC-SHA1 (RFC 2104) over the synchronous SHA-1, for STUN MESSAGE-INTEGRITY (RFC 8489 §14.5)
 * and TURN REST passwords. `hmacSha1Parts` hashes several byte ranges without joining them.
 */
import { sha1, sha1Parts } from './sha1.ts';

const BLOCK = 64;

function pads(key: Uint8Array): { inner: Uint8Array; outer: Uint8Array } {
  const k = key.length > BLOCK ? sha1(key) : key;
  const inner = new Uint8Array(BLOCK).fill(0x36);
  const outer = new Uint8Array(BLOCK).fill(0x5c);
  for (let i = 0; i < k.length; i++) {
    inner[i]! ^= k[i]!;
    outer[i]! ^= k[i]!;
  }
  return { inner, outer };
}

export function hmacSha1Parts(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  const { inner, outer } = pads(key);
  return sha1Parts([outer, sha1Parts([inner, ...parts])]);
}

export function hmacSha1(key: Uint8Array, data: Uint8Array): Uint8Array {
  return hmacSha1Parts(key, [data]);
}
