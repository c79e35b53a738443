import { describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { MemoryRoomStore } from '../../src/allocation/rooms.ts';
import { turnRestPassword } from '../../src/credentials/turn-rest.ts';
import type { RelayRecord } from '../../src/directory/types.ts';
import { createEdgeApp, type EdgeDeps } from '../../workers/app.ts';
import { placeFromHeaders } from '../../workers/geo.ts';

const NOW = 1_800_000_000_000;
const relay = (
  id: string,
  ip: string,
  lat: number,
  lon: number,
  over: Partial<RelayRecord> = {},
): RelayRecord => ({
  id,
  region: id.split('-')[0]!,
  lat,
  lon,
  turnUrls: [
    `turn:${ip}:3478?transport=udp`,
    `turn:${ip}:3478?transport=tcp`,
    `turns:${ip}:5349?transport=tcp`,
  ],
  backbone: `${ip}:7000`,
  relayedAddress: ip,
  portRange: [49152, 65535],
  capacity: 100,
  load: { allocations: 0, pps: 0, bps: 0 },
  state: 'active',
  version: 't',
  startedAt: 0,
  updatedAt: 0,
  pingUrl: `http://${ip}:9464/ping`,
  ...over,
});

const PARIS = relay('eu-paris', '192.0.2.10', 48.86, 2.35);
const TOKYO = relay('ap-tokyo', '192.0.2.20', 35.68, 139.69);
const NEWYORK = relay('us-newyork', '192.0.2.30', 40.71, -74.0);

function edge(over: Partial<EdgeDeps> = {}) {
  const learned = new MemoryLearnedStore();
  const app = createEdgeApp({
    relays: async () => [PARIS, TOKYO, NEWYORK],
    learned,
    secrets: () => ['edge-secret'],
    credentialTtlSeconds: 600,
    inflation: () => 2.1,
    clientIp: () => '203.0.113.77',
    defaultPlace: { lat: 50, lon: 8 },
    now: () => NOW,
    random: () => 0.99,
    ...over,
  });
  return { app, learned };
}

const post = (
  app: ReturnType<typeof edge>['app'],
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
) =>
  app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

interface AllocateAnswer {
  iceServers: { urls: string[]; username: string; credential: string }[];
  relay: { id: string; basis: string; predictedRttMs: number };
  alternates: { id: string }[];
  ttl: number;
  expiresAt: number;
  location: { source: string };
  prefix: string;
  probeTargets: { id: string; stun: string; ping: string }[];
}

describe('POST /v1/allocate', () => {
  it('answers iceServers a browser can use, with TURN REST credentials the relays accept', async () => {
    const { app } = edge();
    const res = await post(app, '/v1/allocate', { location: { lat: 48.1, lon: 11.6 } });
    expect(res.status).toBe(200);
    const a = (await res.json()) as AllocateAnswer;
    expect(a.relay).toMatchObject({ id: 'eu-paris', basis: 'distance' });
    expect(a.iceServers[0]!.urls).toEqual([
      'stun:192.0.2.10:3478',
      'turn:192.0.2.10:3478?transport=udp',
      'turn:192.0.2.10:3478?transport=tcp',
      'turns:192.0.2.10:5349?transport=tcp',
    ]);
    const { username, credential } = a.iceServers[0]!;
    expect(username).toBe(`${NOW / 1000 + 600}:default`);
    expect(credential).toBe(turnRestPassword('edge-secret', username));
    expect(a.alternates.map((x) => x.id)).toEqual(['us-newyork', 'ap-tokyo']);
    expect(a).toMatchObject({
      ttl: 600,
      expiresAt: NOW / 1000 + 600,
      location: { source: 'hint' },
      prefix: '203.0.113.0/24',
    });
    expect(a.probeTargets[0]).toEqual({
      id: 'eu-paris',
      stun: 'stun:192.0.2.10:3478',
      ping: 'http://192.0.2.10:9464/ping',
    });
  });

  it("prefers the client's own probes, then what its network learned", async () => {
    const { app } = edge();
    const probed = (await (
      await post(app, '/v1/allocate', { probes: [{ relay: 'ap-tokyo', rttMs: 3 }] })
    ).json()) as AllocateAnswer;
    expect(probed.relay).toMatchObject({ id: 'ap-tokyo', basis: 'probe', predictedRttMs: 3 });
    for (let i = 0; i < 3; i++) {
      const m = await post(app, '/v1/measurements', { probes: [{ relay: 'us-newyork', rttMs: 4 }] });
      expect(m.status).toBe(200);
    }
    const learned = (await (await post(app, '/v1/allocate', {})).json()) as AllocateAnswer;
    expect(learned.relay).toMatchObject({ id: 'us-newyork', basis: 'learned' });
  });

  it('takes the platform location over the client hint, and says which it used', async () => {
    const { app } = edge({ platformPlace: () => ({ lat: 35, lon: 139, source: 'platform' }) });
    const a = (await (
      await post(app, '/v1/allocate', { location: { lat: 48, lon: 2 } })
    ).json()) as AllocateAnswer;
    expect(a.relay.id).toBe('ap-tokyo');
    expect(a.location.source).toBe('platform');
    const d = (await (await post(edge().app, '/v1/allocate', {})).json()) as AllocateAnswer;
    expect(d.location.source).toBe('default');
  });

  it.each([
    ['malformed JSON', '{"probes": [', {}, 400, 'Malformed JSON'],
    ['a body that is not JSON', 'probes=1', { 'content-type': 'text/plain' }, 415, 'Unsupported media type'],
    ['an oversize body', JSON.stringify({ room: 'x'.repeat(20_000) }), {}, 413, 'Body too large'],
    ['an unknown field', JSON.stringify({ prob: [] }), {}, 422, 'Invalid request'],
    [
      'a bad probe',
      JSON.stringify({ probes: [{ relay: 'eu-paris', rttMs: -1 }] }),
      {},
      422,
      'Invalid request',
    ],
    ['a bad location', JSON.stringify({ location: { lat: 91, lon: 0 } }), {}, 422, 'Invalid request'],
  ])('answers %s with problem JSON', async (_name, body, headers, status, title) => {
    const res = await post(edge().app, '/v1/allocate', body, headers);
    expect(res.status).toBe(status);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const p = (await res.json()) as { title: string; status: number; detail: string };
    expect(p).toMatchObject({ title, status });
    expect(p.detail.length).toBeGreaterThan(5);
  });

  it('says 503 with Retry-After when the directory is away or no relay is usable', async () => {
    const away = await post(
      edge({ relays: async () => Promise.reject(new Error('redis down')) }).app,
      '/v1/allocate',
      {},
    );
    expect(away.status).toBe(503);
    expect(away.headers.get('retry-after')).toBe('5');
    const draining = await post(
      edge({ relays: async () => [{ ...PARIS, state: 'draining' }] }).app,
      '/v1/allocate',
      {},
    );
    expect(draining.status).toBe(503);
    expect(((await draining.json()) as { title: string }).title).toBe('No relay available');
  });
});

describe('room affinity', () => {
  it('gives later participants of a room its relay when they are close enough to it', async () => {
    const FRANKFURT = relay('eu-frankfurt', '192.0.2.40', 50.11, 8.68);
    const { app } = edge({ relays: async () => [PARIS, FRANKFURT], rooms: new MemoryRoomStore() });
    const ask = async (room: string, lat: number, lon: number) =>
      ((await (await post(app, '/v1/allocate', { room, location: { lat, lon } })).json()) as AllocateAnswer)
        .relay;
    expect(await ask('standup', 45.76, 4.84)).toMatchObject({ id: 'eu-paris', reason: 'best' }); // Lyon
    expect(await ask('standup', 48.14, 11.58)).toMatchObject({ id: 'eu-paris', reason: 'room' }); // Munich
    expect(await ask('other-call', 48.14, 11.58)).toMatchObject({ id: 'eu-frankfurt', reason: 'best' });
  });
});

describe('POST /v1/measurements', () => {
  it('refuses measurements of relays it does not know', async () => {
    const res = await post(edge().app, '/v1/measurements', { probes: [{ relay: 'mars-1', rttMs: 900 }] });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { detail: string }).detail).toBe('no relay named mars-1');
  });

  it('records under the client network prefix', async () => {
    const { app, learned } = edge({ clientIp: () => '2001:db8:abcd:1::9' });
    await post(app, '/v1/measurements', { probes: [{ relay: 'eu-paris', rttMs: 12 }] });
    expect((await learned.get('2001:db8:abcd::/48', NOW)).get('eu-paris')).toEqual({ rttMs: 12, weight: 1 });
  });
});

describe('the rest', () => {
  it('answers unknown routes with problem JSON and serves health', async () => {
    const { app } = edge();
    const res = await app.request('/v2/nothing');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect((await app.request('/healthz')).status).toBe(200);
    expect(await (await app.request('/readyz')).json()).toEqual({ ready: true, relays: 3 });
  });

  it('reads CDN geo headers', () => {
    const h = new Map([
      ['cloudfront-viewer-latitude', '35.6'],
      ['cloudfront-viewer-longitude', '139.7'],
    ]);
    expect(placeFromHeaders((n) => h.get(n))).toEqual({ lat: 35.6, lon: 139.7, source: 'platform' });
    expect(placeFromHeaders(() => undefined)).toBeUndefined();
  });
});
