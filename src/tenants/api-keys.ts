/**
 * Tenants and their API keys. A key is `rbk_<id>_<secret>`: the id (16 hex digits) names the key
 * in storage and logs; the secret (43 base64url characters, 256 random bits) is shown once, when
 * the key is made, and only its SHA-256 is kept. A random 256-bit secret needs no slow password
 * hash: nobody can guess it, so a fast digest that hides it in a leaked store is enough (the same
 * reasoning GitHub and Stripe tokens follow). Comparison is constant-time. Pure: randomness comes
 * in as bytes, and hashing is Web Crypto (Node and Workers alike).
 */
import { type EdgeCrypto, WEB_EDGE_CRYPTO } from '../crypto/edge-crypto.ts';
import { timingSafeEqual, toHex, utf8Encode } from '../crypto/encoding.ts';
import type { TenantTtl } from './ttl.ts';

export const API_KEY_PREFIX = 'rbk';
const KEY_RE = /^rbk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
/** Tenant ids go into TURN REST usernames (`expiry:tenant:user`), so no ':' and nothing exotic. */
const TENANT_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;

export interface RateLimit {
  /** Sustained requests per second. */
  readonly ratePerSecond: number;
  /** Requests that may arrive at once after a quiet spell. */
  readonly burst: number;
}

/** A tenant: its rate limit per key and, optionally, the credential TTLs its clients may ask for. */
export interface Tenant extends RateLimit, TenantTtl {
  readonly id: string;
  readonly name: string;
  readonly createdAt: number;
}

export interface ApiKeyRecord {
  readonly id: string;
  readonly tenant: string;
  /** Hex SHA-256 of the secret part. */
  readonly hash: string;
  readonly label: string;
  readonly createdAt: number;
  readonly disabled: boolean;
  /**
   * Web origins whose pages may present this key or tokens it mints (`https://app.example.com`).
   * Keys are for servers, which send no Origin; a request that carries an Origin not listed here
   * is refused. Missing or empty: no origin restriction.
   */
  readonly origins?: readonly string[];
  /** ms since the epoch after which the key is refused (a rotated key's grace period ends). */
  readonly expiresAt?: number;
}

/** A request's caller once its key (or a client token minted with it) checked out. */
export interface Principal {
  readonly keyId: string;
  readonly tenant: Tenant;
  /** Set when the caller presented a client token: the scope it was minted for. */
  readonly token?: {
    readonly client: string;
    readonly room?: string | undefined;
    readonly origins: readonly string[];
    /** Unix seconds. */
    readonly expiresAt: number;
  };
}

export type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

export const DEFAULT_TENANT_LIMIT: RateLimit = { ratePerSecond: 20, burst: 40 };

export function checkTenantId(id: string): Checked<string> {
  return TENANT_RE.test(id)
    ? { ok: true, value: id }
    : {
        ok: false,
        error: `tenant id "${id}": use 1-32 of a-z, 0-9 and "-", starting with a letter or digit`,
      };
}

export function checkRateLimit(ratePerSecond: number, burst: number): Checked<RateLimit> {
  if (!Number.isFinite(ratePerSecond) || ratePerSecond <= 0 || ratePerSecond > 1_000_000)
    return { ok: false, error: `rate: expected requests per second above 0, got ${ratePerSecond}` };
  if (!Number.isInteger(burst) || burst < 1 || burst > 1_000_000)
    return { ok: false, error: `burst: expected a whole number of requests from 1, got ${burst}` };
  return { ok: true, value: { ratePerSecond, burst } };
}

