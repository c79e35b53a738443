/**
 * TURN REST credentials: the Web Crypto path (edge) and the synchronous path (relay) agree with each
 * other and with node:crypto; usernames are built and parsed as draft-uberti-behave-turn-rest says;
 * expiry; and the RFC 8489 §9.2.2 long-term key, checked on the RFC 5769 §2.4 sample request.
 */
import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { stunCrypto } from '../../relay/platform-crypto.ts';
import {
  CredentialError,
  createTurnCredential,
  longTermKey,
  MAX_TTL_SECONDS,
  parseTurnRestUsername,
  restCredentialsValid,
  turnRestPassword,
} from '../../src/credentials/turn-rest.ts';
import { longTermRequest } from './fixtures/rfc5769.ts';

const NOW = 1_700_000_000;
const nodePassword = (secret: string, username: string) =>
  createHmac('sha1', Buffer.from(secret, 'utf8')).update(username, 'utf8').digest('base64');

describe('createTurnCredential', () => {
  it.each([
    ['a short ASCII secret', 's3cret'],
    ['a non-ASCII secret', 'g\u00e9heim-\u79d8\u5bc6'],
    ['a secret longer than the HMAC block', 'x'.repeat(200)],
  ])(
    'computes with Web Crypto the same password as the synchronous path and node:crypto, for %s',
    async (_n, secret) => {
      const cred = await createTurnCredential({
        secret,
        nowSeconds: NOW,
        ttlSeconds: 3600,
        tenant: 'acme',
        userId: 'bob',
      });
      expect(cred.credential).toBe(turnRestPassword(secret, cred.username, stunCrypto));
      expect(cred.credential).toBe(nodePassword(secret, cred.username));
    },
  );

  it.each([
    [{}, `${NOW + 60}`],
    [{ tenant: 'acme' }, `${NOW + 60}:acme`],
    [{ userId: 'bob' }, `${NOW + 60}::bob`],
    [{ tenant: 'acme', userId: 'bob' }, `${NOW + 60}:acme:bob`],
    [{ tenant: 'acme', userId: 'room:7' }, `${NOW + 60}:acme:room:7`],
  ])('builds the username expiry:tenant:userId from %j', async (extra, username) => {
    const cred = await createTurnCredential({ secret: 's', nowSeconds: NOW, ttlSeconds: 60, ...extra });
    expect(cred.username).toBe(username);
    expect(cred.expiresAt).toBe(NOW + 60);
  });

  it('gives back its tenant and userId when its username is parsed', async () => {
    const cred = await createTurnCredential({
      secret: 's',
      nowSeconds: NOW,
      ttlSeconds: 60,
      tenant: 'acme',
      userId: 'room:7',
    });
    expect(parseTurnRestUsername(cred.username)).toEqual({
      ok: true,
      expiry: NOW + 60,
      tenant: 'acme',
      userId: 'room:7',
    });
  });

  it('rounds a fractional now down to whole seconds before adding the TTL', async () => {
    const cred = await createTurnCredential({ secret: 's', nowSeconds: NOW + 0.9, ttlSeconds: 10 });
    expect(cred.expiresAt).toBe(NOW + 10);
  });

  it('accepts a TTL of exactly seven days', async () => {
    const cred = await createTurnCredential({ secret: 's', nowSeconds: NOW, ttlSeconds: MAX_TTL_SECONDS });
    expect(cred.expiresAt).toBe(NOW + 7 * 86_400);
  });

  it.each([
    ['a zero TTL', { ttlSeconds: 0 }],
    ['a negative TTL', { ttlSeconds: -5 }],
    ['a fractional TTL', { ttlSeconds: 1.5 }],
    ['a NaN TTL', { ttlSeconds: Number.NaN }],
    ['a TTL over seven days', { ttlSeconds: MAX_TTL_SECONDS + 1 }],
    ['a tenant containing ":"', { tenant: 'a:b' }],
    ['an empty secret', { secret: '' }],
    ['a NaN now', { nowSeconds: Number.NaN }],
    ['a negative now', { nowSeconds: -1 }],
  ])('refuses %s with a CredentialError', async (_name, bad) => {
    const opts = { secret: 's', nowSeconds: NOW, ttlSeconds: 60, ...bad };
    const err = await createTurnCredential(opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CredentialError);
    expect(err).toMatchObject({ code: 'ERR_CREDENTIAL_INPUT', name: 'CredentialError' });
  });
});

