/**
 * STUN message framing (RFC 8489 §5, §6.3): decode a datagram or stream frame into a message whose
 * attributes are views into the original bytes, and encode one, with MESSAGE-INTEGRITY and
 * FINGERPRINT computed in place. Decoding never throws: malformed input returns an error code and
 * the byte offset where it failed. Pure: no sockets, clocks or Node APIs.
 */
import { copyBytes, timingSafeEqual } from '../crypto/encoding.ts';
import {
  Attr,
  FINGERPRINT_XOR,
  HEADER_LENGTH,
  MAGIC_COOKIE,
  type MessageClass,
  TRANSACTION_ID_LENGTH,
} from './constants.ts';
import { packetBytes } from './packet-bytes.ts';
import type { StunCrypto } from './stun-crypto.ts';

export interface StunAttribute {
  readonly type: number;
  /** A view into the message bytes, without padding. */
  readonly value: Uint8Array;
  /** Offset of the attribute's 4-byte header within the message. */
  readonly offset: number;
}

export interface StunMessage {
  readonly method: number;
  readonly cls: MessageClass;
  readonly transactionId: Uint8Array;
  /** Attributes in wire order; those after MESSAGE-INTEGRITY (other than FINGERPRINT) are dropped (§14.5). */
  readonly attributes: readonly StunAttribute[];
  /** The whole encoded message. */
  readonly raw: Uint8Array;
  /** Offset of the MESSAGE-INTEGRITY attribute header, when present. */
  readonly integrityOffset: number | undefined;
  /** Offset of the FINGERPRINT attribute header, when present. */
  readonly fingerprintOffset: number | undefined;
}

export type StunDecodeError =
  | 'ERR_TOO_SHORT'
  | 'ERR_NOT_STUN'
  | 'ERR_BAD_COOKIE'
  | 'ERR_LENGTH_NOT_ALIGNED'
  | 'ERR_LENGTH_MISMATCH'
  | 'ERR_ATTR_TRUNCATED'
  | 'ERR_FINGERPRINT_NOT_LAST'
  | 'ERR_BAD_INTEGRITY_LENGTH';

export type DecodeResult =
  | { readonly ok: true; readonly message: StunMessage }
  | { readonly ok: false; readonly error: StunDecodeError; readonly offset: number };

/** RFC 8489 §5: the class bits C1 C0 are interleaved with the 12 method bits. */
export function messageType(method: number, cls: MessageClass): number {
  return (
    (method & 0x000f) |
    ((method & 0x0070) << 1) |
    ((method & 0x0f80) << 2) |
    ((cls & 1) << 4) |
    ((cls & 2) << 7)
  );
}

export function splitMessageType(type: number): { method: number; cls: MessageClass } {
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const cls = (((type & 0x0010) >> 4) | ((type & 0x0100) >> 7)) as MessageClass;
  return { method, cls };
}

/** Cheap check used to demultiplex: top two bits zero and the magic cookie in place (RFC 8489 §6.3). */
export function looksLikeStun(buf: Uint8Array): boolean {
  return (
    buf.length >= HEADER_LENGTH &&
    (buf[0]! & 0xc0) === 0 &&
    buf[4] === 0x21 &&
    buf[5] === 0x12 &&
    buf[6] === 0xa4 &&
    buf[7] === 0x42
  );
}

const pad4 = (n: number): number => (n + 3) & ~3;

