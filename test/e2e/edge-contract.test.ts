/**
 * One contract for the edge, run against the Node build (the Hono app in process) and the
 * Workers build (workers/cloudflare.ts bundled with esbuild and run in a real workerd through
 * Miniflare). The Workers edge reads the relay directory from the Node side's snapshot endpoint,
 * which this test serves with the same app on a real HTTP port.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { turnRestPassword } from '../../src/credentials/turn-rest.ts';
import type { RelayRecord } from '../../src/directory/types.ts';
import { createEdgeApp } from '../../workers/app.ts';

const SECRET = 'contract-secret';
const TOKEN = 'snapshot-token';
const relay = (id: string, ip: string, lat: number, lon: number): RelayRecord => ({
  id,
  region: id.split('-')[0]!,
  lat,
  lon,
  turnUrls: [`turn:${ip}:3478?transport=udp`, `turn:${ip}:3478?transport=tcp`],
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
});
const RELAYS = [relay('eu-paris', '192.0.2.10', 48.86, 2.35), relay('ap-tokyo', '192.0.2.20', 35.68, 139.69)];

type Call = (path: string, init?: RequestInit) => Promise<Response>;
const targets: Record<string, Call> = {};
let snapshotServer: ReturnType<typeof serve>;
let mf: Miniflare;

const nodeApp = () =>
  createEdgeApp({
    relays: async () => RELAYS,
    learned: new MemoryLearnedStore(),
    secrets: () => [SECRET],
    credentialTtlSeconds: 600,
    inflation: () => 2.1,
    clientIp: (c) => c.req.header('cf-connecting-ip'),
    defaultPlace: { lat: 0, lon: 0 },
    snapshotToken: TOKEN,
  });

beforeAll(async () => {
  const node = nodeApp();
  targets.node = async (path, init) => node.request(path, init);

  // The Node side's snapshot endpoint on a real port, for the Workers edge to read.
  const snapshot = nodeApp();
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
    },
  });
  targets.workerd = async (path, init) =>
    (await mf.dispatchFetch(`http://edge.test${path}`, init as never)) as unknown as Response;
}, 60_000);

afterAll(async () => {
  await mf?.dispose();
  snapshotServer?.close();
});

const json = (body: unknown, ip = '203.0.113.9'): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', 'cf-connecting-ip': ip },
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
    expect(a.iceServers[0]!.credential).toBe(turnRestPassword(SECRET, a.iceServers[0]!.username));
  });

  it('uses the client probes, then what its network reported', async () => {
    const probed = (await (
      await call('/v1/allocate', json({ probes: [{ relay: 'ap-tokyo', rttMs: 3 }] }))
    ).json()) as {
      relay: { id: string; basis: string };
    };
    expect(probed.relay).toMatchObject({ id: 'ap-tokyo', basis: 'probe' });
    for (let i = 0; i < 3; i++) {
      const m = await call(
        '/v1/measurements',
        json({ probes: [{ relay: 'ap-tokyo', rttMs: 4 }] }, '198.51.100.7'),
      );
      expect(m.status).toBe(200);
    }
    const learned = (await (await call('/v1/allocate', json({}, '198.51.100.99'))).json()) as {
      relay: { id: string; basis: string };
    };
    expect(learned.relay).toMatchObject({ id: 'ap-tokyo', basis: 'learned' });
  });

  it('answers bad input and unknown routes with problem JSON', async () => {
    const bad = await call('/v1/allocate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/problem+json');
    const missing = await call('/nope');
    expect(missing.status).toBe(404);
    expect((await call('/healthz')).status).toBe(200);
  });

  it('keeps the snapshot endpoint behind its token', async () => {
    if (name === 'workerd') return; // only the Node side serves it
    expect((await call('/v1/internal/directory')).status).toBe(401);
    const ok = await call('/v1/internal/directory', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(((await ok.json()) as { relays: unknown[] }).relays).toHaveLength(2);
  });
});
