/**
 * The TURN engine under abuse (issue 12): reservations in the quotas, the channel cap, request size
 * caps, small unauthenticated answers with a per-source rate limit, and nonces bound to the
 * client's address. Fake clock, assertions on the actions, as in turn-engine.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { stunCrypto } from '../../relay/platform-crypto.ts';
import { Attr, MessageClass, Method } from '../../src/stun/constants.ts';
import { findAttribute } from '../../src/stun/message.ts';
import type { ClientContext } from '../../src/turn/allocation.ts';
import { type Authenticator, createAuthenticator } from '../../src/turn/auth.ts';
import type { TurnEngine } from '../../src/turn/engine.ts';
import type { TurnAction } from '../../src/turn/engine-actions.ts';
import type { TurnEngineOptions } from '../../src/turn/engine-options.ts';
import { createNonceManager } from '../../src/turn/nonce.ts';
import {
  type AttrList,
  type Credentials,
  channel,
  decoded,
  errorCodeOf,
  lifetime,
  peerAttr,
  request,
  textAttr,
  transportUdp,
} from '../support/stun-builders.ts';
import { ask, setup as harnessSetup, REALM, replies, T0 } from '../support/turn-engine-harness.ts';

/**
 * The shared engine harness with alice and bob, three REST secrets (a forged request costs one
 * HMAC per secret), nonces of 600 s, no SOFTWARE unless a test sets one, a counter of key
 * look-ups, and clients from any address.
 */
function setup(over: Partial<TurnEngineOptions> = {}, limits: Partial<TurnEngineOptions['limits']> = {}) {
  const inner = createAuthenticator({
    users: [
      { name: 'alice', password: 'pw' },
      { name: 'bob', password: 'pw' },
    ],
    secrets: () => ['s1', 's2', 's3'],
    crypto: stunCrypto,
  });
  const lookups = { count: 0 };
  const auth: Authenticator = {
    keysFor(...args) {
      lookups.count++;
      return inner.keysFor(...args);
    },
    isRevoked: (username) => inner.isRevoked(username),
  };
  const nonces = createNonceManager(new Uint8Array(32).fill(7), 600_000, stunCrypto);
  const s = harnessSetup({ auth, nonces, software: undefined, ...over }, limits);
  return { engine: s.engine, client: (address?: string) => s.client('udp', address), lookups };
}

const user = (username: string): Credentials => ({ username, password: 'pw', realm: REALM });
const EVEN_PORT_R: [number, Uint8Array] = [Attr.EvenPort, new Uint8Array([0x80])];
let nextToken = 1;

/** Allocate (with EVEN-PORT R when asked) and let the shell bind; returns the reply's code or 0. */
function allocate(engine: TurnEngine, ctx: ClientContext, cred: Credentials, attrs: AttrList = [], now = T0) {
  const actions = ask(engine, ctx, Method.Allocate, [transportUdp(), ...attrs], cred, now);
  const bind = actions.find((a) => a.type === 'bind-relay');
  if (bind?.type !== 'bind-relay') return { code: errorCodeOf(replies(actions)[0]!) ?? -1 };
  const relayed = { family: 4 as const, address: '127.0.0.1', port: 50000 + bind.allocation.id * 2 };
  const token = bind.reserveNext ? new Uint8Array(8).fill(nextToken++ & 0xff) : undefined;
  const done = engine.relayBound(
    bind.allocation,
    { relayed, advertised: relayed, shell: {}, reservationToken: token },
    now,
  );
  return { code: errorCodeOf(replies(done)[0]!) ?? 0, token, bind };
}

