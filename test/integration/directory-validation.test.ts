/**
 * Directory records read back from a real Redis are validated: a bad one is skipped and reported,
 * never fatal to the edge or a relay; and a relay whose relayed ports overlap a live relay's on
 * the same address is refused at registration.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { RedisDirectory } from '../../src/redis/redis-directory.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { freePort } from '../support/ports.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { runRelayCli } from '../support/relay.ts';
import { relayRecord } from '../support/relay-record.ts';

const NOW = Date.now();
const prefixes: string[] = [];
const clients: Redis[] = [];

afterAll(async () => {
  const url = await redisUrl();
  for (const p of prefixes) await deleteKeys(url, p);
  await Promise.all(clients.map((c) => c.quit()));
});

async function store() {
  const url = await redisUrl();
  const prefix = uniquePrefix('validation');
  prefixes.push(prefix);
  const raw = new Redis(url);
  clients.push(raw);
  const invalid: { key: string; error: string }[] = [];
  const dir = new RedisDirectory({
    client: new Redis(url),
    subscriber: new Redis(url),
    prefix,
    onInvalid: (key, error) => invalid.push({ key, error }),
  });
  return { dir, raw, invalid, url, prefix };
}

describe('records read back from Redis', () => {
  it('skip and report a relay record without load, so /v1/allocate still answers 200', async () => {
    const { dir, raw, invalid } = await store();
    try {
      const good = relayRecord('eu-paris', '192.0.2.10', 48.86, 2.35);
      await dir.register(good, 60_000, NOW);
      const { load: _load, ...noLoad } = relayRecord('eu-berlin', '192.0.2.20', 52.52, 13.4);
      await raw.set(dir.keys.relay('eu-berlin'), JSON.stringify(noLoad), 'PX', 60_000);
      await raw.zadd(dir.keys.relays, NOW + 60_000, 'eu-berlin');

      expect((await dir.list(NOW)).map((r) => r.id)).toEqual(['eu-paris']);
      expect(await dir.get('eu-berlin', NOW)).toBeUndefined();
      expect(invalid[0]).toEqual({ key: dir.keys.relay('eu-berlin'), error: 'load: missing or invalid' });

      const app = createEdgeApp({
        relays: () => dir.list(Date.now()),
        learned: new MemoryLearnedStore(),
        secrets: () => ['edge-secret'],
        credentialTtlSeconds: 600,
        clientIp: () => '203.0.113.77',
        defaultPlace: { lat: 52.5, lon: 13.4 },
        now: () => NOW,
        random: () => 0.5,
      });
      const res = await app.request('/v1/allocate', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ location: { lat: 52.5, lon: 13.4 } }),
      });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { relay: { id: string } }).relay.id).toBe('eu-paris');
    } finally {
      await dir.close();
    }
  });

  it('skip bad link records one by one and a links value that is not a list', async () => {
    const { dir, raw, invalid } = await store();
    try {
      const link = {
        from: 'a',
        to: 'b',
        rttMs: 10,
        rttP50Ms: 10,
        rttP95Ms: 12,
        jitterMs: 1,
        lossRate: 0,
        samples: 5,
        updatedAt: NOW,
      };
      await dir.putLinks('a', [link, { ...link, to: 'c', lossRate: 'high' } as never], 60_000, NOW);
      await raw.set(dir.keys.links('z'), '{"not":"a list"}', 'PX', 60_000);
      await raw.zadd(dir.keys.linkIndex, NOW + 60_000, 'z');
      expect(await dir.links(NOW)).toEqual([link]);
      expect(invalid.map((i) => i.error).sort()).toEqual([
        'lossRate: missing or invalid',
        'not a JSON array',
      ]);
    } finally {
      await dir.close();
    }
  });
});

describe('registration', () => {
  it('refuses a relay whose relayed ports overlap a live relay’s on the same address (exit 2)', async () => {
    const { dir, url, prefix } = await store();
    try {
      await dir.register(
        relayRecord('other', '127.0.0.1', 0, 0, { portRange: [50000, 50999] }),
        60_000,
        Date.now(),
      );
      const port = await freePort('both');
      const r = await runRelayCli([
        '--turn-port',
        String(port),
        '--http-port',
        '0',
        '--user',
        'a:b',
        '--realm',
        'r',
        '--redis',
        url,
        '--redis-prefix',
        prefix,
        '--id',
        'mine',
        '--min-port',
        '50500',
        '--max-port',
        '51500',
        '--log-level',
        'error',
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        /refusing to register: relayed ports 50500-51500 on 127.0.0.1 overlap other's 50000-50999/,
      );
      expect((await dir.list(Date.now())).map((x) => x.id)).toEqual(['other']);
    } finally {
      await dir.close();
    }
  });
});
