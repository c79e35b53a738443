/**
 * Splits a TCP/TLS byte stream into STUN messages and ChannelData messages (RFC 8656 §12.5,
 * RFC 8489 §6.2.2): several messages may arrive in one read, and one message may be split across
 * reads. ChannelData is padded to 4 bytes on streams; the padding is consumed here and the frame
 * returned without it. A first byte that is neither STUN (0b00) nor ChannelData (0b01) means the
 * stream is not TURN and must be closed.
 *
 * Linear in the bytes read, however they are chunked: a frame that fits in one read is returned
 * as a view of it; a split frame is assembled into one buffer of its final size, allocated when
 * its 4-byte header is known, so every byte is copied at most once. At most one frame is held.
 * `limit` caps the frame size and may change between reads (the shell lowers it until the
 * connection has authenticated); a frame past it is refused from its header, before its body.
 */
import { HEADER_LENGTH } from './constants.ts';

export type StreamFrame =
  | { readonly kind: 'stun'; readonly bytes: Uint8Array }
  | { readonly kind: 'channel'; readonly bytes: Uint8Array };

export type StreamError = 'ERR_NOT_TURN_STREAM' | 'ERR_FRAME_TOO_LARGE';

/** The largest frame a stream can carry: a STUN header plus a 16-bit length. */
export const MAX_STREAM_FRAME = 65_535 + HEADER_LENGTH;

export class StreamFramer {
  /** The first bytes of a header split across reads. */
  readonly #head = new Uint8Array(4);
  #headLength = 0;
  /** The frame being assembled (with its padding), and how much of it has arrived. */
  #partial: Uint8Array | undefined;
  #filled = 0;
  #frameLength = 0;
  #kind: StreamFrame['kind'] = 'stun';
  #error: StreamError | undefined;

  constructor(public limit = MAX_STREAM_FRAME) {}

  get error(): StreamError | undefined {
    return this.#error;
  }

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.#partial ? this.#filled : this.#headLength;
  }

  /**
   * Feed a chunk and collect the complete frames it finishes. Returned frames are views into
   * either the chunk or a buffer made for that frame alone; the framer never writes to them again.
   */
  push(chunk: Uint8Array): StreamFrame[] {
    const frames: StreamFrame[] = [];
    let pos = 0;
    while (!this.#error && pos < chunk.length) {
      if (this.#partial) {
        const take = Math.min(this.#partial.length - this.#filled, chunk.length - pos);
        this.#partial.set(chunk.subarray(pos, pos + take), this.#filled);
        this.#filled += take;
        pos += take;
        if (this.#filled < this.#partial.length) break;
        frames.push({ kind: this.#kind, bytes: this.#partial.subarray(0, this.#frameLength) });
        this.#partial = undefined;
        continue;
      }
      if (this.#headLength > 0 || chunk.length - pos < 4) {
        // A header split across reads: gather its 4 bytes, then start assembling the frame.
        const take = Math.min(4 - this.#headLength, chunk.length - pos);
        this.#head.set(chunk.subarray(pos, pos + take), this.#headLength);
        this.#headLength += take;
        pos += take;
        if (this.#headLength < 4) break;
        this.#headLength = 0;
        const total = this.#readHeader(this.#head, 0);
        if (total === undefined) break;
        this.#partial = new Uint8Array(total);
        this.#partial.set(this.#head, 0);
        this.#filled = 4;
        if (total === 4) {
          frames.push({ kind: this.#kind, bytes: this.#partial.subarray(0, this.#frameLength) });
          this.#partial = undefined;
        }
        continue;
      }
      const total = this.#readHeader(chunk, pos);
      if (total === undefined) break;
      if (chunk.length - pos >= total) {
        frames.push({ kind: this.#kind, bytes: chunk.subarray(pos, pos + this.#frameLength) });
        pos += total;
        continue;
      }
      this.#partial = new Uint8Array(total);
      this.#partial.set(chunk.subarray(pos), 0);
      this.#filled = chunk.length - pos;
      pos = chunk.length;
    }
    return frames;
  }

  /** Reads a frame header; sets the frame's kind and length and returns the bytes it spans. */
  #readHeader(buf: Uint8Array, pos: number): number | undefined {
    const top = buf[pos]! & 0xc0;
    const length = (buf[pos + 2]! << 8) | buf[pos + 3]!;
    let total: number;
    if (top === 0x00) {
      this.#kind = 'stun';
      this.#frameLength = HEADER_LENGTH + length; // RFC 8489 §5
      total = this.#frameLength;
    } else if (top === 0x40) {
      this.#kind = 'channel';
      this.#frameLength = 4 + length;
      total = 4 + ((length + 3) & ~3); // RFC 8656 §12.5: padded to 4 bytes on streams
    } else {
      return this.#fail('ERR_NOT_TURN_STREAM');
    }
    if (this.#frameLength > this.limit) return this.#fail('ERR_FRAME_TOO_LARGE');
    return total;
  }

  #fail(error: StreamError): undefined {
    this.#error = error;
    this.#partial = undefined;
    this.#headLength = 0;
    return undefined;
  }
}
