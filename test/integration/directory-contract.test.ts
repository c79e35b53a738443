/**
 * One contract for the relay directory, run against the in-memory store and the Redis store
 * (a real Redis): registration and expiry, draining state, geo queries, link records, events.
 */
import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryDirectory } from '../../src/directory/memory.ts';
import type { DirectoryEvent, LinkRecord, RelayDirectory, RelayRecord } from '../../src/directory/types.ts';
import { RedisDirectory } from '../../src/redis/redis-directory.ts';
import {
  deleteKeys,
  type LocalCluster,
  redisUrl,
  startRedisCluster,
  uniquePrefix,
} from '../support/redis.ts';

const NOW = 1_800_000_000_000;

const relay = (id: string, lat: number, lon: number, over: Partial<RelayRecord> = {}): RelayRecord => ({
  id,
  region: 'test',
  lat,
  lon,
  turnUrls: [`turn:127.0.0.1:3478?transport=udp`],
  backbone: '127.0.0.1:7000',
  relayedAddress: '127.0.0.1',
  portRange: [49152, 65535],
  capacity: 1000,
  load: { allocations: 0, pps: 0, bps: 0 },
  state: 'active',
  version: '0.1.0',
  startedAt: NOW,
  updatedAt: NOW,
  ...over,
});

const link = (from: string, to: string, rttMs: number): LinkRecord => ({
  from,
  to,
  rttMs,
  rttP50Ms: rttMs,
  rttP95Ms: rttMs * 1.2,
  jitterMs: 1,
  lossRate: 0,
  samples: 10,
  updatedAt: NOW,
});

const prefixes: string[] = [];
const stores: Record<string, () => Promise<RelayDirectory>> = {
  memory: async () => new MemoryDirectory(),
  redis: async () => {
    const url = await redisUrl();
    const prefix = uniquePrefix('directory');
    prefixes.push(prefix);
    return new RedisDirectory({ client: new Redis(url), subscriber: new Redis(url), prefix });
  },
  // All keys carry the {dir} hash tag: MULTI/EXEC across them must work on a real cluster.
  'redis-cluster': async () => {
    cluster ??= await startRedisCluster();
    const nodes = cluster.nodes;
    return new RedisDirectory({
      client: new Cluster(nodes),
      subscriber: new Cluster(nodes),
      prefix: uniquePrefix('cluster'),
    });
  },
};

let cluster: LocalCluster | undefined;

afterAll(async () => {
  const url = await redisUrl();
  for (const p of prefixes) await deleteKeys(url, p);
  cluster?.stop();
});

describe.each(Object.keys(stores))('the %s directory', (name) => {
  const withStore = async (fn: (d: RelayDirectory) => Promise<void>) => {
    const d = await stores[name]!();
    try {
      await fn(d);
    } finally {
      await d.close();
    }
  };

  it('lists registered relays by id until their registration expires', () =>
    withStore(async (d) => {
      await d.register(relay('b', 48.85, 2.35), 10_000, NOW);
      await d.register(relay('a', 51.5, -0.12), 5_000, NOW);
      expect((await d.list(NOW + 1)).map((r) => r.id)).toEqual(['a', 'b']);
      expect((await d.list(NOW + 5_000)).map((r) => r.id)).toEqual(['b']);
      expect(await d.get('a', NOW + 5_000)).toBeUndefined();
      expect((await d.get('b', NOW + 5_000))?.lat).toBe(48.85);
      expect(await d.list(NOW + 10_000)).toEqual([]);
    }));

  it('keeps a relay alive while it heartbeats and shows its latest state', () =>
    withStore(async (d) => {
      await d.register(relay('a', 0, 0), 3_000, NOW);
      await d.register(relay('a', 0, 0, { state: 'draining', updatedAt: NOW + 2_000 }), 3_000, NOW + 2_000);
      const [a] = await d.list(NOW + 4_000);
      expect(a).toMatchObject({ id: 'a', state: 'draining', updatedAt: NOW + 2_000 });
    }));

  it('forgets a relay that deregisters, with its links', () =>
    withStore(async (d) => {
      await d.register(relay('a', 0, 0), 10_000, NOW);
      await d.putLinks('a', [link('a', 'b', 10)], 10_000, NOW);
      await d.deregister('a', NOW);
      expect(await d.list(NOW)).toEqual([]);
      expect(await d.links(NOW)).toEqual([]);
    }));

  it('finds the live relays near a point, nearest first', () =>
    withStore(async (d) => {
      await d.register(relay('paris', 48.8566, 2.3522), 10_000, NOW);
      await d.register(relay('london', 51.5074, -0.1278), 10_000, NOW);
      await d.register(relay('tokyo', 35.6762, 139.6503), 10_000, NOW);
      await d.register(relay('brussels', 50.8503, 4.3517), 1_000, NOW);
      const near = await d.nearby(50.0, 1.0, 1000, NOW + 2_000);
      expect(near.map((n) => n.id)).toEqual(['paris', 'london']);
      expect(near[0]!.distanceKm).toBeGreaterThan(100);
      expect(near[0]!.distanceKm).toBeLessThan(200);
    }));

  it('returns the links every relay published until they expire', () =>
    withStore(async (d) => {
      await d.putLinks('a', [link('a', 'b', 10), link('a', 'c', 20)], 2_000, NOW);
      await d.putLinks('b', [link('b', 'a', 11)], 5_000, NOW);
      const all = await d.links(NOW + 1);
      expect(all.map((l) => `${l.from}>${l.to}`).sort()).toEqual(['a>b', 'a>c', 'b>a']);
      expect((await d.links(NOW + 3_000)).map((l) => `${l.from}>${l.to}`)).toEqual(['b>a']);
    }));

  it('keeps revoked usernames, clients and tenants until their revocations lapse', () =>
    withStore(async (d) => {
      await d.revoke({ kind: 'username', username: '1800000100:t:bob' }, NOW + 100_000);
      await d.revoke({ kind: 'username', username: '1800000005:t:eve' }, NOW + 5_000);
      await d.revoke({ kind: 'client', tenant: 'acme', client: 'c:1' }, NOW + 5_000);
      await d.revoke({ kind: 'tenant', tenant: 'beta' }, NOW + 100_000);
      // A later lapse time wins; an earlier one does not shorten it.
      await d.revoke({ kind: 'tenant', tenant: 'beta' }, NOW + 1_000);
      expect(await d.revoked(NOW)).toEqual({
        usernames: ['1800000005:t:eve', '1800000100:t:bob'],
        clients: ['acme:c:1'],
        tenants: ['beta'],
      });
      expect(await d.revoked(NOW + 5_000)).toEqual({
        usernames: ['1800000100:t:bob'],
        clients: [],
        tenants: ['beta'],
      });
    }));

  it('delivers published events to subscribers until they unsubscribe', () =>
    withStore(async (d) => {
      const seen: DirectoryEvent[] = [];
      const off = await d.subscribe((e) => seen.push(e));
      await d.publish({ type: 'relay-draining', id: 'a', at: NOW });
      await waitFor(() => seen.length === 1);
      expect(seen[0]).toEqual({ type: 'relay-draining', id: 'a', at: NOW });
      await off();
      await d.publish({ type: 'relay-down', id: 'a', at: NOW });
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).toHaveLength(1);
    }));
});

async function waitFor(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
