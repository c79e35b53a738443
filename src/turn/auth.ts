/**
 * Long-term credential lookup for the TURN engine (RFC 8489 §9.2): maps a USERNAME to the
 * candidate HMAC keys that may have signed the request. Static users give one key; TURN REST
 * usernames (`expiry:tenant:user`) give one key per configured shared secret, so secrets rotate
 * without a restart. Expired REST usernames and revoked ones are refused before any key is tried.
 * Expiry bounds only this lookup, which Allocate needs: requests on an allocation that already
 * exists are checked against the key that created it (src/turn/request-support.ts), and only
 * revocation (`isRevoked`) still applies to them.
 */
import { longTermKey, parseTurnRestUsername, turnRestPassword } from '../credentials/turn-rest.ts';
import type { StunCrypto } from '../stun/stun-crypto.ts';

export type AuthRefusal = 'unknown-user' | 'expired' | 'revoked';

export type KeyLookup =
  | { readonly ok: true; readonly keys: readonly Uint8Array[] }
  | { readonly ok: false; readonly reason: AuthRefusal };

export interface Authenticator {
  keysFor(username: string, realm: string, nowSeconds: number): KeyLookup;
  /** Revoked by username, client or tenant (src/credentials/revocation.ts). */
  isRevoked(username: string): boolean;
}

export interface AuthenticatorOptions {
  readonly users?: readonly { readonly name: string; readonly password: string }[];
  /** Shared secrets for TURN REST usernames; read on every lookup, so the list may change in place. */
  readonly secrets?: () => readonly string[];
  /** Revocation check (fed by the coordinator); false when absent. */
  readonly isRevoked?: (username: string) => boolean;
  /** The platform's MD5 (long-term keys) and HMAC-SHA1 (TURN REST passwords), from the shell. */
  readonly crypto: Pick<StunCrypto, 'md5' | 'hmacSha1'>;
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const staticUsers = new Map((options.users ?? []).map((u) => [u.name, u.password] as const));
  // Derived keys are pure functions of (username, realm, secret); cache a bounded number of them.
  const cache = new Map<string, Uint8Array>();
  const derive = (username: string, realm: string, password: string): Uint8Array => {
    const id = `${username}\u0000${realm}\u0000${password}`;
    const cached = cache.get(id);
    if (cached) return cached;
    const key = longTermKey(username, realm, password, options.crypto);
    if (cache.size >= 4096) cache.delete(cache.keys().next().value as string);
    cache.set(id, key);
    return key;
  };

  return {
    isRevoked: (username) => options.isRevoked?.(username) ?? false,
    keysFor(username, realm, nowSeconds) {
      if (options.isRevoked?.(username)) return { ok: false, reason: 'revoked' };
      const password = staticUsers.get(username);
      if (password !== undefined) return { ok: true, keys: [derive(username, realm, password)] };
      const secrets = options.secrets?.() ?? [];
      if (secrets.length === 0) return { ok: false, reason: 'unknown-user' };
      const rest = parseTurnRestUsername(username);
      if (!rest.ok) return { ok: false, reason: 'unknown-user' };
      if (rest.expiry <= nowSeconds) return { ok: false, reason: 'expired' };
      return {
        ok: true,
        keys: secrets.map((secret) =>
          derive(username, realm, turnRestPassword(secret, username, options.crypto)),
        ),
      };
    },
  };
}
