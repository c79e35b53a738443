/**
 * Mesh keys: the shared secrets that authenticate backbone frames. Several are accepted at once so
 * they can rotate without a flag day (docs/BACKBONE.md): every frame names its key by a one-byte
 * key id, the first byte of SHA-1 of the key, so relays agree on ids without coordination. Two keys
 * with the same id cannot be told apart on the wire; such a configuration is refused.
 */
import { timingSafeEqual, utf8Encode } from '../crypto/encoding.ts';
import { sha1 } from '../crypto/sha1.ts';
import type { FrameMac, KeyedFrameMac, Sha256 } from './frame-mac.ts';

/** 128 bits: a mesh key authenticates the whole backbone. */
export const MIN_MESH_KEY_BYTES = 16;

/** Bytes of a frame key, the secret prefix of every tag: one SHA-256 block. */
export const FRAME_KEY_BYTES = 64;

/** What a frame key is derived from besides the mesh key: names the tag's version and purpose. */
const FRAME_KEY_LABEL = utf8Encode('relay-backbone frame tag v2\0');

/** One mesh key as frames use it. */
export interface FrameKey {
  /** The key id frames carry. */
  readonly id: number;
  /** The 64-byte frame key derived from the mesh key (frames are tagged through `mac`). */
  readonly key: Uint8Array;
  /** The tag under this key: the shell's MAC, its per-key state made once. */
  readonly mac: KeyedFrameMac;
}

export interface KeyRing {
  /** Which MAC computes the tags (logs, /healthz). */
  readonly macName: FrameMac['name'];
  /** The key new frames are sealed with. */
  readonly current: FrameKey;
  /** Every key a frame may be sealed with, current included, by key id. */
  readonly accepted: ReadonlyMap<number, FrameKey>;
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

/**
 * The frame key of a mesh key: SHA-256(label || mesh key) and 32 zero bytes, one 64-byte block of
 * SHA-256, so the tag's first compression call takes the key alone and hands a secret state to the
 * frame's blocks (as HMAC pads its key to a block). A fixed length, so the boundary between key
 * and frame is the same for every key; the label keeps it apart from other uses of the mesh key.
 */
export function frameKey(meshKey: Uint8Array, hash: Sha256): Uint8Array {
  const input = new Uint8Array(FRAME_KEY_LABEL.length + meshKey.length);
  input.set(FRAME_KEY_LABEL);
  input.set(meshKey, FRAME_KEY_LABEL.length);
  const digest = hash(input);
  if (digest.length !== 32) throw new TypeError(`hash: gave ${digest.length} bytes, not 32`);
  const key = new Uint8Array(FRAME_KEY_BYTES);
  key.set(digest);
  return key;
}

class MeshKeyRing implements KeyRing {
  constructor(
    readonly macName: FrameMac['name'],
    readonly current: FrameKey,
    readonly accepted: ReadonlyMap<number, FrameKey>,
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
 * them are accepted; `mac` is the shell's frame MAC (frame-mac.ts). Throws MeshKeyError on an
 * empty list, a key under 16 bytes, a key listed twice, or two keys whose ids collide (replace one
 * of them with a freshly generated key).
 */
export function createKeyRing(keys: readonly string[], mac: FrameMac): KeyRing {
  if (keys.length === 0)
    throw new MeshKeyError('ERR_NO_MESH_KEYS', 'at least one backbone mesh key is needed');
  const accepted = new Map<number, FrameKey>();
  const raw = new Map<number, Uint8Array>();
  const position = new Map<number, number>();
  let current: FrameKey | undefined;
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
      if (timingSafeEqual(raw.get(id)!, key)) {
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
    raw.set(id, key);
    const derived = frameKey(key, mac.sha256);
    const entry: FrameKey = { id, key: derived, mac: mac.keyed(derived) };
    accepted.set(id, entry);
    current ??= entry;
  });
  return new MeshKeyRing(mac.name, current!, accepted);
}
