/**
 * The SDK in Node against real relays: it asks a real edge (the Hono app on a real port) where to
 * probe, times a STUN Binding to each relay over UDP, and allocates with the results; a relay
 * that never answers costs no more than the time budget.
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRtcConfiguration, parseStunUrl } from '../../sdk/node.ts';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import type { RelayRecord } from '../../src/directory/types.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { startTestRelay, stopTestRelays, type TestRelay } from '../support/backbone-relays.ts';
import { freePort } from '../support/ports.ts';
import { relayRecord } from '../support/relay-record.ts';

const record = (id: string, host: string, port: number, lat: number, lon: number) =>
  relayRecord(id, host, lat, lon, { turnPort: port, region: id });

let relays: TestRelay[] = [];
let directory: RelayRecord[] = [];
let server: ReturnType<typeof serve>;
let edgeUrl: string;

beforeAll(async () => {
  relays = await Promise.all([
    startTestRelay({ id: 'near', host: '127.0.0.61' }),
    startTestRelay({ id: 'far', host: '127.0.0.62' }),
  ]);
  // By distance the client (Paris) is nearest "far"; only a probe can tell that "near" answers.
  directory = [
    record('near', '127.0.0.61', relays[0]!.turn.port, 35.68, 139.69),
    record('far', '127.0.0.62', relays[1]!.turn.port, 48.86, 2.35),
  ];
  const app = createEdgeApp({
    relays: async () => directory,
    learned: new MemoryLearnedStore(),
    secrets: () => ['sdk-secret'],
    credentialTtlSeconds: 600,
    clientIp: () => '127.0.0.1',
    defaultPlace: { lat: 48.86, lon: 2.35 },
  });
  edgeUrl = await new Promise<string>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
      resolve(`http://127.0.0.1:${info.port}`),
    );
  });
});

afterAll(async () => {
  server?.close();
  await stopTestRelays(relays);
});

describe('the SDK in Node', () => {
  it('reads stun: URLs', () => {
    expect(parseStunUrl('stun:192.0.2.1:3478')).toEqual({ host: '192.0.2.1', port: 3478 });
    expect(parseStunUrl('stun:[2001:db8::1]:5000')).toEqual({ host: '2001:db8::1', port: 5000 });
    expect(parseStunUrl('stun:relay.example.net')).toEqual({ host: 'relay.example.net', port: 3478 });
    expect(parseStunUrl('turn:192.0.2.1:3478')).toBeUndefined();
    expect(parseStunUrl('stun:192.0.2.1:0')).toBeUndefined();
  });

  it('probes each relay with a STUN Binding and allocates with the measured RTTs', async () => {
    const r = await getRtcConfiguration({ edgeUrl, budgetMs: 3000 });
    expect(r.probes.map((p) => p.relay).sort()).toEqual(['far', 'near']);
    for (const p of r.probes) expect(p.rttMs).toBeLessThan(100);
    expect(r.relay.basis).toBe('probe');
    expect(r.configuration.iceServers[0]!.urls[0]).toMatch(/^stun:127\.0\.0\.6[12]:\d+$/);
    // One relay in the configuration; the other waits as an alternate with its own RTCIceServer.
    expect(r.configuration.iceServers).toHaveLength(1);
    expect(r.alternates.map((a) => a.id)).toEqual([r.relay.id === 'near' ? 'far' : 'near']);
    expect(r.alternates[0]!.iceServer.username).toBe(r.configuration.iceServers[0]!.username);
  });

  it('passes relays, transports and a TTL on to the edge', async () => {
    const r = await getRtcConfiguration({
      edgeUrl,
      budgetMs: 3000,
      relays: 2,
      transports: ['udp'],
      ttlSeconds: 120,
    });
    expect(r.configuration.iceServers).toHaveLength(2);
    for (const s of r.configuration.iceServers) {
      expect(s.urls.every((u) => u.startsWith('stun:') || u.endsWith('?transport=udp'))).toBe(true);
    }
    expect(r.alternates).toEqual([]);
    expect(r.expiresAt - Date.now() / 1000).toBeLessThanOrEqual(121);
  });

  it("names the app's user in the TURN username when asked, and a random client otherwise", async () => {
    const named = await getRtcConfiguration({ edgeUrl, budgetMs: 3000, user: 'alice' });
    expect(named.configuration.iceServers[0]!.username).toMatch(/^\d+:default:alice$/);
    const anonymous = await getRtcConfiguration({ edgeUrl, budgetMs: 3000 });
    expect(anonymous.configuration.iceServers[0]!.username).toMatch(/^\d+:default:[0-9a-f]{16}$/);
  });

  it('answers within its budget when a relay never answers', async () => {
    const silent = await freePort('udp', '127.0.0.63');
    const saved = directory;
    directory = [saved[0]!, record('silent', '127.0.0.63', silent, 48.86, 2.35)];
    try {
      const start = performance.now();
      const r = await getRtcConfiguration({ edgeUrl, budgetMs: 1000 });
      expect(performance.now() - start).toBeLessThan(1300);
      expect(r.probes.map((p) => p.relay)).toEqual(['near']);
      expect(r.configuration.iceServers.length).toBeGreaterThan(0);
    } finally {
      directory = saved;
    }
  });
});
