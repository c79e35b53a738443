/**
 * The Send indication's fast path (RFC 8656 §11.1-11.2) for the per-packet data path: one walk
 * over the attributes that finds XOR-PEER-ADDRESS and DATA and the comprehension-required
 * attributes this server does not understand, without the attribute objects, views and arrays
 * decodeMessage builds. It accepts and refuses exactly what decodeMessage (RFC 8489 §5, §14.5,
 * §14.7 framing) followed by findAttribute and findUnknownAttributes would: the engine's general
 * path (handleStun) still uses those, and test/unit/turn-send-fast-path.test.ts compares the two
 * on random and malformed indications. FINGERPRINT is located here and checked by the caller.
 * Pure: no Node APIs.
 */
import { formatIp } from '../net/ip.ts';
import { Attr, HEADER_LENGTH, isComprehensionRequired, MAGIC_COOKIE } from '../stun/constants.ts';
import { isUnderstood } from './request-support.ts';

/** Where a well-framed Send indication keeps what the data path needs (byte offsets into it). */
export interface SendIndicationScan {
  /** Offset of XOR-PEER-ADDRESS's value, -1 when absent (the first one counts, §14.3). */
  readonly peerAt: number;
  readonly peerLength: number;
  /** Offset of DATA's value, -1 when absent. */
  readonly dataAt: number;
  readonly dataLength: number;
  /** RFC 8489 §6.3.1: a comprehension-required attribute this server does not understand. */
  readonly unknownRequired: boolean;
  /** Offset of the FINGERPRINT attribute's header, -1 when absent (RFC 8489 §14.7). */
  readonly fingerprintAt: number;
}

/** The STUN message type of a Send indication: method 0x006, class indication (RFC 8656 §18). */
export const SEND_INDICATION_TYPE = 0x0016;

/**
 * Scans `buf` as one whole STUN message. undefined when decodeMessage would refuse it; otherwise
 * the offsets above, whatever its message type (the caller checks `buf`'s first two bytes).
 */
export function scanSendIndication(buf: Uint8Array): SendIndicationScan | undefined {
  const n = buf.length;
  // RFC 8489 §5, §6.3: header, top bits, cookie, a length that is a multiple of 4 and exact.
  if (n < HEADER_LENGTH || (buf[0]! & 0xc0) !== 0) return undefined;
  if (((buf[4]! << 24) | (buf[5]! << 16) | (buf[6]! << 8) | buf[7]!) >>> 0 !== MAGIC_COOKIE) return undefined;
  const length = (buf[2]! << 8) | buf[3]!;
  if (length % 4 !== 0 || length + HEADER_LENGTH !== n) return undefined;
  let peerAt = -1;
  let peerLength = 0;
  let dataAt = -1;
  let dataLength = 0;
  let unknownRequired = false;
  let integrityAt = -1;
  let fingerprintAt = -1;
  let pos = HEADER_LENGTH;
  while (pos < n) {
    if (fingerprintAt >= 0 || pos + 4 > n) return undefined; // §14.7: FINGERPRINT is last
    const type = (buf[pos]! << 8) | buf[pos + 1]!;
    const len = (buf[pos + 2]! << 8) | buf[pos + 3]!;
    if (pos + 4 + len > n) return undefined;
    if (type === Attr.Fingerprint) {
      if (len !== 4) return undefined;
      fingerprintAt = pos;
    } else if (integrityAt < 0) {
      // RFC 8489 §14.5: attributes after MESSAGE-INTEGRITY, except FINGERPRINT, are ignored.
      if (type === Attr.MessageIntegrity) {
        if (len !== 20) return undefined;
        integrityAt = pos;
      } else if (type === Attr.XorPeerAddress) {
        if (peerAt < 0) {
          peerAt = pos + 4;
          peerLength = len;
        }
      } else if (type === Attr.Data) {
        if (dataAt < 0) {
          dataAt = pos + 4;
          dataLength = len;
        }
      } else if (isComprehensionRequired(type) && !isUnderstood(type)) {
        unknownRequired = true;
      }
    }
    pos += 4 + ((len + 3) & ~3);
  }
  return { peerAt, peerLength, dataAt, dataLength, unknownRequired, fingerprintAt };
}

/** IPv4 addresses whose text xorIpv4Text's cache keeps (cleared when full): 64 Ki, ~4 MB at most. */
export const IPV4_TEXT_CACHE_MAX = 65_536;

/**
 * The text of the IPv4 X-Address whose 4 bytes start at `at` of a STUN message (RFC 8489 §14.2:
 * XORed with the cookie), from `cache` (by the address's 32-bit value) after its first use: no
 * string built per packet.
 */
export function xorIpv4Text(msg: Uint8Array, at: number, cache: Map<number, string>): string {
  const value =
    (((msg[at]! << 24) | (msg[at + 1]! << 16) | (msg[at + 2]! << 8) | msg[at + 3]!) ^ MAGIC_COOKIE) >>> 0;
  let text = cache.get(value);
  if (text === undefined) {
    text = `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
    if (cache.size >= IPV4_TEXT_CACHE_MAX) cache.clear();
    cache.set(value, text);
  }
  return text;
}

/** The text of the IPv6 X-Address whose 16 bytes start at `at` of a STUN message (RFC 8489 §14.2). */
export function xorIpv6Text(msg: Uint8Array, at: number): string {
  const ip = new Uint8Array(16);
  // XORed with the cookie, then the transaction id: the 16 header bytes from offset 4.
  for (let i = 0; i < 16; i++) ip[i] = msg[at + i]! ^ msg[4 + i]!;
  return formatIp(ip);
}
