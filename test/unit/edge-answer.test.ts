/**
 * What one allocation answer carries (issue 9 §3): the chosen relay alone in iceServers unless the
 * request asks for more relays, only the asked transports, alternates with ready RTCIceServers,
 * and a credential TTL inside the tenant's bounds. The pure helpers first, then the route.
 */
import { describe, expect, it } from 'vitest';
import { stunCrypto } from '../../relay/platform-crypto.ts';
import {
  offersAny,
  relayIceUrls,
  relayStunUrl,
  splitPicks,
  urlTransport,
} from '../../src/allocation/answer.ts';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { turnRestPassword } from '../../src/credentials/turn-rest.ts';
import { hashSecret, MemoryTenantStore, newApiKey, type Tenant } from '../../src/tenants/api-keys.ts';
import { checkTtlBounds, resolveTtl, ttlBounds } from '../../src/tenants/ttl.ts';
import { createEdgeApp, type EdgeDeps } from '../../workers/app.ts';
import { relayRecord } from '../support/relay-record.ts';

const NOW = 1_800_000_000_000;
const PARIS = relayRecord('eu-paris', '192.0.2.10', 48.86, 2.35, { tls: true });
const FRANKFURT = relayRecord('eu-frankfurt', '192.0.2.40', 50.11, 8.68, { tls: true });
const NEWYORK = relayRecord('us-newyork', '192.0.2.30', 40.71, -74.0, { tls: true });
const TOKYO = relayRecord('ap-tokyo', '192.0.2.20', 35.68, 139.69); // UDP and TCP only
const MUNICH = { location: { lat: 48.14, lon: 11.58 } };

describe('the URLs of one relay', () => {
  it.each([
    ['turn:192.0.2.1:3478?transport=udp', 'udp'],
    ['turn:192.0.2.1:3478', 'udp'], // RFC 7065 §3: UDP unless told
    ['turn:192.0.2.1:3478?transport=tcp', 'tcp'],
    ['turns:192.0.2.1:5349?transport=tcp', 'tls'],
    ['turns:relay.example.net', 'tls'],
    ['turns:192.0.2.1:5349?transport=udp', undefined], // DTLS: not offered
    ['stun:192.0.2.1:3478', undefined],
  ])('%s is %s', (url, transport) => {
    expect(urlTransport(url)).toBe(transport);
  });

  it('puts stun on the UDP address first, then the TURN URLs of the asked transports', () => {
    expect(relayIceUrls(PARIS, ['udp', 'tcp', 'tls'])).toEqual([
      'stun:192.0.2.10:3478',
      'turn:192.0.2.10:3478?transport=udp',
      'turn:192.0.2.10:3478?transport=tcp',
      'turns:192.0.2.10:5349?transport=tcp',
    ]);
    expect(relayIceUrls(PARIS, ['tls', 'tcp'])).toEqual([
      'turn:192.0.2.10:3478?transport=tcp',
      'turns:192.0.2.10:5349?transport=tcp',
    ]);
    expect(relayIceUrls(TOKYO, ['tls'])).toEqual([]);
  });

  it('parses a URL list once, but a record with new URLs again, and hands out copies', () => {
    const relay = { ...TOKYO };
    expect(relayIceUrls(relay, ['udp', 'tcp'])[0]).toBe('stun:192.0.2.20:3478');
    expect(offersAny(relay, ['tls'])).toBe(false);
    relayIceUrls(relay, ['udp', 'tcp']).push('turn:evil');
    expect(relayIceUrls(relay, ['udp', 'tcp'])).not.toContain('turn:evil');
    // The directory hands a relay that now serves TLS on another address as a new list.
    const moved = { ...relay, turnUrls: ['turns:198.51.100.9:5349?transport=tcp', 'turn:198.51.100.9:3478'] };
    expect(offersAny(moved, ['tls'])).toBe(true);
    expect(relayIceUrls(moved, ['udp', 'tcp', 'tls'])).toEqual([
      'stun:198.51.100.9:3478',
      'turns:198.51.100.9:5349?transport=tcp',
      'turn:198.51.100.9:3478',
    ]);
    expect(relayStunUrl(moved)).toBe('stun:198.51.100.9:3478');
    expect(relayStunUrl({ ...moved, turnUrls: ['turns:198.51.100.9:5349'] })).toBeUndefined();
  });

  it('splits a ranking into the relays served and the alternates kept back', () => {
    expect(splitPicks(['a', 'b', 'c', 'd'], 1, 2)).toEqual({ served: ['a'], alternates: ['b', 'c'] });
    expect(splitPicks(['a', 'b', 'c', 'd'], 3, 2)).toEqual({ served: ['a', 'b', 'c'], alternates: ['d'] });
  });
});

