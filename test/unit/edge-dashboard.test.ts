import { describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import type { LinkRecord } from '../../src/directory/types.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { type TopologySource, TopologyWatcher } from '../../workers/topology-watcher.ts';
import { relayRecord } from '../support/relay-record.ts';

const ADMIN = 'admin-token-for-tests';
const relays = [
  relayRecord('eu-paris', '192.0.2.10', 48.86, 2.35),
  relayRecord('us-newyork', '192.0.2.30', 40.71, -74.0),
];

function edge(links: LinkRecord[] = []) {
  let now = 1_800_000_000_000;
  const watcher = new TopologyWatcher({ relays: async () => relays, links: async () => links }, () => now, 0);
  const app = createEdgeApp({
    relays: async () => relays,
    learned: new MemoryLearnedStore(),
    secrets: () => ['edge-secret'],
    credentialTtlSeconds: 600,
    clientIp: () => '203.0.113.77',
    defaultPlace: { lat: 50, lon: 8 },
    now: () => now,
    adminToken: ADMIN,
    dashboard: { watcher, assets: { js: 'console.log("page")', css: 'body{}' } },
  });
  return { app, watcher, advance: (ms: number) => (now += ms) };
}

async function signIn(app: ReturnType<typeof edge>['app'], token = ADMIN) {
  return app.request('/dashboard/session', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token }).toString(),
  });
}

describe('the dashboard behind the admin token', () => {
  it('refuses the page and the topology without the token, and with a wrong one', async () => {
    const { app } = edge();
    const page = await app.request('/dashboard');
    expect(page.status).toBe(401);
    expect(await page.text()).toContain('name="token"');
    expect((await app.request('/v1/admin/topology')).status).toBe(401);
    const wrong = await app.request('/v1/admin/topology', { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('content-type')).toBe('application/problem+json');
    expect((await app.request('/v1/admin/topology/events')).status).toBe(401);
    const bad = await signIn(app, 'not-the-token');
    expect(bad.status).toBe(401);
    expect(bad.headers.get('set-cookie') ?? '').not.toMatch(/rb_dashboard=\d/);
  });

  it('signs in with the token to a session cookie that opens the page and the data', async () => {
    const { app, advance } = edge();
    const res = await signIn(app);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/dashboard');
    const cookie = res.headers.get('set-cookie')!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const session = cookie.split(';')[0]!;
    const page = await app.request('/dashboard', { headers: { cookie: session } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/dashboard/app.js');
    expect((await app.request('/v1/admin/topology', { headers: { cookie: session } })).status).toBe(200);
    // A forged expiry does not verify; an expired session is refused.
    const forged = session.replace(/=(\d+)\./, (_m, e) => `=${Number(e) + 1000}.`);
    expect((await app.request('/v1/admin/topology', { headers: { cookie: forged } })).status).toBe(401);
    advance(9 * 3600 * 1000);
    expect((await app.request('/v1/admin/topology', { headers: { cookie: session } })).status).toBe(401);
  });

  it('answers the topology to a bearer token without secrets, key hashes or credentials', async () => {
    const links: LinkRecord[] = [
      {
        from: 'eu-paris',
        to: 'us-newyork',
        rttMs: 80,
        rttP50Ms: 80,
        rttP95Ms: 85,
        jitterMs: 1,
        lossRate: 0,
        samples: 10,
        updatedAt: 1_800_000_000_000,
      },
    ];
    const { app } = edge(links);
    await app.request('/v1/allocate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const res = await app.request('/v1/admin/topology', { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    const body = JSON.parse(text);
    expect(body.relays.map((r: { id: string }) => r.id)).toEqual(['eu-paris', 'us-newyork']);
    expect(body.links).toEqual([
      expect.objectContaining({ from: 'eu-paris', to: 'us-newyork', health: 'up' }),
    ]);
    expect(body.routes).toContainEqual(
      expect.objectContaining({
        from: 'eu-paris',
        to: 'us-newyork',
        best: { hops: ['eu-paris', 'us-newyork'], cost: 43 },
      }),
    );
    const decided = Object.values(body.decisions.counts as Record<string, number[]>).flat();
    expect(decided.reduce((a, b) => a + b, 0)).toBe(1);
    for (const secret of [ADMIN, 'edge-secret', 'turnUrls', 'credential', 'hash', 'backbone']) {
      expect(text).not.toContain(secret);
    }
  });

  it('streams the topology as server-sent events', async () => {
    const { app } = edge();
    const res = await app.request('/v1/admin/topology/events', {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = res.body!.getReader();
    const { value } = await reader.read();
    const first = new TextDecoder().decode(value);
    expect(first).toMatch(/^event: topology\ndata: \{/);
    expect(first).toContain('"eu-paris"');
    await reader.cancel();
  });

  /** An edge whose dashboard has no built page and reads the backbone from `source`. */
  const unbuilt = (source: TopologySource) =>
    createEdgeApp({
      relays: async () => relays,
      learned: new MemoryLearnedStore(),
      secrets: () => ['s'],
      credentialTtlSeconds: 600,
      clientIp: () => undefined,
      defaultPlace: { lat: 0, lon: 0 },
      adminToken: ADMIN,
      dashboard: { watcher: new TopologyWatcher(source, Date.now) },
    });
  const asAdmin = { headers: { authorization: `Bearer ${ADMIN}` } };

  it('says how to build the page when it is not built', async () => {
    const app = unbuilt({ relays: async () => relays, links: async () => [] });
    const res = await app.request('/dashboard', asAdmin);
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('npm run build:dashboard');
  });

  it('answers 503 problem JSON when the directory cannot be read', async () => {
    const app = unbuilt({
      relays: async () => {
        throw new Error('redis: ECONNREFUSED 10.0.0.1');
      },
      links: async () => [],
    });
    const res = await app.request('/v1/admin/topology', asAdmin);
    expect(res.status).toBe(503);
    expect(await res.text()).not.toContain('ECONNREFUSED');
  });
});