/** Decode one whole STUN message; `buf` must hold exactly one message (a datagram or a stream frame). */
export function decodeMessage(buf: Uint8Array): DecodeResult {
  if (buf.length < HEADER_LENGTH) return { ok: false, error: 'ERR_TOO_SHORT', offset: 0 };
  if ((buf[0]! & 0xc0) !== 0) return { ok: false, error: 'ERR_NOT_STUN', offset: 0 };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (view.getUint32(4) !== MAGIC_COOKIE) return { ok: false, error: 'ERR_BAD_COOKIE', offset: 4 };
  const length = view.getUint16(2);
  if (length % 4 !== 0) return { ok: false, error: 'ERR_LENGTH_NOT_ALIGNED', offset: 2 };
  if (length + HEADER_LENGTH !== buf.length) return { ok: false, error: 'ERR_LENGTH_MISMATCH', offset: 2 };

  const attributes: StunAttribute[] = [];
  let integrityOffset: number | undefined;
  let fingerprintOffset: number | undefined;
  let pos = HEADER_LENGTH;
  while (pos < buf.length) {
    if (fingerprintOffset !== undefined) return { ok: false, error: 'ERR_FINGERPRINT_NOT_LAST', offset: pos };
    if (pos + 4 > buf.length) return { ok: false, error: 'ERR_ATTR_TRUNCATED', offset: pos };
    const type = view.getUint16(pos);
    const len = view.getUint16(pos + 2);
    if (pos + 4 + len > buf.length) return { ok: false, error: 'ERR_ATTR_TRUNCATED', offset: pos };
    const value = buf.subarray(pos + 4, pos + 4 + len);
    if (type === Attr.Fingerprint) {
      if (len !== 4) return { ok: false, error: 'ERR_ATTR_TRUNCATED', offset: pos };
      fingerprintOffset = pos;
      attributes.push({ type, value, offset: pos });
    } else if (integrityOffset === undefined) {
      // RFC 8489 §14.5: attributes after MESSAGE-INTEGRITY, except FINGERPRINT, are ignored.
      if (type === Attr.MessageIntegrity) {
        if (len !== 20) return { ok: false, error: 'ERR_BAD_INTEGRITY_LENGTH', offset: pos };
        integrityOffset = pos;
      }
      attributes.push({ type, value, offset: pos });
    }
    pos += 4 + pad4(len);
  }
  const { method, cls } = splitMessageType(view.getUint16(0));
  return {
    ok: true,
    message: {
      method,
      cls,
      transactionId: buf.subarray(8, 8 + TRANSACTION_ID_LENGTH),
      attributes,
      raw: buf,
      integrityOffset,
      fingerprintOffset,
    },
  };
}

export function findAttribute(msg: StunMessage, type: number): StunAttribute | undefined {
  for (const a of msg.attributes) if (a.type === type) return a;
  return undefined;
}

/** RFC 8489 §14.7: CRC-32 of the message up to FINGERPRINT, XORed with 0x5354554e. */
export function checkFingerprint(msg: StunMessage, crypto: Pick<StunCrypto, 'crc32'>): boolean {
  const at = msg.fingerprintOffset;
  return at === undefined || fingerprintMatches(msg.raw, at, crypto);
}

