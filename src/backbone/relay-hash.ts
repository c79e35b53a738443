/**
 * Relay ids on the wire. The directory names relays with strings of up to 64 UTF-8 bytes; a
 * backbone frame carries a 48-bit hash of the id instead: the first 6 bytes of SHA-1 of its UTF-8.
 *
 * Why a hash and why 48 bits: it keeps the header fixed-size (two ids cost 12 bytes, not up to 130),
 * and 48 bits fit a JavaScript safe integer, so a decoded id is a plain number that compares with
 * `===` and keys a Map without a BigInt or a string per packet. Collisions are possible (about
 * n²/2⁴⁹: 2·10⁻⁷ for 10,000 relays) but visible: a relay refuses to register an id whose hash another
 * registered relay already has (registrationConflict in src/directory/validate.ts, at start; a
 * whole list can be checked with findRelayHashCollision). Not a security boundary: the mesh key,
 * shared by all relays, authenticates frames; the hash only routes them.
 */
import { utf8Encode } from '../crypto/encoding.ts';
import { sha1 } from '../crypto/sha1.ts';

export const MAX_RELAY_ID_BYTES = 64;
export const MAX_RELAY_HASH = 2 ** 48 - 1;

/** The 48-bit wire id of a relay id. Throws on an empty id or one over 64 bytes (a config fault). */
export function relayHash(id: string): number {
  const bytes = utf8Encode(id);
  if (bytes.length === 0 || bytes.length > MAX_RELAY_ID_BYTES) {
    throw new RangeError(`a relay id has 1-${MAX_RELAY_ID_BYTES} UTF-8 bytes, got ${bytes.length}`);
  }
  const h = sha1(bytes);
  return (
    ((h[0]! << 8) | h[1]!) * 0x1_0000_0000 + (((h[2]! << 24) | (h[3]! << 16) | (h[4]! << 8) | h[5]!) >>> 0)
  );
}

/** Two distinct ids with the same relayHash, or undefined when all hashes differ. */
export function findRelayHashCollision(ids: Iterable<string>): readonly [string, string] | undefined {
  const seen = new Map<number, string>();
  for (const id of ids) {
    const h = relayHash(id);
    const other = seen.get(h);
    if (other !== undefined && other !== id) return [other, id];
    seen.set(h, id);
  }
  return undefined;
}
