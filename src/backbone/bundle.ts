/**
 * Bundles (docs/BACKBONE.md, "Bundles"): the data frames one thread has ready for one next hop in
 * one event-loop turn, carried as one datagram under one tag. At saturation a relay reads many
 * datagrams per poll phase, and the per-frame costs that dominate the backbone's data path (one
 * MAC call to seal, one to verify, one send syscall) are then paid once per bundle.
 *
 * A bundle is a frame of type Bundle (frame-format.ts) with hop limit 1: it crosses one link,
 * its sender is the thread that sealed it, its target the next hop, its seq from the sender's one
 * counter (the receiver's replay window checks it like any frame). Its body is a run of entries,
 * each a u16 length and a version-2 data frame without a tag, hop limit included. A relay in the
 * middle takes the entries out, lowers their hop limits and bundles them again for its own next
 * hops: the tag is per link, as every relay holds the mesh key anyway.
 *
 * The writer below fills one bundle: the shell flushes every open bundle at the end of the loop
 * turn (setImmediate), so a frame waits for nothing but the rest of the turn; a frame that would
 * overflow `limit` closes the bundle first, and one too large to share a bundle goes alone. A bundle
 * of one entry leaves as a plain data frame (sealUntagged), byte for byte what a relay without
 * bundles sends. Pure; one buffer per bundle.
 */
import {
  BUNDLE_ENTRY_HEADER,
  BUNDLE_OVERHEAD,
  FRAME_HEADER_LENGTH,
  FRAME_TAG_LENGTH,
  type FrameInit,
  peekSender,
  sealBundle,
  sealUntagged,
} from './frame.ts';
import type { RunKeys } from './key-ring.ts';

/** The datagram size bundles stay under by default: below a 1,280-byte IPv6 path MTU with headers. */
export const DEFAULT_BUNDLE_BYTES = 1200;

/**
 * Whether a data frame of `length` bytes without its tag goes through a bundle of at most `limit`
 * bytes: only when another of its size would fit beside it (an entry of up to 578 bytes, 540 of payload with IPv4 addresses, under 1,200). A larger
 * one could share a bundle with small ones at best, and alone it pays a copy and the wait for the
 * end of the turn for nothing: it is sealed and sent at once, as without bundles.
 */
export const bundles = (length: number, limit: number): boolean =>
  BUNDLE_OVERHEAD + 2 * (BUNDLE_ENTRY_HEADER + length) <= limit;

export class BundleWriter {
  /** The open bundle's buffer, `limit` bytes long. */
  #out: Uint8Array | undefined;
  /** Bytes written: the header's room, then entries. */
  #used = FRAME_HEADER_LENGTH;
  #count = 0;
  /** The first entry, for a bundle of one. */
  #first: Uint8Array | undefined;

  /** `limit`: the largest datagram, in bytes. */
  constructor(readonly limit: number) {}

  /** Entries in the open bundle. */
  get count(): number {
    return this.#count;
  }

  /** Whether an entry of `length` bytes fits in the open bundle (check bundles() first). */
  fits(length: number): boolean {
    return this.#used + BUNDLE_ENTRY_HEADER + length + FRAME_TAG_LENGTH <= this.limit;
  }

  /** A zeroed view of `length` bytes for the next entry, its length written before it. Check fits() first. */
  reserve(length: number): Uint8Array {
    if (!this.fits(length)) throw new RangeError(`bundle: no room for ${length} bytes`);
    let out = this.#out;
    if (out === undefined) {
      out = new Uint8Array(this.limit);
      this.#out = out;
    }
    const o = this.#used;
    out[o] = length >>> 8;
    out[o + 1] = length & 0xff;
    const entry = out.subarray(o + BUNDLE_ENTRY_HEADER, o + BUNDLE_ENTRY_HEADER + length);
    this.#used = o + BUNDLE_ENTRY_HEADER + length;
    if (this.#count++ === 0) this.#first = entry;
    return entry;
  }

  /** Copies an entry in (a frame passed on). Check fits() first. */
  append(entry: Uint8Array): void {
    this.reserve(entry.length).set(entry);
  }

  /**
   * The open bundle as a datagram, sealed with the current key (one entry: a plain data frame),
   * and a fresh writer state; undefined when it is empty.
   */
  seal(
    init: FrameInit,
    keys: RunKeys,
    keysOf: (sender: number) => RunKeys | undefined,
  ): Uint8Array | undefined {
    const out = this.#out;
    const first = this.#first;
    const n = this.#count;
    const used = this.#used;
    this.#out = undefined;
    this.#first = undefined;
    this.#count = 0;
    this.#used = FRAME_HEADER_LENGTH;
    if (n === 0 || !out || !first) return undefined;
    if (n === 1) {
      // A plain frame of its own, under its sender's run keys (an entry passed on keeps its sender
      // and seq); the buffer is reused for the next bundle.
      const own = keysOf(peekSender(first));
      const frame = own && sealUntagged(first, own);
      out.fill(0, 0, used);
      this.#out = out;
      return frame;
    }
    return sealBundle(out, used, init, keys);
  }
}