describe('turnRestPassword', () => {
  it('is base64 of HMAC-SHA1(secret, username)', () => {
    const username = `${NOW}:acme:bob`;
    const mac = createHmac('sha1', 's3cret').update(username).digest();
    expect(turnRestPassword('s3cret', username, stunCrypto)).toBe(Buffer.from(mac).toString('base64'));
    expect(turnRestPassword('s3cret', username, stunCrypto)).toBe(nodePassword('s3cret', username));
  });
});

describe('parseTurnRestUsername', () => {
  it.each([
    ['1700000000', NOW, undefined, undefined],
    ['1700000000:acme', NOW, 'acme', undefined],
    ['1700000000:acme:bob', NOW, 'acme', 'bob'],
    ['1700000000::bob', NOW, undefined, 'bob'],
    ['1700000000:acme:', NOW, 'acme', undefined],
    ['1700000000:', NOW, undefined, undefined],
    ['1700000000:acme:bob:extra', NOW, 'acme', 'bob:extra'],
    ['1700000000:\u30DE\u30C8:x', NOW, '\u30DE\u30C8', 'x'],
    ['0', 0, undefined, undefined],
    ['000123:t', 123, 't', undefined],
    ['999999999999', 999_999_999_999, undefined, undefined],
  ])('reads %j as a REST username', (username, expiry, tenant, userId) => {
    expect(parseTurnRestUsername(username)).toEqual({ ok: true, expiry, tenant, userId });
  });

  it.each([
    ['a plain user name', 'alice'],
    ['an empty string', ''],
    ['an empty expiry', ':acme:bob'],
    ['a negative expiry', '-5:acme'],
    ['a fractional expiry', '1.5:acme'],
    ['an exponent', '1e9:acme'],
    ['a plus sign', '+1700000000'],
    ['a leading space', ' 1700000000:acme'],
    ['a hex expiry', '0x10:acme'],
    ['digits after a name', 'bob:1700000000'],
    ['non-ASCII digits', '\u0661\u0662\u0663'],
    ['an expiry of 13 digits', '1234567890123:acme'],
  ])('does not take %s for a REST username', (_name, username) => {
    expect(parseTurnRestUsername(username)).toEqual({ ok: false, error: 'ERR_NOT_REST_USERNAME' });
  });
});

describe('restCredentialsValid', () => {
  it.each([
    ['before its expiry', `${NOW + 1}:acme:bob`, { ok: true }],
    ['at its expiry second', `${NOW}:acme:bob`, { ok: false, error: 'ERR_EXPIRED' }],
    ['after its expiry', `${NOW - 3600}:acme`, { ok: false, error: 'ERR_EXPIRED' }],
    ['when it is not a REST username', 'alice', { ok: false, error: 'ERR_NOT_REST_USERNAME' }],
  ])('judges a username %s', (_name, username, want) => {
    expect(restCredentialsValid(username, NOW)).toEqual(want);
  });
});

describe('longTermKey', () => {
  const username = '\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9';

  it('is MD5 over the UTF-8 of username:realm:password (RFC 8489 §9.2.2)', () => {
    const want = createHash('md5').update(`${username}:example.org:TheMatrIX`, 'utf8').digest();
    expect(longTermKey(username, 'example.org', 'TheMatrIX', stunCrypto)).toEqual(new Uint8Array(want));
  });

  it('verifies the MESSAGE-INTEGRITY of the RFC 5769 §2.4 sample request', () => {
    const key = longTermKey(username, 'example.org', 'TheMatrIX', stunCrypto);
    // MESSAGE-INTEGRITY is the last attribute: a 4-byte header and a 20-byte HMAC over all before it.
    const end = longTermRequest.length;
    const mac = createHmac('sha1', key)
      .update(longTermRequest.subarray(0, end - 24))
      .digest();
    expect(new Uint8Array(mac)).toEqual(longTermRequest.subarray(end - 20));
  });
});
