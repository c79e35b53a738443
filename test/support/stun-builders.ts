/**
 * Builders of client-side STUN/TURN messages for tests: requests with or without long-term
 * credentials, and readers of the answers. Built on the project's codec.
 */
import { createHash, randomBytes } from 'node:crypto';
import { stunCrypto } from '../../relay/platform-crypto.ts';
import type { TransportAddress } from '../../src/net/address.ts';
import {
  decodeErrorCode,
  decodeText,
  decodeU32,
  decodeXorAddress,
  encodeChannelNumber,
  encodeRequestedTransport,
  encodeText,
  encodeU32,
  encodeXorAddress,
} from '../../src/stun/attributes.ts';
import { Attr, MessageClass, TransportProtocol } from '../../src/stun/constants.ts';
import { decodeMessage, encodeMessage, findAttribute, type StunMessage } from '../../src/stun/message.ts';

export interface Credentials {
  readonly username: string;
  readonly password: string;
  readonly realm: string;
  nonce?: string;
}

export type AttrList = [number, Uint8Array][];

export function ltKey(c: { username: string; realm: string; password: string }): Uint8Array {
  return new Uint8Array(createHash('md5').update(`${c.username}:${c.realm}:${c.password}`).digest());
}

export function newTid(): Uint8Array {
  return new Uint8Array(randomBytes(12));
}

/** A request, signed with long-term credentials when `cred.nonce` is known. */
export function request(
  method: number,
  attrs: AttrList,
  cred?: Credentials,
  opts: { tid?: Uint8Array; fingerprint?: boolean } = {},
): { tid: Uint8Array; bytes: Uint8Array } {
  const tid = opts.tid ?? newTid();
  const all: AttrList = [...attrs];
  let key: Uint8Array | undefined;
  if (cred?.nonce !== undefined) {
    all.push([Attr.Username, encodeText(cred.username)]);
    all.push([Attr.Realm, encodeText(cred.realm)]);
    all.push([Attr.Nonce, encodeText(cred.nonce)]);
    key = ltKey(cred);
  }
  const bytes = encodeMessage(method, MessageClass.Request, tid, all, {
    integrityKey: key,
    fingerprint: opts.fingerprint,
    crypto: stunCrypto,
  });
  return { tid, bytes };
}

export function indication(method: number, attrs: AttrList, tid = newTid()): Uint8Array {
  return encodeMessage(method, MessageClass.Indication, tid, attrs);
}

export const transportUdp = (): [number, Uint8Array] => [
  Attr.RequestedTransport,
  encodeRequestedTransport(TransportProtocol.UDP),
];
export const lifetime = (s: number): [number, Uint8Array] => [Attr.Lifetime, encodeU32(s)];
export const channel = (n: number): [number, Uint8Array] => [Attr.ChannelNumber, encodeChannelNumber(n)];
export const peerAttr = (peer: TransportAddress, tid: Uint8Array): [number, Uint8Array] => [
  Attr.XorPeerAddress,
  encodeXorAddress(peer, tid),
];

export function decoded(bytes: Uint8Array): StunMessage {
  const r = decodeMessage(bytes);
  if (!r.ok) throw new Error(`not STUN: ${r.error} at ${r.offset}`);
  return r.message;
}

export function errorCodeOf(msg: StunMessage): number | undefined {
  const a = findAttribute(msg, Attr.ErrorCode);
  if (!a) return undefined;
  const e = decodeErrorCode(a.value);
  return e.ok ? e.value.code : undefined;
}

export function textAttr(msg: StunMessage, type: number): string | undefined {
  const a = findAttribute(msg, type);
  if (!a) return undefined;
  const t = decodeText(a.value, 1000);
  return t.ok ? t.value : undefined;
}

export function u32Attr(msg: StunMessage, type: number): number | undefined {
  const a = findAttribute(msg, type);
  if (!a) return undefined;
  const v = decodeU32(a.value);
  return v.ok ? v.value : undefined;
}

export function xorAddressAttr(msg: StunMessage, type: number): TransportAddress | undefined {
  const a = findAttribute(msg, type);
  if (!a) return undefined;
  const v = decodeXorAddress(a.value, msg.transactionId);
  return v.ok ? v.value : undefined;
}
