import { describe, expect, it } from 'vitest';
import {
  type ApiKeyRecord,
  authenticate,
  hashSecret,
  MemoryTenantStore,
  newApiKey,
  type Tenant,
} from '../../src/tenants/api-keys.ts';
import {
  authenticateCaller,
  isOrigin,
  looksLikeToken,
  mintClientToken,
  originAllowed,
  tokenKey,
  verifyClientToken,
} from '../../src/tenants/client-token.ts';

const NOW = 1_800_000_000;
const claims = {
  tenant: 'acme',
  keyId: '0123456789abcdef',
  client: 'alice',
  room: 'call-42',
  origins: ['https://app.example.com'],
  expiresAt: NOW + 600,
};

describe('client tokens', () => {
  it('round-trips the claims under the key derived from a TURN secret', async () => {
    const key = await tokenKey('turn-secret');
    const token = await mintClientToken(key, claims, NOW);
    expect(looksLikeToken(token)).toBe(true);
    expect(await verifyClientToken([key], token, NOW + 10)).toEqual({ ok: true, claims });
  });

  it('verifies with any configured secret, so TURN secret rotation rotates tokens', async () => {
    const [old, next] = await Promise.all([tokenKey('old-secret'), tokenKey('new-secret')]);
    const token = await mintClientToken(old, claims, NOW);
    expect((await verifyClientToken([next, old], token, NOW)).ok).toBe(true);
    expect(await verifyClientToken([next], token, NOW)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('refuses an expired token, a tampered one, and things that are not tokens', async () => {
    const key = await tokenKey('turn-secret');
    const token = await mintClientToken(key, claims, NOW);
    expect(await verifyClientToken([key], token, NOW + 600)).toEqual({ ok: false, reason: 'expired' });
    const [h, p, sig] = token.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    const forged = Buffer.from(JSON.stringify({ ...payload, ten: 'other' })).toString('base64url');
    expect(await verifyClientToken([key], `${h}.${forged}.${sig}`, NOW)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    // alg "none" is never accepted.
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.x`;
    expect((await verifyClientToken([key], none, NOW)).ok).toBe(false);
    expect(await verifyClientToken([key], 'rbk_0123456789abcdef_x', NOW)).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('tells origins from other strings and checks them', () => {
    expect(isOrigin('https://app.example.com')).toBe(true);
    expect(isOrigin('http://127.0.0.1:8080')).toBe(true);
    expect(isOrigin('https://app.example.com/')).toBe(false);
    expect(isOrigin('https://app.example.com/path')).toBe(false);
    expect(isOrigin('javascript:alert(1)')).toBe(false);
    expect(originAllowed([], undefined)).toBe(true);
    expect(originAllowed(['https://a.example'], 'https://a.example')).toBe(true);
    expect(originAllowed(['https://a.example'], 'https://evil.example')).toBe(false);
    expect(originAllowed(['https://a.example'], undefined)).toBe(false);
  });
});

describe('authenticateCaller', () => {
  const tenant: Tenant = { id: 'acme', name: 'Acme', ratePerSecond: 10, burst: 10, createdAt: 0 };
  const record: ApiKeyRecord = {
    id: claims.keyId,
    tenant: 'acme',
    hash: '00',
    label: '',
    createdAt: 0,
    disabled: false,
  };
  const setup = async (over: Partial<ApiKeyRecord> = {}) => {
    const store = new MemoryTenantStore({ tenants: [tenant], keys: [{ ...record, ...over }] });
    const key = await tokenKey('turn-secret');
    const token = await mintClientToken(key, claims, NOW);
    const check = (origin: string | undefined, now = NOW * 1000) =>
      authenticateCaller(store, token, { now, origin, tokenKeys: async () => [key] });
    return { check };
  };

  it('gives the tenant and the token scope to a page of an allowed origin', async () => {
    const { check } = await setup();
    const r = await check('https://app.example.com');
    expect(r).toEqual({
      ok: true,
      principal: {
        keyId: claims.keyId,
        tenant,
        token: { client: 'alice', room: 'call-42', origins: claims.origins, expiresAt: claims.expiresAt },
      },
    });
  });

  it('refuses another origin, a disabled or expired or deleted key, and an expired token', async () => {
    expect(await (await setup()).check('https://evil.example')).toMatchObject({
      ok: false,
      reason: 'origin',
    });
    expect(await (await setup()).check(undefined)).toMatchObject({ ok: false, reason: 'origin' });
    expect(await (await setup({ disabled: true })).check('https://app.example.com')).toMatchObject({
      ok: false,
      reason: 'disabled',
    });
    expect(await (await setup({ expiresAt: NOW * 1000 - 1 })).check('https://app.example.com')).toMatchObject(
      { ok: false, reason: 'expired' },
    );
    expect(await (await setup({ tenant: 'someone-else' })).check('https://app.example.com')).toMatchObject({
      ok: false,
      reason: 'unknown',
    });
    expect(await (await setup()).check('https://app.example.com', (NOW + 601) * 1000)).toMatchObject({
      ok: false,
      reason: 'expired',
    });
  });

  it('limits API keys with origins to those origins, and expires them', async () => {
    const made = newApiKey(new Uint8Array(40).fill(7));
    const store = new MemoryTenantStore({
      tenants: [tenant],
      keys: [
        {
          ...record,
          id: made.id,
          hash: await hashSecret(made.secret),
          origins: ['https://app.example.com'],
          expiresAt: 5000,
        },
      ],
    });
    // A server sends no Origin; a page of a listed origin may use it; another page may not.
    expect((await authenticate(store, made.key, { now: 0 })).ok).toBe(true);
    expect((await authenticate(store, made.key, { now: 0, origin: 'https://app.example.com' })).ok).toBe(
      true,
    );
    expect(await authenticate(store, made.key, { now: 0, origin: 'https://x.example' })).toMatchObject({
      ok: false,
      reason: 'origin',
    });
    expect(await authenticate(store, made.key, { now: 5000 })).toMatchObject({
      ok: false,
      reason: 'expired',
    });
  });
});
