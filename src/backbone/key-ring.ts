/**
 * Mesh keys: the shared secrets that authenticate backbone frames. Several are accepted at once so
 * they can rotate without a flag day (docs/BACKBONE.md): every frame names its key by a one-byte
 * key id, the first byte of SHA-1 of the key, so relays agree on ids without coordination. Two keys
 * with the same id cannot be told apart on the wire; such a configuration is refused.
 */
import { timingSafeEqual, utf8Encode } from '../crypto/encoding.ts';
import { sha1 } from '../crypto/sha1.ts';

/** 128 bits: a mesh key authenticates the whole backbone. */
export const MIN_MESH_KEY_BYTES = 16;

/**
 * HMAC-SHA1 (RFC 2104) of the concatenation of `parts` under `key`: 20 bytes. The shell provides
 * it from the platform (relay/: node:crypto createHmac, as tests do); nothing on the data path
 * hashes in JavaScript.
 */
export type HmacSha1 = (key: Uint8Array, parts: readonly Uint8Array[]) => Uint8Array;

export interface KeyRing {
  /** The MAC frames are sealed and checked with. */
  readonly mac: HmacSha1;
  /** The key new frames are sealed with. */
  readonly current: { readonly id: number; readonly key: Uint8Array };
  /** Every key a frame may be sealed with, current included, by key id. */
  readonly accepted: ReadonlyMap<number, Uint8Array>;
}

export type MeshKeyErrorCode =
  | 'ERR_NO_MESH_KEYS'
  | 'ERR_MESH_KEY_TOO_SHORT'
  | 'ERR_DUPLICATE_MESH_KEY'
  | 'ERR_MESH_KEY_ID_COLLISION';

/** A refused mesh-key configuration. Messages name keys by position, never by value. */
export class MeshKeyError extends Error {
  override readonly name = 'MeshKeyError';
  constructor(
    readonly code: MeshKeyErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The key id of a key: the first byte of its SHA-1. */
export function meshKeyId(key: Uint8Array): number {
  return sha1(key)[0]!;
}

const hexId = (id: number): string => `0x${id.toString(16).padStart(2, '0')}`;

class MeshKeyRing implements KeyRing {
  constructor(
    readonly mac: HmacSha1,
    readonly current: { readonly id: number; readonly key: Uint8Array },
    readonly accepted: ReadonlyMap<number, Uint8Array>,
  ) {}

  /** Logs show key ids, never key bytes. */
  toJSON(): { current: string; accepted: string[] } {
    return { current: hexId(this.current.id), accepted: [...this.accepted.keys()].map(hexId) };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `KeyRing ${JSON.stringify(this.toJSON())} <redacted>`;
  }
}

/**
 * A key ring from mesh keys as configured (UTF-8 strings): the first seals new frames, all of
 * them are accepted; `mac` is the platform's HMAC-SHA1. Throws MeshKeyError on an empty list, a key under 16 bytes, a key listed
 * twice, or two keys whose ids collide (replace one of them with a freshly generated key).
 */
export function createKeyRing(keys: readonly string[], mac: HmacSha1): KeyRing {
  if (keys.length === 0)
    throw new MeshKeyError('ERR_NO_MESH_KEYS', 'at least one backbone mesh key is needed');
  const accepted = new Map<number, Uint8Array>();
  const position = new Map<number, number>();
  let current: { id: number; key: Uint8Array } | undefined;
  keys.forEach((text, i) => {
    const key = utf8Encode(text);
    if (key.length < MIN_MESH_KEY_BYTES) {
      throw new MeshKeyError(
        'ERR_MESH_KEY_TOO_SHORT',
        `mesh key #${i + 1} has ${key.length} bytes; at least ${MIN_MESH_KEY_BYTES} are needed`,
      );
    }
    const id = meshKeyId(key);
    const earlier = position.get(id);
    if (earlier !== undefined) {
      if (timingSafeEqual(accepted.get(id)!, key)) {
        throw new MeshKeyError(
          'ERR_DUPLICATE_MESH_KEY',
          `mesh keys #${earlier + 1} and #${i + 1} are the same key; list each key once`,
        );
      }
      throw new MeshKeyError(
        'ERR_MESH_KEY_ID_COLLISION',
        `mesh keys #${earlier + 1} and #${i + 1} have the same key id ${hexId(id)} (first byte of their SHA-1), ` +
          `so frames could not say which one sealed them; replace #${i + 1} with a newly generated key`,
      );
    }
    position.set(id, i);
    accepted.set(id, key);
    current ??= { id, key };
  });
  return new MeshKeyRing(mac, current!, accepted);
}
