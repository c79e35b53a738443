/**
 * The frame tag's MAC as the shell gives it (docs/BACKBONE.md, "The tag"): the core seals and
 * verifies frames through this interface and never computes a MAC itself. For a 32-byte run key K
 * and a frame whose tag starts at `end`, the tag is the RFC 8439 AEAD tag of ChaCha20-Poly1305
 * under K with the nonce frame[Sender..+6) || frame[Seq..+6), frame[0..end) as the additional data
 * (its hop-limit byte, FrameOffset.HopLimit, read as 0: forwarding relays lower it without touching
 * the tag) and no plaintext. relay/ implements it twice, with identical tags: with node:crypto's
 * chacha20-poly1305 cipher (the fallback, and what the edge's tests use), and in C with the
 * OpenSSL inside the node binary (relay/frame-mac.ts).
 *
 * Pure types: no implementation here (src/ computes no MAC on the data path).
 */

/** HMAC-SHA256 (RFC 2104) of `data` under `key`: 32 bytes. For deriving run keys, not per frame. */
export type HmacSha256 = (key: Uint8Array, data: Uint8Array) => Uint8Array;

/** Which implementation computes the tags: logged once and shown in /healthz's backbone section. */
export type FrameMacName = 'openssl-native' | 'node-crypto';

/** The tag under one run key. Neither method allocates per frame on the native side. */
export interface KeyedFrameMac {
  /**
   * Writes the tag of frame[0..end) (the hop-limit byte read as 0, not changed) into
   * frame[end..end+FRAME_TAG_LENGTH). Throws (a caller fault) when the frame is shorter or `end`
   * is inside the header (the nonce lies there).
   */
  seal(frame: Uint8Array, end: number): void;
  /**
   * Whether frame[end..end+FRAME_TAG_LENGTH) is the tag of frame[0..end), compared in constant
   * time; false as well for an `end` out of range. Never throws, never changes the frame.
   */
  verify(frame: Uint8Array, end: number): boolean;
}

/** What the shell passes into the key ring: the platform's HMAC-SHA256 and its frame MAC. */
export interface FrameMac {
  readonly name: FrameMacName;
  /** For run key derivation (key-ring.ts runKey). */
  readonly hmacSha256: HmacSha256;
  /** The MAC under a 32-byte run key, its per-key work done once here. */
  keyed(runKey: Uint8Array): KeyedFrameMac;
}
