/**
 * Relays register themselves in a real Redis: what they publish, how fast a dead relay leaves,
 * draining announced at once, and a Redis outage that neither stops relaying nor needs a restart
 * to re-register.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { RelayRecord } from '../../src/directory/types.ts';
import { RedisDirectory } from '../../src/redis/redis-directory.ts';
import { MessageClass } from '../../src/stun/constants.ts';
import { freePort } from '../support/ports.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { startRelayProcess } from '../support/relay.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const CRED = { username: 'a', password: 'b', realm: 'r' };
const TTL = 2;
const prefixes: string[] = [];

afterAll(async () => {
  const url = await redisUrl();
  for (const p of prefixes) await deleteKeys(url, p);
});

async function directoryAt(url: string) {
  const prefix = uniquePrefix('registration');
  prefixes.push(prefix);
  const quiet = () => new Redis(url).on('error', () => {}); // outages are the point of one test
  const dir = new RedisDirectory({ client: quiet(), subscriber: quiet(), prefix });
  return { dir, prefix };
}

async function relayIn(url: string, prefix: string, id: string, extra: string[] = []) {
  const port = await freePort('both');
  const relay = await startRelayProcess([
    '--turn-port',
    String(port),
    '--http-port',
    '0',
    '--user',
    'a:b',
    '--realm',
    'r',
    '--log-level',
    'warn',
    '--redis',
    url,
    '--redis-prefix',
    prefix,
    '--id',
    id,
    '--region',
    'eu-west',
    '--lat',
    '48.8566',
    '--lon',
    '2.3522',
    '--capacity',
    '500',
    '--heartbeat-ttl',
    String(TTL),
    '--allow-peer',
    '127.0.0.0/8',
    ...extra,
  ]);
  return { relay, server: { family: 4 as const, address: '127.0.0.1', port } };
}

async function until<T>(
  f: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  for (;;) {
    const value = await f();
    if (value !== undefined) return { value, ms: Date.now() - start };
    if (Date.now() - start > timeoutMs) throw new Error(`not reached within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('relay registration in Redis', () => {
  it('publishes its id, place, TURN URLs, capacity and live load', async () => {
    const url = await redisUrl();
    const { dir, prefix } = await directoryAt(url);
    const { relay, server } = await relayIn(url, prefix, 'paris-1');
    try {
      const rec = (await dir.get('paris-1', Date.now()))!;
      expect(rec).toMatchObject({
        id: 'paris-1',
        region: 'eu-west',
        lat: 48.8566,
        lon: 2.3522,
        capacity: 500,
        state: 'active',
        turnUrls: [
          `turn:127.0.0.1:${server.port}?transport=udp`,
          `turn:127.0.0.1:${server.port}?transport=tcp`,
        ],
      });
      expect((await dir.nearby(48.85, 2.35, 50, Date.now())).map((n) => n.id)).toEqual(['paris-1']);
      const c = await TurnTestClient.connect({ transport: 'udp', server, cred: CRED });
      expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
      const { value } = await until(async () => {
        const r = await dir.get('paris-1', Date.now());
        return r && r.load.allocations === 1 ? r : undefined;
      }, 3000);
      expect(value.load.allocations).toBe(1);
      await c.close();
    } finally {
      relay.kill('SIGINT');
      await relay.exited;
      await dir.close();
    }
  });

  it('drops out of the directory within the TTL when killed with SIGKILL', async () => {
    const url = await redisUrl();
    const { dir, prefix } = await directoryAt(url);
    const { relay } = await relayIn(url, prefix, 'doomed');
    try {
      expect(await dir.get('doomed', Date.now())).toBeDefined();
      relay.kill('SIGKILL');
      await relay.exited;
      const { ms } = await until(
        async () => ((await dir.get('doomed', Date.now())) ? undefined : true),
        TTL * 1000 + 1500,
      );
      expect(ms).toBeLessThanOrEqual(TTL * 1000 + 500);
    } finally {
      await dir.close();
    }
  });

  it('announces draining at once on SIGTERM and deregisters when it exits', async () => {
    const url = await redisUrl();
    const { dir, prefix } = await directoryAt(url);
    const events: string[] = [];
    const off = await dir.subscribe((e) => events.push(`${e.type}:${e.id}`));
    const { relay, server } = await relayIn(url, prefix, 'leaving', ['--drain-timeout', '2']);
    try {
      const c = await TurnTestClient.connect({ transport: 'udp', server, cred: CRED });
      await c.allocate();
      relay.kill('SIGTERM');
      const { ms } = await until(async () => {
        const r = await dir.get('leaving', Date.now());
        return r?.state === 'draining' ? r : undefined;
      }, 2000);
      expect(ms).toBeLessThan(1000);
      expect(await relay.exited).toBe(0);
      expect(await dir.get('leaving', Date.now())).toBeUndefined();
      expect(events).toEqual(['relay-up:leaving', 'relay-draining:leaving', 'relay-down:leaving']);
      await c.close();
    } finally {
      await off();
      await dir.close();
    }
  });

  it('keeps relaying through a Redis outage and re-registers by itself when Redis returns', async () => {
    // A Redis of this test's own, so that stopping it disturbs nobody else.
    const port = await freePort('tcp');
    const startRedis = () =>
      spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        {
          stdio: 'ignore',
        },
      );
    let redis: ChildProcess = startRedis();
    const url = `redis://127.0.0.1:${port}`;
    await until(async () => (await pingable(url)) || undefined, 5000);
    const { dir, prefix } = await directoryAt(url);
    const { relay, server } = await relayIn(url, prefix, 'steady');
    const echo = dgram.createSocket('udp4');
    echo.on('message', (m, r) => echo.send(m, r.port, r.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    try {
      const c = await TurnTestClient.connect({ transport: 'udp', server, cred: CRED });
      await c.allocate();
      const peer = { family: 4 as const, address: '127.0.0.1', port: echo.address().port };
      await c.channelBind(0x4000, peer);

      redis.kill('SIGKILL');
      await new Promise((r) => redis.once('exit', r));
      // A call in progress loses nothing while Redis is away, for longer than the heartbeat TTL
      // (its record would have expired twice over) and several failed heartbeats.
      const count = Math.ceil((TTL * 1000 * 2 + 1000) / 50);
      for (let i = 0; i < count; i++) {
        c.sendChannel(0x4000, new Uint8Array([i]));
        await new Promise((r) => setTimeout(r, 50));
      }
      const got = await c.waitForData(count);
      expect(got.map((g) => g.data[0])).toEqual(Array.from({ length: count }, (_, i) => i));
      expect(relay.child.exitCode).toBeNull();

      redis = startRedis(); // empty: the registration is gone with the old process
      await until(async () => (await pingable(url)) || undefined, 5000);
      const { value } = await until<RelayRecord>(
        () => dir.get('steady', Date.now()).catch(() => undefined),
        10_000,
      );
      expect(value.state).toBe('active');
      expect(relay.child.exitCode).toBeNull();
      await c.close();
    } finally {
      echo.close();
      relay.kill('SIGINT');
      await relay.exited;
      await dir.close();
      redis.kill('SIGKILL');
    }
  });
});

async function pingable(url: string): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}
