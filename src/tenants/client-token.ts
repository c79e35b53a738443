/**
 * Client tokens: what a browser holds instead of an API key. A tenant's server mints one with its
 * key (`POST /v1/tokens`), scoped to a client id, optionally a room and the web origins that may
 * use it, for minutes; the page then calls /v1/allocate and /v1/measurements with it. The key
 * never reaches the page, a leaked token dies on its own, and disabling the key that minted it
 * ends its tokens at once (the edge checks the key on every use).
 *
 * A token is a JWT (RFC 7519) signed HS256 (RFC 7518 §3.2) with jose over Web Crypto, so Node and
 * Workers edges mint and check the same tokens. The signing key is not one more secret to deploy:
 * it is derived from each TURN REST secret the edge already shares with its peers
 * (HMAC-SHA-256(secret, "relay-backbone client token v1")), so the first secret signs, every
 * configured one verifies, and rotating TURN secrets rotates tokens with them. Pure: time comes in.
 */
import { errors, jwtVerify, SignJWT } from 'jose';
import type { EdgeCrypto } from '../crypto/edge-crypto.ts';
import { utf8Encode } from '../crypto/encoding.ts';
import { type AuthResult, authenticate, type TenantStore, usableKey } from './api-keys.ts';

export const TOKEN_ISSUER = 'relay-backbone-edge';
export const TOKEN_AUDIENCE = 'relay-backbone';
export const TOKEN_TTL = { min: 60, max: 3600, default: 600 } as const;
/** Client ids go into TURN usernames (`expiry:tenant:client`): no ':' and short. */
export const CLIENT_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

export interface ClientTokenClaims {
  readonly tenant: string;
  /** The API key that minted it; the token lives only while that key is usable. */
  readonly keyId: string;
  readonly client: string;
  readonly room?: string | undefined;
  /** Web origins allowed to use it (`https://app.example.com`); empty: any caller. */
  readonly origins: readonly string[];
  /** Unix seconds. */
  readonly expiresAt: number;
}

export type TokenRefusal = 'malformed' | 'bad-signature' | 'expired' | 'invalid-claims';

const DERIVE_LABEL = 'relay-backbone client token v1';

/** The HS256 key of one TURN secret (see the header). */
export async function tokenKey(turnSecret: string): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    'raw',
    utf8Encode(turnSecret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, utf8Encode(DERIVE_LABEL)));
}

/** Three base64url parts, the first a JSON header: looks like a JWT, not an `rbk_` API key. */
export function looksLikeToken(s: string): boolean {
  return /^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(s);
}

/** An origin as browsers send it: scheme, host and an optional port, nothing else. */
export function isOrigin(s: string): boolean {
  try {
    const u = new URL(s);
    return (u.protocol === 'https:' || u.protocol === 'http:') && u.origin === s;
  } catch {
    return false;
  }
}

export async function mintClientToken(
  key: Uint8Array,
  c: ClientTokenClaims,
  nowSeconds: number,
): Promise<string> {
  return new SignJWT({
    ten: c.tenant,
    kid: c.keyId,
    ...(c.room ? { room: c.room } : {}),
    org: [...c.origins],
  })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject(c.client)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(c.expiresAt)
    .sign(key);
}

const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === 'string');

/** Checks signature (any of `keys`), issuer, audience, expiry and claim shapes. */
export async function verifyClientToken(
  keys: readonly Uint8Array[],
  token: string,
  nowSeconds: number,
): Promise<{ ok: true; claims: ClientTokenClaims } | { ok: false; reason: TokenRefusal }> {
  if (!looksLikeToken(token)) return { ok: false, reason: 'malformed' };
  let expired = false;
  for (const key of keys) {
    try {
      const { payload: p } = await jwtVerify(token, key, {
        algorithms: ['HS256'],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        currentDate: new Date(nowSeconds * 1000),
        clockTolerance: 0,
      });
      const room = p.room;
      if (
        typeof p.ten !== 'string' ||
        typeof p.kid !== 'string' ||
        typeof p.sub !== 'string' ||
        !CLIENT_ID_RE.test(p.sub) ||
        typeof p.exp !== 'number' ||
        !isStringArray(p.org) ||
        (room !== undefined && (typeof room !== 'string' || room.length === 0 || room.length > 128))
      ) {
        return { ok: false, reason: 'invalid-claims' };
      }
      return {
        ok: true,
        claims: { tenant: p.ten, keyId: p.kid, client: p.sub, room, origins: p.org, expiresAt: p.exp },
      };
    } catch (err) {
      if (err instanceof errors.JWTExpired) expired = true;
      else if (err instanceof errors.JWTClaimValidationFailed) return { ok: false, reason: 'invalid-claims' };
      else if (!(err instanceof errors.JWSSignatureVerificationFailed))
        return { ok: false, reason: 'malformed' };
    }
  }
  return { ok: false, reason: expired ? 'expired' : 'bad-signature' };
}

/** Whether a request from `origin` (its Origin header) may use a credential limited to `allowed`. */
export function originAllowed(allowed: readonly string[] | undefined, origin: string | undefined): boolean {
  if (!allowed || allowed.length === 0) return true;
  return origin !== undefined && allowed.includes(origin);
}

/**
 * The caller of an edge request from what it presented: an API key (`rbk_...`) or a client token
 * minted with one. A token is checked for signature and expiry, then its key must still be usable
 * (enabled, not expired) and the request's Origin must be one the token (and its key) allow.
 */
export async function authenticateCaller(
  store: Pick<TenantStore, 'getKey' | 'getTenant'>,
  presented: string | undefined,
  o: {
    now: number;
    origin?: string | undefined;
    tokenKeys: () => Promise<readonly Uint8Array[]>;
    /** Hashes presented API keys; Web Crypto when absent. */
    crypto?: EdgeCrypto | undefined;
  },
): Promise<AuthResult> {
  if (!presented || !looksLikeToken(presented)) return authenticate(store, presented, o);
  const checked = await verifyClientToken(await o.tokenKeys(), presented, Math.floor(o.now / 1000));
  if (!checked.ok) {
    return checked.reason === 'expired'
      ? {
          ok: false,
          reason: 'expired',
          detail: 'the client token has expired; ask your server for a new one',
        }
      : { ok: false, reason: 'malformed', detail: `not a valid client token (${checked.reason})` };
  }
  const t = checked.claims;
  const record = await store.getKey(t.keyId);
  if (!record || record.tenant !== t.tenant)
    return { ok: false, reason: 'unknown', detail: `the key that minted this token is gone` };
  if (!originAllowed(t.origins, o.origin))
    return {
      ok: false,
      reason: 'origin',
      detail: `this client token may not be used from ${o.origin ?? 'no origin'}`,
    };
  const usable = await usableKey(store, record, o);
  if (!usable.ok) return usable;
  return {
    ok: true,
    principal: {
      ...usable.principal,
      token: { client: t.client, room: t.room, origins: t.origins, expiresAt: t.expiresAt },
    },
  };
}
