/**
 * TURN REST API credentials (draft-uberti-behave-turn-rest-00 §2.2): the username is
 * `expiry:tenant:userId` with `expiry` a UNIX time in seconds, and the password is
 * base64(HMAC-SHA1(shared secret, username)). The edge creates them with the platform's
 * cryptography (Web Crypto on Workers, node:crypto on Node: src/crypto/edge-crypto.ts); the relay checks them synchronously with the same result. Also owns the STUN
 * long-term key derivation that turns such a password into a MESSAGE-INTEGRITY key.
 */

import { type EdgeCrypto, WEB_EDGE_CRYPTO } from '../crypto/edge-crypto.ts';
import { toBase64, utf8Encode } from '../crypto/encoding.ts';
import type { StunCrypto } from '../stun/stun-crypto.ts';

export interface TurnCredential {
  readonly username: string;
  readonly credential: string;
  /** UNIX seconds. */
  readonly expiresAt: number;
}

export class CredentialError extends Error {
  readonly code = 'ERR_CREDENTIAL_INPUT';
  override readonly name = 'CredentialError';
}

export const MAX_TTL_SECONDS = 7 * 86_400;

export interface CreateCredentialOptions {
  readonly secret: string;
  readonly nowSeconds: number;
  readonly ttlSeconds: number;
  readonly tenant?: string;
  readonly userId?: string;
}

function restUsername(o: CreateCredentialOptions): { username: string; expiresAt: number } {
  if (typeof o.secret !== 'string' || o.secret === '') throw new CredentialError('secret must not be empty');
  if (!Number.isFinite(o.nowSeconds) || o.nowSeconds < 0) {
    throw new CredentialError(`nowSeconds must be a finite UNIX time in seconds, got ${o.nowSeconds}`);
  }
  if (!Number.isInteger(o.ttlSeconds) || o.ttlSeconds <= 0 || o.ttlSeconds > MAX_TTL_SECONDS) {
    throw new CredentialError(
      `ttlSeconds must be an integer from 1 to ${MAX_TTL_SECONDS}, got ${o.ttlSeconds}`,
    );
  }
  // The tenant is the field between the first and second ':'; the userId may hold ':' itself.
  if (o.tenant?.includes(':')) throw new CredentialError('tenant must not contain ":"');
  const expiresAt = Math.floor(o.nowSeconds) + o.ttlSeconds;
  const parts = [String(expiresAt)];
  if (o.tenant !== undefined || o.userId !== undefined) parts.push(o.tenant ?? '');
  if (o.userId !== undefined) parts.push(o.userId);
  return { username: parts.join(':'), expiresAt };
}

/**
 * Create a credential with the platform's HMAC-SHA1 (`edgeCrypto`: Web Crypto by default, which
 * runs on Workers and Node; node:crypto on the Node edge).
 */
export async function createTurnCredential(
  o: CreateCredentialOptions,
  edgeCrypto: EdgeCrypto = WEB_EDGE_CRYPTO,
): Promise<TurnCredential> {
  const { username, expiresAt } = restUsername(o);
  const mac = await edgeCrypto.hmac('SHA-1', secretBytes(o.secret), utf8Encode(username));
  return { username, credential: toBase64(mac), expiresAt };
}

/**
 * The UTF-8 of the signing secret, encoded once and kept while it signs: the same array each
 * time, so a platform may keep the key it imported from it (workers/node-crypto.ts).
 */
let lastSecret: { text: string; bytes: Uint8Array } | undefined;
function secretBytes(secret: string): Uint8Array {
  if (lastSecret?.text !== secret) lastSecret = { text: secret, bytes: utf8Encode(secret) };
  return lastSecret.bytes;
}

/**
 * The password for a REST username under one secret, synchronously (the relay's side), with the
 * platform's HMAC-SHA1.
 */
export function turnRestPassword(
  secret: string,
  username: string,
  crypto: Pick<StunCrypto, 'hmacSha1'>,
): string {
  return toBase64(crypto.hmacSha1(utf8Encode(secret), [utf8Encode(username)]));
}

export type ParsedRestUsername =
  | {
      readonly ok: true;
      readonly expiry: number;
      readonly tenant: string | undefined;
      readonly userId: string | undefined;
    }
  | { readonly ok: false; readonly error: 'ERR_NOT_REST_USERNAME' };

/**
 * Splits a REST username. The first ':'-separated field must be a non-negative decimal integer
 * (at most 12 digits, so it stays an exact number; no sign, no spaces), else the name is not a
 * REST username (a static user, say). The tenant runs to the second ':' and the userId is the
 * rest, ':' included. An empty tenant or userId reads as absent, so `1700000000::bob` has no tenant.
 */
export function parseTurnRestUsername(username: string): ParsedRestUsername {
  const first = username.indexOf(':');
  const head = first < 0 ? username : username.slice(0, first);
  if (!/^[0-9]{1,12}$/.test(head)) return { ok: false, error: 'ERR_NOT_REST_USERNAME' };
  const expiry = Number(head);
  if (first < 0) return { ok: true, expiry, tenant: undefined, userId: undefined };
  const rest = username.slice(first + 1);
  const second = rest.indexOf(':');
  const tenant = second < 0 ? rest : rest.slice(0, second);
  const userId = second < 0 ? '' : rest.slice(second + 1);
  return { ok: true, expiry, tenant: tenant || undefined, userId: userId || undefined };
}

/** A REST username is valid strictly before its expiry second; at `expiry` it has expired. */
export function restCredentialsValid(
  username: string,
  nowSeconds: number,
): { ok: true } | { ok: false; error: 'ERR_EXPIRED' | 'ERR_NOT_REST_USERNAME' } {
  const parsed = parseTurnRestUsername(username);
  if (!parsed.ok) return parsed;
  return parsed.expiry > nowSeconds ? { ok: true } : { ok: false, error: 'ERR_EXPIRED' };
}

/**
 * RFC 8489 §9.2.2: key = MD5(username ":" realm ":" password), over UTF-8. No string preparation
 * is applied: neither SASLprep (RFC 4013, as RFC 5389 §15.4 had it) nor the OpaqueString profile
 * (RFC 8265) that RFC 8489 §9.2.2 and §14.3 ask for. REST usernames and passwords are ASCII, where
 * both are the identity; static credentials are used byte-for-byte as configured.
 */
export function longTermKey(
  username: string,
  realm: string,
  password: string,
  crypto: Pick<StunCrypto, 'md5'>,
): Uint8Array {
  return crypto.md5(utf8Encode(`${username}:${realm}:${password}`));
}
