/**
 * One contract for the edge, run against the Node build (the Hono app in process) and the
 * Workers build (workers/cloudflare.ts bundled with esbuild and run in a real workerd through
 * Miniflare). The Workers edge reads the relay directory, tenants and API key hashes from the
 * Node side's snapshot endpoint, which this test serves with the same app on a real HTTP port;
 * its learned map lives in a (local) Workers KV namespace, and it forwards revocations to the
 * Node side.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stunCrypto } from '../../relay/platform-crypto.ts';
import { MemoryCallQualityStore } from '../../src/allocation/call-store.ts';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { turnRestPassword } from '../../src/credentials/turn-rest.ts';
import type { LinkRecord } from '../../src/directory/types.ts';
import { hashSecret, MemoryTenantStore, newApiKey } from '../../src/tenants/api-keys.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { TopologyWatcher } from '../../workers/topology-watcher.ts';
import { relayRecord } from '../support/relay-record.ts';

const SECRET = 'contract-secret';
const TOKEN = 'snapshot-token';
const ADMIN = 'admin-token';
const KEY = newApiKey(new Uint8Array(40).map((_, i) => (i * 13 + 5) & 255));
const TIGHT = newApiKey(new Uint8Array(40).map((_, i) => (i * 17 + 3) & 255));
const revoked: string[] = [];
const RELAYS = [
  relayRecord('eu-paris', '192.0.2.10', 48.86, 2.35),
  relayRecord('ap-tokyo', '192.0.2.20', 35.68, 139.69),
];
/** What eu-paris measured towards ap-tokyo, fresh whenever it is read. */
const link = (): LinkRecord => ({
  from: 'eu-paris',
  to: 'ap-tokyo',
  rttMs: 220,
  rttP50Ms: 220,
  rttP95Ms: 230,
  jitterMs: 1,
  lossRate: 0,
  samples: 50,
  updatedAt: Date.now(),
});

type Call = (path: string, init?: RequestInit) => Promise<Response>;
const targets: Record<string, Call> = {};
let snapshotServer: ReturnType<typeof serve>;
let mf: Miniflare;

async function tenants() {
  const key = async (k: typeof KEY, tenant: string) => ({
    id: k.id,
    tenant,
    hash: await hashSecret(k.secret),
    label: '',
    createdAt: 0,
    disabled: false,
  });
  return new MemoryTenantStore({
    tenants: [
      { id: 'acme', name: 'Acme', ratePerSecond: 1000, burst: 1000, createdAt: 0, maxTtlSeconds: 3600 },
      { id: 'tight', name: 'Tight', ratePerSecond: 0.01, burst: 2, createdAt: 0 },
    ],
    keys: [await key(KEY, 'acme'), await key(TIGHT, 'tight')],
  });
}

const nodeApp = async () =>
  createEdgeApp({
    relays: async () => RELAYS,
    snapshotLinks: async () => [link()],
    dashboard: {
      watcher: new TopologyWatcher({ relays: async () => RELAYS, links: async () => [link()] }, Date.now),
      assets: { js: 'console.log("the dashboard page");', css: 'body{margin:0}' },
    },
    learned: new MemoryLearnedStore(),
    calls: new MemoryCallQualityStore(),
    secrets: () => [SECRET],
    credentialTtlSeconds: 600,
    clientIp: (c) => c.req.header('cf-connecting-ip'),
    defaultPlace: { lat: 0, lon: 0 },
    snapshotToken: TOKEN,
    tenants: await tenants(),
    adminToken: ADMIN,
    revoke: async (target) => {
      if (target.kind === 'username') revoked.push(target.username);
    },
  });

