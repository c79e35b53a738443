import { describe, expect, it } from 'vitest';
import { stunCrypto } from '../../relay/platform-crypto.ts';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { MemoryRoomStore } from '../../src/allocation/rooms.ts';
import { turnRestPassword } from '../../src/credentials/turn-rest.ts';
import type { RelayRecord } from '../../src/directory/types.ts';
import { hashSecret, MemoryTenantStore, newApiKey, type Tenant } from '../../src/tenants/api-keys.ts';
import { createEdgeApp, type EdgeDeps } from '../../workers/app.ts';
import { countryCode, countryFromHeaders, placeFromHeaders } from '../../workers/geo.ts';
import { relayRecord } from '../support/relay-record.ts';

const NOW = 1_800_000_000_000;
const relay = (id: string, ip: string, lat: number, lon: number, over: Partial<RelayRecord> = {}) =>
  relayRecord(id, ip, lat, lon, { tls: true, ...over });

const PARIS = relay('eu-paris', '192.0.2.10', 48.86, 2.35);
const TOKYO = relay('ap-tokyo', '192.0.2.20', 35.68, 139.69);
const NEWYORK = relay('us-newyork', '192.0.2.30', 40.71, -74.0);

function edge(over: Partial<Omit<EdgeDeps, 'learned'>> & { learned?: MemoryLearnedStore } = {}) {
  const learned = over.learned ?? new MemoryLearnedStore();
  const app = createEdgeApp({
    relays: async () => [PARIS, TOKYO, NEWYORK],
    learned,
    secrets: () => ['edge-secret'],
    credentialTtlSeconds: 600,
    clientIp: (c) => c.req.header('x-client-ip') ?? '203.0.113.77',
    defaultPlace: { lat: 50, lon: 8 },
    now: () => NOW,
    random: () => 0.99,
    ...over,
  });
  return { app, learned };
}