describe('credential TTL bounds', () => {
  it('lets a tenant without bounds shorten the edge default down to a minute, never lengthen it', () => {
    const b = ttlBounds(undefined, 600);
    expect(b).toEqual({ min: 60, max: 600 });
    expect(resolveTtl(undefined, b, 600, 'acme')).toEqual({ ok: true, value: 600 });
    expect(resolveTtl(120, b, 600, 'acme')).toEqual({ ok: true, value: 120 });
    expect(resolveTtl(601, b, 600, 'acme')).toEqual({
      ok: false,
      error: 'ttl 601 s is outside what tenant acme may ask for (60-600 s)',
    });
    expect(resolveTtl(59, b, 600, 'acme').ok).toBe(false);
  });

  it("uses a tenant's own bounds and brings the edge default inside them", () => {
    const b = ttlBounds({ minTtlSeconds: 30, maxTtlSeconds: 86_400 }, 600);
    expect(resolveTtl(86_400, b, 600, 'acme')).toEqual({ ok: true, value: 86_400 });
    expect(resolveTtl(30, b, 600, 'acme')).toEqual({ ok: true, value: 30 });
    const short = ttlBounds({ maxTtlSeconds: 300 }, 600);
    expect(resolveTtl(undefined, short, 600, 'acme')).toEqual({ ok: true, value: 300 });
    const long = ttlBounds({ minTtlSeconds: 3600 }, 600);
    expect(long).toEqual({ min: 3600, max: 3600 });
  });

  it.each([
    [5, undefined, 'min-ttl: expected a whole number of seconds from 10 to 604800, got 5'],
    [undefined, 1.5, 'max-ttl: expected a whole number of seconds from 10 to 604800, got 1.5'],
    [undefined, Number.NaN, 'max-ttl: expected a whole number of seconds from 10 to 604800, got NaN'],
    [900, 600, 'min-ttl 900 is above max-ttl 600'],
  ])('refuses operator bounds min %s max %s', (min, max, error) => {
    expect(checkTtlBounds(min, max)).toEqual({ ok: false, error });
  });
});

interface Answer {
  iceServers: { urls: string[]; username: string; credential: string }[];
  relay: { id: string };
  alternates: { id: string; iceServer: { urls: string[]; username: string; credential: string } }[];
  transports: string[];
  ttl: number;
  expiresAt: number;
}

function edge(over: Partial<EdgeDeps> = {}) {
  return createEdgeApp({
    relays: async () => [PARIS, FRANKFURT, NEWYORK, TOKYO],
    learned: new MemoryLearnedStore(),
    secrets: () => ['edge-secret'],
    credentialTtlSeconds: 600,
    clientIp: () => '203.0.113.77',
    defaultPlace: { lat: 50, lon: 8 },
    now: () => NOW,
    random: () => 0.99,
    ...over,
  });
}