function base64url(b: Uint8Array): string {
  let s = '';
  for (const byte of b) s += String.fromCharCode(byte);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** A new key from 40 random bytes: 8 for the id, 32 for the secret. */
export function newApiKey(random: Uint8Array): { id: string; secret: string; key: string } {
  if (random.length < 40) throw new RangeError(`newApiKey needs 40 random bytes, got ${random.length}`);
  const id = toHex(random.subarray(0, 8));
  const secret = base64url(random.subarray(8, 40));
  return { id, secret, key: `${API_KEY_PREFIX}_${id}_${secret}` };
}

/** Split a presented key; the error says what is wrong with its shape, never what it should be. */
export function parseApiKey(key: string): Checked<{ id: string; secret: string }> {
  const m = KEY_RE.exec(key.trim());
  if (!m) return { ok: false, error: 'not an API key of this service (expected rbk_<id>_<secret>)' };
  return { ok: true, value: { id: m[1]!, secret: m[2]! } };
}

export async function hashSecret(secret: string, edgeCrypto: EdgeCrypto = WEB_EDGE_CRYPTO): Promise<string> {
  return toHex(await edgeCrypto.sha256(utf8Encode(secret)));
}

export function secretMatches(record: ApiKeyRecord, hash: string): boolean {
  return timingSafeEqual(utf8Encode(record.hash), utf8Encode(hash));
}

/** What the edge reads; the CLI and tests also write through the same port. */
export interface TenantStore {
  getKey(id: string): Promise<ApiKeyRecord | undefined>;
  getTenant(id: string): Promise<Tenant | undefined>;
  putTenant(t: Tenant): Promise<void>;
  putKey(k: ApiKeyRecord): Promise<void>;
  deleteKey(id: string): Promise<void>;
  listTenants(): Promise<Tenant[]>;
  listKeys(): Promise<ApiKeyRecord[]>;
}

export type AuthFailure = 'missing' | 'malformed' | 'unknown' | 'disabled' | 'expired' | 'origin';

export type AuthResult =
  | { ok: true; principal: Principal }
  | { ok: false; reason: AuthFailure; detail: string };

/** Whether a request from `origin` (its Origin header, if any) may use a key limited to `allowed`. */
export function keyOriginAllowed(
  allowed: readonly string[] | undefined,
  origin: string | undefined,
): boolean {
  return origin === undefined || !allowed || allowed.length === 0 || allowed.includes(origin);
}

/**
 * The key's tenant when the key may be used now from `origin`: known, enabled, not expired,
 * origin allowed. Shared by API keys and the client tokens they mint.
 */
export async function usableKey(
  store: Pick<TenantStore, 'getTenant'>,
  record: ApiKeyRecord,
  o: { now: number; origin?: string | undefined },
): Promise<AuthResult> {
  if (record.disabled) return { ok: false, reason: 'disabled', detail: `API key ${record.id} is disabled` };
  if (record.expiresAt !== undefined && record.expiresAt <= o.now)
    return { ok: false, reason: 'expired', detail: `API key ${record.id} has expired` };
  if (!keyOriginAllowed(record.origins, o.origin))
    return { ok: false, reason: 'origin', detail: `API key ${record.id} may not be used from ${o.origin}` };
  const tenant = await store.getTenant(record.tenant);
  if (!tenant) return { ok: false, reason: 'unknown', detail: `API key ${record.id} has no tenant` };
  return { ok: true, principal: { keyId: record.id, tenant } };
}

/** Check a presented key against the store: the principal, or why not. */
export async function authenticate(
  store: Pick<TenantStore, 'getKey' | 'getTenant'>,
  presented: string | undefined,
  o: { now: number; origin?: string | undefined; crypto?: EdgeCrypto | undefined } = { now: 0 },
): Promise<AuthResult> {
  if (!presented) return { ok: false, reason: 'missing', detail: 'no API key' };
  const parsed = parseApiKey(presented);
  if (!parsed.ok) return { ok: false, reason: 'malformed', detail: parsed.error };
  const record = await store.getKey(parsed.value.id);
  // Hash even when the id is unknown, so timing says nothing about which ids exist.
  const hash = await hashSecret(parsed.value.secret, o.crypto);
  if (!record || !secretMatches(record, hash))
    return { ok: false, reason: 'unknown', detail: `unknown API key ${parsed.value.id}` };
  return usableKey(store, record, o);
}

/** In memory: one process, tests, and the Workers edge (filled from the directory snapshot). */
export class MemoryTenantStore implements TenantStore {
  readonly #tenants = new Map<string, Tenant>();
  readonly #keys = new Map<string, ApiKeyRecord>();

  constructor(init?: { tenants?: readonly Tenant[]; keys?: readonly ApiKeyRecord[] }) {
    for (const t of init?.tenants ?? []) this.#tenants.set(t.id, t);
    for (const k of init?.keys ?? []) this.#keys.set(k.id, k);
  }
  async getKey(id: string) {
    return this.#keys.get(id);
  }
  async getTenant(id: string) {
    return this.#tenants.get(id);
  }
  async putTenant(t: Tenant) {
    this.#tenants.set(t.id, t);
  }
  async putKey(k: ApiKeyRecord) {
    this.#keys.set(k.id, k);
  }
  async deleteKey(id: string) {
    this.#keys.delete(id);
  }
  async listTenants() {
    return [...this.#tenants.values()];
  }
  async listKeys() {
    return [...this.#keys.values()];
  }
}
