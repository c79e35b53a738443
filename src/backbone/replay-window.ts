/**
 * Anti-replay for backbone frames: a sliding window over one sender's sequence numbers, as IPsec
 * keeps per security association (RFC 4303 §3.4.3; the bitmap of RFC 6479). Every frame a relay
 * thread makes (data, probe, probe reply) carries the next value of one 48-bit counter, so a
 * receiver accepts each (sender, seq) once: a frame at or below the window's bottom, or one
 * already seen inside it, is a replay or too late to tell, and is dropped.
 *
 * The counter never wraps (2^48 frames; the frame tag's nonce must not repeat either). A sender
 * that restarts begins again at 1 under a new run, whose keys its old frames fail; the receiver
 * starts a new window when the directory shows the sender's new `backboneRun` (peers.ts).
 *
 * Check first, then commit once the frame is known good, so a frame that fails later checks does
 * not use up its seq. Pure; a Uint32Array of `size / 32` words per sender, no allocation per frame.
 */

export type ReplayVerdict = 'ok' | 'ERR_REPLAYED' | 'ERR_TOO_OLD';

export class ReplayWindow {
  readonly #bits: Uint32Array;
  readonly #size: number;
  /** Highest seq accepted, and whether any was. */
  #top = 0;
  #started = false;

  /** `size`: seqs remembered behind the highest, a power of two from 32 to 2³¹. */
  constructor(size: number) {
    if (!Number.isInteger(size) || size < 32 || size > 2 ** 31 || (size & (size - 1)) !== 0) {
      throw new RangeError(`replay window: a power of two from 32 to 2^31, got ${size}`);
    }
    this.#size = size;
    this.#bits = new Uint32Array(size / 32);
  }

  /** Whether `seq` would be accepted now. */
  check(seq: number): ReplayVerdict {
    if (!this.#started) return 'ok';
    const ahead = seq - this.#top;
    if (ahead > 0) return 'ok';
    if (-ahead >= this.#size) return 'ERR_TOO_OLD';
    return this.#has(seq) ? 'ERR_REPLAYED' : 'ok';
  }

  /** Records `seq` as seen; call only after check() said 'ok' and the frame was authenticated. */
  commit(seq: number): void {
    if (!this.#started) {
      this.#started = true;
      this.#top = seq;
      this.#bits.fill(0);
      this.#set(seq);
      return;
    }
    const ahead = seq - this.#top;
    if (ahead > 0) {
      if (ahead >= this.#size) this.#bits.fill(0);
      else for (let s = 1; s <= ahead; s++) this.#clear(this.#top + s);
      this.#top = seq;
    }
    this.#set(seq);
  }

  #has(seq: number): boolean {
    const bit = seq % this.#size;
    return (this.#bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  #set(seq: number): void {
    const bit = seq % this.#size;
    this.#bits[bit >>> 5]! |= 1 << (bit & 31);
  }

  #clear(seq: number): void {
    const bit = seq % this.#size;
    this.#bits[bit >>> 5]! &= ~(1 << (bit & 31));
  }
}
