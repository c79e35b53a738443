/**
 * Typed STUN/TURN attribute values: encoders return the value bytes (no header, no padding) and
 * decoders take the value bytes and return a result, never throwing on wire input.
 * RFC 8489 §14 (STUN attributes) and RFC 8656 §14 (TURN attributes).
 */
import { copyBytes } from '../crypto/encoding.ts';
import type { TransportAddress } from '../net/address.ts';
import { formatIp, parseIp } from '../net/ip.ts';
import { AddressFamily, ERROR_REASONS, MAGIC_COOKIE } from './constants.ts';

export type AttrDecodeError =
  | 'ERR_ATTR_LENGTH'
  | 'ERR_ADDRESS_FAMILY'
  | 'ERR_ERROR_CODE_RANGE'
  | 'ERR_TEXT_TOO_LONG'
  | 'ERR_TEXT_ENCODING';

export type AttrResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: AttrDecodeError };

const fail = <T>(error: AttrDecodeError): AttrResult<T> => ({ ok: false, error });
const okv = <T>(value: T): AttrResult<T> => ({ ok: true, value });

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** RFC 8489 §14.1 MAPPED-ADDRESS (and ALTERNATE-SERVER, §14.15): family, port, address in the clear. */
export function encodeAddress(a: TransportAddress): Uint8Array {
  return encodeAddressWith(a, undefined);
}

/** RFC 8489 §14.2 XOR-MAPPED-ADDRESS; the same layout serves XOR-PEER-ADDRESS and XOR-RELAYED-ADDRESS. */
export function encodeXorAddress(a: TransportAddress, transactionId: Uint8Array): Uint8Array {
  return encodeAddressWith(a, transactionId);
}

function encodeAddressWith(a: TransportAddress, tid: Uint8Array | undefined): Uint8Array {
  const ip = parseIp(a.address);
  if (!ip || (ip.length === 4) !== (a.family === 4)) {
    throw new TypeError(`encodeAddress: not an IPv${a.family} literal: ${a.address}`);
  }
  const out = new Uint8Array(4 + ip.length);
  const view = new DataView(out.buffer);
  out[1] = ip.length === 4 ? AddressFamily.IPv4 : AddressFamily.IPv6;
  view.setUint16(2, tid ? a.port ^ (MAGIC_COOKIE >>> 16) : a.port);
  out.set(ip, 4);
  if (tid) xorAddressBytes(out.subarray(4), tid);
  return out;
}

function xorAddressBytes(ip: Uint8Array, tid: Uint8Array): void {
  // RFC 8489 §14.2: X-Address is XORed with the magic cookie, then (IPv6) the transaction id.
  const cookie = [0x21, 0x12, 0xa4, 0x42];
  for (let i = 0; i < ip.length; i++) ip[i]! ^= i < 4 ? cookie[i]! : tid[i - 4]!;
}

export function decodeAddress(value: Uint8Array): AttrResult<TransportAddress> {
  return decodeAddressWith(value, undefined);
}

export function decodeXorAddress(value: Uint8Array, transactionId: Uint8Array): AttrResult<TransportAddress> {
  return decodeAddressWith(value, transactionId);
}

function decodeAddressWith(value: Uint8Array, tid: Uint8Array | undefined): AttrResult<TransportAddress> {
  if (value.length < 4) return fail('ERR_ATTR_LENGTH');
  const family = value[1];
  const size = family === AddressFamily.IPv4 ? 4 : family === AddressFamily.IPv6 ? 16 : 0;
  if (size === 0) return fail('ERR_ADDRESS_FAMILY');
  if (value.length !== 4 + size) return fail('ERR_ATTR_LENGTH');
  let port = (value[2]! << 8) | value[3]!;
  const ip = copyBytes(value.subarray(4, 4 + size));
  if (tid) {
    port ^= MAGIC_COOKIE >>> 16;
    xorAddressBytes(ip, tid);
  }
  return okv({ family: size === 4 ? 4 : 6, address: formatIp(ip), port });
}

export interface ErrorCodeValue {
  readonly code: number;
  readonly reason: string;
}

