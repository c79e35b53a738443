/**
 * Mesh keys: the shared secrets that authenticate backbone frames. Several are accepted at once so
 * they can rotate without a flag day (docs/BACKBONE.md): every frame names its key by a one-byte
 * key id, the first byte of SHA-1 of the key, so relays agree on ids without coordination. Two keys
 * with the same id cannot be told apart on the wire; such a configuration is refused.
 */
import { timingSafeEqual, utf8Encode } from '../crypto/encoding.ts';
import { sha1 } from '../crypto/sha1.ts';
import type { FrameMac, HmacSha256, KeyedFrameMac } from './frame-mac.ts';

/** 128 bits: a mesh key authenticates the whole backbone. */
export const MIN_MESH_KEY_BYTES = 16;

/** Bytes of a run key: ChaCha20's key (the frame tag's, frame-mac.ts). */
export const RUN_KEY_BYTES = 32;

/** Bytes of a run id: random per relay process, published as `backboneRun` (32 hex digits). */
export const RUN_ID_BYTES = 16;

/** What a run key is derived for besides the mesh key and run: names the tag's version and purpose. */
const RUN_KEY_LABEL = utf8Encode('relay-backbone run key v3\0');

/** One mesh key as the frames of one sender run use it. */
export interface FrameKey {
  /** The key id frames carry. */
  readonly id: number;
  /** The tag under the run key derived from this mesh key: the shell's MAC, its per-key state made once. */
  readonly mac: KeyedFrameMac;
}

/** The keys of one relay's run: what its frames are sealed and verified with. */
export interface RunKeys {
  /** The key new frames are sealed with. */
  readonly current: FrameKey;
  /** Every key a frame may be sealed with, current included, by key id. */
  readonly accepted: ReadonlyMap<number, FrameKey>;
}

/** The configured mesh keys: a run's keys are derived from them on demand. */
export interface KeyRing {
  /** Which MAC computes the tags (logs, /healthz). */
  readonly macName: FrameMac['name'];
  /** The key id new frames are sealed with. */
  readonly currentId: number;
  /**
   * The keys of the run `run` (RUN_ID_BYTES): one HMAC per mesh key, so call it once per run and
   * keep the result (the core does, per peer). Throws on a run of the wrong length (a caller fault).
   */
  forRun(run: Uint8Array): RunKeys;
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
 * The run key of a mesh key for one sender run: HMAC-SHA256(mesh key, label || run), as HKDF's
 * expand step with one block. Each relay process draws a fresh run id, so the tag's nonce (sender
 * and seq, which start again at 1 after a restart) never repeats under one key, and frames
 * recorded before a restart fail the tag after it. The label keeps it apart from other uses of
 * the mesh key.
 */
export function runKey(meshKey: Uint8Array, run: Uint8Array, hmac: HmacSha256): Uint8Array {
  if (run.length !== RUN_ID_BYTES) throw new TypeError(`run: ${RUN_ID_BYTES} bytes, got ${run.length}`);
  const input = new Uint8Array(RUN_KEY_LABEL.length + RUN_ID_BYTES);
  input.set(RUN_KEY_LABEL);
  input.set(run, RUN_KEY_LABEL.length);
  const key = hmac(meshKey, input);
  if (key.length !== RUN_KEY_BYTES) throw new TypeError(`hmacSha256: gave ${key.length} bytes, not 32`);
  return key;
}

/** A run id as the directory carries it (`backboneRun`): 32 lowercase hex digits. */
export const RUN_ID_PATTERN = /^[0-9a-f]{32}$/;

/** The run id of a `backboneRun` string, or undefined when it is not 32 lowercase hex digits. */
export function parseRunId(text: string): Uint8Array | undefined {
  if (!RUN_ID_PATTERN.test(text)) return undefined;
  const out = new Uint8Array(RUN_ID_BYTES);
  for (let i = 0; i < RUN_ID_BYTES; i++) out[i] = Number.parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

class MeshKeyRing implements KeyRing {
  readonly #keys: ReadonlyMap<number, Uint8Array>;
  constructor(
    readonly macName: FrameMac['name'],
    readonly currentId: number,
    keys: ReadonlyMap<number, Uint8Array>,
    private readonly mac: FrameMac,
  ) {
    this.#keys = keys;
  }

  forRun(run: Uint8Array): RunKeys {
    const accepted = new Map<number, FrameKey>();
    for (const [id, key] of this.#keys)
      accepted.set(id, { id, mac: this.mac.keyed(runKey(key, run, this.mac.hmacSha256)) });
    return { current: accepted.get(this.currentId)!, accepted };
  }

  /** Logs show key ids, never key bytes. */
  toJSON(): { current: string; accepted: string[] } {
    return { current: hexId(this.currentId), accepted: [...this.#keys.keys()].map(hexId) };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `KeyRing ${JSON.stringify(this.toJSON())} <redacted>`;
  }
}

/**
 * A key ring from mesh keys as configured (UTF-8 strings): the first seals new frames, all of
 * them are accepted; `mac` is the shell's frame MAC (frame-mac.ts), which makes the run keys. Throws MeshKeyError on an
 * empty list, a key under 16 bytes, a key listed twice, or two keys whose ids collide (replace one
 * of them with a freshly generated key).
 */
export function createKeyRing(keys: readonly string[], mac: FrameMac): KeyRing {
  if (keys.length === 0)
    throw new MeshKeyError('ERR_NO_MESH_KEYS', 'at least one backbone mesh key is needed');
  const raw = new Map<number, Uint8Array>();
  const position = new Map<number, number>();
  let current: number | undefined;
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
    current ??= id;
  });
  return new MeshKeyRing(mac.name, current!, raw, mac);
}
