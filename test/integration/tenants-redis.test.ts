/**
 * Tenants, API keys and the per-key rate limit on a real Redis and a real three-master Redis
 * Cluster (each command's keys in one slot), against the same contract as the in-memory versions: the Lua GCRA gives the decisions of the pure gcra() on the same table, and
 * the tenant store round-trips what it is given.
 */
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisRateLimiter, RedisTenantStore } from '../../src/redis/redis-tenants.ts';
import {
  type ApiKeyRecord,
  MemoryTenantStore,
  type Tenant,
  type TenantStore,
} from '../../src/tenants/api-keys.ts';
import { gcra, MemoryRateLimiter, type RateLimiter } from '../../src/tenants/rate-limit.ts';
import {
  deleteKeys,
  type LocalCluster,
  redisUrl,
  startRedisCluster,
  uniquePrefix,
} from '../support/redis.ts';

let url: string;
let client: Redis;
let local: LocalCluster;
let cluster: Cluster;
const prefix = uniquePrefix('tenants');

beforeAll(async () => {
  url = await redisUrl();
  client = new Redis(url);
  local = await startRedisCluster();
  cluster = new Cluster(local.nodes);
});
afterAll(async () => {
  await client.quit();
  await cluster.quit();
  local.stop();
  await deleteKeys(url, prefix);
});

const limiters: Record<string, () => RateLimiter> = {
  memory: () => new MemoryRateLimiter(),
  redis: () => new RedisRateLimiter(client, `${prefix}${Math.random().toString(36).slice(2)}:`),
  'redis-cluster': () => new RedisRateLimiter(cluster, `${prefix}${Math.random().toString(36).slice(2)}:`),
};

describe.each(Object.keys(limiters))('the %s rate limiter', (name) => {
  it('decides as the pure GCRA does, request by request', async () => {
    const limiter = limiters[name]!();
    const limit = { ratePerSecond: 7, burst: 4 };
    let tat: number | undefined;
    // Irregular arrivals: bursts, gaps, fractional intervals.
    const times = [0, 0, 1, 2, 3, 50, 100, 143, 144, 145, 400, 401, 402, 403, 404, 1000, 1001, 1002];
    for (const now of times) {
      const want = gcra(tat, now, limit);
      if (want.allowed) tat = want.tat;
      expect(await limiter.take('key-1', limit, now), `at ${now} ms`).toEqual(want);
    }
  });

  it('keeps one budget per key', async () => {
    const limiter = limiters[name]!();
    const limit = { ratePerSecond: 1, burst: 1 };
    expect((await limiter.take('a', limit, 0)).allowed).toBe(true);
    expect((await limiter.take('a', limit, 10)).allowed).toBe(false);
    expect((await limiter.take('b', limit, 10)).allowed).toBe(true);
  });
});

it('lets the rate state expire in Redis once it carries nothing', async () => {
  const p = `${prefix}ttl:`;
  await new RedisRateLimiter(client, p).take('k', { ratePerSecond: 10, burst: 5 }, Date.now());
  const ttl = await client.pttl(`${p}{rate:k}`);
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(101);
});

const stores: Record<string, () => TenantStore> = {
  memory: () => new MemoryTenantStore(),
  redis: () => new RedisTenantStore(client, `${prefix}store:`),
  'redis-cluster': () => new RedisTenantStore(cluster, `${prefix}store:`),
};

describe.each(Object.keys(stores))('the %s tenant store', (name) => {
  it('keeps tenants and keys and lists them', async () => {
    const store = stores[name]!();
    const t: Tenant = { id: 'acme', name: 'Acme', ratePerSecond: 5, burst: 10, createdAt: 1 };
    const k: ApiKeyRecord = {
      id: '00ff00ff00ff00ff',
      tenant: 'acme',
      hash: 'ab',
      label: 'web',
      createdAt: 2,
      disabled: false,
    };
    expect(await store.getTenant('acme')).toBeUndefined();
    await store.putTenant(t);
    await store.putKey(k);
    await store.putKey({ ...k, disabled: true });
    expect(await store.getTenant('acme')).toEqual(t);
    expect(await store.getKey(k.id)).toEqual({ ...k, disabled: true });
    expect(await store.listTenants()).toEqual([t]);
    expect(await store.listKeys()).toEqual([{ ...k, disabled: true }]);
  });

  it('keeps the origins and expiry of a key, and forgets a deleted key', async () => {
    const store = stores[name]!();
    const k: ApiKeyRecord = {
      id: '11ff00ff00ff00ff',
      tenant: 'acme',
      hash: 'cd',
      label: 'web',
      createdAt: 2,
      disabled: false,
      origins: ['https://app.example.com'],
      expiresAt: 1_900_000_000_000,
    };
    await store.putKey(k);
    expect(await store.getKey(k.id)).toEqual(k);
    await store.deleteKey(k.id);
    expect(await store.getKey(k.id)).toBeUndefined();
    expect((await store.listKeys()).some((x) => x.id === k.id)).toBe(false);
  });
});
