import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RevocationSet } from '../../src/credentials/revocation.ts';
import { decodeErrorCode } from '../../src/stun/attributes.ts';
import { Attr, MessageClass, Method } from '../../src/stun/constants.ts';
import { findAttribute, type StunMessage } from '../../src/stun/message.ts';
import type { Allocation, ClientContext } from '../../src/turn/allocation.ts';
import type { TurnEngine } from '../../src/turn/engine.ts';
import {
  type AttrList,
  type Credentials,
  channel,
  errorCodeOf,
  lifetime,
  newTid,
  peerAttr,
  request,
  u32Attr,
} from '../support/stun-builders.ts';
import { allocate, peer, REALM, replies, setup, T0 } from '../support/turn-engine-harness.ts';

/** A REST credential `expiry:tenant:client`, expiring `inSeconds` after T0. */
function rest(tenant: string, client: string, inSeconds: number): Credentials {
  const username = `${T0 / 1000 + inSeconds}:${tenant}:${client}`;
  const password = createHmac('sha1', 'new-secret').update(username).digest('base64');
  return { username, password, realm: REALM };
}

/** One signed request (the nonce is already known) with attributes that may need the tid. */
function send(
  engine: TurnEngine,
  ctx: ClientContext,
  method: number,
  attrs: (tid: Uint8Array) => AttrList,
  cred: Credentials,
  now: number,
) {
  const tid = newTid();
  const actions = engine.handleStun(ctx, request(method, attrs(tid), cred, { tid }).bytes, now);
  return { actions, reply: replies(actions)[0]! };
}

const refresh = (e: TurnEngine, ctx: ClientContext, cred: Credentials, now: number, attrs: AttrList = []) =>
  send(e, ctx, Method.Refresh, () => attrs, cred, now);
const permit = (e: TurnEngine, ctx: ClientContext, cred: Credentials, now: number) =>
  send(e, ctx, Method.CreatePermission, (tid) => [peerAttr(peer, tid)], cred, now);
const bind = (e: TurnEngine, ctx: ClientContext, cred: Credentials, now: number) =>
  send(e, ctx, Method.ChannelBind, (tid) => [channel(0x4001), peerAttr(peer, tid)], cred, now);

const phraseOf = (m: StunMessage) => {
  const decoded = decodeErrorCode(findAttribute(m, Attr.ErrorCode)!.value);
  return decoded.ok ? decoded.value.reason : undefined;
};

const ok = (r: { reply?: ReturnType<typeof replies>[number] | undefined }) =>
  r.reply?.cls === MessageClass.SuccessResponse;