/** A client at `ip` allocates, then reports `probes` with the answer's probe ticket. */
async function measure(
  app: ReturnType<typeof edge>['app'],
  probes: { relay: string; rttMs: number; method?: string }[],
  ip = '203.0.113.77',
) {
  const headers = { 'x-client-ip': ip };
  const a = (await (await post(app, '/v1/allocate', {}, headers)).json()) as AllocateAnswer;
  return post(app, '/v1/measurements', { probes, probeTicket: a.probeTicket }, headers);
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
  probeTicket: string;
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
    expect(username).toMatch(new RegExp(`^${NOW / 1000 + 600}:default:[0-9a-f]{16}$`));
    expect(credential).toBe(turnRestPassword('edge-secret', username, stunCrypto));
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
    // Two clients of the network: one alone is never trusted.
    for (const ip of ['203.0.113.5', '203.0.113.6']) {
      const m = await measure(app, [{ relay: 'us-newyork', rttMs: 4 }], ip);
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

describe('exploration', () => {
  it('adds one relay outside the top picks to the probe targets in the configured share of answers', async () => {
    const FRANKFURT = relay('eu-frankfurt', '192.0.2.40', 50.11, 8.68);
    const relays = async () => [PARIS, TOKYO, NEWYORK, FRANKFURT];
    const targets = async (share: number) =>
      (
        (await (
          await post(
            edge({ relays, rank: { exploreShare: share, probeTargets: 3 }, random: () => 0 }).app,
            '/v1/allocate',
            {},
          )
        ).json()) as AllocateAnswer
      ).probeTargets.length;
    expect(await targets(0)).toBe(3); // chosen and two alternates
    expect(await targets(1)).toBe(4); // and one explorer
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
    expect(((await res.json()) as { detail: string }).detail).toBe(
      'no relay named mars-1; report only relays from probeTargets',
    );
  });

  it('records under the client network prefix', async () => {
    const { app, learned } = edge({ clientIp: () => '2001:db8:abcd:1::9' });
    await measure(app, [{ relay: 'eu-paris', rttMs: 12 }]);
    expect((await learned.get('2001:db8:abcd::/48', NOW)).get('eu-paris')).toEqual({ rttMs: 12, weight: 1 });
  });
});

describe('probe methods', () => {
  it('counts accepted measurements by the method the client names, and older clients as unspecified', async () => {
    const { app } = edge();
    const res = await measure(app, [
      { relay: 'eu-paris', rttMs: 12, method: 'ice-stun' },
      { relay: 'us-newyork', rttMs: 80, method: 'https' },
      { relay: 'ap-tokyo', rttMs: 230 },
    ]);
    expect(await res.json()).toMatchObject({ accepted: 3 });
    const text = await (await app.request('/metrics')).text();
    expect(text).toContain('edge_measurements_total{method="ice-stun"} 1');
    expect(text).toContain('edge_measurements_total{method="https"} 1');
    expect(text).toContain('edge_measurements_total{method="unspecified"} 1');
  });

  it('refuses a method it does not know, as problem JSON', async () => {
    const res = await measure(edge().app, [{ relay: 'eu-paris', rttMs: 12, method: 'guess' }]);
    expect(res.status).toBe(422);
    expect(((await res.json()) as { detail: string }).detail).toBe(
      'probes[0].method must be one of ice-stun, https, http, stun',
    );
  });
});

describe('the rest', () => {
  it('answers unknown routes with problem JSON and serves health', async () => {
    const { app } = edge();
    const res = await app.request('/v2/nothing');
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect((await app.request('/healthz')).status).toBe(200);
    expect(await (await app.request('/readyz')).json()).toEqual({ ready: true, relays: 3, stale: false });
  });

  it('serves Prometheus metrics by route pattern, basis and location source', async () => {
    const { app } = edge();
    await post(app, '/v1/allocate', { location: { lat: 48.1, lon: 11.6 } });
    await post(app, '/v1/allocate', '{');
    await app.request('/v2/nothing');
    const res = await app.request('/metrics');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const text = await res.text();
    expect(text).toContain('edge_requests_total{route="/v1/allocate",status="200"} 1');
    expect(text).toContain('edge_requests_total{route="/v1/allocate",status="400"} 1');
    expect(text).toContain('edge_requests_total{route="unmatched",status="404"} 1');
    expect(text).toContain('edge_allocations_total{basis="distance",source="hint"} 1');
    expect(text).toMatch(/edge_request_duration_seconds_count\{route="\/v1\/allocate"\} 2/);
  });

  it("reads the configured CDN's geo headers and no other CDN's", () => {
    const h = new Map([
      ['cloudfront-viewer-latitude', '35.6'],
      ['cloudfront-viewer-longitude', '139.7'],
    ]);
    expect(placeFromHeaders((n) => h.get(n), 'cloudfront')).toEqual({
      lat: 35.6,
      lon: 139.7,
      source: 'platform',
    });
    expect(placeFromHeaders((n) => h.get(n), 'cloudflare')).toBeUndefined();
    expect(placeFromHeaders((n) => h.get(n), 'none')).toBeUndefined();
    expect(placeFromHeaders(() => undefined, 'cloudfront')).toBeUndefined();
    h.set('cloudfront-viewer-latitude', '95');
    expect(placeFromHeaders((n) => h.get(n), 'cloudfront')).toBeUndefined();
  });

  it("takes the country from the configured CDN's header only, and only a real two-letter code", () => {
    const h = new Map([
      ['cloudfront-viewer-country', 'jp'],
      ['cf-ipcountry', 'FR'],
    ]);
    expect(countryFromHeaders((n) => h.get(n), 'cloudfront')).toBe('JP');
    expect(countryFromHeaders((n) => h.get(n), 'cloudflare')).toBe('FR');
    expect(countryFromHeaders((n) => h.get(n), 'fastly')).toBeUndefined();
    expect(countryFromHeaders((n) => h.get(n), 'none')).toBeUndefined();
    // Cloudflare's unknown and Tor markers, and anything else, say nothing.
    for (const v of ['XX', 'T1', 'FRA', '', 'é1', undefined, 33]) expect(countryCode(v)).toBeUndefined();
  });
});

describe('a stale directory', () => {
  it('answers from the last copy and says it is stale, with its age', async () => {
    const { app } = edge({ relays: async () => ({ relays: [PARIS], at: NOW - 12_000, stale: true }) });
    const a = (await (await post(app, '/v1/allocate', {})).json()) as AllocateAnswer & {
      directory: { stale: boolean; ageMs: number };
    };
    expect(a.relay.id).toBe('eu-paris');
    expect(a.directory).toEqual({ stale: true, ageMs: 12_000 });
    expect(await (await app.request('/metrics')).text()).toContain('edge_stale_directory_answers_total 1');
    const fresh = (await (await post(edge().app, '/v1/allocate', {})).json()) as { directory: unknown };
    expect(fresh.directory).toEqual({ stale: false, ageMs: 0 });
  });

  it('ranks by distance when the learned map is away too', async () => {
    const learned = new MemoryLearnedStore();
    learned.get = () => Promise.reject(new Error('redis down'));
    learned.pathModel = () => Promise.reject(new Error('redis down'));
    const { app } = edge({ learned });
    const res = await post(app, '/v1/allocate', { location: { lat: 35, lon: 139 } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as AllocateAnswer).relay).toMatchObject({ id: 'ap-tokyo', basis: 'distance' });
  });
});

describe('the learned inflation factor and access delay', () => {
  it('learns them from clients whose place the platform vouches for, and predicts with them', async () => {
    let clock = NOW;
    const { app, learned } = edge({
      now: () => clock,
      platformPlace: () => ({ lat: 40.71, lon: -74.0, source: 'platform' }),
    });
    const model = async (l: MemoryLearnedStore) => l.pathModel(NOW);
    expect(await model(learned)).toEqual({ inflation: expect.closeTo(2.1, 5), accessMs: 0 });
    // New York to Paris is ~5,840 km: 58 ms in fiber. Clients 10 ms from the New York relay (their
    // access network) measure Paris 10 + 3 x 58 ms away: inflation 3, access delay taken out.
    const both = [
      { relay: 'us-newyork', rttMs: 10 },
      { relay: 'eu-paris', rttMs: 185 },
    ];
    // 50 networks, a few a minute (evidence counts once per network, a few per minute).
    for (let i = 0; i < 50; i++) {
      clock = NOW + i * 10_000;
      expect((await measure(app, both, `198.18.${i}.1`)).status).toBe(200);
    }
    const m = await model(learned);
    expect(m.inflation).toBeGreaterThan(2.8);
    expect(m.inflation).toBeLessThan(3.05);
    expect(m.accessMs).toBeCloseTo(10, 0);
    // An unmeasured relay's predicted RTT now carries the access delay: New York is ~0 km away.
    const other = edge({
      learned,
      clientIp: () => '198.51.100.1', // another network: nothing learned for it
      platformPlace: () => ({ lat: 40.71, lon: -74.0, source: 'platform' }),
    }).app;
    const a = (await (await post(other, '/v1/allocate', {})).json()) as AllocateAnswer;
    expect(a.relay).toMatchObject({ id: 'us-newyork', basis: 'distance' });
    expect(a.relay.predictedRttMs).toBeCloseTo(10, 0);
    // One probe cannot separate access delay from the path; a hint says nothing about distance.
    const { app: single, learned: l1 } = edge({
      platformPlace: () => ({ lat: 40.71, lon: -74.0, source: 'platform' }),
    });
    await measure(single, [{ relay: 'eu-paris', rttMs: 900 }]);
    expect((await model(l1)).inflation).toBeCloseTo(2.1);
    const { app: hinted, learned: l2 } = edge();
    await measure(hinted, both);
    expect((await model(l2)).inflation).toBeCloseTo(2.1);
  });
});

describe('API keys and rate limits', () => {
  const ACME: Tenant = { id: 'acme', name: 'Acme', ratePerSecond: 2, burst: 3, createdAt: 0 };
  async function keyed(over: Partial<Omit<EdgeDeps, 'learned'>> = {}) {
    const made = newApiKey(new Uint8Array(40).map((_, i) => i * 7));
    const other = newApiKey(new Uint8Array(40).map((_, i) => 255 - i));
    const store = new MemoryTenantStore({
      tenants: [ACME],
      keys: [
        {
          id: made.id,
          tenant: 'acme',
          hash: await hashSecret(made.secret),
          label: '',
          createdAt: 0,
          disabled: false,
        },
        {
          id: other.id,
          tenant: 'acme',
          hash: await hashSecret(other.secret),
          label: '',
          createdAt: 0,
          disabled: true,
        },
      ],
    });
    let t = NOW;
    const { app } = edge({ tenants: store, now: () => t, ...over });
    return { app, key: made.key, disabledKey: other.key, tick: (ms: number) => (t += ms) };
  }

  it.each([
    ['no key', {}, 'send your API key'],
    ['a key of another shape', { authorization: 'Bearer sk_live_123' }, 'not an API key of this service'],
    [
      'an unknown key',
      { 'x-api-key': `rbk_0123456789abcdef_${'A'.repeat(43)}` },
      'unknown API key 0123456789abcdef',
    ],
  ])('refuses %s with 401 problem JSON', async (_name, headers, detail) => {
    const { app } = await keyed();
    const res = await post(app, '/v1/allocate', {}, headers);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(((await res.json()) as { detail: string }).detail).toContain(detail);
  });

  it('refuses a disabled key, and guards measurements too', async () => {
    const { app, disabledKey } = await keyed();
    const res = await post(app, '/v1/allocate', {}, { authorization: `Bearer ${disabledKey}` });
    expect(((await res.json()) as { detail: string }).detail).toMatch(/is disabled/);
    expect((await post(app, '/v1/measurements', { probes: [{ relay: 'eu-paris', rttMs: 9 }] })).status).toBe(
      401,
    );
    expect((await app.request('/healthz')).status).toBe(200);
  });

  it('puts the tenant in the TURN username and limits each key to its tenant rate', async () => {
    const { app, key, tick } = await keyed();
    const auth = { authorization: `Bearer ${key}` };
    const first = await post(app, '/v1/allocate', {}, auth);
    expect(first.status).toBe(200);
    expect(((await first.json()) as AllocateAnswer).iceServers[0]!.username).toMatch(
      new RegExp(`^${NOW / 1000 + 600}:acme:[0-9a-f]{16}$`),
    );
    expect(first.headers.get('ratelimit-limit')).toBe('3');
    expect(first.headers.get('ratelimit-remaining')).toBe('2');
    expect((await post(app, '/v1/allocate', {}, auth)).status).toBe(200);
    expect((await post(app, '/v1/allocate', {}, { 'x-api-key': key })).status).toBe(200);
    const refused = await post(app, '/v1/allocate', {}, auth);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { detail: string }).detail).toMatch(
      /2 requests per second \(bursts of 3\)/,
    );
    tick(500); // one emission interval at 2/s
    expect((await post(app, '/v1/allocate', {}, auth)).status).toBe(200);
    expect((await post(app, '/v1/allocate', {}, auth)).status).toBe(429);
  });

  it('lets requests through when the limiter cannot answer, and says 503 when the key store cannot', async () => {
    const failing = { take: () => Promise.reject(new Error('redis down')) };
    const { app, key } = await keyed({ rateLimiter: failing });
    for (let i = 0; i < 5; i++)
      expect((await post(app, '/v1/allocate', {}, { authorization: `Bearer ${key}` })).status).toBe(200);
    const broken = new MemoryTenantStore();
    broken.getKey = () => Promise.reject(new Error('redis down'));
    const res = await post(
      edge({ tenants: broken }).app,
      '/v1/allocate',
      {},
      { authorization: `Bearer ${key}` },
    );
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
  });
});