/** RFC 8489 §14.8 ERROR-CODE: class (3..6) and number (0..99), then a UTF-8 reason phrase. */
export function encodeErrorCode(code: number, reason = ERROR_REASONS[code] ?? ''): Uint8Array {
  const text = textEncoder.encode(reason).subarray(0, 763);
  const out = new Uint8Array(4 + text.length);
  out[2] = Math.floor(code / 100) & 0x07;
  out[3] = code % 100;
  out.set(text, 4);
  return out;
}

export function decodeErrorCode(value: Uint8Array): AttrResult<ErrorCodeValue> {
  if (value.length < 4) return fail('ERR_ATTR_LENGTH');
  const cls = value[2]! & 0x07;
  const num = value[3]!;
  if (cls < 3 || cls > 6 || num > 99) return fail('ERR_ERROR_CODE_RANGE');
  const reason = decodeText(value.subarray(4), 763);
  return reason.ok ? okv({ code: cls * 100 + num, reason: reason.value }) : fail(reason.error);
}

/** RFC 8489 §14.9 UNKNOWN-ATTRIBUTES: a list of 16-bit types. */
export function encodeUnknownAttributes(types: readonly number[]): Uint8Array {
  const out = new Uint8Array(types.length * 2);
  types.forEach((t, i) => {
    out[i * 2] = t >> 8;
    out[i * 2 + 1] = t & 0xff;
  });
  return out;
}

export function decodeUnknownAttributes(value: Uint8Array): AttrResult<number[]> {
  if (value.length % 2 !== 0) return fail('ERR_ATTR_LENGTH');
  const types: number[] = [];
  for (let i = 0; i < value.length; i += 2) types.push((value[i]! << 8) | value[i + 1]!);
  return okv(types);
}

export function encodeU32(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n >>> 0);
  return out;
}

/** LIFETIME (RFC 8656 §14.2) and other 32-bit values. */
export function decodeU32(value: Uint8Array): AttrResult<number> {
  if (value.length !== 4) return fail('ERR_ATTR_LENGTH');
  return okv(((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0);
}

/** RFC 8656 §14.1 CHANNEL-NUMBER: 16-bit number then 16 bits RFFU. */
export function encodeChannelNumber(channel: number): Uint8Array {
  return new Uint8Array([channel >> 8, channel & 0xff, 0, 0]);
}

export function decodeChannelNumber(value: Uint8Array): AttrResult<number> {
  if (value.length !== 4) return fail('ERR_ATTR_LENGTH');
  return okv((value[0]! << 8) | value[1]!);
}

/** RFC 8656 §14.7 REQUESTED-TRANSPORT: protocol number then 24 bits RFFU. */
export function encodeRequestedTransport(protocol: number): Uint8Array {
  return new Uint8Array([protocol, 0, 0, 0]);
}

/** RFC 8656 §14.7 REQUESTED-TRANSPORT and §14.1 REQUESTED-ADDRESS-FAMILY share this layout. */
export function decodeFirstByte(value: Uint8Array): AttrResult<number> {
  if (value.length !== 4) return fail('ERR_ATTR_LENGTH');
  return okv(value[0]!);
}

/** RFC 8656 §14.6 EVEN-PORT: one byte, the R bit asks to reserve the next port. */
export function decodeEvenPort(value: Uint8Array): AttrResult<{ reserveNext: boolean }> {
  if (value.length !== 1 && value.length !== 4) return fail('ERR_ATTR_LENGTH');
  return okv({ reserveNext: (value[0]! & 0x80) !== 0 });
}

export function encodeText(text: string): Uint8Array {
  return textEncoder.encode(text);
}

/**
 * USERNAME (< 513 bytes, RFC 8489 §14.3), REALM, NONCE and SOFTWARE (< 763 bytes, §14.9-14.14).
 * Invalid UTF-8 is an error rather than a replacement character: these strings feed authentication.
 */
export function decodeText(value: Uint8Array, maxBytes: number): AttrResult<string> {
  if (value.length > maxBytes) return fail('ERR_TEXT_TOO_LONG');
  try {
    return okv(textDecoder.decode(value));
  } catch {
    return fail('ERR_TEXT_ENCODING');
  }
}
