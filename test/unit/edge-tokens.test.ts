import { describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { parseTurnRestUsername } from '../../src/credentials/turn-rest.ts';
import { hashSecret, MemoryTenantStore, newApiKey, type Tenant } from '../../src/tenants/api-keys.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { relayRecord } from '../support/relay-record.ts';

const NOW = 1_800_000_000_000;
const APP = 'https://app.example.com';
const tenant: Tenant = { id: 'acme', name: 'Acme', ratePerSecond: 100, burst: 100, createdAt: 0 };

async function edge(keyOrigins?: string[], random: () => number = () => 0.42) {
  const made = newApiKey(new Uint8Array(40).fill(3));
  const tenants = new MemoryTenantStore({
    tenants: [tenant],
    keys: [
      {
        id: made.id,
        tenant: 'acme',
        hash: await hashSecret(made.secret),
        label: 'server',
        createdAt: 0,
        disabled: false,
        ...(keyOrigins ? { origins: keyOrigins } : {}),
      },
    ],
  });
  let now = NOW;
  const app = createEdgeApp({
    relays: async () => [relayRecord('eu-paris', '192.0.2.10', 48.86, 2.35)],
    learned: new MemoryLearnedStore(),
    secrets: () => ['edge-secret'],
    credentialTtlSeconds: 600,
    clientIp: () => '203.0.113.77',
    defaultPlace: { lat: 50, lon: 8 },
    now: () => now,
    random,
    tenants,
  });
  const post = (path: string, body: unknown, headers: Record<string, string>) =>
    app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const mint = async (body: unknown) => {
    const res = await post('/v1/tokens', body, { authorization: `Bearer ${made.key}` });
    const text = await res.text();
    return {
      res,
      text,
      body: JSON.parse(text) as { token: string; client: string; expiresAt: number; origins: string[] },
    };
  };
  return { app, post, mint, made, tenants, advance: (ms: number) => (now += ms) };
}

describe('POST /v1/tokens and client tokens', () => {
  it('mints a token with an API key that a page of an allowed origin uses to allocate, without the key', async () => {
    const e = await edge();
    const { res, body } = await e.mint({ client: 'alice', room: 'call-42', ttl: 300, origins: [APP] });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(body).toMatchObject({ client: 'alice', expiresAt: NOW / 1000 + 300, origins: [APP] });
    const a = await e.post('/v1/allocate', {}, { authorization: `Bearer ${body.token}`, origin: APP });
    expect(a.status).toBe(200);
    const answer = (await a.json()) as { iceServers: { username: string }[]; probeTicket: string };
    const user = parseTurnRestUsername(answer.iceServers[0]!.username);
    expect(user).toMatchObject({ ok: true, tenant: 'acme' });
    expect(answer.iceServers[0]!.username).toContain('alice');
    const m = await e.post(
      '/v1/measurements',
      { probes: [{ relay: 'eu-paris', rttMs: 20 }], probeTicket: answer.probeTicket },
      { authorization: `Bearer ${body.token}`, origin: APP },
    );
    expect(m.status).toBe(200);
  });

  it('gives each token a random client id of its own when the server names none', async () => {
    const e = await edge();
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) ids.add((await e.mint({})).body.client);
    expect(ids.size).toBe(20);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuses a token from another origin, for another room, after it expires, and once its key is disabled', async () => {
    const e = await edge();
    const { body } = await e.mint({ room: 'call-42', origins: [APP] });
    const auth = { authorization: `Bearer ${body.token}` };
    const evil = await e.post('/v1/allocate', {}, { ...auth, origin: 'https://evil.example' });
    expect(evil.status).toBe(403);
    expect(evil.headers.get('content-type')).toBe('application/problem+json');
    expect((await e.post('/v1/allocate', { room: 'other' }, { ...auth, origin: APP })).status).toBe(403);
    expect((await e.post('/v1/allocate', { room: 'call-42' }, { ...auth, origin: APP })).status).toBe(200);
    const record = (await e.tenants.getKey(e.made.id))!;
    await e.tenants.putKey({ ...record, disabled: true });
    expect((await e.post('/v1/allocate', {}, { ...auth, origin: APP })).status).toBe(401);
    await e.tenants.putKey(record);
    e.advance(601_000);
    const late = await e.post('/v1/allocate', {}, { ...auth, origin: APP });
    expect(late.status).toBe(401);
    expect(await late.text()).toContain('expired');
  });

  it('does not let a token mint tokens, nor widen the origins of its key', async () => {
    const e = await edge([APP]);
    const { body } = await e.mint({});
    expect(body.origins).toEqual([APP]);
    const again = await e.post('/v1/tokens', {}, { authorization: `Bearer ${body.token}`, origin: APP });
    expect(again.status).toBe(403);
    const wider = await e.mint({ origins: [APP, 'https://evil.example'] });
    expect(wider.res.status).toBe(403);
  });

  it('refuses bad bodies with problem JSON that names the field', async () => {
    const e = await edge();
    for (const [bad, field] of [
      [{ ttl: 5 }, 'ttl'],
      [{ ttl: 86_400 }, 'ttl'],
      [{ client: 'a:b' }, 'client'],
      [{ origins: ['https://app.example.com/path'] }, 'origins'],
      [{ extra: 1 }, 'extra'],
    ] as const) {
      const { res, text } = await e.mint(bad);
      expect(res.status, JSON.stringify(bad)).toBe(422);
      expect(text).toContain(field);
    }
    const anonymous = await e.post('/v1/tokens', {}, {});
    expect(anonymous.status).toBe(401);
  });
});
