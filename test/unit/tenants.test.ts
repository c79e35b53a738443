import { describe, expect, it } from 'vitest';
import type { RelayRecord } from '../../src/directory/types.ts';
import {
  type ApiKeyRecord,
  authenticate,
  checkRateLimit,
  checkTenantId,
  hashSecret,
  MemoryTenantStore,
  newApiKey,
  parseApiKey,
} from '../../src/tenants/api-keys.ts';
import { gcra, MemoryRateLimiter } from '../../src/tenants/rate-limit.ts';
import { DirectoryCache } from '../../workers/directory-cache.ts';
import { CachedTenantStore } from '../../workers/tenant-cache.ts';

const bytes = (seed: number) => new Uint8Array(40).map((_, i) => (i * 31 + seed) & 255);

describe('API keys', () => {
  it('makes keys of a fixed shape whose id and secret come from the random bytes', () => {
    const k = newApiKey(bytes(1));
    expect(k.key).toMatch(/^rbk_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(k.key).toBe(`rbk_${k.id}_${k.secret}`);
    expect(newApiKey(bytes(2)).key).not.toBe(k.key);
    expect(parseApiKey(` ${k.key} `)).toEqual({ ok: true, value: { id: k.id, secret: k.secret } });
    expect(() => newApiKey(new Uint8Array(39))).toThrow(RangeError);
  });

  it.each([
    '',
    'rbk_0123',
    `rbk_0123456789ABCDEF_${'a'.repeat(43)}`, // upper-case id
    `rbk_0123456789abcdef_${'a'.repeat(42)}`,
    `xyz_0123456789abcdef_${'a'.repeat(43)}`,
    `rbk_0123456789abcdef_${'a'.repeat(42)}=`,
  ])('refuses the malformed key %j', (key) => {
    expect(parseApiKey(key).ok).toBe(false);
  });

  it('checks tenant ids and limits with messages that say what to use', () => {
    expect(checkTenantId('acme-2').ok).toBe(true);
    expect(checkTenantId('a:b')).toMatchObject({ ok: false, error: expect.stringContaining('a-z, 0-9') });
    expect(checkTenantId('-x').ok).toBe(false);
    expect(checkTenantId('x'.repeat(33)).ok).toBe(false);
    expect(checkRateLimit(0.5, 1).ok).toBe(true);
    expect(checkRateLimit(0, 1)).toMatchObject({ ok: false, error: expect.stringContaining('rate') });
    expect(checkRateLimit(1, 1.5)).toMatchObject({ ok: false, error: expect.stringContaining('burst') });
  });

  it('authenticates by id and secret hash, and says why not', async () => {
    const good = newApiKey(bytes(3));
    const off = newApiKey(bytes(4));
    const orphan = newApiKey(bytes(5));
    const record = async (k: typeof good, over: Partial<ApiKeyRecord> = {}): Promise<ApiKeyRecord> => ({
      id: k.id,
      tenant: 'acme',
      hash: await hashSecret(k.secret),
      label: '',
      createdAt: 0,
      disabled: false,
      ...over,
    });
    const store = new MemoryTenantStore({
      tenants: [{ id: 'acme', name: 'Acme', ratePerSecond: 1, burst: 1, createdAt: 0 }],
      keys: [
        await record(good),
        await record(off, { disabled: true }),
        await record(orphan, { tenant: 'gone' }),
      ],
    });
    const ok = await authenticate(store, good.key);
    expect(ok).toMatchObject({ ok: true, principal: { keyId: good.id, tenant: { id: 'acme' } } });
    const wrongSecret = `rbk_${good.id}_${off.secret}`;
    expect(await authenticate(store, wrongSecret)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(await authenticate(store, off.key)).toMatchObject({ ok: false, reason: 'disabled' });
    expect(await authenticate(store, orphan.key)).toMatchObject({ ok: false, reason: 'unknown' });
    expect(await authenticate(store, undefined)).toMatchObject({ ok: false, reason: 'missing' });
    expect(await authenticate(store, 'hello')).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('hashes with SHA-256 (FIPS 180-2 "abc" vector)', async () => {
    expect(await hashSecret('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('GCRA rate limit', () => {
  const limit = { ratePerSecond: 10, burst: 3 }; // one request per 100 ms, three at once

  it.each([
    // [label, stored TAT, now, allowed, new TAT, retryAfterMs, remaining]
    ['a first request', undefined, 1000, true, 1100, 0, 2],
    ['a TAT in the past counts as none', 500, 1000, true, 1100, 0, 2],
    ['the second of a burst', 1100, 1000, true, 1200, 0, 1],
    ['the last of a burst', 1200, 1000, true, 1300, 0, 0],
    ['one too many', 1300, 1000, false, 1300, 100, 0],
    ['one too many, later', 1300, 1050, false, 1300, 50, 0],
    ['after one interval', 1300, 1100, true, 1400, 0, 0],
  ] as const)('%s', (_label, tat, now, allowed, next, retry, remaining) => {
    expect(gcra(tat, now, limit)).toEqual({ allowed, tat: next, retryAfterMs: retry, remaining });
  });

  it('lets the sustained rate through and no more (memory limiter)', async () => {
    const l = new MemoryRateLimiter();
    let passed = 0;
    // 10 s at 100 requests per second against a 10/s limit with burst 3.
    for (let t = 0; t < 10_000; t += 10) if ((await l.take('k', limit, t)).allowed) passed++;
    expect(passed).toBeGreaterThanOrEqual(100);
    expect(passed).toBeLessThanOrEqual(103);
    expect((await l.take('other', limit, 10_000)).allowed).toBe(true);
  });
});

describe('the edge directory cache', () => {
  const R = [{ id: 'a' }] as unknown as RelayRecord[];

  it('reads once per fresh period, once for many callers, and serves stale for a while', async () => {
    let reads = 0;
    let fail = false;
    const stale: number[] = [];
    const cache = new DirectoryCache(
      async () => {
        reads++;
        await new Promise((r) => setTimeout(r, 5));
        if (fail) throw new Error('redis down');
        return R;
      },
      { freshMs: 1000, maxStaleMs: 30_000, onStale: (age) => stale.push(age) },
    );
    const first = await Promise.all([cache.get(0), cache.get(1), cache.get(2)]);
    expect(reads).toBe(1);
    expect(first.map((v) => v.stale)).toEqual([false, false, false]);
    expect(await cache.get(999)).toEqual({ relays: R, at: 0, stale: false });
    expect(reads).toBe(1);
    fail = true;
    expect(await cache.get(5000)).toEqual({ relays: R, at: 0, stale: true });
    expect(stale).toEqual([5000]);
    const readsBefore = reads;
    expect(await cache.get(5500)).toEqual({ relays: R, at: 0, stale: true }); // no retry within a second
    expect(reads).toBe(readsBefore);
    expect(await cache.get(6001)).toEqual({ relays: R, at: 0, stale: true });
    expect(reads).toBe(readsBefore + 1);
    expect(stale).toEqual([5000, 6001]);
    await expect(cache.get(30_001)).rejects.toThrow('redis down');
    fail = false;
    expect(await cache.get(30_002)).toEqual({ relays: R, at: 30_002, stale: false });
  });

  it('throws when it never had a copy', async () => {
    const cache = new DirectoryCache(() => Promise.reject(new Error('no')), { freshMs: 1, maxStaleMs: 1 });
    await expect(cache.get(0)).rejects.toThrow('no');
  });
});

describe('the tenant read cache', () => {
  it('caches hits and misses, follows changes after freshMs, and rides out store failures', async () => {
    const inner = new MemoryTenantStore();
    let reads = 0;
    const getKey = inner.getKey.bind(inner);
    let down = false;
    inner.getKey = async (id) => {
      reads++;
      if (down) throw new Error('redis down');
      return getKey(id);
    };
    let t = 0;
    const cached = new CachedTenantStore(inner, () => t, { freshMs: 5000, maxStaleMs: 60_000 });
    const k: ApiKeyRecord = { id: 'k1', tenant: 'a', hash: 'h', label: '', createdAt: 0, disabled: false };
    expect(await cached.getKey('k1')).toBeUndefined();
    await inner.putKey(k);
    expect(await cached.getKey('k1')).toBeUndefined(); // a cached miss
    expect(reads).toBe(1);
    t = 5000;
    expect(await cached.getKey('k1')).toEqual(k);
    down = true;
    t = 60_000;
    expect(await cached.getKey('k1')).toEqual(k);
    t = 66_000;
    await expect(cached.getKey('k1')).rejects.toThrow('redis down');
  });
});
