/**
 * One contract for the learned map and the room pins, run against the in-memory stores, the
 * Redis stores (a real Redis) and the Workers KV stores (over a Map with KV's get/put): one
 * sample per source, the window's robust middle, one path vote per network, rooms pinned once.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { type LearnedStore, MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { MemoryRoomStore, type RoomStore } from '../../src/allocation/rooms.ts';
import { RedisLearnedStore } from '../../src/redis/redis-learned.ts';
import { RedisRoomStore } from '../../src/redis/redis-rooms.ts';
import { KvLearnedStore, KvRoomStore } from '../../workers/kv-stores.ts';
import { mapKv } from '../support/map-kv.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';

const NOW = 1_800_000_000_000;
const MIN = 60_000;

const url = await redisUrl();
const prefix = uniquePrefix('learn');
const client = new Redis(url);
afterAll(async () => {
  await deleteKeys(url, prefix);
  client.disconnect();
});

const stores: [string, () => { learned: LearnedStore; rooms: RoomStore }][] = [
  ['memory', () => ({ learned: new MemoryLearnedStore(), rooms: new MemoryRoomStore() })],
  [
    'redis',
    () => {
      const p = `${prefix}${Math.random().toString(36).slice(2, 8)}:`;
      return { learned: new RedisLearnedStore(client, p), rooms: new RedisRoomStore(client, p) };
    },
  ],
  ['kv', () => ({ learned: new KvLearnedStore(mapKv()), rooms: new KvRoomStore(mapKv()) })],
];

describe.each(stores)('the %s stores', (_name, make) => {
  it('count one sample per source and take the middle of the window', async () => {
    const { learned } = make();
    for (let i = 0; i < 30; i++)
      await learned.record('198.51.100.0/24', 'eu-1', 1, NOW + i * MIN, '198.51.100.66');
    const alone = (await learned.get('198.51.100.0/24', NOW + 30 * MIN)).get('eu-1')!;
    expect(alone.weight).toBeLessThanOrEqual(1);
    for (const [k, rtt] of [20, 21, 22, 23].entries())
      await learned.record('198.51.100.0/24', 'eu-1', rtt, NOW + (31 + k) * MIN, `198.51.100.${k}`);
    const row = (await learned.get('198.51.100.0/24', NOW + 35 * MIN)).get('eu-1')!;
    expect(row.rttMs).toBe(21);
    expect(row.weight).toBeGreaterThan(4.9);
    expect((await learned.get('203.0.113.0/24', NOW)).size).toBe(0);
  });

  it('give each network one vote in the path model', async () => {
    const { learned } = make();
    const forged = { rttMs: 2000, km: 5000, accessMs: 300 };
    for (let i = 0; i < 50; i++) await learned.recordPathEvidence(forged, NOW + i * MIN, '198.51.100.0/24');
    expect(await learned.pathModel(NOW + 3_600_000)).toEqual({
      inflation: expect.closeTo(2.1, 9),
      accessMs: 0,
    });
  });

  it('pin a room once, keep it, and re-pin only in place of the relay named', async () => {
    const { rooms } = make();
    expect(await rooms.pin('acme:r1', 'eu-1', NOW)).toBe('eu-1');
    expect(await rooms.pin('acme:r1', 'us-1', NOW + 1000)).toBe('eu-1');
    expect(await rooms.get('acme:r1', NOW + 2000)).toBe('eu-1');
    expect(await rooms.pin('acme:r1', 'us-1', NOW + 3000, 'ap-1')).toBe('eu-1');
    expect(await rooms.pin('acme:r1', 'us-1', NOW + 4000, 'eu-1')).toBe('us-1');
    expect(await rooms.get('other:r1', NOW + 5000)).toBeUndefined();
  });
});