describe('the area map', () => {
  it("names as a probe target the relay a neighbouring network's probes found best", async () => {
    // Lyon by GeoIP; Tokyo is the farthest of four, so with three targets it is never offered...
    const relays = async () => [PARIS, TOKYO, NEWYORK, relay('eu-frankfurt', '192.0.2.40', 50.11, 8.68)];
    let explore = true;
    const { app, learned } = edge({
      relays,
      geoip: () => ({ lat: 45.76, lon: 4.84, source: 'geoip' as const }),
      rank: { probeTargets: 3, exploreShare: 0.05 },
      // ...unless the first network's answer explores it (random 0: explore, the first of the rest).
      random: () => (explore ? 0 : 0.99),
    });
    const targets = async (ip: string) =>
      (
        (await (await post(app, '/v1/allocate', {}, { 'x-client-ip': ip })).json()) as AllocateAnswer
      ).probeTargets.map((t) => t.id);
    const first = await targets('198.51.100.7');
    explore = false;
    expect(await targets('192.0.2.99')).not.toContain('ap-tokyo');
    // ...and that network found Tokyo fastest (a carrier with a good route there).
    expect(first).toContain('ap-tokyo');
    explore = true;
    const res = await measure(
      app,
      first.map((id) => ({ relay: id, rttMs: id === 'ap-tokyo' ? 20 : 60 })),
      '198.51.100.7',
    );
    expect(res.status).toBe(200);
    explore = false;
    expect((await learned.get('area:45:4', NOW)).get('ap-tokyo')).toMatchObject({ rttMs: 0 });
    // Another network of the same area is now asked to probe Tokyo too.
    expect(await targets('192.0.2.99')).toContain('ap-tokyo');
  });
});