/** As checkFingerprint, for the FINGERPRINT attribute whose header is at offset `at` of `raw`. */
export function fingerprintMatches(raw: Uint8Array, at: number, crypto: Pick<StunCrypto, 'crc32'>): boolean {
  const got = ((raw[at + 4]! << 24) | (raw[at + 5]! << 16) | (raw[at + 6]! << 8) | raw[at + 7]!) >>> 0;
  return got === (crypto.crc32(raw.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0;
}

/**
 * RFC 8489 §14.5: HMAC-SHA1 over the message up to MESSAGE-INTEGRITY, with the header's length
 * field rewritten to end just after MESSAGE-INTEGRITY.
 */
export function checkIntegrity(
  msg: StunMessage,
  key: Uint8Array,
  crypto: Pick<StunCrypto, 'hmacSha1'>,
): boolean {
  const at = msg.integrityOffset;
  if (at === undefined) return false;
  const header = copyBytes(msg.raw.subarray(0, HEADER_LENGTH));
  const len = at + 24 - HEADER_LENGTH;
  header[2] = len >> 8;
  header[3] = len & 0xff;
  const mac = crypto.hmacSha1(key, [header, msg.raw.subarray(HEADER_LENGTH, at)]);
  return timingSafeEqual(mac, msg.raw.subarray(at + 4, at + 24));
}

export interface EncodeOptions {
  /** Long-term credential key: adds MESSAGE-INTEGRITY (RFC 8489 §14.5). */
  readonly integrityKey?: Uint8Array | undefined;
  /** Adds FINGERPRINT (RFC 8489 §14.7). */
  readonly fingerprint?: boolean | undefined;
  /** The platform's hashes: `hmacSha1` is required with `integrityKey`, `crc32` with `fingerprint`. */
  readonly crypto?: Partial<Pick<StunCrypto, 'hmacSha1' | 'crc32'>> | undefined;
}

/** Encode a message from raw attribute values (in order), padding each to 4 bytes. */
export function encodeMessage(
  method: number,
  cls: MessageClass,
  transactionId: Uint8Array,
  attributes: readonly (readonly [type: number, value: Uint8Array])[],
  options: EncodeOptions = {},
): Uint8Array {
  const hmacSha1 = options.crypto?.hmacSha1;
  const crc32 = options.crypto?.crc32;
  if (options.integrityKey && !hmacSha1)
    throw new TypeError('encodeMessage: integrityKey needs crypto.hmacSha1');
  if (options.fingerprint && !crc32) throw new TypeError('encodeMessage: fingerprint needs crypto.crc32');
  let bodyLength = 0;
  for (const [, value] of attributes) bodyLength += 4 + pad4(value.length);
  const integrityAt = HEADER_LENGTH + bodyLength;
  if (options.integrityKey) bodyLength += 24;
  const fingerprintAt = HEADER_LENGTH + bodyLength;
  if (options.fingerprint) bodyLength += 8;

  const out = new Uint8Array(HEADER_LENGTH + bodyLength);
  const view = new DataView(out.buffer);
  view.setUint16(0, messageType(method, cls));
  view.setUint32(4, MAGIC_COOKIE);
  out.set(transactionId.subarray(0, TRANSACTION_ID_LENGTH), 8);
  let pos = HEADER_LENGTH;
  for (const [type, value] of attributes) {
    view.setUint16(pos, type);
    view.setUint16(pos + 2, value.length);
    out.set(value, pos + 4);
    pos += 4 + pad4(value.length);
  }
  if (options.integrityKey) {
    view.setUint16(2, integrityAt + 24 - HEADER_LENGTH);
    const mac = hmacSha1!(options.integrityKey, [out.subarray(0, integrityAt)]);
    view.setUint16(integrityAt, Attr.MessageIntegrity);
    view.setUint16(integrityAt + 2, 20);
    out.set(mac, integrityAt + 4);
  }
  view.setUint16(2, bodyLength);
  if (options.fingerprint) {
    view.setUint16(fingerprintAt, Attr.Fingerprint);
    view.setUint16(fingerprintAt + 2, 4);
    view.setUint32(fingerprintAt + 4, (crc32!(out.subarray(0, fingerprintAt)) ^ FINGERPRINT_XOR) >>> 0);
  }
  return out;
}

/**
 * A Data indication (RFC 8656 §11.4: XOR-PEER-ADDRESS and DATA, nothing else) written in one
 * allocation for the peer-to-client data path: the same bytes as encodeMessage(Method.Data,
 * Indication, tid, [[XorPeerAddress, ...], [Data, data]]) without the intermediate arrays.
 * `peerIp` is the address's 4 or 16 bytes (RFC 8489 §14.2: XORed here). The bytes are a view of a
 * shared slab (packetBytes).
 */
export function encodeDataIndication(
  transactionId: Uint8Array,
  peerIp: Uint8Array,
  peerPort: number,
  data: Uint8Array,
): Uint8Array {
  const addressLength = 4 + peerIp.length;
  const out = packetBytes(HEADER_LENGTH + 4 + addressLength + 4 + pad4(data.length));
  const bodyLength = out.length - HEADER_LENGTH;
  out[1] = 0x17; // Data indication: method 0x007, class indication
  out[2] = bodyLength >>> 8;
  out[3] = bodyLength & 0xff;
  out[4] = 0x21;
  out[5] = 0x12;
  out[6] = 0xa4;
  out[7] = 0x42;
  for (let i = 0; i < TRANSACTION_ID_LENGTH; i++) out[8 + i] = transactionId[i]!;
  let pos = HEADER_LENGTH;
  out[pos + 1] = 0x12; // XOR-PEER-ADDRESS
  out[pos + 3] = addressLength;
  out[pos + 5] = peerIp.length === 4 ? 0x01 : 0x02;
  out[pos + 6] = (peerPort >>> 8) ^ 0x21;
  out[pos + 7] = (peerPort & 0xff) ^ 0x12;
  // XORed with the cookie, then the transaction id: the 16 header bytes from offset 4, as written.
  for (let i = 0; i < peerIp.length; i++) out[pos + 8 + i] = peerIp[i]! ^ out[4 + i]!;
  pos += 4 + addressLength;
  out[pos + 1] = 0x13; // DATA
  out[pos + 2] = data.length >>> 8;
  out[pos + 3] = data.length & 0xff;
  out.set(data, pos + 4);
  return out;
}
