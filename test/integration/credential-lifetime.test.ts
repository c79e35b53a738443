/**
 * A call outlives its credential, on a real relay process with a real Redis: a credential that
 * expires about 3 s after it was issued keeps its allocation refreshing, permitting, binding and
 * relaying after the expiry, while a new Allocate with it gets 401; a revocation written to Redis
 * the way the edge writes it ends that allocation at once and spares another client of the tenant.
 * The relay also caps each tenant's allocations over all its clients (486).
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTurnCredential } from '../../src/credentials/turn-rest.ts';
import type { TransportAddress } from '../../src/net/address.ts';
import { RedisDirectory } from '../../src/redis/redis-directory.ts';
import { MessageClass } from '../../src/stun/constants.ts';
import { freePort } from '../support/ports.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { type RelayChild, startRelayProcess } from '../support/relay.ts';
import { errorCodeOf } from '../support/stun-builders.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const SECRET = 'credential-lifetime-secret';
const REALM = 'cred.test';
const CHANNEL = 0x4001;

async function credential(client: string, ttlSeconds: number, tenant = 'acme') {
  const c = await createTurnCredential({
    secret: SECRET,
    nowSeconds: Date.now() / 1000,
    ttlSeconds,
    tenant,
    userId: client,
  });
  return { username: c.username, password: c.credential, realm: REALM, expiresAt: c.expiresAt };
}

const ok = (m: { cls: number }) => m.cls === MessageClass.SuccessResponse;

describe('a call that outlives its TURN credential (real relay, real Redis)', () => {
  let url: string;
  let prefix: string;
  let relay: RelayChild;
  let server: TransportAddress;
  let directory: RedisDirectory;
  const clients: TurnTestClient[] = [];

  const metric = async (pattern: RegExp): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${relay.ready.httpPort}/metrics`)).text();
    return Number(pattern.exec(text)?.[1] ?? 0);
  };
  const allocations = async (): Promise<number> =>
    (
      (await (await fetch(`http://127.0.0.1:${relay.ready.httpPort}/healthz`)).json()) as {
        allocations: number;
      }
    ).allocations;
  const connect = async (cred: Awaited<ReturnType<typeof credential>>) => {
    const c = await TurnTestClient.connect({ transport: 'udp', server, cred });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    url = await redisUrl();
    prefix = uniquePrefix('cred');
    const port = await freePort('both');
    relay = await startRelayProcess([
      '--turn-port',
      String(port),
      '--http-port',
      '0',
      '--secret',
      SECRET,
      '--realm',
      REALM,
      '--allow-peer',
      '127.0.0.0/8',
      '--log-level',
      'warn',
      '--redis',
      url,
      '--redis-prefix',
      prefix,
      '--drain-timeout',
      '0',
      '--tenant-quota',
      '2',
    ]);
    server = { family: 4, address: '127.0.0.1', port };
    directory = new RedisDirectory({ client: new Redis(url), subscriber: new Redis(url), prefix });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    relay?.kill();
    await relay?.exited;
    await directory?.close();
    if (url && prefix) await deleteKeys(url, prefix);
  });

  it('keeps refreshing, permitting, binding and relaying after the expiry; a new Allocate gets 401; a revocation ends it at once', async () => {
    const shortCred = await credential('c1', 3);
    const a = await connect(shortCred);
    const b = await connect(await credential('c2', 600));
    expect(ok(await a.allocate())).toBe(true);
    expect(ok(await b.allocate())).toBe(true);
    expect(ok(await a.createPermission(b.relayed!))).toBe(true);
    expect(ok(await a.channelBind(CHANNEL, b.relayed!))).toBe(true);
    expect(ok(await b.createPermission(a.relayed!))).toBe(true);

    // Wait until the credential has expired (its expiry second has passed), at most ~4 s.
    const wait = shortCred.expiresAt * 1000 + 300 - Date.now();
    expect(wait).toBeLessThan(4000);
    await new Promise((r) => setTimeout(r, Math.max(0, wait)));
    expect(Date.now()).toBeGreaterThan(shortCred.expiresAt * 1000);

    // On its own allocation the expired credential still works...
    expect(ok(await a.refresh(600))).toBe(true);
    expect(ok(await a.createPermission(b.relayed!))).toBe(true);
    expect(ok(await a.channelBind(CHANNEL, b.relayed!))).toBe(true);
    // ... and data flows both ways: ChannelData out, a Send indication back.
    for (let i = 0; i < 5; i++) a.sendChannel(CHANNEL, new TextEncoder().encode(`a${i}`));
    for (let i = 0; i < 5; i++) b.sendIndication(a.relayed!, new TextEncoder().encode(`b${i}`));
    await b.waitForData(5);
    await a.waitForData(5);
    expect(b.received.map((r) => new TextDecoder().decode(r.data)).sort()).toEqual([
      'a0',
      'a1',
      'a2',
      'a3',
      'a4',
    ]);
    expect(a.received.every((r) => r.channel === CHANNEL)).toBe(true);
    expect(
      await metric(/^turn_requests_succeeded_total\{method="Refresh",credential="expired"\} (\d+)/m),
    ).toBe(1);
    expect(
      await metric(/^turn_requests_succeeded_total\{method="CreatePermission",credential="expired"\} (\d+)/m),
    ).toBe(1);

    // A new allocation with the expired credential, from another 5-tuple: 401.
    const late = await connect(shortCred);
    expect(errorCodeOf(await late.allocate())).toBe(401);
    expect(errorCodeOf(await late.refresh())).toBe(401);
    expect(await allocations()).toBe(2);

    // Revoke client c1 of tenant acme through Redis, as the edge does: its allocation ends at once.
    const t0 = Date.now();
    await directory.revoke({ kind: 'client', tenant: 'acme', client: 'c1' }, Date.now() + 60_000);
    await directory.publish({
      type: 'revoked',
      id: 'test',
      target: { kind: 'client', tenant: 'acme', client: 'c1' },
      at: Date.now(),
    });
    while ((await allocations()) > 1) {
      if (Date.now() - t0 > 3000) throw new Error('the revoked allocation is still there after 3 s');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(Date.now() - t0).toBeLessThan(1000); // pub/sub, not the 5 s poll
    expect(await metric(/^turn_allocations_ended_total\{reason="revoked"\} (\d+)/m)).toBe(1);
    expect(errorCodeOf(await a.refresh())).toBe(401);
    // Another client of the same tenant goes on.
    expect(ok(await b.refresh(600))).toBe(true);
    expect(await allocations()).toBe(1);
  });

  it('refuses the allocation past the tenant quota with 486, whichever client asks, and not other tenants', async () => {
    const first = await connect(await credential('q1', 600, 'quota'));
    const second = await connect(await credential('q2', 600, 'quota'));
    const third = await connect(await credential('q3', 600, 'quota'));
    const elsewhere = await connect(await credential('q1', 600, 'other'));
    expect(ok(await first.allocate())).toBe(true);
    expect(ok(await second.allocate())).toBe(true);
    expect(errorCodeOf(await third.allocate())).toBe(486);
    expect(ok(await elsewhere.allocate())).toBe(true);
    // When one of the tenant's allocations ends, the tenant may allocate again.
    expect(ok(await first.refresh(0))).toBe(true);
    expect(ok(await third.allocate())).toBe(true);
  });
});
