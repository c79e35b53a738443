/**
 * Splits a TCP/TLS byte stream into STUN messages and ChannelData messages (RFC 8656 §12.5,
 * RFC 8489 §6.2.2): several messages may arrive in one read, and one message may be split across
 * reads. ChannelData is padded to 4 bytes on streams; the padding is consumed here and the frame
 * returned without it. A first byte that is neither STUN (0b00) nor ChannelData (0b01) means the
 * stream is not TURN and must be closed.
 */
import { copyBytes } from '../crypto/encoding.ts';
import { HEADER_LENGTH } from './constants.ts';

export type StreamFrame =
  | { readonly kind: 'stun'; readonly bytes: Uint8Array }
  | { readonly kind: 'channel'; readonly bytes: Uint8Array };

export type StreamError = 'ERR_NOT_TURN_STREAM' | 'ERR_FRAME_TOO_LARGE';

export class StreamFramer {
  #pending: Uint8Array = new Uint8Array(0);
  #error: StreamError | undefined;

  constructor(private readonly maxFrame = 65_535 + HEADER_LENGTH) {}

  get error(): StreamError | undefined {
    return this.#error;
  }

  /** Bytes held back waiting for the rest of a frame. */
  get buffered(): number {
    return this.#pending.length;
  }

  /**
   * Feed a chunk and collect the complete frames it finishes. Returned frames are views into
   * either the chunk or an internal buffer; they stay valid until the next push.
   */
  push(chunk: Uint8Array): StreamFrame[] {
    const frames: StreamFrame[] = [];
    if (this.#error) return frames;
    let buf = chunk;
    if (this.#pending.length > 0) {
      buf = new Uint8Array(this.#pending.length + chunk.length);
      buf.set(this.#pending, 0);
      buf.set(chunk, this.#pending.length);
    }
    let pos = 0;
    while (buf.length - pos >= 4) {
      const top = buf[pos]! & 0xc0;
      let frameLen: number;
      let consumed: number;
      if (top === 0x00) {
        if (buf.length - pos < 4) break;
        frameLen = HEADER_LENGTH + ((buf[pos + 2]! << 8) | buf[pos + 3]!);
        consumed = frameLen;
      } else if (top === 0x40) {
        const len = (buf[pos + 2]! << 8) | buf[pos + 3]!;
        frameLen = 4 + len;
        consumed = 4 + ((len + 3) & ~3);
      } else {
        this.#error = 'ERR_NOT_TURN_STREAM';
        this.#pending = new Uint8Array(0);
        return frames;
      }
      if (frameLen > this.maxFrame) {
        this.#error = 'ERR_FRAME_TOO_LARGE';
        this.#pending = new Uint8Array(0);
        return frames;
      }
      if (buf.length - pos < consumed) break;
      frames.push({ kind: top === 0 ? 'stun' : 'channel', bytes: buf.subarray(pos, pos + frameLen) });
      pos += consumed;
    }
    this.#pending = pos < buf.length ? copyBytes(buf.subarray(pos)) : new Uint8Array(0);
    return frames;
  }
}
