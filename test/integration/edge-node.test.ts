/**
 * The Node edge against a real Redis and real relays: it hands out iceServers whose credentials
 * the chosen relay accepts (a TURN client allocates with them), and measurements change later
 * choices for the same network.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageClass } from '../../src/stun/constants.ts';
import { startTestRelay, stopTestRelays, type TestRelay } from '../support/backbone-relays.ts';
import { freePort } from '../support/ports.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { errorCodeOf } from '../support/stun-builders.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const SECRET = 'edge-test-secret';
const ROOT = new URL('../..', import.meta.url).pathname;
let relays: TestRelay[] = [];
let edge: ChildProcess;
let base: string;
let prefix: string;

interface Answer {
  iceServers: { urls: string[]; username: string; credential: string }[];
  relay: { id: string; basis: string };
}

const allocate = async (body: unknown): Promise<Answer> => {
  const res = await fetch(`${base}/v1/allocate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Answer;
};

describe('the Node edge', () => {
  beforeAll(async () => {
    const url = await redisUrl();
    prefix = uniquePrefix('edge');
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
    const port = await freePort('tcp');
    base = `http://127.0.0.1:${port}`;
    edge = spawn(process.execPath, ['--import', 'tsx', 'workers/node.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        REDIS_URL: url,
        EDGE_REDIS_PREFIX: prefix,
        EDGE_SECRETS: SECRET,
        EDGE_PORT: String(port),
        EDGE_ADMIN_TOKEN: 'admin-token',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('edge did not start')), 20_000);
      edge.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('"event":"ready"')) {
          clearTimeout(t);
          resolve();
        }
      });
    });
  });

  afterAll(async () => {
    edge?.kill('SIGTERM');
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
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${base}/v1/measurements`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          probes: [
            { relay: 'us-1', rttMs: 2 },
            { relay: 'eu-1', rttMs: 40 },
          ],
        }),
      });
      expect(res.status).toBe(200);
    }
    const after = await allocate({ location: { lat: 51.5, lon: -0.12 } });
    expect(after.relay).toEqual(expect.objectContaining({ id: 'us-1', basis: 'learned' }));
  });

  it('revokes a username: its allocation ends at once and it can no longer allocate', async () => {
    const a = await allocate({ location: { lat: 51.5, lon: -0.12 } });
    const { username, credential } = a.iceServers[0]!;
    const [, host, port] = /^turn:([^:]+):(\d+)\?transport=udp$/.exec(a.iceServers[0]!.urls[1]!)!;
    const server = { family: 4 as const, address: host!, port: Number(port) };
    const c = await TurnTestClient.connect({
      transport: 'udp',
      server,
      cred: { username, password: credential, realm: 'r' },
    });
    expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
    const relay = relays.find((r) => r.turn.address === host)!;
    const allocations = async () =>
      ((await (await fetch(`${relay.http}/healthz`)).json()) as { allocations: number }).allocations;
    expect(await allocations()).toBeGreaterThan(0);

    const denied = await fetch(`${base}/v1/credentials/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username }),
    });
    expect(denied.status).toBe(401);
    const res = await fetch(`${base}/v1/credentials/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer admin-token' },
      body: JSON.stringify({ username }),
    });
    expect(res.status).toBe(200);
    const start = Date.now();
    while ((await allocations()) > 0) {
      if (Date.now() - start > 3000) throw new Error('the revoked allocation is still there');
      await new Promise((r) => setTimeout(r, 50));
    }
    const again = await TurnTestClient.connect({
      transport: 'udp',
      server,
      cred: { username, password: credential, realm: 'r' },
    });
    expect(errorCodeOf(await again.allocate())).toBe(401);
    await Promise.all([c.close(), again.close()]);
  });

  it('keeps the participants of a room on its relay when they are close enough to it', async () => {
    // Probes in both requests: this network's learned map already favours us-1 (test above).
    const first = await allocate({
      room: 'standup-1',
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
  });
});
