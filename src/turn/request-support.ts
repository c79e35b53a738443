/**
 * What every TURN request handler needs: encoding success and error responses (with SOFTWARE,
 * MESSAGE-INTEGRITY and FINGERPRINT as the request calls for), the long-term credential check
 * (RFC 8489 §9.2.4) and the comprehension-required attribute check (RFC 8489 §6.3.1, 420).
 */
import { copyBytes, toHex } from '../crypto/encoding.ts';
import type { TransportAddress } from '../net/address.ts';
import {
  decodeText,
  encodeAddress,
  encodeErrorCode,
  encodeText,
  encodeUnknownAttributes,
} from '../stun/attributes.ts';
import { Attr, ErrorCode, isComprehensionRequired, MessageClass } from '../stun/constants.ts';
import {
  checkFingerprint,
  checkIntegrity,
  encodeMessage,
  findAttribute,
  type StunMessage,
} from '../stun/message.ts';
import type { StunCrypto } from '../stun/stun-crypto.ts';
import type { Authenticator } from './auth.ts';
import type { NonceManager } from './nonce.ts';

type Attrs = (readonly [number, Uint8Array])[];

export interface ErrorExtras {
  /** Attribute types for UNKNOWN-ATTRIBUTES (420). */
  readonly unknown?: readonly number[];
  /** ALTERNATE-SERVER (300). */
  readonly alternate?: TransportAddress;
  /** REALM and NONCE (401, 438). */
  readonly challenge?: { readonly realm: string; readonly nonce: string };
  /** A reason phrase more telling than the standard one (RFC 8489 §14.8: for a human). */
  readonly phrase?: string;
}

export class Responder {
  readonly #software: Uint8Array | undefined;
  readonly #tid: Uint8Array;
  /** nextTransactionId's bytes: #tid with the counter XORed into the last four. */
  readonly #next: Uint8Array;
  #counter = 0;

  constructor(
    software: string | undefined,
    transactionSeed: Uint8Array,
    readonly crypto: StunCrypto,
  ) {
    this.#software = software ? encodeText(software) : undefined;
    this.#tid = copyBytes(transactionSeed.subarray(0, 12));
    this.#next = copyBytes(this.#tid);
  }

  transactionHex(msg: StunMessage): string {
    return toHex(msg.transactionId);
  }

