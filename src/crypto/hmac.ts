/**
 * HMAC-SHA1 (RFC 2104 §2) over the synchronous SHA-1, for STUN MESSAGE-INTEGRITY (RFC 8489 §14.5),
 * nonces and TURN REST passwords. `hmacSha1Parts` hashes several byte ranges without joining them,
 * so a STUN message's patched header and its body need no copy.
 *
 * Two reused hashers and pad buffers keep the cost per MAC at one 20-byte allocation. Not reentrant,
 * which is fine: nothing here yields or calls back.
 */
import { Sha1, sha1 } from './sha1.ts';

/** B in RFC 2104 §2: SHA-1's block size in bytes. */
const BLOCK = 64;
const IPAD = 0x36;
const OPAD = 0x5c;

const inner = new Sha1();
const outer = new Sha1();
const pad = new Uint8Array(BLOCK);
const innerDigest = new Uint8Array(20);

/** Feeds K XOR ipad to `inner` and K XOR opad to `outer` (RFC 2104 §2 steps 1-2, 5). */
function keyPads(key: Uint8Array): void {
  // RFC 2104 §3: a key longer than B bytes is first hashed; a shorter one is zero-padded to B.
  const k = key.length > BLOCK ? sha1(key) : key;
  const n = k.length;
  for (let i = 0; i < BLOCK; i++) pad[i] = i < n ? k[i]! ^ IPAD : IPAD;
  inner.reset().update(pad);
  for (let i = 0; i < BLOCK; i++) pad[i] = i < n ? k[i]! ^ OPAD : OPAD;
  outer.reset().update(pad);
}

/** HMAC-SHA1(key, parts[0] || parts[1] || ...): 20 bytes. */
export function hmacSha1Parts(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  keyPads(key);
  for (const p of parts) inner.update(p);
  inner.digestInto(innerDigest);
  return outer.update(innerDigest).digest();
}

/** HMAC-SHA1(key, data): 20 bytes. */
export function hmacSha1(key: Uint8Array, data: Uint8Array): Uint8Array {
  keyPads(key);
  inner.update(data).digestInto(innerDigest);
  return outer.update(innerDigest).digest();
}
