/**
 * The edge under abuse (issue 12): made-up API key ids must not evict real keys from the read
 * cache, failed key attempts are limited per source, and with keys off every address still has
 * a rate limit. Edge routes through app.request(), stores in memory, time from a variable.
 */
import { describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import type { RelayRecord } from '../../src/directory/types.ts';
import { type ApiKeyRecord, hashSecret, MemoryTenantStore, newApiKey } from '../../src/tenants/api-keys.ts';
import { addressLimitOf } from '../../workers/abuse-limits.ts';
import { createEdgeApp, type EdgeDeps } from '../../workers/app.ts';
import { parseEdgeConfig } from '../../workers/config.ts';
import { CachedTenantStore } from '../../workers/tenant-cache.ts';
import { relayRecord } from '../support/relay-record.ts';

const NOW = 1_800_000_000_000;
const PARIS: RelayRecord = relayRecord('eu-paris', '192.0.2.10', 48.86, 2.35);

describe('the API key read cache', () => {
  it('keeps a real key through a flood of made-up key ids, so a store outage after it still answers', async () => {
    const inner = new MemoryTenantStore();
    const real: ApiKeyRecord = {
      id: 'f'.repeat(16),
      tenant: 'a',
      hash: 'h',
      label: '',
      createdAt: 0,
      disabled: false,
    };
    await inner.putKey(real);
    let down = false;
    const getKey = inner.getKey.bind(inner);
    inner.getKey = async (id) => {
      if (down) throw new Error('redis down');
      return getKey(id);
    };
    let t = 0;
    const cached = new CachedTenantStore(inner, () => t);
    expect(await cached.getKey(real.id)).toEqual(real);
    for (let i = 0; i < 20_000; i++) {
      t += 1;
      await cached.getKey(i.toString(16).padStart(16, '0'));
    }
    down = true;
    t += 5_000; // past freshMs, well within maxStaleMs
    expect(await cached.getKey(real.id)).toEqual(real);
    expect(cached.size.missing).toBeLessThanOrEqual(1_000);
  });

  it('forgets the least recently used real key first when full of real keys', async () => {
    const inner = new MemoryTenantStore();
    for (let i = 0; i < 4; i++)
      await inner.putKey({ id: `k${i}`, tenant: 'a', hash: 'h', label: '', createdAt: 0, disabled: false });
    let reads = 0;
    const getKey = inner.getKey.bind(inner);
    inner.getKey = async (id) => {
      reads++;
      return getKey(id);
    };
    const cached = new CachedTenantStore(inner, () => 0, {
      freshMs: 5000,
      maxStaleMs: 60_000,
      keys: 3,
      misses: 2,
    });
    for (const id of ['k0', 'k1', 'k2', 'k0', 'k3']) await cached.getKey(id); // k1 is the oldest now
    reads = 0;
    await cached.getKey('k0');
    await cached.getKey('k2');
    expect(reads).toBe(0);
    await cached.getKey('k1');
    expect(reads).toBe(1);
  });
});

async function keyedEdge(over: Partial<EdgeDeps> = {}) {
  const made = newApiKey(new Uint8Array(40).map((_, i) => i * 3));
  const tenants = new MemoryTenantStore({
    tenants: [{ id: 'acme', name: 'Acme', ratePerSecond: 1000, burst: 1000, createdAt: 0 }],
    keys: [
      {
        id: made.id,
        tenant: 'acme',
        hash: await hashSecret(made.secret),
        label: '',
        createdAt: 0,
        disabled: false,
      },
    ],
  });
  return { ...edge({ tenants, ...over }), key: made.key };
}

function edge(over: Partial<EdgeDeps> = {}) {
  let t = NOW;
  let ip = '203.0.113.77';
  const app = createEdgeApp({
    relays: async () => [PARIS],
    learned: new MemoryLearnedStore(),
    secrets: () => ['edge-secret'],
    credentialTtlSeconds: 600,
    clientIp: () => ip,
    defaultPlace: { lat: 50, lon: 8 },
    now: () => t,
    ...over,
  });
  const post = (headers: Record<string, string> = {}) =>
    app.request('/v1/allocate', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{}',
    });
  return {
    app,
    post,
    tick: (ms: number) => {
      t += ms;
    },
    from: (address: string) => {
      ip = address;
    },
  };
}

const guess = (i: number) => ({ 'x-api-key': `rbk_${i.toString(16).padStart(16, '0')}_${'A'.repeat(43)}` });

