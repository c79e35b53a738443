/**
 * One contract for the per-call choice's store, run against the in-memory store, the Redis store
 * (a real Redis) and the Workers KV store (over a Map with KV's get/put): path quality folded per
 * level and path, rooms that keep each network once and only the newest participants, and one
 * report per participant and room.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_CALL_CHOICE, recordCall } from '../../src/allocation/call-choice.ts';
import { type CallQualityStore, MemoryCallQualityStore } from '../../src/allocation/call-store.ts';
import { RedisCallQualityStore } from '../../src/redis/redis-calls.ts';
import { KvCallQualityStore } from '../../workers/kv-stores.ts';
import { mapKv } from '../support/map-kv.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';

const NOW = 1_800_000_000_000;
const HOUR = 3_600_000;

const url = await redisUrl();
const prefix = uniquePrefix('calls');
const client = new Redis(url);
afterAll(async () => {
  await deleteKeys(url, prefix);
  client.disconnect();
});

const stores: [string, () => CallQualityStore][] = [
  ['memory', () => new MemoryCallQualityStore(DEFAULT_CALL_CHOICE, 1000, 3)],
  [
    'redis',
    () =>
      new RedisCallQualityStore(
        client,
        `${prefix}${Math.random().toString(36).slice(2, 8)}:`,
        DEFAULT_CALL_CHOICE,
        3,
      ),
  ],
  ['kv', () => new KvCallQualityStore(mapKv(), DEFAULT_CALL_CHOICE, 3)],
];

const A = { prefix: '198.51.100.0/24', country: 'DE' };
const B = { prefix: '203.0.113.0/24', country: 'US' };

describe.each(stores)('the %s call store', (_name, make) => {
  it('folds reports per level and path, as recordCall does', async () => {
    const store = make();
    const keys = ['all', 'country:DE|US', 'prefix:198.51.100.0/24|203.0.113.0/24'];
    const good = { path: 'relay' as const, rttMs: 120, loss: 0, jitterMs: 2 };
    const poor = { path: 'relay' as const, rttMs: 400, loss: 0, jitterMs: 2 };
    await store.record(keys, good, NOW);
    await store.record(keys.slice(0, 2), poor, NOW + HOUR);
    const expectedAll = recordCall(recordCall(undefined, good, NOW), poor, NOW + HOUR);
    const [all, country, pair] = await store.quality(keys, 'relay', NOW + 2 * HOUR);
    expect(all).toEqual({ ...expectedAll, rttMs: expect.closeTo(expectedAll.rttMs, 9) });
    expect(country).toEqual(all);
    expect(pair).toEqual(recordCall(undefined, good, NOW));
    expect(pair!.poor).toBe(0);
    expect(all!.poor).toBe(1);
    // The other path and other levels have nothing.
    expect(await store.quality(keys, 'direct', NOW + 2 * HOUR)).toEqual([undefined, undefined, undefined]);
    expect(await store.quality(['country:FR|US'], 'relay', NOW)).toEqual([undefined]);
  });

  it('keeps each network once per room and only the newest participants', async () => {
    const store = make();
    expect(await store.join('r1', A, NOW)).toEqual([{ ...A, joinedAt: NOW, reported: false }]);
    const two = await store.join('r1', B, NOW + 1000);
    expect(two.map((p) => p.prefix)).toEqual([A.prefix, B.prefix]);
    // Asking again changes nobody's place or join time.
    expect(await store.join('r1', A, NOW + 2000)).toEqual(two);
    await store.join('r1', { prefix: '192.0.2.0/24', country: 'FR' }, NOW + 3000);
    const four = await store.join('r1', { prefix: '2001:db8::/48', country: 'JP' }, NOW + 4000);
    expect(four.map((p) => p.prefix)).toEqual([B.prefix, '192.0.2.0/24', '2001:db8::/48']);
    expect((await store.join('r2', B, NOW)).map((p) => p.prefix)).toEqual([B.prefix]);
  });

  it('takes one report per participant and room, and none from outside the room', async () => {
    const store = make();
    await store.join('r1', A, NOW);
    await store.join('r1', B, NOW);
    expect(await store.markReported('r1', A.prefix, NOW + 1000)).toBe(true);
    expect(await store.markReported('r1', A.prefix, NOW + 2000)).toBe(false);
    expect(await store.markReported('r1', B.prefix, NOW + 2000)).toBe(true);
    expect(await store.markReported('r1', '192.0.2.0/24', NOW + 2000)).toBe(false);
    expect(await store.markReported('nobody-here', A.prefix, NOW + 2000)).toBe(false);
    const people = await store.join('r1', A, NOW + 3000);
    expect(people.map((p) => p.reported)).toEqual([true, true]);
  });
});