describe('the second probing round', () => {
  const LONDON = relay('eu-london', '192.0.2.50', 51.5, -0.12);
  const FRANKFURT = relay('eu-frankfurt', '192.0.2.40', 50.11, 8.68);
  const link = (from: string, to: string, rttMs: number) => ({
    from,
    to,
    rttMs,
    rttP50Ms: rttMs,
    rttP95Ms: rttMs,
    jitterMs: 0,
    lossRate: 0,
    samples: 100,
    updatedAt: NOW,
  });
  // The backbone's links: London is 6 ms from Paris, New York and Tokyo far from both probed relays.
  const links = [
    link('eu-paris', 'eu-london', 6),
    link('eu-paris', 'us-newyork', 75),
    link('eu-paris', 'ap-tokyo', 220),
    link('eu-frankfurt', 'eu-london', 14),
    link('eu-frankfurt', 'us-newyork', 85),
    link('eu-frankfurt', 'ap-tokyo', 230),
  ];

  it('names the relays the probes cannot rule out, under a ticket covering both rounds', async () => {
    let reads = 0;
    const { app, learned } = edge({
      relays: async () => [PARIS, TOKYO, NEWYORK, LONDON, FRANKFURT],
      links: async () => {
        reads++;
        return links;
      },
      // Two targets first (Paris and Frankfurt for a client placed in Lyon), no explorer; no
      // re-probing of close relays (below).
      rank: { probeTargets: 2, learnedTargets: 0, areaTargets: 0, repingTargets: 0 },
    });
    const ask = async (body: object) =>
      (await (
        await post(app, '/v1/allocate', { location: { lat: 45.76, lon: 4.84 }, ...body })
      ).json()) as AllocateAnswer;
    const first = await ask({});
    expect(first.probeTargets.map((t) => t.id)).toEqual(['eu-paris', 'eu-frankfurt']);
    expect(reads).toBe(0);
    const round1 = [
      { relay: 'eu-paris', rttMs: 20 },
      { relay: 'eu-frankfurt', rttMs: 24 },
    ];
    const second = await ask({ probes: round1, probeTicket: first.probeTicket });
    expect(second.relay).toMatchObject({ id: 'eu-paris', basis: 'probe' });
    // London may be under 20 ms (Paris 20 ms away, London 6 ms from Paris); the others cannot.
    expect(second.probeTargets.map((t) => t.id)).toEqual(['eu-london']);
    expect(second.probeTargets[0]).toMatchObject({ stun: 'stun:192.0.2.50:3478' });
    expect(reads).toBe(1);
    const both = [...round1, { relay: 'eu-london', rttMs: 15 }];
    const third = await ask({ probes: both, probeTicket: second.probeTicket });
    expect(third.relay).toMatchObject({ id: 'eu-london', basis: 'probe' });
    // Nothing left worth probing.
    expect(third.probeTargets).toEqual([]);
    // The second answer's ticket covers the first round's relays too: all three are learned.
    const res = await post(app, '/v1/measurements', { probes: both, probeTicket: second.probeTicket });
    expect(await res.json()).toMatchObject({ accepted: 3, ignored: [] });
    expect((await learned.get('203.0.113.0/24', NOW)).get('eu-london')).toMatchObject({ rttMs: 15 });
    // The first ticket alone does not cover London.
    const old = await post(app, '/v1/measurements', { probes: both, probeTicket: first.probeTicket });
    expect(await old.json()).toMatchObject({ accepted: 2, ignored: ['eu-london'] });
  });

  it('names the closest probed relays again by default', async () => {
    const { app } = edge({
      relays: async () => [PARIS, TOKYO, NEWYORK, LONDON, FRANKFURT],
      links: async () => links,
      rank: { probeTargets: 2, learnedTargets: 0, areaTargets: 0 },
    });
    const probes = [
      { relay: 'eu-paris', rttMs: 20 },
      { relay: 'eu-frankfurt', rttMs: 24 },
    ];
    const res = await post(app, '/v1/allocate', { location: { lat: 45.76, lon: 4.84 }, probes });
    const a = (await res.json()) as AllocateAnswer;
    // London (not ruled out), then Paris and Frankfurt, 4 ms apart, to be ordered by more pings.
    expect(a.probeTargets.map((t) => t.id)).toEqual(['eu-london', 'eu-paris', 'eu-frankfurt']);
  });

  it('names the next relays by rank without links, and still answers when they fail', async () => {
    const { app } = edge({
      relays: async () => [PARIS, TOKYO, NEWYORK, LONDON, FRANKFURT],
      links: async () => {
        throw new Error('redis away');
      },
      rank: { probeTargets: 2, learnedTargets: 0, areaTargets: 0, nextTargets: 2, repingTargets: 0 },
    });
    const body = { location: { lat: 45.76, lon: 4.84 }, probes: [{ relay: 'eu-paris', rttMs: 20 }] };
    const res = await post(app, '/v1/allocate', body);
    expect(res.status).toBe(200);
    const a = (await res.json()) as AllocateAnswer;
    expect(a.relay.id).toBe('eu-paris');
    expect(a.probeTargets).toHaveLength(2);
    expect(a.probeTargets.map((t) => t.id)).not.toContain('eu-paris');
  });
});
