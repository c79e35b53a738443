/**
 * Tenants and API keys on Redis (key names in src/directory/keys.ts), and the per-key GCRA rate
 * limit as one Lua script, so that every edge shares one budget per key and a check-and-update
 * is atomic. The script does the arithmetic of src/tenants/rate-limit.ts gcra(); the contract
 * test runs both on the same table.
 */
import type { Cluster, Redis } from 'ioredis';
import { type TenantKeys, tenantKeys } from '../directory/keys.ts';
import type { ApiKeyRecord, RateLimit, Tenant, TenantStore } from '../tenants/api-keys.ts';
import type { RateDecision, RateLimiter } from '../tenants/rate-limit.ts';
import { parseStoredJson } from './stored-json.ts';

const parse = <T>(json: string | null): T | undefined => parseStoredJson(json) as T | undefined;

export class RedisTenantStore implements TenantStore {
  readonly #k: TenantKeys;
  constructor(
    private readonly client: Redis | Cluster,
    prefix: string,
  ) {
    this.#k = tenantKeys(prefix);
  }

  async getKey(id: string): Promise<ApiKeyRecord | undefined> {
    return parse<ApiKeyRecord>(await this.client.get(this.#k.key(id)));
  }
  async getTenant(id: string): Promise<Tenant | undefined> {
    return parse<Tenant>(await this.client.get(this.#k.tenant(id)));
  }
  async putTenant(t: Tenant): Promise<void> {
    await this.client.multi().set(this.#k.tenant(t.id), JSON.stringify(t)).sadd(this.#k.tenants, t.id).exec();
  }
  async putKey(k: ApiKeyRecord): Promise<void> {
    await this.client.multi().set(this.#k.key(k.id), JSON.stringify(k)).sadd(this.#k.keys, k.id).exec();
  }
  async deleteKey(id: string): Promise<void> {
    await this.client.multi().del(this.#k.key(id)).srem(this.#k.keys, id).exec();
  }
  async listTenants(): Promise<Tenant[]> {
    return this.#all<Tenant>(this.#k.tenants, (id) => this.#k.tenant(id));
  }
  async listKeys(): Promise<ApiKeyRecord[]> {
    return this.#all<ApiKeyRecord>(this.#k.keys, (id) => this.#k.key(id));
  }
  async #all<T>(set: string, key: (id: string) => string): Promise<T[]> {
    const ids = (await this.client.smembers(set)).sort();
    if (ids.length === 0) return [];
    const values = await this.client.mget(...ids.map(key));
    return values.map((v) => parse<T>(v)).filter((v): v is T => v !== undefined);
  }
}

// KEYS[1] rate key; ARGV now, interval ms, burst. Returns {allowed, tat, retryAfterMs, remaining}
// as strings (Lua numbers would be truncated to integers on the way out), with all 17 digits.
const GCRA = `
local function str(x) return string.format('%.17g', x) end
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local window = interval * tonumber(ARGV[3])
local start = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if start < now then start = now end
local nxt = start + interval
if nxt - now > window then
  return {'0', str(start), str(math.ceil(nxt - now - window)), '0'}
end
redis.call('SET', KEYS[1], str(nxt), 'PX', math.ceil(nxt - now) + 1)
return {'1', str(nxt), '0', str(math.floor((window - (nxt - now)) / interval))}
`;

export class RedisRateLimiter implements RateLimiter {
  readonly #k: TenantKeys;
  constructor(
    private readonly client: Redis | Cluster,
    prefix: string,
  ) {
    this.#k = tenantKeys(prefix);
    // EVALSHA with a fallback to EVAL, handled by ioredis.
    if (!('rbGcra' in client)) client.defineCommand('rbGcra', { numberOfKeys: 1, lua: GCRA });
  }

  async take(key: string, limit: RateLimit, now: number): Promise<RateDecision> {
    const run = (this.client as unknown as { rbGcra: (...args: string[]) => Promise<string[]> }).rbGcra;
    const r = await run.call(
      this.client,
      this.#k.rate(key),
      String(now),
      String(1000 / limit.ratePerSecond),
      String(limit.burst),
    );
    return {
      allowed: r[0] === '1',
      tat: Number(r[1]),
      retryAfterMs: Number(r[2]),
      remaining: Number(r[3]),
    };
  }
}
