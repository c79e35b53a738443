/**
 * The frame tag's MAC as the shell gives it (docs/BACKBONE.md, "The tag"): the core seals and
 * verifies frames through this interface and never hashes itself. For a 64-byte frame key K and a
 * frame whose tag starts at `end`, the tag is the first FRAME_TAG_LENGTH bytes of
 * SHA-256(K || frame[0..end)) with the hop-limit byte (FrameOffset.HopLimit) read as 0: forwarding
 * relays lower it without touching the tag. relay/ implements it twice, with identical tags: with
 * node:crypto's one-shot hash (the fallback, and what the edge's tests use), and in C with the
 * OpenSSL inside the node binary, from a midstate computed once per key (relay/frame-mac.ts).
 *
 * Pure types: no implementation here (src/ hashes nothing on the data path).
 */

/** SHA-256 (FIPS 180-4) of `data` in one call: 32 bytes. For deriving frame keys, not per frame. */
export type Sha256 = (data: Uint8Array) => Uint8Array;

/** Which implementation computes the tags: logged once and shown in /healthz's backbone section. */
export type FrameMacName = 'openssl-native' | 'node-crypto';

/** The tag under one frame key. Neither method allocates per frame on the native side. */
export interface KeyedFrameMac {
  /**
   * Writes the tag of frame[0..end) (the hop-limit byte read as 0, not changed) into
   * frame[end..end+FRAME_TAG_LENGTH). Throws (a caller fault) when the frame is shorter.
   */
  seal(frame: Uint8Array, end: number): void;
  /**
   * Whether frame[end..end+FRAME_TAG_LENGTH) is the tag of frame[0..end), compared in constant
   * time; false as well for an `end` out of range. Never throws, never changes the frame.
   */
  verify(frame: Uint8Array, end: number): boolean;
}

/** What the shell passes into the key ring: the platform's SHA-256 and its frame MAC. */
export interface FrameMac {
  readonly name: FrameMacName;
  /** For frame key derivation (key-ring.ts frameKey). */
  readonly sha256: Sha256;
  /** The MAC under a 64-byte frame key, its per-key work done once here. */
  keyed(frameKey: Uint8Array): KeyedFrameMac;
}