describe('EVEN-PORT reservations', () => {
  it('count against the username quota while held, so one user cannot hoard ports', () => {
    const { engine, client } = setup({}, { userQuota: 3 });
    let granted = 0;
    for (let i = 0; i < 10; i++) {
      const ctx = client();
      const cred = user('alice');
      const r = allocate(engine, ctx, cred, [EVEN_PORT_R]);
      if (r.code !== 0) {
        expect(r.code).toBe(486);
        continue;
      }
      granted++;
      // Delete the allocation at once: only the reservation is left behind.
      ask(engine, ctx, Method.Refresh, [lifetime(0)], cred);
    }
    expect(granted).toBe(2); // 1 reservation + 2 for the next Allocate with R reaches 3
    expect(engine.reservationCount).toBe(2);
  });

  it('count against the relay-wide allocation cap (508)', () => {
    const { engine, client } = setup({}, { maxAllocations: 3, userQuota: 100 });
    for (let i = 0; i < 2; i++) {
      const ctx = client();
      const cred = user('alice');
      expect(allocate(engine, ctx, cred, [EVEN_PORT_R]).code).toBe(0);
      ask(engine, ctx, Method.Refresh, [lifetime(0)], cred);
    }
    expect(allocate(engine, client(), user('bob')).code).toBe(0);
    expect(allocate(engine, client(), user('bob')).code).toBe(508);
  });

  it('expire after 30 s (RFC 8656 §7.2), asking the shell to release the held port', () => {
    const { engine, client } = setup({}, { userQuota: 2 });
    const ctx = client();
    const cred = user('alice');
    const { token } = allocate(engine, ctx, cred, [EVEN_PORT_R]);
    ask(engine, ctx, Method.Refresh, [lifetime(0)], cred);
    expect(engine.tick(T0 + 29_000)).toEqual([]);
    expect(engine.tick(T0 + 30_000)).toEqual([{ type: 'release-reservation', token }]);
    expect(engine.reservationCount).toBe(0);
    expect(allocate(engine, client(), user('alice'), [EVEN_PORT_R], T0 + 30_000).code).toBe(0);
  });

  it('become an allocation when their token is presented, even at the quota', () => {
    const { engine, client } = setup({}, { userQuota: 2 });
    const { token } = allocate(engine, client(), user('alice'), [EVEN_PORT_R]);
    const r = allocate(engine, client(), user('alice'), [[Attr.ReservationToken, token!]]);
    expect(r.bind).toMatchObject({ reservationToken: token });
    expect(r.code).toBe(0);
    expect(engine.reservationCount).toBe(0);
  });

  it('answer 508 for a token the relay does not hold, without asking the shell', () => {
    const { engine, client } = setup();
    const actions = ask(
      engine,
      client(),
      Method.Allocate,
      [transportUdp(), [Attr.ReservationToken, new Uint8Array(8).fill(0xee)]],
      user('alice'),
    );
    expect(actions.some((a) => a.type === 'bind-relay')).toBe(false);
    expect(errorCodeOf(replies(actions)[0]!)).toBe(508);
  });
});

describe('channel cap', () => {
  it('refuses channels past the per-allocation cap with 508 and keeps the ones bound', () => {
    const { engine, client } = setup({}, { maxChannelsPerAllocation: 16 });
    const ctx = client();
    const cred = user('alice');
    allocate(engine, ctx, cred);
    const codes: number[] = [];
    for (let i = 0; i < 40; i++) {
      const tid = new Uint8Array(12).fill(i + 1);
      const peer = { family: 4 as const, address: '127.0.0.9', port: 5000 + i };
      const bytes = request(Method.ChannelBind, [channel(0x4000 + i), peerAttr(peer, tid)], cred, {
        tid,
      }).bytes;
      codes.push(errorCodeOf(replies(engine.handleStun(ctx, bytes, T0))[0]!) ?? 0);
    }
    expect(codes.filter((c) => c === 0)).toHaveLength(16);
    expect(codes.slice(16).every((c) => c === 508)).toBe(true);
    expect(engine.allocationFor(ctx.key)!.channels.size).toBe(16);
  });

  it('still refreshes a channel that is already bound when the allocation is full', () => {
    const { engine, client } = setup({}, { maxChannelsPerAllocation: 1 });
    const ctx = client();
    const cred = user('alice');
    allocate(engine, ctx, cred);
    const peer = { family: 4 as const, address: '127.0.0.9', port: 5000 };
    for (let i = 0; i < 2; i++) {
      const tid = new Uint8Array(12).fill(i + 1);
      const bytes = request(Method.ChannelBind, [channel(0x4000), peerAttr(peer, tid)], cred, { tid }).bytes;
      expect(replies(engine.handleStun(ctx, bytes, T0))[0]!.cls).toBe(MessageClass.SuccessResponse);
    }
  });
});

