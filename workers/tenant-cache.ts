/**
 * API keys and tenants read through a short cache, so a request costs no coordinator round trip
 * for a key seen in the last few seconds. A disabled key stops working within `freshMs`. When the
 * store fails, entries up to `maxStaleMs` old still answer (clients keep working through a short
 * Redis outage); past that the error goes to the caller (503). Misses are cached too, so a flood
 * of made-up key ids cannot turn into a flood of Redis reads. Time comes in through `now`.
 */
import type { ApiKeyRecord, Tenant, TenantStore } from '../src/tenants/api-keys.ts';

interface Entry<T> {
  readonly at: number;
  readonly value: T | undefined;
}

class ReadCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  constructor(
    private readonly read: (id: string) => Promise<T | undefined>,
    private readonly now: () => number,
    private readonly freshMs: number,
    private readonly maxStaleMs: number,
  ) {}

  async get(id: string): Promise<T | undefined> {
    const t = this.now();
    const e = this.#entries.get(id);
    if (e && t - e.at < this.freshMs) return e.value;
    try {
      const value = await this.read(id);
      if (this.#entries.size >= 10_000) this.#entries.clear();
      this.#entries.set(id, { at: t, value });
      return value;
    } catch (err) {
      if (e && t - e.at <= this.maxStaleMs) return e.value;
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
    o: { freshMs: number; maxStaleMs: number } = { freshMs: 5_000, maxStaleMs: 300_000 },
  ) {
    this.#keys = new ReadCache((id) => store.getKey(id), now, o.freshMs, o.maxStaleMs);
    this.#tenants = new ReadCache((id) => store.getTenant(id), now, o.freshMs, o.maxStaleMs);
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
