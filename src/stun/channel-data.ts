/**
 * ChannelData framing (RFC 8656 §12.4): a 4-byte header (channel number, length) then the
 * application data, padded to a multiple of 4 over TCP/TLS (§12.5). This sits on the per-packet
 * data path, so decoding returns plain numbers and a view, never an object per packet.
 */
import { MAX_CHANNEL, MIN_CHANNEL } from './constants.ts';
import { packetBytes } from './packet-bytes.ts';

export const CHANNEL_HEADER_LENGTH = 4;

/** RFC 8656 §12 / RFC 7983: first byte 0x40..0x7f marks ChannelData on a TURN port. */
export function looksLikeChannelData(buf: Uint8Array): boolean {
  return buf.length >= CHANNEL_HEADER_LENGTH && (buf[0]! & 0xc0) === 0x40;
}

export function isValidChannel(channel: number): boolean {
  return channel >= MIN_CHANNEL && channel <= MAX_CHANNEL;
}

/** The channel number of a ChannelData message, or -1 when it is not one a client may use. */
export function channelOf(buf: Uint8Array): number {
  if (buf.length < CHANNEL_HEADER_LENGTH) return -1;
  const channel = (buf[0]! << 8) | buf[1]!;
  return isValidChannel(channel) ? channel : -1;
}

/**
 * The application data length of a well-formed ChannelData message, or -1. Over UDP the datagram
 * may carry up to 3 bytes of padding after the data (RFC 8656 §12.5); more than that, or less data
 * than the header says, makes the message malformed.
 */
export function channelDataLength(buf: Uint8Array): number {
  if (buf.length < CHANNEL_HEADER_LENGTH) return -1;
  const len = (buf[2]! << 8) | buf[3]!;
  const extra = buf.length - CHANNEL_HEADER_LENGTH - len;
  return extra >= 0 && extra <= 3 ? len : -1;
}

/**
 * Frame `data` as ChannelData into new bytes (packetBytes: a view of a shared slab). `pad` rounds
 * the length up to 4 bytes with zeros, as required over stream transports.
 */
export function encodeChannelData(channel: number, data: Uint8Array, pad: boolean): Uint8Array {
  const total = CHANNEL_HEADER_LENGTH + (pad ? (data.length + 3) & ~3 : data.length);
  const out = packetBytes(total);
  out[0] = channel >> 8;
  out[1] = channel & 0xff;
  out[2] = data.length >> 8;
  out[3] = data.length & 0xff;
  out.set(data, CHANNEL_HEADER_LENGTH);
  return out;
}
