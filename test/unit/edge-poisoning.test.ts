/**
 * The attacks measured in issue 10 §3, each replayed against the edge: every one moved the
 * learned map, the path model or a room before; each must now move nothing. The edge is built
 * the way workers/node.ts builds it (client address walked from the right of X-Forwarded-For
 * past the trusted load balancer, geo headers only of the configured CDN), on app.request().
 */
import type { Context } from 'hono';
import { describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { MemoryRoomStore } from '../../src/allocation/rooms.ts';
import type { RelayRecord } from '../../src/directory/types.ts';
import { cidr } from '../../src/net/cidr.ts';
import { clientAddress } from '../../src/net/forwarded.ts';
import { createEdgeApp, type EdgeDeps } from '../../workers/app.ts';
import { placeFromHeaders } from '../../workers/geo.ts';
import { relayRecord } from '../support/relay-record.ts';

const NOW = 1_800_000_000_000;
const PARIS = relayRecord('eu-paris', '192.0.2.10', 48.86, 2.35);
const TOKYO = relayRecord('ap-tokyo', '192.0.2.20', 35.68, 139.69);
const NEWYORK = relayRecord('us-newyork', '192.0.2.30', 40.71, -74.0);
const AT_PARIS = { lat: 48.85, lon: 2.3 };
const LOAD_BALANCER = '10.0.0.1';
const VICTIM_NET = '203.0.113.0/24';

interface Answer {
  relay: { id: string; basis: string; reason: string };
  location: { source: string };
  probeTicket: string;
  probeTargets: { id: string }[];
}

/** An edge as node.ts makes it, behind one trusted load balancer that appends the peer it saw. */
function nodeEdge(over: Partial<EdgeDeps> = {}) {
  const learned = new MemoryLearnedStore();
  const rooms = new MemoryRoomStore();
  let clock = NOW;
  const trusted = [cidr('10.0.0.0/8')];
  const app = createEdgeApp({
    relays: async () => [PARIS, TOKYO, NEWYORK],
    learned,
    rooms,
    secrets: () => ['edge-secret'],
    credentialTtlSeconds: 600,
    clientIp: (c: Context) => clientAddress(LOAD_BALANCER, c.req.header('x-forwarded-for'), trusted),
    platformPlace: (c: Context) => placeFromHeaders((n) => c.req.header(n), 'none'),
    defaultPlace: { lat: 0, lon: 0 },
    now: () => clock,
    random: () => 0.99,
    ...over,
  });
  /** A request from `ip` through the load balancer; `forged` is what the client wrote itself. */
  const send = async (path: string, ip: string, body: unknown, headers: Record<string, string> = {}) => {
    const xff = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${ip}` : ip;
    return app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers, 'x-forwarded-for': xff },
      body: JSON.stringify(body),
    });
  };
  const allocate = async (ip: string, body: unknown = {}, headers: Record<string, string> = {}) => {
    const res = await send('/v1/allocate', ip, body, headers);
    expect(res.status).toBe(200);
    return (await res.json()) as Answer;
  };
  return {
    app,
    learned,
    rooms,
    send,
    allocate,
    tick: (ms: number) => {
      clock += ms;
    },
  };
}

describe('attack 1: a forged X-Forwarded-For and 64 identical probes', () => {
  it('leaves the victim network unlearned and its users on the near relay', async () => {
    const e = nodeEdge();
    const forged = { 'x-forwarded-for': '203.0.113.5' };
    for (let i = 0; i < 20; i++) {
      const a = await e.allocate('198.51.100.9', {}, forged);
      const probes = Array.from({ length: 64 }, () => ({ relay: 'ap-tokyo', rttMs: 1 }));
      const res = await e.send(
        '/v1/measurements',
        '198.51.100.9',
        { probes, probeTicket: a.probeTicket },
        forged,
      );
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ accepted: 1, prefix: '198.51.100.0/24' });
      e.tick(60_000);
    }
    expect((await e.learned.get(VICTIM_NET, NOW)).size).toBe(0);
    const victim = await e.allocate('203.0.113.77', { location: AT_PARIS });
    expect(victim.relay).toMatchObject({ id: 'eu-paris', basis: 'distance' });
  });

  it('from inside the victim network, 300 requests are one source that never reaches trust', async () => {
    const e = nodeEdge();
    for (let i = 0; i < 300; i++) {
      const a = await e.allocate('203.0.113.66');
      const probes = Array.from({ length: 64 }, () => ({ relay: 'ap-tokyo', rttMs: 1 }));
      await e.send('/v1/measurements', '203.0.113.66', { probes, probeTicket: a.probeTicket });
      e.tick(1_000);
    }
    const row = await e.learned.get(VICTIM_NET, NOW + 300_000);
    expect(row.get('ap-tokyo')!.weight).toBeLessThanOrEqual(1);
    const victim = await e.allocate('203.0.113.77', { location: AT_PARIS });
    expect(victim.relay).toMatchObject({ id: 'eu-paris', basis: 'distance' });
  });

  it('is outvoted by honest neighbours once they have measured', async () => {
    const e = nodeEdge();
    for (const host of [10, 11, 12, 13, 14]) {
      const a = await e.allocate(`203.0.113.${host}`);
      await e.send('/v1/measurements', `203.0.113.${host}`, {
        probes: [
          { relay: 'eu-paris', rttMs: 12 },
          { relay: 'ap-tokyo', rttMs: 240 },
        ],
        probeTicket: a.probeTicket,
      });
      e.tick(60_000);
    }
    for (let i = 0; i < 100; i++) {
      const a = await e.allocate('203.0.113.66');
      await e.send('/v1/measurements', '203.0.113.66', {
        probes: [
          { relay: 'eu-paris', rttMs: 900 },
          { relay: 'ap-tokyo', rttMs: 1 },
        ],
        probeTicket: a.probeTicket,
      });
      e.tick(1_000);
    }
    const row = await e.learned.get(VICTIM_NET, NOW + 600_000);
    expect(row.get('eu-paris')!.rttMs).toBe(12);
    expect(row.get('ap-tokyo')!.rttMs).toBe(240);
    const victim = await e.allocate('203.0.113.77', { location: AT_PARIS });
    expect(victim.relay).toMatchObject({ id: 'eu-paris', basis: 'learned' });
  });
});

describe('attack 2: forged geo headers and made-up RTTs', () => {
  const FAR_FROM_EVERYTHING = { 'cf-iplatitude': '-60', 'cf-iplongitude': '-120' };
  // From near Tokyo: 300 ms to Tokyo, 2,000 to Paris: 10x inflation and 300 ms access if believed.
  const madeUp = [
    { relay: 'ap-tokyo', rttMs: 300 },
    { relay: 'eu-paris', rttMs: 2000 },
    { relay: 'us-newyork', rttMs: 1500 },
  ];

  it('believes no geo header the configuration does not name', async () => {
    const e = nodeEdge();
    for (let i = 0; i < 300; i++) {
      const a = await e.allocate('198.51.100.9', {}, FAR_FROM_EVERYTHING);
      expect(a.location.source).toBe('default');
      await e.send(
        '/v1/measurements',
        '198.51.100.9',
        { probes: madeUp, probeTicket: a.probeTicket },
        FAR_FROM_EVERYTHING,
      );
      e.tick(1_000);
    }
    expect(await e.learned.pathModel(NOW + 300_000)).toEqual({
      inflation: expect.closeTo(2.1, 9),
      accessMs: 0,
    });
  });

  it('with a place the edge believes: 300 requests from one network are one vote', async () => {
    // The attacker's real address is in the GeoIP database (or behind the configured CDN).
    const e = nodeEdge({ geoip: () => ({ lat: 35, lon: 139 }) });
    for (let i = 0; i < 300; i++) {
      const a = await e.allocate('198.51.100.9');
      await e.send('/v1/measurements', '198.51.100.9', { probes: madeUp, probeTicket: a.probeTicket });
      e.tick(1_000);
    }
    expect(await e.learned.pathModel(NOW + 300_000)).toEqual({
      inflation: expect.closeTo(2.1, 9),
      accessMs: 0,
    });
  });

  it('300 networks in a burst barely move what 60 honest ones taught', async () => {
    const e = nodeEdge({ geoip: () => ({ lat: 40.71, lon: -74.0 }) });
    // Honest clients near New York: 10 ms access, Paris 2.1x the fiber time beyond.
    const honest = [
      { relay: 'us-newyork', rttMs: 10 },
      { relay: 'eu-paris', rttMs: 10 + 2.1 * 58.4 },
    ];
    for (let i = 0; i < 60; i++) {
      const ip = `198.18.${i}.1`;
      const a = await e.allocate(ip);
      expect(
        (await e.send('/v1/measurements', ip, { probes: honest, probeTicket: a.probeTicket })).status,
      ).toBe(200);
      e.tick(20_000);
    }
    const before = await e.learned.pathModel(NOW + 3_600_000);
    expect(before.inflation).toBeCloseTo(2.1, 1);
    expect(before.accessMs).toBeCloseTo(10, 0);
    const forged = [
      { relay: 'us-newyork', rttMs: 300 },
      { relay: 'eu-paris', rttMs: 2000 },
    ];
    for (let i = 0; i < 300; i++) {
      const attackerIp = `100.${64 + (i >> 8)}.${i & 255}.1`;
      const a = await e.allocate(attackerIp);
      await e.send('/v1/measurements', attackerIp, { probes: forged, probeTicket: a.probeTicket });
    }
    const after = await e.learned.pathModel(NOW + 3_600_000);
    expect(Math.abs(after.inflation - before.inflation) / before.inflation).toBeLessThan(0.1);
    expect(Math.abs(after.accessMs - before.accessMs)).toBeLessThan(2);
  });
});

describe('attack 3: a later participant claiming 0 ms to another relay', () => {
  it('moves only its own answer, never the room', async () => {
    const e = nodeEdge();
    const first = await e.allocate('203.0.113.10', { room: 'call-1', location: AT_PARIS });
    expect(first.relay.id).toBe('eu-paris');
    expect(await e.rooms.get('default:call-1', NOW)).toBe('eu-paris');
    // The liar, in New York, holds a ticket for Tokyo (among its probe targets) and claims 0 ms.
    const NY = { lat: 40.7, lon: -74 };
    const t = await e.allocate('198.51.100.9', { room: 'call-1', location: NY });
    expect(t.probeTargets.map((p) => p.id)).toContain('ap-tokyo');
    const liar = await e.allocate('198.51.100.9', {
      room: 'call-1',
      location: NY,
      probes: [{ relay: 'ap-tokyo', rttMs: 0 }],
      probeTicket: t.probeTicket,
    });
    expect(liar.relay.id).toBe('ap-tokyo');
    expect(await e.rooms.get('default:call-1', NOW)).toBe('eu-paris');
    // A participant in New York still joins the room's relay rather than splitting the call.
    const later = await e.allocate('192.0.2.200', {
      room: 'call-1',
      location: NY,
      probes: [
        { relay: 'us-newyork', rttMs: 60 },
        { relay: 'eu-paris', rttMs: 70 },
      ],
    });
    expect(later.relay).toMatchObject({ id: 'eu-paris', reason: 'room' });
  });

  it('a first answer resting on unticketed probes does not pin the room; the next trusted one does', async () => {
    const e = nodeEdge();
    const liar = await e.allocate('198.51.100.9', {
      room: 'call-2',
      location: AT_PARIS,
      probes: [{ relay: 'ap-tokyo', rttMs: 0 }],
    });
    expect(liar.relay.id).toBe('ap-tokyo');
    expect(await e.rooms.get('default:call-2', NOW)).toBeUndefined();
    await e.allocate('203.0.113.10', { room: 'call-2', location: AT_PARIS });
    expect(await e.rooms.get('default:call-2', NOW)).toBe('eu-paris');
  });

  it('re-pins only when the room relay drains, and keeps rooms apart per tenant', async () => {
    let relays: RelayRecord[] = [PARIS, TOKYO, NEWYORK];
    const e = nodeEdge({ relays: async () => relays });
    await e.allocate('203.0.113.10', { room: 'call-3', location: AT_PARIS });
    relays = [{ ...PARIS, state: 'draining' }, TOKYO, NEWYORK];
    const moved = await e.allocate('203.0.113.11', { room: 'call-3', location: AT_PARIS });
    expect(moved.relay.id).toBe('us-newyork');
    expect(await e.rooms.get('default:call-3', NOW)).toBe('us-newyork');
    expect(await e.rooms.get('call-3', NOW)).toBeUndefined();
  });
});

describe('probe tickets', () => {
  const probes = [{ relay: 'eu-paris', rttMs: 12 }];

  it('are required, bound to the network, unforgeable and short-lived', async () => {
    const e = nodeEdge();
    const a = await e.allocate('203.0.113.10');
    const status = async (ip: string, ticket: string | undefined) => {
      const res = await e.send('/v1/measurements', ip, ticket ? { probes, probeTicket: ticket } : { probes });
      return [res.status, ((await res.json()) as { title?: string }).title];
    };
    expect(await status('203.0.113.10', undefined)).toEqual([422, 'Probe ticket required']);
    expect(await status('198.51.100.9', a.probeTicket)).toEqual([422, 'Invalid probe ticket']);
    const altered = a.probeTicket.replace('eu-paris', 'eu-pariz');
    expect(await status('203.0.113.10', altered)).toEqual([422, 'Invalid probe ticket']);
    expect(await status('203.0.113.11', a.probeTicket)).toEqual([200, undefined]);
    e.tick(10 * 60_000 + 1);
    expect(await status('203.0.113.10', a.probeTicket)).toEqual([422, 'Invalid probe ticket']);
  });

  it('cover only the relays handed out: others are ignored and said so', async () => {
    const e = nodeEdge({
      relays: async () => [PARIS, TOKYO, NEWYORK, relayRecord('af-cairo', '192.0.2.40', 30, 31)],
      rank: { probeTargets: 3 },
    });
    const a = await e.allocate('203.0.113.10', { location: AT_PARIS });
    const handed = a.probeTargets.map((p) => p.id);
    const left = ['eu-paris', 'ap-tokyo', 'us-newyork', 'af-cairo'].find((id) => !handed.includes(id))!;
    const res = await e.send('/v1/measurements', '203.0.113.10', {
      probes: [...probes, { relay: left, rttMs: 1 }],
      probeTicket: a.probeTicket,
    });
    expect(await res.json()).toEqual({ accepted: 1, ignored: [left], prefix: '203.0.113.0/24' });
    expect((await e.learned.get('203.0.113.0/24', NOW)).has(left)).toBe(false);
  });

  it('signed by one edge are good at another with the same secrets, not with another probe key', async () => {
    const a = await nodeEdge().allocate('203.0.113.10');
    const same = nodeEdge();
    const other = nodeEdge({ probeKey: 'another-probe-key-0123' });
    const body = { probes, probeTicket: a.probeTicket };
    expect((await same.send('/v1/measurements', '203.0.113.10', body)).status).toBe(200);
    expect((await other.send('/v1/measurements', '203.0.113.10', body)).status).toBe(422);
  });
});