beforeAll(async () => {
  const node = await nodeApp();
  targets.node = async (path, init) => node.request(path, init);

  // The Node side's snapshot endpoint on a real port, for the Workers edge to read.
  const snapshot = await nodeApp();
  const port = await new Promise<number>((resolve) => {
    snapshotServer = serve({ fetch: snapshot.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
      resolve(info.port),
    );
  });
  const bundle = await build({
    entryPoints: [new URL('../../workers/cloudflare.ts', import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  mf = new Miniflare({
    modules: true,
    script: bundle.outputFiles[0]!.text,
    compatibilityDate: '2025-01-01',
    bindings: {
      EDGE_SECRETS: SECRET,
      SNAPSHOT_URL: `http://127.0.0.1:${port}/v1/internal/directory`,
      SNAPSHOT_TOKEN: TOKEN,
      ADMIN_TOKEN: ADMIN,
    },
    kvNamespaces: ['EDGE_KV'],
  });
  targets.workerd = async (path, init) =>
    (await mf.dispatchFetch(`http://edge.test${path}`, init as never)) as unknown as Response;
}, 60_000);

afterAll(async () => {
  await mf?.dispose();
  snapshotServer?.close();
});

const json = (body: unknown, ip = '203.0.113.9', key = KEY.key): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip, authorization: `Bearer ${key}` },
  body: JSON.stringify(body),
});

describe.each(['node', 'workerd'])('the edge contract on %s', (name) => {
  const call: Call = (path, init) => targets[name]!(path, init);

  it('hands out iceServers with credentials the relays accept', async () => {
    const res = await call('/v1/allocate', json({ location: { lat: 48, lon: 11 } }));
    expect(res.status).toBe(200);
    const a = (await res.json()) as {
      iceServers: { urls: string[]; username: string; credential: string }[];
      relay: { id: string; basis: string };
    };
    expect(a.relay).toMatchObject({ id: 'eu-paris', basis: 'distance' });
    expect(a.iceServers[0]!.urls[0]).toBe('stun:192.0.2.10:3478');
    expect(a.iceServers[0]!.credential).toBe(turnRestPassword(SECRET, a.iceServers[0]!.username, stunCrypto));
  });

  it('hands out one relay unless asked, with only the asked transports and a TTL within the tenant bounds', async () => {
    type Answer = {
      iceServers: { urls: string[]; username: string; credential: string }[];
      alternates: { id: string; iceServer: { urls: string[]; username: string; credential: string } }[];
      ttl: number;
      expiresAt: number;
    };
    const here = { location: { lat: 48, lon: 11 } };
    const one = (await (await call('/v1/allocate', json(here))).json()) as Answer;
    expect(one.iceServers.map((s) => s.urls)).toEqual([
      ['stun:192.0.2.10:3478', 'turn:192.0.2.10:3478?transport=udp', 'turn:192.0.2.10:3478?transport=tcp'],
    ]);
    expect(one.alternates.map((r) => r.id)).toEqual(['ap-tokyo']);
    const alt = one.alternates[0]!.iceServer;
    expect(alt.urls[1]).toBe('turn:192.0.2.20:3478?transport=udp');
    expect(alt.credential).toBe(turnRestPassword(SECRET, alt.username, stunCrypto));

    const res = await call('/v1/allocate', json({ ...here, relays: 2, transports: ['tcp'], ttl: 3600 }));
    expect(res.status).toBe(200);
    const two = (await res.json()) as Answer;
    expect(two.iceServers.map((s) => s.urls)).toEqual([
      ['turn:192.0.2.10:3478?transport=tcp'],
      ['turn:192.0.2.20:3478?transport=tcp'],
    ]);
    expect(two.alternates).toEqual([]);
    expect(two.ttl).toBe(3600);
    expect(two.expiresAt - Date.now() / 1000).toBeGreaterThan(3590);
    expect(two.iceServers[1]!.username).toMatch(new RegExp(`^${two.expiresAt}:acme`));

    for (const [body, detail] of [
      [{ ttl: 7200 }, 'ttl 7200 s is outside what tenant acme may ask for (60-3600 s)'],
      [{ relays: 9 }, 'relays must be at most 5'],
      [{ transports: ['tls'] }, 'no relay offers tls; ask for other transports (of udp, tcp, tls)'],
    ] as const) {
      const bad = await call('/v1/allocate', json(body));
      expect(bad.status).toBe(422);
      expect(bad.headers.get('content-type')).toBe('application/problem+json');
      expect(((await bad.json()) as { detail: string }).detail).toBe(detail);
    }
  });

  it('uses the client probes, then what its network reported', async () => {
    const probed = (await (
      await call('/v1/allocate', json({ probes: [{ relay: 'ap-tokyo', rttMs: 3 }] }))
    ).json()) as {
      relay: { id: string; basis: string };
    };
    expect(probed.relay).toMatchObject({ id: 'ap-tokyo', basis: 'probe' });
    // Three clients of the network, each with the probe ticket of its own answer.
    for (const ip of ['198.51.100.7', '198.51.100.8', '198.51.100.9']) {
      const { probeTicket } = (await (await call('/v1/allocate', json({}, ip))).json()) as {
        probeTicket: string;
      };
      const m = await call(
        '/v1/measurements',
        json({ probes: [{ relay: 'ap-tokyo', rttMs: 4 }], probeTicket }, ip),
      );
      expect(m.status).toBe(200);
    }
    const learned = (await (await call('/v1/allocate', json({}, '198.51.100.99'))).json()) as {
      relay: { id: string; basis: string };
    };
    expect(learned.relay).toMatchObject({ id: 'ap-tokyo', basis: 'learned' });
  });

  it('chooses a call path and takes one report per participant (on Workers, in KV)', async () => {
    const plain = (body: unknown, ip: string) => json(body, ip);
    const room = `contract-${name}`;
    for (const ip of ['198.51.100.20', '203.0.113.20']) {
      const res = await call('/v1/calls/choice', plain({ room }, ip));
      expect(res.status).toBe(200);
      expect((await res.json()) as { path: string }).toMatchObject({ room, path: expect.any(String) });
    }
    const report = { room, path: 'relay', rttMs: 90, loss: 0, jitterMs: 3 };
    expect((await call('/v1/calls/report', plain(report, '198.51.100.20'))).status).toBe(202);
    expect((await call('/v1/calls/report', plain(report, '198.51.100.20'))).status).toBe(409);
    expect((await call('/v1/calls/report', plain({ ...report, room: 'nobody' }, '192.0.2.77'))).status).toBe(
      409,
    );
  });

  it('answers bad input and unknown routes with problem JSON', async () => {
    const bad = await call('/v1/allocate', { ...json({}), body: '{' });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
    const missing = await call('/nope');
    expect(missing.status).toBe(404);
    expect((await call('/healthz')).status).toBe(200);
  });

  it('wants an API key and holds each key to its tenant rate', async () => {
    const none = await call('/v1/allocate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(none.status).toBe(401);
    expect(((await none.json()) as { title: string }).title).toBe('Invalid API key');
    const a = await call('/v1/allocate', json({}, '203.0.113.9', TIGHT.key));
    expect(((await a.json()) as { iceServers: { username: string }[] }).iceServers[0]!.username).toMatch(
      /^\d+:tight:[0-9a-f]{16}$/,
    );
    expect((await call('/v1/allocate', json({}, '203.0.113.9', TIGHT.key))).status).toBe(200);
    const refused = await call('/v1/allocate', json({}, '203.0.113.9', TIGHT.key));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).not.toBeNull();
  });

  it('revokes a username with the admin token (the Workers edge forwards it)', async () => {
    const body = { username: `1:acme:${name}` };
    const denied = await call('/v1/credentials/revoke', json(body));
    expect(denied.status).toBe(401);
    const res = await call('/v1/credentials/revoke', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    expect(revoked).toContain(body.username);
  });

  it('serves the topology to the admin token, from the snapshot on Workers, and refuses without it', async () => {
    expect((await call('/v1/admin/topology')).status).toBe(401);
    const res = await call('/v1/admin/topology', { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    const t = (await res.json()) as { relays: { id: string }[]; links: { from: string; health: string }[] };
    expect(t.relays.map((r) => r.id)).toEqual(['ap-tokyo', 'eu-paris']);
    expect(t.links).toEqual([expect.objectContaining({ from: 'eu-paris', to: 'ap-tokyo', health: 'up' })]);
  });

  it('serves the dashboard page behind the token (on Workers, the bundle of the Node edge)', async () => {
    expect((await call('/dashboard')).status).toBe(401);
    const page = await call('/dashboard', { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/dashboard/app.js');
    expect(await (await call('/dashboard/app.js')).text()).toContain('the dashboard page');
    expect(await (await call('/dashboard/app.css')).text()).toBe('body{margin:0}');
    // The page's live feed: the first server-sent event is the whole topology.
    const events = await call('/v1/admin/topology/events', { headers: { authorization: `Bearer ${ADMIN}` } });
    expect(events.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = events.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toMatch(/^event: topology\ndata: \{.*"eu-paris"/);
    await reader.cancel();
  });

  it('serves metrics', async () => {
    expect(await (await call('/metrics')).text()).toMatch(/edge_allocations_total\{basis="/);
  });

  it('serves the generated OpenAPI document and the reference page made from it', async () => {
    const doc = (await (await call('/v1/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/v1/allocate', '/v1/calls/choice', '/v1/tokens']),
    );
    const page = await call('/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    const html = await page.text();
    expect(html).toContain('POST</span> <code>/v1/allocate</code>');
    expect(html).not.toContain('<script');
  });
});

describe('the snapshot endpoint (only the Node side serves it)', () => {
  it('is never served by a Workers edge, token or not', async () => {
    // A Workers edge reads the snapshot; it never serves one.
    for (const headers of [{}, { authorization: `Bearer ${TOKEN}` }] as Record<string, string>[]) {
      const res = await targets.workerd!('/v1/internal/directory', { headers });
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
  });

  it('keeps the snapshot endpoint behind its token', async () => {
    const call = targets.node!;
    expect((await call('/v1/internal/directory')).status).toBe(401);
    const ok = await call('/v1/internal/directory', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(((await ok.json()) as { relays: unknown[] }).relays).toHaveLength(2);
  });
});

describe('the Workers edge when the snapshot endpoint goes away', () => {
  it('answers from its copy and says it is stale', async () => {
    // Its copy, fetched now rather than left over from the contract cases above.
    expect((await targets.workerd!('/v1/allocate', json({}))).status).toBe(200);
    await new Promise<void>((resolve) => snapshotServer.close(() => resolve()));
    await new Promise((r) => setTimeout(r, 5200)); // past the Workers edge's 5 s fresh period
    const res = await targets.workerd!('/v1/allocate', json({}));
    expect(res.status).toBe(200);
    const a = (await res.json()) as { directory: { stale: boolean; ageMs: number } };
    expect(a.directory.stale).toBe(true);
    expect(a.directory.ageMs).toBeGreaterThanOrEqual(5000);
  });
});