describe('a credential that expires while its allocation lives', () => {
  it('still refreshes, permits and binds channels on its own allocation after the expiry', () => {
    const s = setup();
    const ctx = s.client();
    const cred = rest('acme', 'c1', 60);
    const { allocation } = allocate(s.engine, ctx, cred);
    expect(allocation?.state).toBe('active');
    const after = T0 + 61_000; // the credential expired a second ago
    expect(ok(refresh(s.engine, ctx, cred, after))).toBe(true);
    expect(ok(permit(s.engine, ctx, cred, after + 1))).toBe(true);
    expect(ok(bind(s.engine, ctx, cred, after + 2))).toBe(true);
    // Much later, as long as the allocation is refreshed, still accepted.
    let t = after;
    for (let i = 0; i < 5; i++) {
      t += 500_000;
      expect(ok(refresh(s.engine, ctx, cred, t))).toBe(true);
    }
    expect(ok(permit(s.engine, ctx, cred, t + 1))).toBe(true);
    // The data path follows: the channel was re-bound, the peer's datagram reaches the client.
    expect(ok(bind(s.engine, ctx, cred, t + 2))).toBe(true);
    expect(s.engine.fromPeer(allocation!, peer.address, peer.port, new Uint8Array(4), t + 3)).toBeDefined();
  });

  it('refuses a new Allocate with the expired credential (401), on a new 5-tuple or the same one', () => {
    const s = setup();
    const ctx = s.client();
    const cred = rest('acme', 'c1', 60);
    allocate(s.engine, ctx, cred);
    const other = s.client();
    expect(errorCodeOf(allocate(s.engine, other, cred, T0 + 61_000).reply!)).toBe(401);
    // Ending the allocation ends the grace: the same 5-tuple cannot allocate again.
    expect(ok(refresh(s.engine, ctx, cred, T0 + 62_000, [lifetime(0)]))).toBe(true);
    expect(errorCodeOf(allocate(s.engine, ctx, cred, T0 + 63_000).reply!)).toBe(401);
    expect(s.engine.allocationCount).toBe(0);
  });

  it('refuses the expired username on another 5-tuple (401), where it has no allocation', () => {
    const s = setup();
    const cred = rest('acme', 'c1', 60);
    allocate(s.engine, s.client(), cred);
    const stranger = s.client();
    for (const r of [
      refresh(s.engine, stranger, cred, T0 + 61_000),
      permit(s.engine, stranger, cred, T0 + 61_000),
      bind(s.engine, stranger, cred, T0 + 61_000),
    ]) {
      expect(errorCodeOf(r.reply)).toBe(401);
    }
  });

  it('refuses a request on the allocation whose MESSAGE-INTEGRITY does not match (401)', () => {
    const s = setup();
    const ctx = s.client();
    const cred = rest('acme', 'c1', 60);
    allocate(s.engine, ctx, cred);
    const forged = { ...cred, password: 'guess' };
    expect(errorCodeOf(refresh(s.engine, ctx, forged, T0 + 61_000).reply)).toBe(401);
    expect(errorCodeOf(permit(s.engine, ctx, forged, T0 + 62_000).reply)).toBe(401);
  });

  it('tells the hooks which successful requests rode on an expired credential', () => {
    const seen: string[] = [];
    const s = setup({
      hooks: { requestSucceeded: (method, expired) => seen.push(`${method}:${expired}`) },
    });
    const ctx = s.client();
    const cred = rest('acme', 'c1', 60);
    allocate(s.engine, ctx, cred);
    refresh(s.engine, ctx, cred, T0 + 1000);
    permit(s.engine, ctx, cred, T0 + 61_000);
    refresh(s.engine, s.client(), cred, T0 + 61_000); // 401: not a success
    expect(seen).toEqual([`${Method.Refresh}:false`, `${Method.CreatePermission}:true`]);
  });
});

describe('maximum allocation age', () => {
  it('caps granted lifetimes at the age limit, then refuses Refresh with 403 and ends the allocation', () => {
    const s = setup({
      lifetimes: {
        defaultAllocation: 600,
        maxAllocation: 3600,
        permission: 300,
        channel: 600,
        maxAllocationAge: 1000,
      },
    });
    const ctx = s.client();
    const cred = rest('acme', 'c1', 60);
    const { reply, allocation } = allocate(s.engine, ctx, cred);
    expect(u32Attr(reply!, Attr.Lifetime)).toBe(600);
    const capped = refresh(s.engine, ctx, cred, T0 + 500_000, [lifetime(3600)]);
    expect(u32Attr(capped.reply, Attr.Lifetime)).toBe(500);
    expect(allocation!.expiresAt).toBe(T0 + 1_000_000);
    const late = refresh(s.engine, ctx, cred, T0 + 1_000_000);
    expect(errorCodeOf(late.reply)).toBe(403);
    expect(phraseOf(late.reply)).toBe('Maximum Allocation Age Reached');
    expect(late.actions).toContainEqual({ type: 'release-relay', allocation, shell: {}, reason: 'max-age' });
    expect(s.engine.allocationCount).toBe(0);
  });

  it('ends an allocation on the tick that reaches the age limit, however recently it was refreshed', () => {
    const s = setup({
      lifetimes: {
        defaultAllocation: 600,
        maxAllocation: 3600,
        permission: 300,
        channel: 600,
        maxAllocationAge: 900,
      },
    });
    const ctx = s.client();
    const cred = rest('acme', 'c1', 60);
    const { allocation } = allocate(s.engine, ctx, cred);
    expect(ok(refresh(s.engine, ctx, cred, T0 + 599_000))).toBe(true);
    expect(s.engine.tick(T0 + 899_999)).toEqual([]);
    expect(s.engine.tick(T0 + 900_000)).toEqual([
      { type: 'release-relay', allocation, shell: {}, reason: 'max-age' },
    ]);
  });
});

