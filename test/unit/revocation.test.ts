import { describe, expect, it } from 'vitest';
import {
  credentialIdentity,
  RevocationSet,
  type Revocations,
  revocationFields,
} from '../../src/credentials/revocation.ts';

const set = (r: Partial<Revocations>) => new RevocationSet({ usernames: [], clients: [], tenants: [], ...r });

describe('RevocationSet', () => {
  it.each<[string, Partial<Revocations>, string, boolean]>([
    ['a revoked username', { usernames: ['1800000000:acme:c1'] }, '1800000000:acme:c1', true],
    [
      'the same client under a later expiry',
      { usernames: ['1800000000:acme:c1'] },
      '1800000600:acme:c1',
      false,
    ],
    ['every username of a revoked client', { clients: ['acme:c1'] }, '1800000600:acme:c1', true],
    ['a client id holding ":"', { clients: ['acme:c:1'] }, '1800000600:acme:c:1', true],
    ['another client of that tenant', { clients: ['acme:c1'] }, '1800000600:acme:c2', false],
    ['the same client id in another tenant', { clients: ['acme:c1'] }, '1800000600:beta:c1', false],
    ['every client of a revoked tenant', { tenants: ['acme'] }, '1800000600:acme:c9', true],
    ['a username with only a tenant', { tenants: ['acme'] }, '1800000600:acme', true],
    ['a tenant whose name starts the same', { tenants: ['acme'] }, '1800000600:acme2:c1', false],
    ['a static user, by tenant', { tenants: ['alice'] }, 'alice', false],
    ['a static user, by name', { usernames: ['alice'] }, 'alice', true],
  ])('judges %s', (_name, revocations, username, revoked) => {
    expect(set(revocations).isRevoked(username)).toBe(revoked);
  });

  it('tells whether a new set revokes anything the old one did not', () => {
    const old = set({ clients: ['acme:c1'], tenants: ['beta'] });
    expect(old.addsTo(set({ clients: ['acme:c1'] }))).toBe(false); // a lapse only shrinks it
    expect(old.addsTo(set({ clients: ['acme:c1'], tenants: ['beta'] }))).toBe(false);
    expect(old.addsTo(set({ clients: ['acme:c2'] }))).toBe(true);
    expect(old.addsTo(set({ usernames: ['x'] }))).toBe(true);
    expect(old.addsTo(set({ tenants: ['gamma'] }))).toBe(true);
  });

  it('reads tenant and client from REST usernames only', () => {
    expect(credentialIdentity('1800000600:acme:c1')).toEqual({ tenant: 'acme', client: 'c1' });
    expect(credentialIdentity('1800000600::c1')).toEqual({ tenant: undefined, client: 'c1' });
    expect(credentialIdentity('alice:acme:c1')).toEqual({ tenant: undefined, client: undefined });
    expect(revocationFields({ kind: 'client', tenant: 'acme', client: 'c1' })).toEqual({
      tenant: 'acme',
      client: 'c1',
    });
  });
});