describe('failed API key attempts', () => {
  it('are limited per source address: after the burst, 429 without looking the key up', async () => {
    const { post, app } = await keyedEdge();
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await post(guess(i))).status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(10);
    expect(statuses.slice(10).every((s) => s === 429)).toBe(true);
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toMatch(/edge_refused_total\{reason="failed_key_attempts"\} 20/);
  });

  it('block the guessing address, also for its real key, but not other addresses', async () => {
    const { post, from, tick, key } = await keyedEdge();
    for (let i = 0; i < 10; i++) await post(guess(i));
    const blocked = await post({ authorization: `Bearer ${key}` });
    expect(blocked.status).toBe(429);
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    from('198.51.100.5');
    expect((await post({ authorization: `Bearer ${key}` })).status).toBe(200);
    from('203.0.113.77');
    tick(60_000);
    expect((await post({ authorization: `Bearer ${key}` })).status).toBe(200);
  });

  it('count an IPv6 /64 as one source', async () => {
    const { post, from } = await keyedEdge();
    for (let i = 0; i < 10; i++) {
      from(`2001:db8:1:2::${i + 1}`);
      await post(guess(i));
    }
    from('2001:db8:1:2::ffff');
    expect((await post(guess(99))).status).toBe(429);
  });
});

describe('with API keys off', () => {
  it('limits each client address by default, and other addresses are unaffected', async () => {
    const { post, from, app } = edge();
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await post()).status);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(40);
    expect(statuses.at(-1)).toBe(429);
    from('198.51.100.5');
    expect((await post()).status).toBe(200);
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toMatch(/edge_refused_total\{reason="address_rate_limit"\} [1-9]/);
  });

  it('takes a configured per-address limit, or none when told so', async () => {
    const tight = edge({ addressLimit: { ratePerSecond: 1, burst: 2 } });
    expect([(await tight.post()).status, (await tight.post()).status, (await tight.post()).status]).toEqual([
      200, 200, 429,
    ]);
    const open = edge({ addressLimit: 'off' });
    for (let i = 0; i < 100; i++) expect((await open.post()).status).toBe(200);
  });
});

describe('EDGE_ADDRESS_RATE and EDGE_ADDRESS_BURST', () => {
  const base = { REDIS_URL: 'redis://127.0.0.1:6379', EDGE_SECRETS: 'turn-secret' };
  const limitOf = (env: Record<string, string>) => {
    const r = parseEdgeConfig('node', { ...base, ...env });
    if (!r.ok || !('config' in r)) throw new Error(r.ok ? 'help' : r.error);
    return addressLimitOf(r.config.addressRate, r.config.addressBurst);
  };

  it.each([
    [{}, { ratePerSecond: 10, burst: 40 }],
    [
      { EDGE_ADDRESS_RATE: '', EDGE_ADDRESS_BURST: '' },
      { ratePerSecond: 10, burst: 40 },
    ],
    [
      { EDGE_ADDRESS_RATE: '2.5', EDGE_ADDRESS_BURST: '5' },
      { ratePerSecond: 2.5, burst: 5 },
    ],
    [{ EDGE_ADDRESS_RATE: 'off', EDGE_ADDRESS_BURST: '5' }, 'off'],
  ] as const)('reads %j', (env, expected) => {
    expect(limitOf(env)).toEqual(expected);
  });

  it.each([
    [{ EDGE_ADDRESS_RATE: '0' }, /^EDGE_ADDRESS_RATE: expected requests per second/],
    [{ EDGE_ADDRESS_RATE: 'fast' }, /^EDGE_ADDRESS_RATE: /],
    [{ EDGE_ADDRESS_BURST: '1.5' }, /^EDGE_ADDRESS_BURST: expected an integer/],
  ] as const)('refuses %j with a one-line error', (env, error) => {
    const r = parseEdgeConfig('node', { ...base, ...env });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(error);
  });
});

describe('request bodies', () => {
  it('stops reading a body once it is past the limit, and answers 413', async () => {
    // A 10 MB body offered in 64 KB pieces: the edge must not pull it all to learn it is too big.
    let pulled = 0;
    const piece = new Uint8Array(65_536).fill(0x20);
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        if (pulled > 160) controller.close();
        else controller.enqueue(piece);
      },
    });
    const { app } = edge({ addressLimit: 'off' });
    const res = await app.request('/v1/allocate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(pulled).toBeLessThan(5);
  });

  it('refuses a declared Content-Length past the limit before reading anything', async () => {
    const { app } = edge({ addressLimit: 'off' });
    const res = await app.request('/v1/allocate', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': '100000000' },
      body: '{}',
    });
    expect(res.status).toBe(413);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
  });
});
