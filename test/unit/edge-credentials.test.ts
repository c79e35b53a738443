import { describe, expect, it } from 'vitest';
import { stunCrypto } from '../../relay/platform-crypto.ts';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { RevocationSet, type RevocationTarget } from '../../src/credentials/revocation.ts';
import { MAX_TTL_SECONDS, parseTurnRestUsername, turnRestPassword } from '../../src/credentials/turn-rest.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { relayRecord } from '../support/relay-record.ts';

const NOW = 1_800_000_000_000;
const ADMIN = 'admin-token';

function edge() {
  const revoked: { target: RevocationTarget; until: number }[] = [];
  const app = createEdgeApp({
    relays: async () => [relayRecord('eu-paris', '192.0.2.10', 48.86, 2.35)],
    learned: new MemoryLearnedStore(),
    secrets: () => ['edge-secret'],
    credentialTtlSeconds: 600,
    clientIp: () => '203.0.113.77',
    defaultPlace: { lat: 50, lon: 8 },
    now: () => NOW,
    adminToken: ADMIN,
    revoke: async (target, until) => {
      revoked.push({ target, until });
    },
  });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.request(path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  return { post, revoked };
}

interface Answer {
  iceServers: { username: string; credential: string }[];
  client: string;
}

describe('per-client credentials', () => {
  it('gives two clients of one tenant in the same second different usernames (expiry:tenant:client)', async () => {
    const { post } = edge();
    const answers: Answer[] = [];
    for (let i = 0; i < 20; i++)
      answers.push((await (await post('/v1/allocate', { room: 'r1' })).json()) as Answer);
    const usernames = new Set(answers.map((a) => a.iceServers[0]!.username));
    expect(usernames.size).toBe(20);
    for (const a of answers) {
      const { username, credential } = a.iceServers[0]!;
      expect(parseTurnRestUsername(username)).toEqual({
        ok: true,
        expiry: NOW / 1000 + 600,
        tenant: 'default',
        userId: a.client,
      });
      expect(a.client).toMatch(/^[0-9a-f]{16}$/);
      expect(credential).toBe(turnRestPassword('edge-secret', username, stunCrypto));
    }
  });

  it("uses the app's name for its user as the client id, and refuses one that cannot be a client id", async () => {
    const { post } = edge();
    const a = (await (await post('/v1/allocate', { user: 'alice.42' })).json()) as Answer;
    expect(a.client).toBe('alice.42');
    expect(a.iceServers[0]!.username).toBe(`${NOW / 1000 + 600}:default:alice.42`);
    for (const user of ['a:b', '', 'x'.repeat(65), 'with space']) {
      const res = await post('/v1/allocate', { user });
      expect(res.status).toBe(422);
      expect(((await res.json()) as { detail: string }).detail).toMatch(/^user must match/);
    }
  });
});

describe('POST /v1/credentials/revoke', () => {
  const auth = { authorization: `Bearer ${ADMIN}` };

  it('revokes a username, a client or a tenant, for the longest credential lifetime by default', async () => {
    const { post, revoked } = edge();
    const week = NOW + MAX_TTL_SECONDS * 1000;
    const cases: [unknown, RevocationTarget, number, unknown][] = [
      [
        { username: '1800000600:acme:c1' },
        { kind: 'username', username: '1800000600:acme:c1' },
        week,
        { username: '1800000600:acme:c1' },
      ],
      [
        { username: '9999999999:acme:c1' },
        { kind: 'username', username: '9999999999:acme:c1' },
        9_999_999_999_000,
        { username: '9999999999:acme:c1' },
      ],
      [
        { tenant: 'acme', client: 'c1' },
        { kind: 'client', tenant: 'acme', client: 'c1' },
        week,
        { tenant: 'acme', client: 'c1' },
      ],
      [{ tenant: 'acme', seconds: 60 }, { kind: 'tenant', tenant: 'acme' }, NOW + 60_000, { tenant: 'acme' }],
    ];
    for (const [body, target, until, answer] of cases) {
      const res = await post('/v1/credentials/revoke', body, auth);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ revoked: answer, until });
      expect(revoked.at(-1)).toEqual({ target, until });
    }
  });

  it.each([
    [{}, 'give either username or tenant (with or without client)'],
    [{ username: '1:acme:c1', tenant: 'acme' }, 'give either username or tenant (with or without client)'],
    [{ client: 'c1' }, 'give either username or tenant (with or without client)'],
    [{ username: '1:acme:c1', client: 'c1' }, 'client goes with tenant, not with username'],
    [{ tenant: 'Acme!' }, 'tenant must match ^[a-z0-9][a-z0-9-]{0,31}$'],
    [{ tenant: 'acme', seconds: 1.5 }, 'seconds must be a whole number'],
    [{ tenant: 'acme', seconds: 0 }, 'seconds must be at least 1'],
  ])('answers 422 to %j', async (body, detail) => {
    const { post, revoked } = edge();
    const res = await post('/v1/credentials/revoke', body, auth);
    expect(res.status).toBe(422);
    expect(((await res.json()) as { detail: string }).detail).toBe(detail);
    expect(revoked).toEqual([]);
  });

  it('revokes every credential of the client or tenant it names and no other', async () => {
    const { post } = edge();
    const a = (await (await post('/v1/allocate', {})).json()) as Answer;
    const b = (await (await post('/v1/allocate', {})).json()) as Answer;
    const set = (r: { clients?: string[]; tenants?: string[] }) =>
      new RevocationSet({ usernames: [], clients: r.clients ?? [], tenants: r.tenants ?? [] });
    const byClient = set({ clients: [`default:${a.client}`] });
    expect(byClient.isRevoked(a.iceServers[0]!.username)).toBe(true);
    expect(byClient.isRevoked(b.iceServers[0]!.username)).toBe(false);
    const byTenant = set({ tenants: ['default'] });
    expect(byTenant.isRevoked(b.iceServers[0]!.username)).toBe(true);
    expect(set({ tenants: ['defaul'] }).isRevoked(b.iceServers[0]!.username)).toBe(false);
    expect(byTenant.isRevoked('alice')).toBe(false); // a static user has no tenant
  });
});
