/**
 * API keys and tenants read through a short cache, so a request costs no coordinator round trip
 * for a key seen in the last few seconds. A disabled key stops working within `freshMs`. When the
 * store fails, entries up to `maxStaleMs` old still answer (clients keep working through a short
 * Redis outage); past that the error goes to the caller (503). Misses are cached too, so a flood
 * of made-up key ids cannot turn into a flood of Redis reads.
 *
 * Both tables are LRU maps of bounded size, hits and misses apart (issue 12): made-up key ids
 * only ever push out other misses, never a real key, so a flood of them followed by a Redis blip
 * cannot turn a real key into a 503. Time comes in through `now`.
 */
import { LruMap } from '../src/limits/lru.ts';
import type { ApiKeyRecord, Tenant, TenantStore } from '../src/tenants/api-keys.ts';

export interface TenantCacheOptions {
  readonly freshMs: number;
  readonly maxStaleMs: number;
  /** Entries found in the store, kept per table (keys, tenants). */
  readonly keys?: number;
  /** Ids the store did not know, kept per table. */
  readonly misses?: number;
}

export const DEFAULT_TENANT_CACHE = { freshMs: 5_000, maxStaleMs: 300_000, keys: 10_000, misses: 1_000 };

interface Entry<T> {
  readonly at: number;
  readonly value: T;
}

class ReadCache<T> {
  readonly #found: LruMap<string, Entry<T>>;
  readonly #missing: LruMap<string, number>;

  constructor(
    private readonly read: (id: string) => Promise<T | undefined>,
    private readonly now: () => number,
    private readonly o: Required<TenantCacheOptions>,
  ) {
    this.#found = new LruMap(o.keys);
    this.#missing = new LruMap(o.misses);
  }

  get size(): { found: number; missing: number } {
    return { found: this.#found.size, missing: this.#missing.size };
  }

  async get(id: string): Promise<T | undefined> {
    const t = this.now();
    const hit = this.#found.get(id);
    if (hit && t - hit.at < this.o.freshMs) return hit.value;
    const missAt = this.#missing.get(id);
    if (missAt !== undefined && t - missAt < this.o.freshMs) return undefined;
    try {
      const value = await this.read(id);
      if (value === undefined) {
        this.#found.delete(id);
        this.#missing.set(id, t);
      } else {
        this.#missing.delete(id);
        this.#found.set(id, { at: t, value });
      }
      return value;
    } catch (err) {
      if (hit && t - hit.at <= this.o.maxStaleMs) return hit.value;
      if (missAt !== undefined && t - missAt <= this.o.maxStaleMs) return undefined;
      throw err;
    }
  }
}

export class CachedTenantStore implements TenantStore {
  readonly #keys: ReadCache<ApiKeyRecord>;
  readonly #tenants: ReadCache<Tenant>;

  constructor(
    private readonly store: TenantStore,
    now: () => number,
    options: TenantCacheOptions = DEFAULT_TENANT_CACHE,
  ) {
    const o = { ...DEFAULT_TENANT_CACHE, ...options };
    this.#keys = new ReadCache((id) => store.getKey(id), now, o);
    this.#tenants = new ReadCache((id) => store.getTenant(id), now, o);
  }
  /** Entries held in the API key table. */
  get size(): { found: number; missing: number } {
    return this.#keys.size;
  }
  getKey(id: string) {
    return this.#keys.get(id);
  }
  getTenant(id: string) {
    return this.#tenants.get(id);
  }
  putTenant(t: Tenant) {
    return this.store.putTenant(t);
  }
  putKey(k: ApiKeyRecord) {
    return this.store.putKey(k);
  }
  deleteKey(id: string) {
    return this.store.deleteKey(id);
  }
  listTenants() {
    return this.store.listTenants();
  }
  listKeys() {
    return this.store.listKeys();
  }
}