  /**
   * A fresh transaction id for server-initiated indications (unique per process), in bytes this
   * Responder reuses: valid until the next call, so copy it at once (encodeDataIndication does).
   * No allocation per Data indication.
   */
  nextTransactionId(): Uint8Array {
    this.#counter = (this.#counter + 1) >>> 0;
    const tid = this.#next;
    const c = this.#counter;
    tid[8] = (this.#tid[8]! ^ (c >>> 24)) & 0xff;
    tid[9] = (this.#tid[9]! ^ (c >>> 16)) & 0xff;
    tid[10] = (this.#tid[10]! ^ (c >>> 8)) & 0xff;
    tid[11] = (this.#tid[11]! ^ c) & 0xff;
    return tid;
  }

  fingerprintValid(msg: StunMessage): boolean {
    return checkFingerprint(msg, this.crypto);
  }

  success(req: StunMessage, key: Uint8Array | undefined, attrs: Attrs): Uint8Array {
    if (this.#software) attrs.push([Attr.Software, this.#software]);
    return encodeMessage(req.method, MessageClass.SuccessResponse, req.transactionId, attrs, {
      integrityKey: key,
      fingerprint: req.fingerprintOffset !== undefined,
      crypto: this.crypto,
    });
  }

  /**
   * An error response. Without a key (the request did not authenticate) it carries nothing the
   * client does not need: no SOFTWARE (optional, RFC 8489 §14.14), and a 401 or 438 has no
   * reason phrase (§14.8 makes it diagnostic only), so the answer to a stranger stays small.
   */
  error(req: StunMessage, code: number, key?: Uint8Array, extra: ErrorExtras = {}): Uint8Array {
    const bare = key === undefined && (code === ErrorCode.Unauthorized || code === ErrorCode.StaleNonce);
    const attrs: Attrs = [
      [Attr.ErrorCode, bare ? encodeErrorCode(code, '') : encodeErrorCode(code, extra.phrase)],
    ];
    if (extra.unknown) attrs.push([Attr.UnknownAttributes, encodeUnknownAttributes(extra.unknown)]);
    if (extra.alternate) attrs.push([Attr.AlternateServer, encodeAddress(extra.alternate)]);
    if (extra.challenge) {
      attrs.push([Attr.Realm, encodeText(extra.challenge.realm)]);
      attrs.push([Attr.Nonce, encodeText(extra.challenge.nonce)]);
    }
    if (this.#software && key !== undefined) attrs.push([Attr.Software, this.#software]);
    return encodeMessage(req.method, MessageClass.ErrorResponse, req.transactionId, attrs, {
      integrityKey: key,
      fingerprint: req.fingerprintOffset !== undefined,
      crypto: this.crypto,
    });
  }
}

/** Attributes this server understands in requests and indications. */
const UNDERSTOOD = new Set<number>([
  Attr.MappedAddress,
  Attr.Username,
  Attr.MessageIntegrity,
  Attr.ErrorCode,
  Attr.UnknownAttributes,
  Attr.ChannelNumber,
  Attr.Lifetime,
  Attr.XorPeerAddress,
  Attr.Data,
  Attr.Realm,
  Attr.Nonce,
  Attr.XorRelayedAddress,
  Attr.RequestedAddressFamily,
  Attr.EvenPort,
  Attr.RequestedTransport,
  Attr.XorMappedAddress,
  Attr.ReservationToken,
  Attr.Priority,
  Attr.UseCandidate,
]);

/** Whether this server understands attribute `type` in requests and indications. */
export function isUnderstood(type: number): boolean {
  return UNDERSTOOD.has(type);
}

/**
 * RFC 8489 §6.3.1: comprehension-required attributes the server does not understand. Among them
 * DONT-FRAGMENT (RFC 8656 §7.2 rule 3: the relayed sockets cannot set DF) and the SHA-256
 * integrity and USERHASH of RFC 8489 §14.6/§14.4, which this server does not implement.
 */
export function findUnknownAttributes(msg: StunMessage): number[] {
  const unknown: number[] = [];
  for (const a of msg.attributes) {
    if (isComprehensionRequired(a.type) && !UNDERSTOOD.has(a.type) && !unknown.includes(a.type))
      unknown.push(a.type);
  }
  return unknown;
}

export type AuthOutcome =
  | { readonly ok: true; readonly username: string; readonly key: Uint8Array }
  | { readonly ok: false; readonly reply: Uint8Array; readonly reason: string; readonly code: number };

/** The credentials an existing allocation was created with (RFC 8656 §5). */
export interface BoundCredential {
  readonly username: string;
  readonly integrityKey: Uint8Array;
}

/**
 * RFC 8489 §9.2.4: the server side of the long-term credential mechanism. `source` is the
 * client's IP address, which the nonce is bound to. With `bound` (a
 * request on an existing allocation of this 5-tuple) and the same USERNAME, MESSAGE-INTEGRITY is
 * checked against the key that created the allocation and the credential's expiry is not: it
 * bounds creating allocations only, so calls outlive their credentials. Revocation still applies.
 */
export function authenticate(
  msg: StunMessage,
  now: number,
  realm: string,
  auth: Authenticator,
  nonces: NonceManager,
  respond: Responder,
  source: string,
  bound?: BoundCredential,
): AuthOutcome {
  // RFC 8489 §9.2.4: a 401 MUST carry REALM and NONCE; nothing else is needed.
  const challenge = () => ({ realm, nonce: nonces.issue(now, source) });
  const refuse = (code: number, reason: string, withChallenge: boolean): AuthOutcome => ({
    ok: false,
    reason,
    code,
    reply: respond.error(msg, code, undefined, withChallenge ? { challenge: challenge() } : {}),
  });
  if (msg.integrityOffset === undefined) return refuse(ErrorCode.Unauthorized, 'no-credentials', true);
  const userAttr = findAttribute(msg, Attr.Username);
  const realmAttr = findAttribute(msg, Attr.Realm);
  const nonceAttr = findAttribute(msg, Attr.Nonce);
  if (!userAttr || !realmAttr || !nonceAttr) return refuse(ErrorCode.BadRequest, 'missing-attributes', false);
  const username = decodeText(userAttr.value, 513);
  const nonce = decodeText(nonceAttr.value, 763);
  if (!username.ok || !nonce.ok) return refuse(ErrorCode.BadRequest, 'bad-encoding', false);
  if (nonces.check(nonce.value, now, source) !== 'ok')
    return refuse(ErrorCode.StaleNonce, 'stale-nonce', true);
  if (bound !== undefined && bound.username === username.value) {
    if (auth.isRevoked(username.value)) return refuse(ErrorCode.Unauthorized, 'revoked', true);
    if (checkIntegrity(msg, bound.integrityKey, respond.crypto)) {
      return { ok: true, username: username.value, key: bound.integrityKey };
    }
    return refuse(ErrorCode.Unauthorized, 'bad-integrity', true);
  }
  const lookup = auth.keysFor(username.value, realm, Math.floor(now / 1000));
  if (!lookup.ok) return refuse(ErrorCode.Unauthorized, lookup.reason, true);
  for (const key of lookup.keys) {
    if (checkIntegrity(msg, key, respond.crypto)) return { ok: true, username: username.value, key };
  }
  return refuse(ErrorCode.Unauthorized, 'bad-integrity', true);
}
