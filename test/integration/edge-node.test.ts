/**
 * The Node edge against a real Redis and real relays: it hands out iceServers whose credentials
 * the chosen relay accepts (a TURN client allocates with them), and measurements change later
 * choices for the same network. Clients carry API keys made with the key CLI (npm run keys);
 * each key has its tenant's rate limit, counted in Redis, and a disabled key stops working.
 */
import dgram from 'node:dgram';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageClass } from '../../src/stun/constants.ts';
import {
  relayMetric,
  startTestRelay,
  stopTestRelays,
  type TestRelay,
  until,
} from '../support/backbone-relays.ts';
import { keysCli, type NodeEdge, startNodeEdge } from '../support/node-edge.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { errorCodeOf } from '../support/stun-builders.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const SECRET = 'edge-test-secret';
let relays: TestRelay[] = [];
let edge: NodeEdge;
let base: string;
let prefix: string;
let url: string;
let apiKey: string;
const keyed = () => ({ 'content-type': 'application/json', authorization: `Bearer ${apiKey}` });

interface Answer {
  iceServers: { urls: string[]; username: string; credential: string }[];
  relay: { id: string; basis: string };
  probeTicket: string;
}

/** The test is its own trusted proxy (EDGE_TRUSTED_PROXIES), so it speaks for clients of 203.0.113.0/24. */
const allocate = async (body: unknown, client = '203.0.113.10'): Promise<Answer> => {
  const res = await fetch(`${base}/v1/allocate`, {
    method: 'POST',
    headers: { ...keyed(), 'x-forwarded-for': client },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Answer;
};

describe('the Node edge', () => {
  beforeAll(async () => {
    url = await redisUrl();
    prefix = uniquePrefix('edge');
    await keysCli(['tenant', 'add', 'itest', '--rate', '100', '--burst', '200'], url, prefix);
    apiKey = (await keysCli(['key', 'add', 'itest', '--label', 'integration'], url, prefix))[0]!
      .key as string;
    // Relays near Paris and New York, both accepting the edge's TURN REST secret.
    relays = await Promise.all([
      startTestRelay({
        id: 'eu-1',
        host: '127.0.0.31',
        extra: [
          '--redis',
          url,
          '--redis-prefix',
          prefix,
          '--secret',
          SECRET,
          '--lat',
          '48.86',
          '--lon',
          '2.35',
          '--region',
          'eu',
        ],
      }),
      startTestRelay({
        id: 'us-1',
        host: '127.0.0.32',
        extra: [
          '--redis',
          url,
          '--redis-prefix',
          prefix,
          '--secret',
          SECRET,
          '--lat',
          '40.71',
          '--lon',
          '-74',
          '--region',
          'us',
        ],
      }),
    ]);
    edge = await startNodeEdge({
      REDIS_URL: url,
      EDGE_REDIS_PREFIX: prefix,
      EDGE_SECRETS: SECRET,
      EDGE_ADMIN_TOKEN: 'admin-token',
      EDGE_TRUSTED_PROXIES: '127.0.0.1/32',
    });
    base = edge.base;
    // Both relays in the edge's directory before any test, so that no test depends on another.
    await until(
      async () => {
        const res = await fetch(`${base}/readyz`);
        return res.status === 200 && ((await res.json()) as { relays: number }).relays === 2;
      },
      10_000,
      'both relays in the directory',
    );
  });

  afterAll(async () => {
    await edge?.stop();
    await stopTestRelays(relays);
    await deleteKeys(await redisUrl(), prefix);
  });

  it('hands out credentials the chosen relay accepts', async () => {
    const a = await allocate({ location: { lat: 51.5, lon: -0.12 } });
    expect(a.relay).toEqual(expect.objectContaining({ id: 'eu-1', basis: 'distance' }));
    const udp = a.iceServers[0]!.urls.find((u) => u.endsWith('?transport=udp'))!;
    const [, host, port] = /^turn:([^:]+):(\d+)\?/.exec(udp)!;
    const c = await TurnTestClient.connect({
      transport: 'udp',
      server: { family: 4, address: host!, port: Number(port) },
      cred: { username: a.iceServers[0]!.username, password: a.iceServers[0]!.credential, realm: 'r' },
    });
    expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
    await c.close();
  });

  it("reports its process's memory on /metrics under the relay's names", async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const name of [
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_external_memory_bytes',
    ]) {
      expect(text).toContain(`# TYPE ${name} gauge`);
      const value = Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      expect(value).toBeGreaterThan(0);
    }
  });

  it('lets measurements from a network change what that network is given', async () => {
    const before = await allocate({ location: { lat: 51.5, lon: -0.12 } });
    expect(before.relay.id).toBe('eu-1');
    const probed = await allocate({
      location: { lat: 51.5, lon: -0.12 },
      probes: [
        { relay: 'us-1', rttMs: 2 },
        { relay: 'eu-1', rttMs: 40 },
      ],
    });
    expect(probed.relay).toEqual(expect.objectContaining({ id: 'us-1', basis: 'probe' }));
    // Three clients of the network report, each with the ticket of its own answer (one is never enough).
    for (const client of ['203.0.113.21', '203.0.113.22', '203.0.113.23']) {
      const { probeTicket } = await allocate({}, client);
      const res = await fetch(`${base}/v1/measurements`, {
        method: 'POST',
        headers: { ...keyed(), 'x-forwarded-for': client },
        body: JSON.stringify({
          probes: [
            { relay: 'us-1', rttMs: 2 },
            { relay: 'eu-1', rttMs: 40 },
          ],
          probeTicket,
        }),
      });
      expect(res.status).toBe(200);
    }
    const after = await allocate({ location: { lat: 51.5, lon: -0.12 } });
    expect(after.relay).toEqual(expect.objectContaining({ id: 'us-1', basis: 'learned' }));
  });

  it('revokes a username: its allocation ends at once, it can no longer allocate, and another user is untouched', async () => {
    // Two users with allocations side by side on one relay (the TURN REST secret is shared by
    // both relays, so either answer's credentials work on the first answer's relay). The edge's
    // username is `expiry:tenant[:room]`, so two rooms give two usernames within one second.
    const a = await allocate({ location: { lat: 51.5, lon: -0.12 }, room: 'revoke-a' });
    const b = await allocate({ location: { lat: 51.5, lon: -0.12 }, room: 'revoke-b' });
    const udpOf = (x: Answer) => x.iceServers[0]!.urls.find((u) => u.endsWith('?transport=udp'))!;
    const [, host, port] = /^turn:([^:]+):(\d+)\?transport=udp$/.exec(udpOf(a))!;
    const server = { family: 4 as const, address: host!, port: Number(port) };
    const credOf = (x: Answer) => ({
      username: x.iceServers[0]!.username,
      password: x.iceServers[0]!.credential,
      realm: 'r',
    });
    const revokedUser = credOf(a).username;
    expect(credOf(b).username).not.toBe(revokedUser);
    const echo = dgram.createSocket('udp4');
    echo.on('message', (m, r) => echo.send(m, r.port, r.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    const peer = { family: 4 as const, address: '127.0.0.1', port: echo.address().port };
    const c = await TurnTestClient.connect({ transport: 'udp', server, cred: credOf(a) });
    const other = await TurnTestClient.connect({ transport: 'udp', server, cred: credOf(b) });
    try {
      for (const x of [c, other]) {
        expect((await x.allocate()).cls).toBe(MessageClass.SuccessResponse);
        expect((await x.channelBind(0x4000, peer)).cls).toBe(MessageClass.SuccessResponse);
      }
      const relay = relays.find((r) => r.turn.address === host)!;
      const revokedEnded = () => relayMetric(relay, 'turn_allocations_ended_total{reason="revoked"}');
      const endedBefore = await revokedEnded();

      const denied = await fetch(`${base}/v1/credentials/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: revokedUser }),
      });
      expect(denied.status).toBe(401);
      const res = await fetch(`${base}/v1/credentials/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer admin-token' },
        body: JSON.stringify({ username: revokedUser }),
      });
      expect(res.status).toBe(200);
      await until(async () => (await revokedEnded()) > endedBefore, 3000, 'the revoked allocation to end');
      // Exactly one allocation ended: the revoked user's.
      await new Promise((r) => setTimeout(r, 300));
      expect((await revokedEnded()) - endedBefore).toBe(1);
      // The revoked user's channel is gone: nothing comes back; it cannot refresh nor allocate again.
      c.sendChannel(0x4000, new Uint8Array([1]));
      await expect(c.waitForData(1, 500)).rejects.toThrow(/expected 1 data messages, got 0/);
      expect((await c.refresh(600)).cls).toBe(MessageClass.ErrorResponse);
      const again = await TurnTestClient.connect({ transport: 'udp', server, cred: credOf(a) });
      expect(errorCodeOf(await again.allocate())).toBe(401);
      await again.close();
      // The other user's allocation lives on: it relays and refreshes.
      other.sendChannel(0x4000, new Uint8Array([2]));
      expect((await other.waitForData(1))[0]).toEqual({ channel: 0x4000, data: new Uint8Array([2]) });
      expect((await other.refresh(600)).cls).toBe(MessageClass.SuccessResponse);
      await other.refresh(0);
    } finally {
      await Promise.all([c.close(), other.close()]);
      echo.close();
    }
  });

  it('keeps the participants of a room on its relay when they are close enough to it', async () => {
    // Probes in both requests: this network's learned map already favours us-1 (test above).
    // The first answer rests on ticketed probes, so it pins the room (in Redis, once).
    const { probeTicket } = await allocate({});
    const first = await allocate({
      room: 'standup-1',
      probeTicket,
      probes: [
        { relay: 'eu-1', rttMs: 3 },
        { relay: 'us-1', rttMs: 50 },
      ],
    });
    expect(first.relay).toEqual(expect.objectContaining({ id: 'eu-1', reason: 'best' }));
    // Another participant measures us-1 a little faster; the room's relay is close enough.
    const second = await allocate({
      room: 'standup-1',
      probes: [
        { relay: 'us-1', rttMs: 2 },
        { relay: 'eu-1', rttMs: 12 },
      ],
    });
    expect(second.relay).toEqual(expect.objectContaining({ id: 'eu-1', reason: 'room' }));
    const redis = new Redis(url);
    expect(await redis.get(`${prefix}{room}:itest:standup-1`)).toBe('eu-1');
    expect(await redis.pttl(`${prefix}{room}:itest:standup-1`)).toBeGreaterThan(3_500_000);
    redis.disconnect();
  });

  it('puts the tenant in the TURN username and limits each key at its tenant rate, in Redis', async () => {
    const a = await allocate({});
    expect(a.iceServers[0]!.username).toMatch(/^\d+:itest:[0-9a-f]{16}$/);
    await keysCli(['tenant', 'add', 'tiny', '--rate', '0.5', '--burst', '2'], url, prefix);
    const made = (await keysCli(['key', 'add', 'tiny'], url, prefix))[0]!;
    const key = made.key as string;
    const ask = () =>
      fetch(`${base}/v1/allocate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: '{}',
      });
    expect((await ask()).status).toBe(200);
    expect((await ask()).status).toBe(200);
    const refused = await ask();
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The budget lives in Redis, shared by every edge.
    const redis = new Redis(url);
    expect(Number(await redis.get(`${prefix}{rate:${made.id}}`))).toBeGreaterThan(Date.now());
    await redis.quit();
  });

  it('gives a tenant the credential TTL its record allows, set with the key CLI', async () => {
    const made = await keysCli(['tenant', 'add', 'longcalls', '--max-ttl', '86400'], url, prefix);
    expect(made[0]!.tenant).toMatchObject({ id: 'longcalls', maxTtlSeconds: 86_400 });
    // Changing the rate keeps the bounds it had.
    const changed = await keysCli(['tenant', 'add', 'longcalls', '--rate', '5'], url, prefix);
    expect(changed[0]!.tenant).toMatchObject({ ratePerSecond: 5, maxTtlSeconds: 86_400 });
    const key = (await keysCli(['key', 'add', 'longcalls'], url, prefix))[0]!.key as string;
    const ask = (body: unknown) =>
      fetch(`${base}/v1/allocate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify(body),
      });
    const res = await ask({ ttl: 86_400 });
    expect(res.status).toBe(200);
    const a = (await res.json()) as { ttl: number; expiresAt: number; iceServers: { username: string }[] };
    expect(a.ttl).toBe(86_400);
    expect(a.iceServers[0]!.username.startsWith(`${a.expiresAt}:longcalls`)).toBe(true);
    const refused = await ask({ ttl: 86_401 });
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { detail: string }).detail).toBe(
      'ttl 86401 s is outside what tenant longcalls may ask for (60-86400 s)',
    );
  });

  it('refuses requests without a key, and a key disabled with the CLI within seconds', async () => {
    const none = await fetch(`${base}/v1/allocate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(none.status).toBe(401);
    const made = (await keysCli(['key', 'add', 'itest'], url, prefix))[0]!;
    const ask = () =>
      fetch(`${base}/v1/allocate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${made.key}` },
        body: '{}',
      });
    expect((await ask()).status).toBe(200);
    await keysCli(['key', 'disable', made.id as string], url, prefix);
    const start = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - start < 8000) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await ask()).status;
    }
    expect(status).toBe(401);
  });

  it('lives through the life of a key with the CLI: origins, client tokens, rotation with grace, deletion', async () => {
    const APP = 'https://app.example.com';
    const made = (await keysCli(['key', 'add', 'itest', '--origins', APP], url, prefix))[0]!;
    const call = (path: string, credential: string, origin?: string, body: unknown = {}) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${credential}`,
          ...(origin ? { origin } : {}),
        },
        body: JSON.stringify(body),
      });
    expect((await call('/v1/allocate', made.key as string)).status).toBe(200); // a server: no Origin
    expect((await call('/v1/allocate', made.key as string, 'https://evil.example')).status).toBe(403);
    const minted = await call('/v1/tokens', made.key as string, undefined, { client: 'alice', ttl: 600 });
    expect(minted.status).toBe(200);
    const { token } = (await minted.json()) as { token: string };
    expect((await call('/v1/allocate', token, APP)).status).toBe(200);
    expect((await call('/v1/allocate', token)).status).toBe(403); // the token is for APP's pages

    const rotated = await keysCli(['key', 'rotate', made.id as string, '--grace', '90m'], url, prefix);
    const fresh = rotated[0]!;
    expect(fresh.replaces).toBe(made.id);
    expect((await call('/v1/allocate', fresh.key as string, APP)).status).toBe(200);
    expect((await call('/v1/allocate', made.key as string, APP)).status).toBe(200); // grace
    const listed = await keysCli(['key', 'list', '--tenant', 'itest'], url, prefix);
    const old = listed.find((k) => k.id === made.id)!;
    expect(old.expiresAt).toBeGreaterThan(Date.now() + 80 * 60_000);
    expect(listed.find((k) => k.id === fresh.id)?.origins).toEqual([APP]);

    await keysCli(['key', 'delete', made.id as string], url, prefix);
    const start = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - start < 8000) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await call('/v1/allocate', token, APP)).status;
    }
    expect(status).toBe(401); // tokens die with the key that minted them
    expect((await call('/v1/allocate', made.key as string)).status).toBe(401);
    expect((await call('/v1/allocate', fresh.key as string, APP)).status).toBe(200);
  });

  it('revokes one client, then a whole tenant, through the edge: exactly their allocations end', async () => {
    await keysCli(['tenant', 'add', 'rtest', '--rate', '100', '--burst', '200'], url, prefix);
    const key = (await keysCli(['key', 'add', 'rtest'], url, prefix))[0]!.key as string;
    const asRtest = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
    const turnClient = async (body: unknown) => {
      const res = await fetch(`${base}/v1/allocate`, {
        method: 'POST',
        headers: asRtest,
        body: JSON.stringify(body),
      });
      const a = (await res.json()) as Answer & { client: string };
      const udp = a.iceServers[0]!.urls.find((u) => u.endsWith('?transport=udp'))!;
      const [, host, port] = /^turn:([^:]+):(\d+)\?/.exec(udp)!;
      const c = await TurnTestClient.connect({
        transport: 'udp',
        server: { family: 4, address: host!, port: Number(port) },
        cred: { username: a.iceServers[0]!.username, password: a.iceServers[0]!.credential, realm: 'r' },
      });
      return { c, a };
    };
    const revoke = (body: unknown) =>
      fetch(`${base}/v1/credentials/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer admin-token' },
        body: JSON.stringify(body),
      });
    // Revoked allocations over both relays (an answer may explore the other relay).
    const ended = async () => {
      let n = 0;
      for (const r of relays) n += await relayMetric(r, 'turn_allocations_ended_total{reason="revoked"}');
      return n;
    };
    const waitEnded = async (n: number) => {
      const start = Date.now();
      while ((await ended()) < n) {
        if (Date.now() - start > 3000) throw new Error(`expected ${n} revoked allocations`);
        await new Promise((done) => setTimeout(done, 50));
      }
    };

    const alice = await turnClient({ user: 'alice', location: { lat: 51.5, lon: -0.12 } });
    const other = await turnClient({ location: { lat: 51.5, lon: -0.12 } });
    expect(alice.a.client).toBe('alice');
    expect((await alice.c.allocate()).cls).toBe(MessageClass.SuccessResponse);
    expect((await other.c.allocate()).cls).toBe(MessageClass.SuccessResponse);
    const before = await ended();

    expect((await revoke({ tenant: 'rtest', client: 'alice' })).status).toBe(200);
    await waitEnded(before + 1);
    expect(errorCodeOf(await alice.c.refresh())).toBe(401);
    expect((await other.c.refresh()).cls).toBe(MessageClass.SuccessResponse);
    expect(await ended()).toBe(before + 1);

    expect((await revoke({ tenant: 'rtest', seconds: 60 })).status).toBe(200);
    await waitEnded(before + 2);
    expect(errorCodeOf(await other.c.refresh())).toBe(401);
    const late = await turnClient({ location: { lat: 51.5, lon: -0.12 } });
    expect(errorCodeOf(await late.c.allocate())).toBe(401);
    await Promise.all([alice.c.close(), other.c.close(), late.c.close()]);
  });
});