describe('per-tenant quota', () => {
  it('refuses an Allocate past the tenant quota with 486, counting every client of the tenant', () => {
    const s = setup({}, { tenantQuota: 2, userQuota: 10 });
    expect(ok(allocate(s.engine, s.client(), rest('acme', 'c1', 600)))).toBe(true);
    const second = allocate(s.engine, s.client(), rest('acme', 'c2', 600));
    expect(ok(second)).toBe(true);
    const refused = allocate(s.engine, s.client(), rest('acme', 'c3', 600)).reply!;
    expect(errorCodeOf(refused)).toBe(486);
    expect(phraseOf(refused)).toBe('Tenant Allocation Quota Reached');
    // Other tenants and static users are not counted against acme.
    expect(ok(allocate(s.engine, s.client(), rest('beta', 'c1', 600)))).toBe(true);
    expect(ok(allocate(s.engine, s.client(), { username: 'alice', password: 'pw', realm: REALM }))).toBe(
      true,
    );
    // When one of acme's allocations ends, acme may allocate again.
    s.engine.end(second.allocation!, 'client-closed', T0 + 1);
    expect(ok(allocate(s.engine, s.client(), rest('acme', 'c3', 600), T0 + 2))).toBe(true);
  });

  it('gives two clients of one tenant in the same second their own username quota', () => {
    const s = setup({}, { userQuota: 1, tenantQuota: 100 });
    expect(ok(allocate(s.engine, s.client(), rest('acme', 'c1', 600)))).toBe(true);
    expect(errorCodeOf(allocate(s.engine, s.client(), rest('acme', 'c1', 600)).reply!)).toBe(486);
    expect(ok(allocate(s.engine, s.client(), rest('acme', 'c2', 600)))).toBe(true);
  });
});

describe('revocation by client and by tenant', () => {
  function live(s: ReturnType<typeof setup>) {
    const made = new Map<string, { ctx: ClientContext; cred: Credentials; allocation: Allocation }>();
    for (const [name, tenant, client, ttl] of [
      ['acme/c1 a', 'acme', 'c1', 60],
      ['acme/c1 b', 'acme', 'c1', 600],
      ['acme/c2', 'acme', 'c2', 60],
      ['beta/c1', 'beta', 'c1', 60],
    ] as const) {
      const ctx = s.client();
      const cred = rest(tenant, client, ttl);
      const { allocation } = allocate(s.engine, ctx, cred);
      made.set(name, { ctx, cred, allocation: allocation! });
    }
    return made;
  }
  const ended = (actions: ReturnType<TurnEngine['endRevoked']>) =>
    actions.map((a) => (a.type === 'release-relay' ? `${a.allocation.username}/${a.reason}` : a.type)).sort();

  it('ends exactly the allocations of a revoked client, then of a revoked tenant', () => {
    const s = setup();
    const made = live(s);
    const revokedClient = new RevocationSet({ usernames: [], clients: ['acme:c1'], tenants: [] });
    s.revoke(revokedClient);
    const first = s.engine.endRevoked((u) => revokedClient.isRevoked(u), T0 + 61_000);
    expect(ended(first)).toEqual(
      [made.get('acme/c1 a')!, made.get('acme/c1 b')!].map((m) => `${m.cred.username}/revoked`).sort(),
    );
    expect(s.engine.allocationCount).toBe(2);

    const revokedTenant = new RevocationSet({ usernames: [], clients: ['acme:c1'], tenants: ['acme'] });
    s.revoke(revokedTenant);
    const second = s.engine.endRevoked((u) => revokedTenant.isRevoked(u), T0 + 61_000);
    expect(ended(second)).toEqual([`${made.get('acme/c2')!.cred.username}/revoked`]);
    const beta = made.get('beta/c1')!;
    expect(beta.allocation.state).toBe('active');
    // beta/c1's credential has expired too: its allocation goes on.
    expect(ok(refresh(s.engine, beta.ctx, beta.cred, T0 + 62_000))).toBe(true);
  });

  it('refuses a revoked credential at once, for Allocate and on a live allocation (401)', () => {
    const s = setup();
    const made = live(s);
    s.revoke(new RevocationSet({ usernames: [], clients: [], tenants: ['beta'] }));
    const beta = made.get('beta/c1')!;
    expect(errorCodeOf(refresh(s.engine, beta.ctx, beta.cred, T0 + 1000).reply)).toBe(401);
    expect(errorCodeOf(allocate(s.engine, s.client(), rest('beta', 'c9', 600), T0 + 1000).reply!)).toBe(401);
    const acme = made.get('acme/c2')!;
    expect(ok(refresh(s.engine, acme.ctx, acme.cred, T0 + 1000))).toBe(true);
  });
});