const post = (app: ReturnType<typeof edge>, body: unknown, headers: Record<string, string> = {}) =>
  app.request('/v1/allocate', {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

describe('POST /v1/allocate: one relay per answer', () => {
  it('hands out the chosen relay alone by default, and the next two as alternates ready to use', async () => {
    const res = await post(edge(), MUNICH);
    expect(res.status).toBe(200);
    const a = (await res.json()) as Answer;
    expect(a.relay.id).toBe('eu-frankfurt');
    expect(a.iceServers).toHaveLength(1);
    expect(a.iceServers[0]!.urls).toEqual(relayIceUrls(FRANKFURT, ['udp', 'tcp', 'tls']));
    expect(a.transports).toEqual(['udp', 'tcp', 'tls']);
    expect(a.alternates.map((r) => r.id)).toEqual(['eu-paris', 'us-newyork']);
    const alt = a.alternates[0]!.iceServer;
    expect(alt.urls).toEqual(relayIceUrls(PARIS, ['udp', 'tcp', 'tls']));
    expect(alt.username).toBe(a.iceServers[0]!.username);
    expect(alt.credential).toBe(turnRestPassword('edge-secret', alt.username, stunCrypto));
  });

  it('puts as many relays as asked into iceServers, best first, and keeps the rest as alternates', async () => {
    const a = (await (await post(edge(), { ...MUNICH, relays: 3 })).json()) as Answer;
    expect(a.iceServers.map((s) => s.urls[1])).toEqual([
      'turn:192.0.2.40:3478?transport=udp',
      'turn:192.0.2.10:3478?transport=udp',
      'turn:192.0.2.30:3478?transport=udp',
    ]);
    expect(a.alternates.map((r) => r.id)).toEqual(['ap-tokyo']);
  });

  it('carries only the asked transports, and ranks only relays that offer one of them', async () => {
    const tls = (await (await post(edge(), { ...MUNICH, transports: ['tls'] })).json()) as Answer;
    expect(tls.iceServers[0]!.urls).toEqual(['turns:192.0.2.40:5349?transport=tcp']);
    expect(tls.transports).toEqual(['tls']);
    // Tokyo has no TLS: a client in Tokyo asking for TLS gets the nearest relay that has it.
    const far = (await (
      await post(edge(), { location: { lat: 35.6, lon: 139.7 }, transports: ['tls'], relays: 4 })
    ).json()) as Answer;
    expect(far.iceServers).toHaveLength(3);
    expect(far.iceServers.flatMap((s) => s.urls).every((u) => u.startsWith('turns:'))).toBe(true);
    const noTls = await post(edge({ relays: async () => [TOKYO] }), { transports: ['tls'] });
    expect(noTls.status).toBe(422);
    expect(((await noTls.json()) as { detail: string }).detail).toBe(
      'no relay offers tls; ask for other transports (of udp, tcp, tls)',
    );
  });

  it.each([
    [{ relays: 0 }, 'relays must be at least 1'],
    [{ relays: 6 }, 'relays must be at most 5'],
    [{ relays: 1.5 }, 'relays must be a whole number'],
    [{ relays: '2' }, 'relays must be a number'],
    [{ transports: [] }, 'transports must hold at least 1 item(s)'],
    [{ transports: ['quic'] }, 'transports[0] must be one of udp, tcp, tls'],
    [{ transports: ['udp', 'udp'] }, 'transports must not repeat an item'],
    [{ transports: 'udp' }, 'transports must be an array'],
    [{ ttl: 0 }, 'ttl must be at least 1'],
    [{ ttl: 60.5 }, 'ttl must be a whole number'],
    [{ ttl: 3600 }, 'ttl 3600 s is outside what tenant default may ask for (60-600 s)'],
  ])('answers %j with problem JSON that says what is wrong', async (body, detail) => {
    const res = await post(edge(), body);
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 422, title: 'Invalid request', detail });
  });
});

describe('POST /v1/allocate: credential TTL per tenant', () => {
  async function keyed(tenant: Tenant) {
    const made = newApiKey(new Uint8Array(40).map((_, i) => i * 3));
    const store = new MemoryTenantStore({
      tenants: [tenant],
      keys: [
        {
          id: made.id,
          tenant: tenant.id,
          hash: await hashSecret(made.secret),
          label: '',
          createdAt: 0,
          disabled: false,
        },
      ],
    });
    return { app: edge({ tenants: store }), auth: { authorization: `Bearer ${made.key}` } };
  }
  const base = { name: 'T', ratePerSecond: 100, burst: 100, createdAt: 0 };

  it('gives the TTL asked for within the tenant bounds, and signs a username that expires then', async () => {
    const { app, auth } = await keyed({ id: 'long', ...base, minTtlSeconds: 30, maxTtlSeconds: 86_400 });
    const a = (await (await post(app, { ttl: 86_400 }, auth)).json()) as Answer;
    expect(a).toMatchObject({ ttl: 86_400, expiresAt: NOW / 1000 + 86_400 });
    expect(a.iceServers[0]!.username).toMatch(new RegExp(`^${NOW / 1000 + 86_400}:long:[0-9a-f]{16}$`));
    const refused = await post(app, { ttl: 20 }, auth);
    expect(refused.status).toBe(422);
    expect(((await refused.json()) as { detail: string }).detail).toBe(
      'ttl 20 s is outside what tenant long may ask for (30-86400 s)',
    );
  });

  it('caps the default TTL at a tenant maximum below it', async () => {
    const { app, auth } = await keyed({ id: 'short', ...base, maxTtlSeconds: 120 });
    const a = (await (await post(app, {}, auth)).json()) as Answer;
    expect(a.ttl).toBe(120);
    expect(a.iceServers[0]!.username).toMatch(new RegExp(`^${NOW / 1000 + 120}:short:[0-9a-f]{16}$`));
  });
});
