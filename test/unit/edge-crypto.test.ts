import { describe, expect, it } from 'vitest';
import { ProbeTickets } from '../../src/allocation/probe-ticket.ts';
import { createTurnCredential } from '../../src/credentials/turn-rest.ts';
import { type EdgeCrypto, webEdgeCrypto } from '../../src/crypto/edge-crypto.ts';
import { toHex, utf8Encode } from '../../src/crypto/encoding.ts';
import { hashSecret } from '../../src/tenants/api-keys.ts';
import { nodeEdgeCrypto } from '../../workers/node-crypto.ts';

const platforms: [string, EdgeCrypto][] = [
  ['Web Crypto', webEdgeCrypto()],
  ['node:crypto', nodeEdgeCrypto],
];

describe.each(platforms)('edge crypto with %s', (_name, edgeCrypto) => {
  it('computes HMAC-SHA-1 (RFC 2202 §3 case 2), HMAC-SHA-256 (RFC 4231 §4.3) and SHA-256 (FIPS 180-4 "abc")', async () => {
    const key = utf8Encode('Jefe');
    const data = utf8Encode('what do ya want for nothing?');
    expect(toHex(await edgeCrypto.hmac('SHA-1', key, data))).toBe('effcdf6ae5eb2fa2d27416d5f184df9c259a7c79');
    expect(toHex(await edgeCrypto.hmac('SHA-256', key, data))).toBe(
      '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    );
    expect(toHex(await edgeCrypto.sha256(utf8Encode('abc')))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});

describe('the Node edge and the Workers edge sign alike', () => {
  const [web, node] = [webEdgeCrypto(), nodeEdgeCrypto];

  it('gives the same TURN credential and the same API key hash', async () => {
    const o = {
      secret: 's3cret',
      nowSeconds: 1_700_000_000,
      ttlSeconds: 600,
      tenant: 'acme',
      userId: 'alice',
    };
    expect(await createTurnCredential(o, node)).toEqual(await createTurnCredential(o, web));
    expect(await hashSecret('k'.repeat(43), node)).toBe(await hashSecret('k'.repeat(43), web));
  });

  it("accepts the other's probe tickets and refuses an altered one", async () => {
    const now = 1_700_000_000_000;
    for (const [a, b] of [
      [web, node],
      [node, web],
    ] as const) {
      const ticket = await ProbeTickets.fromSecret('s3cret', a).issue(
        '198.51.100.0/24',
        ['eu-1', 'us-1'],
        now,
      );
      const checked = await ProbeTickets.fromSecret('s3cret', b).check(ticket, now);
      expect(checked?.prefix).toBe('198.51.100.0/24');
      expect([...(checked?.relays ?? [])]).toEqual(['eu-1', 'us-1']);
      const altered = ticket.replace('eu-1', 'eu-2');
      expect(await ProbeTickets.fromSecret('s3cret', b).check(altered, now)).toBeUndefined();
      expect(await ProbeTickets.fromSecret('other', b).check(ticket, now)).toBeUndefined();
    }
    const keyed = ProbeTickets.fromKey('probe-key', node);
    expect(
      await ProbeTickets.fromKey('probe-key', web).check(await keyed.issue('p', ['r'], now), now),
    ).toBeDefined();
  });
});