describe('request size', () => {
  it('answers a request larger than the cap with 400 before any key is derived or checked', () => {
    const { engine, client, lookups } = setup({}, { maxRequestBytes: 1024 });
    const ctx = client();
    const cred = user('alice');
    cred.nonce = textAttr(
      replies(engine.handleStun(ctx, request(Method.Allocate, []).bytes, T0))[0]!,
      Attr.Nonce,
    );
    const padding: [number, Uint8Array] = [0x8022, new Uint8Array(60_000)]; // SOFTWARE, optional
    const big = request(Method.Allocate, [transportUdp(), padding], cred).bytes;
    const actions = engine.handleStun(ctx, big, T0);
    expect(lookups.count).toBe(0);
    expect(errorCodeOf(replies(actions)[0]!)).toBe(400);
    expect(engine.refusals.requestTooLarge).toBe(1);
  });
});

describe('unauthenticated answers', () => {
  it('challenge with ERROR-CODE, REALM and NONCE only (RFC 8489 §9.2.4): no reason phrase, no SOFTWARE', () => {
    const { engine, client } = setup({ software: 'relay-backbone/0.1.0' });
    const bare = request(Method.Allocate, []).bytes;
    expect(bare.length).toBe(20);
    const actions = engine.handleStun(client(), bare, T0);
    const bytes = (actions[0] as Extract<TurnAction, { type: 'reply' }>).bytes;
    const reply = decoded(bytes);
    expect(errorCodeOf(reply)).toBe(401);
    expect(textAttr(reply, Attr.Realm)).toBe(REALM);
    expect(textAttr(reply, Attr.Nonce)).toBeDefined();
    expect(findAttribute(reply, Attr.Software)).toBeUndefined();
    // header 20 + ERROR-CODE 8 + REALM 4+12 + NONCE 4+28
    expect(bytes.length).toBe(76);
  });

  it('are rate-limited per source address; other sources are still answered', () => {
    const { engine, client } = setup({
      unauthenticatedLimit: { ratePerSecond: 5, burst: 10, capacity: 100 },
    });
    const flood = client('127.0.0.66');
    let answered = 0;
    for (let i = 0; i < 100; i++)
      answered += engine.handleStun(flood, request(Method.Allocate, []).bytes, T0).length;
    expect(answered).toBe(10);
    expect(engine.refusals.unauthenticatedRateLimited).toBe(90);
    expect(engine.handleStun(client('127.0.0.67'), request(Method.Allocate, []).bytes, T0)).toHaveLength(1);
    let later = 0;
    for (let i = 0; i < 100; i++)
      later += engine.handleStun(flood, request(Method.Binding, []).bytes, T0 + 1000).length;
    expect(later).toBe(5);
  });

  it('do not limit authenticated requests from the same source', () => {
    const { engine, client } = setup({ unauthenticatedLimit: { ratePerSecond: 1, burst: 2, capacity: 100 } });
    const ctx = client();
    const cred = user('alice');
    expect(allocate(engine, ctx, cred).code).toBe(0);
    for (let i = 0; i < 20; i++) {
      const [reply] = replies(ask(engine, ctx, Method.Refresh, [lifetime(600)], cred));
      expect(reply?.cls).toBe(MessageClass.SuccessResponse);
    }
  });
});

describe('nonces', () => {
  it('are bound to the client address: a nonce used from another address gets 438 and a new one', () => {
    const { engine, client } = setup();
    const here = client('127.0.0.1');
    const cred = user('alice');
    cred.nonce = textAttr(
      replies(engine.handleStun(here, request(Method.Allocate, []).bytes, T0))[0]!,
      Attr.Nonce,
    );
    const there = client('127.0.0.2');
    const [reply] = replies(
      engine.handleStun(there, request(Method.Allocate, [transportUdp()], cred).bytes, T0),
    );
    expect(errorCodeOf(reply!)).toBe(438);
    const fresh = textAttr(reply!, Attr.Nonce);
    expect(fresh).not.toBe(cred.nonce);
    cred.nonce = fresh;
    const again = engine.handleStun(there, request(Method.Allocate, [transportUdp()], cred).bytes, T0);
    expect(again.some((a) => a.type === 'bind-relay')).toBe(true);
  });

  it('check the address, the time and the MAC', () => {
    const n = createNonceManager(new Uint8Array(32).fill(1), 600_000, stunCrypto);
    const nonce = n.issue(T0, '192.0.2.1');
    expect(n.check(nonce, T0 + 599_000, '192.0.2.1')).toBe('ok');
    expect(n.check(nonce, T0 + 601_000, '192.0.2.1')).toBe('stale');
    expect(n.check(nonce, T0, '192.0.2.2')).toBe('invalid');
    expect(n.check(`${nonce.slice(0, -1)}0`, T0, '192.0.2.1')).not.toBe('ok');
  });
});
