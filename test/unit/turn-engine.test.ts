import { describe, expect, it } from 'vitest';
import { stunCrypto } from '../../relay/platform-crypto.ts';
import type { TransportAddress } from '../../src/net/address.ts';
import { decodeAddress, decodeUnknownAttributes, encodeText } from '../../src/stun/attributes.ts';
import { channelDataLength, encodeChannelData } from '../../src/stun/channel-data.ts';
import { Attr, MessageClass, Method } from '../../src/stun/constants.ts';
import { checkIntegrity, encodeMessage, findAttribute } from '../../src/stun/message.ts';
import type { ClientContext } from '../../src/turn/allocation.ts';
import {
  type AttrList,
  type Credentials,
  channel,
  decoded,
  errorCodeOf,
  indication,
  lifetime,
  ltKey,
  peerAttr,
  request,
  textAttr,
  transportUdp,
  u32Attr,
  xorAddressAttr,
} from '../support/stun-builders.ts';
import { allocate, ask, peer, REALM, replies, restCred, setup, T0 } from '../support/turn-engine-harness.ts';

const alice = (): Credentials => ({ username: 'alice', password: 'pw', realm: REALM });

/** An Allocate that will authenticate: the first one's 401 gives `cred` its nonce. Not sent. */
function authenticatedAllocate(
  engine: ReturnType<typeof setup>['engine'],
  ctx: ClientContext,
  cred: Credentials,
) {
  ask(engine, ctx, Method.Binding, [], cred);
  const first = engine.handleStun(ctx, request(Method.Allocate, [transportUdp()], cred).bytes, T0);
  expect(errorCodeOf(replies(first)[0]!)).toBe(401);
  cred.nonce = textAttr(replies(first)[0]!, Attr.Nonce);
  return request(Method.Allocate, [transportUdp()], cred);
}

describe('Binding', () => {
  it('answers a Binding request with the client address, without authentication', () => {
    const { engine, client } = setup();
    const ctx = client();
    const [reply] = replies(engine.handleStun(ctx, request(Method.Binding, []).bytes, T0));
    expect(reply!.cls).toBe(MessageClass.SuccessResponse);
    expect(xorAddressAttr(reply!, Attr.XorMappedAddress)).toEqual(ctx.client);
  });
});

describe('Allocate', () => {
  it('challenges an unauthenticated Allocate with 401, REALM and NONCE, then allocates', () => {
    const { engine, client } = setup();
    const ctx = client();
    const [challenge] = replies(engine.handleStun(ctx, request(Method.Allocate, [transportUdp()]).bytes, T0));
    expect(errorCodeOf(challenge!)).toBe(401);
    expect(textAttr(challenge!, Attr.Realm)).toBe(REALM);
    expect(textAttr(challenge!, Attr.Nonce)).toMatch(/^[0-9a-f]{28}$/);

    const cred = alice();
    const { reply, relayed } = allocate(engine, ctx, cred);
    expect(reply!.cls).toBe(MessageClass.SuccessResponse);
    expect(xorAddressAttr(reply!, Attr.XorRelayedAddress)).toEqual(relayed);
    expect(xorAddressAttr(reply!, Attr.XorMappedAddress)).toEqual(ctx.client);
    expect(u32Attr(reply!, Attr.Lifetime)).toBe(600);
    expect(checkIntegrity(reply!, ltKey(cred), stunCrypto)).toBe(true);
    expect(engine.allocationCount).toBe(1);
  });

  it('answers a retransmitted Allocate with the same bytes, and a new one on the same 5-tuple with 437', () => {
    const { engine, client } = setup();
    const ctx = client();
    const cred = alice();
    const req = authenticatedAllocate(engine, ctx, cred);
    const actions = engine.handleStun(ctx, req.bytes, T0);
    const bind = actions.find((a) => a.type === 'bind-relay')!;
    // Retransmitted while the relayed socket is being bound: no second socket, no answer yet.
    expect(engine.handleStun(ctx, req.bytes, T0 + 100)).toEqual([]);
    const relayed = { family: 4 as const, address: '127.0.0.1', port: 50001 };
    const done = engine.relayBound(bind.allocation, { relayed, advertised: relayed, shell: {} }, T0 + 200);
    const again = engine.handleStun(ctx, req.bytes, T0 + 1500);
    expect(again).toHaveLength(1);
    expect(again[0]).toEqual(done[0]);
    const other = replies(ask(engine, ctx, Method.Allocate, [transportUdp()], cred, T0 + 2000));
    expect(errorCodeOf(other[0]!)).toBe(437);
  });

  it('answers an Allocate from its own copy: the shell may reuse the request bytes before the socket is bound', () => {
    // With native I/O a request is a view of the addon's receive area, which the next batch of
    // datagrams overwrites; the relayed socket is bound asynchronously, after that batch.
    const { engine, client } = setup();
    const ctx = client();
    const cred = alice();
    const req = authenticatedAllocate(engine, ctx, cred);
    const area = Uint8Array.from(req.bytes);
    const bind = engine.handleStun(ctx, area, T0).find((a) => a.type === 'bind-relay')!;
    area.fill(0xa5);
    const relayed = { family: 4 as const, address: '127.0.0.1', port: 50001 };
    const [reply] = replies(
      engine.relayBound(bind.allocation, { relayed, advertised: relayed, shell: {} }, T0 + 200),
    );
    expect(reply!.cls).toBe(MessageClass.SuccessResponse);
    expect(reply!.method).toBe(Method.Allocate);
    expect(reply!.transactionId).toEqual(decoded(req.bytes).transactionId);
    expect(xorAddressAttr(reply!, Attr.XorRelayedAddress)).toEqual(relayed);
    expect(checkIntegrity(reply!, ltKey(cred), stunCrypto)).toBe(true);
    // A retransmission of the same request is answered from the cache, under the same id.
    expect(engine.handleStun(ctx, req.bytes, T0 + 1500)).toHaveLength(1);
  });

  it.each([
    ['no REQUESTED-TRANSPORT', [] as AttrList, 400],
    [
      'TCP as REQUESTED-TRANSPORT',
      [[Attr.RequestedTransport, new Uint8Array([6, 0, 0, 0])]] as AttrList,
      442,
    ],
    [
      'DONT-FRAGMENT, which the relay cannot honour',
      [transportUdp(), [Attr.DontFragment, new Uint8Array(0)]] as AttrList,
      420,
    ],
    [
      'RESERVATION-TOKEN together with EVEN-PORT',
      [
        transportUdp(),
        [Attr.ReservationToken, new Uint8Array(8)],
        [Attr.EvenPort, new Uint8Array([0])],
      ] as AttrList,
      400,
    ],
    [
      'an IPv6 relay on an IPv4-only relay',
      [transportUdp(), [Attr.RequestedAddressFamily, new Uint8Array([2, 0, 0, 0])]] as AttrList,
      440,
    ],
    [
      'address family 3',
      [transportUdp(), [Attr.RequestedAddressFamily, new Uint8Array([3, 0, 0, 0])]] as AttrList,
      440,
    ],
    [
      'an unknown comprehension-required attribute',
      [transportUdp(), [0x0033, new Uint8Array(4)]] as AttrList,
      420,
    ],
  ])('refuses an Allocate with %s (%i)', (_name, attrs, code) => {
    const { engine, client } = setup();
    const [reply] = replies(ask(engine, client(), Method.Allocate, attrs, alice()));
    expect(errorCodeOf(reply!)).toBe(code);
    expect(engine.allocationCount).toBe(0);
  });

  it('asks the shell to reserve the next port for EVEN-PORT with R, and returns its token', () => {
    const { engine, client } = setup();
    const actions = ask(
      engine,
      client(),
      Method.Allocate,
      [transportUdp(), [Attr.EvenPort, new Uint8Array([0x80])]],
      alice(),
    );
    const bind = actions.find((a) => a.type === 'bind-relay')!;
    expect(bind).toMatchObject({ evenPort: true, reserveNext: true, reservationToken: undefined });
    const token = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const relayed = { family: 4 as const, address: '127.0.0.1', port: 50000 };
    const [reply] = replies(
      engine.relayBound(
        bind.allocation,
        { relayed, advertised: relayed, shell: {}, reservationToken: token },
        T0,
      ),
    );
    expect(findAttribute(reply!, Attr.ReservationToken)?.value).toEqual(token);
  });

  it('passes a held RESERVATION-TOKEN to the shell, and answers 508 when the shell lost its port', () => {
    const { engine, client } = setup();
    const token = new Uint8Array(8).fill(9);
    const first = ask(
      engine,
      client(),
      Method.Allocate,
      [transportUdp(), [Attr.EvenPort, new Uint8Array([0x80])]],
      alice(),
    );
    const held = first.find((a) => a.type === 'bind-relay')!;
    const relayed = { family: 4 as const, address: '127.0.0.1', port: 50000 };
    engine.relayBound(
      held.allocation,
      { relayed, advertised: relayed, shell: {}, reservationToken: token },
      T0,
    );
    const actions = ask(
      engine,
      client(),
      Method.Allocate,
      [transportUdp(), [Attr.ReservationToken, token]],
      alice(),
    );
    const bind = actions.find((a) => a.type === 'bind-relay')!;
    expect(bind).toMatchObject({ reservationToken: token });
    expect(errorCodeOf(replies(engine.relayBindFailed(bind.allocation, T0))[0]!)).toBe(508);
  });

  it('lists the unknown attributes in a 420', () => {
    const { engine, client } = setup();
    const [reply] = replies(
      ask(engine, client(), Method.Allocate, [transportUdp(), [0x0033, new Uint8Array(4)]], alice()),
    );
    const list = decodeUnknownAttributes(findAttribute(reply!, Attr.UnknownAttributes)!.value);
    expect(list).toEqual({ ok: true, value: [0x0033] });
  });

  it('ignores unknown comprehension-optional attributes', () => {
    const { engine, client } = setup();
    const { reply } = allocate(engine, client(), alice(), T0, [[0x8077, new Uint8Array(4)]]);
    expect(reply!.cls).toBe(MessageClass.SuccessResponse);
  });

  it.each([
    [10, 600],
    [1200, 1200],
    [100_000, 3600],
  ])('grants a requested lifetime of %i s as %i s', (asked, granted) => {
    const { engine, client } = setup();
    const { reply } = allocate(engine, client(), alice(), T0, [lifetime(asked)]);
    expect(u32Attr(reply!, Attr.Lifetime)).toBe(granted);
  });

  it('caps allocations per user (486) and per relay (508)', () => {
    const { engine, client } = setup({}, { userQuota: 1, maxAllocations: 2 });
    expect(allocate(engine, client(), alice()).reply!.cls).toBe(MessageClass.SuccessResponse);
    expect(errorCodeOf(allocate(engine, client(), alice()).reply!)).toBe(486);
    const rest = restCred('new-secret', T0 / 1000 + 3600);
    expect(allocate(engine, client(), rest).reply!.cls).toBe(MessageClass.SuccessResponse);
    const rest2 = restCred('new-secret', T0 / 1000 + 3600, 'bob');
    expect(errorCodeOf(allocate(engine, client(), rest2).reply!)).toBe(508);
  });

  it('answers 300 with ALTERNATE-SERVER while draining, or 508 without an alternate', () => {
    const { engine, client } = setup();
    engine.drain({ family: 4, address: '192.0.2.7', port: 3478 });
    const { reply } = allocate(engine, client(), alice());
    expect(errorCodeOf(reply!)).toBe(300);
    expect(decodeAddress(findAttribute(reply!, Attr.AlternateServer)!.value)).toEqual({
      ok: true,
      value: { family: 4, address: '192.0.2.7', port: 3478 },
    });
    const other = setup();
    other.engine.drain();
    expect(errorCodeOf(allocate(other.engine, other.client(), alice()).reply!)).toBe(508);
  });

  it('answers 508 when no relayed port could be bound, and frees the quota', () => {
    const { engine, client } = setup({}, { userQuota: 1 });
    const ctx = client();
    const actions = ask(engine, ctx, Method.Allocate, [transportUdp()], alice());
    const bind = actions.find((a) => a.type === 'bind-relay')!;
    const [reply] = replies(engine.relayBindFailed(bind.allocation, T0));
    expect(errorCodeOf(reply!)).toBe(508);
    expect(engine.allocationCount).toBe(0);
    expect(allocate(engine, client(), alice()).reply!.cls).toBe(MessageClass.SuccessResponse);
  });
});

describe('authentication', () => {
  it.each([
    ['a wrong password', { username: 'alice', password: 'nope', realm: REALM }, 401],
    ['an unknown user', { username: 'mallory', password: 'pw', realm: REALM }, 401],
    ['another realm', { username: 'alice', password: 'pw', realm: 'elsewhere' }, 401],
    ['an expired REST username', restCred('new-secret', T0 / 1000 - 1), 401],
    ['a REST username signed with an unknown secret', restCred('forged', T0 / 1000 + 60), 401],
  ])('refuses %s with %i and never allocates', (_name, cred, code) => {
    const { engine, client } = setup();
    const ctx = client();
    const { reply } = allocate(engine, ctx, { ...cred });
    expect(errorCodeOf(reply!)).toBe(code);
    expect(engine.allocationCount).toBe(0);
  });

  it('accepts REST credentials from both the old and the new secret during rotation', () => {
    const { engine, client } = setup();
    for (const secret of ['old-secret', 'new-secret']) {
      const { reply } = allocate(engine, client(), restCred(secret, T0 / 1000 + 600));
      expect(reply!.cls).toBe(MessageClass.SuccessResponse);
    }
  });

  it('answers a stale nonce with 438 and a fresh nonce', () => {
    const { engine, client } = setup();
    const cred = alice();
    allocate(engine, client(), cred);
    const later = T0 + 3_600_001;
    const [reply] = replies(
      engine.handleStun(client(), request(Method.Allocate, [transportUdp()], cred).bytes, later),
    );
    expect(errorCodeOf(reply!)).toBe(438);
    expect(textAttr(reply!, Attr.Nonce)).not.toBe(cred.nonce);
  });

  it('answers a forged nonce with 438', () => {
    const { engine, client } = setup();
    const cred = { ...alice(), nonce: '0000000000000000000000000000' };
    const [reply] = replies(
      engine.handleStun(client(), request(Method.Allocate, [transportUdp()], cred).bytes, T0),
    );
    expect(errorCodeOf(reply!)).toBe(438);
  });

  it('answers 400 when MESSAGE-INTEGRITY comes without REALM and NONCE', () => {
    const { engine, client } = setup();
    const tid = new Uint8Array(12).fill(6);
    const bytes = encodeMessage(
      Method.Allocate,
      MessageClass.Request,
      tid,
      [transportUdp(), [Attr.Username, encodeText('alice')]],
      { integrityKey: ltKey(alice()), crypto: stunCrypto },
    );
    const [reply] = replies(engine.handleStun(client(), bytes, T0));
    expect(errorCodeOf(reply!)).toBe(400);
  });

  it('answers 441 when a request on an allocation uses other credentials', () => {
    const { engine, client } = setup();
    const ctx = client();
    allocate(engine, ctx, alice());
    const [reply] = replies(ask(engine, ctx, Method.Refresh, [], restCred('new-secret', T0 / 1000 + 60)));
    expect(errorCodeOf(reply!)).toBe(441);
  });
});

describe('Refresh', () => {
  it('extends the lifetime, and Refresh(0) ends the allocation and releases its socket', () => {
    const { engine, client } = setup();
    const ctx = client();
    const cred = alice();
    const { allocation } = allocate(engine, ctx, cred);
    const [ok] = replies(ask(engine, ctx, Method.Refresh, [lifetime(1800)], cred, T0 + 1000));
    expect(u32Attr(ok!, Attr.Lifetime)).toBe(1800);
    expect(allocation!.expiresAt).toBe(T0 + 1000 + 1_800_000);

    const zero = ask(engine, ctx, Method.Refresh, [lifetime(0)], cred, T0 + 2000);
    expect(u32Attr(replies(zero)[0]!, Attr.Lifetime)).toBe(0);
    expect(zero.find((a) => a.type === 'release-relay')).toMatchObject({ reason: 'refresh-zero' });
    expect(engine.allocationCount).toBe(0);
  });

  it('answers 437 without an allocation and 443 for another address family', () => {
    const { engine, client } = setup();
    const ctx = client();
    const cred = alice();
    expect(errorCodeOf(replies(ask(engine, ctx, Method.Refresh, [], cred))[0]!)).toBe(437);
    allocate(engine, ctx, cred);
    const fam: AttrList = [[Attr.RequestedAddressFamily, new Uint8Array([2, 0, 0, 0])]];
    expect(errorCodeOf(replies(ask(engine, ctx, Method.Refresh, fam, cred))[0]!)).toBe(443);
  });
});

describe('permissions and data', () => {
  function active() {
    const s = setup();
    const ctx = s.client();
    const cred = alice();
    const r = allocate(s.engine, ctx, cred);
    return { ...s, ctx, cred, alloc: r.allocation! };
  }

  it('drops data from a peer without a permission, and relays it as a Data indication with one', () => {
    const { engine, ctx, cred, alloc } = active();
    const data = new Uint8Array([1, 2, 3]);
    expect(engine.fromPeer(alloc, peer.address, peer.port, data, T0)).toBeUndefined();
    const tid = new Uint8Array(12).fill(1);
    const [ok] = replies(
      engine.handleStun(
        ctx,
        request(Method.CreatePermission, [peerAttr(peer, tid)], cred, { tid }).bytes,
        T0,
      ),
    );
    expect(ok!.cls).toBe(MessageClass.SuccessResponse);
    const out = engine.fromPeer(alloc, peer.address, peer.port, data, T0 + 1);
    const msg = decoded(out!);
    expect([msg.method, msg.cls]).toEqual([Method.Data, MessageClass.Indication]);
    expect(xorAddressAttr(msg, Attr.XorPeerAddress)).toEqual(peer);
    expect(findAttribute(msg, Attr.Data)!.value).toEqual(data);
    // Permissions are per IP (RFC 8656 §9): another port of the same IP passes too.
    const firstTid = Buffer.from(msg.transactionId).toString('hex');
    const next = engine.fromPeer(alloc, peer.address, 9999, data, T0 + 2);
    expect(next).toBeDefined();
    // Each Data indication has its own transaction id, and the first keeps its own after the second.
    expect(Buffer.from(decoded(next!).transactionId).toString('hex')).not.toBe(firstTid);
    expect(Buffer.from(decoded(out!).transactionId).toString('hex')).toBe(firstTid);
    expect(xorAddressAttr(decoded(out!), Attr.XorPeerAddress)).toEqual(peer);
    // ... and expire after 300 s.
    engine.tick(T0 + 300_001);
    expect(engine.fromPeer(alloc, peer.address, peer.port, data, T0 + 300_001)).toBeUndefined();
  });

  it.each([
    ['no XOR-PEER-ADDRESS', () => [] as AttrList, 400],
    [
      'a private peer',
      (tid: Uint8Array) => [peerAttr({ family: 4, address: '10.1.2.3', port: 1 }, tid)],
      403,
    ],
    [
      'a multicast peer',
      (tid: Uint8Array) => [peerAttr({ family: 4, address: '224.0.0.1', port: 1 }, tid)],
      403,
    ],
    [
      'an IPv6 peer on an IPv4 relay',
      (tid: Uint8Array) => [peerAttr({ family: 6, address: '2001:4860::1', port: 1 }, tid)],
      443,
    ],
  ])('refuses CreatePermission with %s (%i)', (_name, attrs, code) => {
    const { engine, ctx, cred } = active();
    const tid = new Uint8Array(12).fill(2);
    const [reply] = replies(
      engine.handleStun(ctx, request(Method.CreatePermission, attrs(tid), cred, { tid }).bytes, T0),
    );
    expect(errorCodeOf(reply!)).toBe(code);
  });

  it('relays a Send indication only to a permitted peer', () => {
    const { engine, ctx, cred } = active();
    const send = (n: number) => {
      const tid = new Uint8Array(12).fill(n);
      return engine.handleStun(
        ctx,
        indication(Method.Send, [peerAttr(peer, tid), [Attr.Data, new Uint8Array([7])]], tid),
        T0,
      );
    };
    expect(send(1)).toEqual([]);
    expect(engine.drops.noPermission).toBe(1);
    const tid = new Uint8Array(12).fill(3);
    engine.handleStun(ctx, request(Method.CreatePermission, [peerAttr(peer, tid)], cred, { tid }).bytes, T0);
    expect(send(2)).toMatchObject([{ type: 'to-peer', peer, data: new Uint8Array([7]) }]);
  });

  it('takes a Send indication from the allocation the shell found, with the same checks', () => {
    const { engine, cred, ctx, alloc } = active();
    const send = (
      n: number,
      attrs = [peerAttr(peer, new Uint8Array(12).fill(n)), [Attr.Data, new Uint8Array([7])]],
    ) =>
      engine.sendFromAllocation(
        alloc,
        indication(Method.Send, attrs as Parameters<typeof indication>[1], new Uint8Array(12).fill(n)),
        T0,
      );
    expect(send(1)).toBeUndefined();
    expect(engine.drops.noPermission).toBe(1);
    const tid = new Uint8Array(12).fill(3);
    engine.handleStun(ctx, request(Method.CreatePermission, [peerAttr(peer, tid)], cred, { tid }).bytes, T0);
    expect(send(2)).toEqual({ peer, data: new Uint8Array([7]) });
    // No DATA: malformed, counted, nothing sent.
    expect(send(4, [peerAttr(peer, new Uint8Array(12).fill(4))])).toBeUndefined();
    expect(engine.drops.malformed).toBe(1);
    expect(engine.sendFromAllocation(alloc, new Uint8Array([0, 0x16, 0, 0]), T0)).toBeUndefined();
    expect(engine.drops.malformed).toBe(2);
  });

  it('binds a channel, carries ChannelData both ways, and refuses conflicting bindings', () => {
    const { engine, ctx, cred, alloc } = active();
    let n = 0;
    const bind = (ch: number, p: TransportAddress) => {
      const tid = new Uint8Array(12).fill(++n);
      const r = request(Method.ChannelBind, [channel(ch), peerAttr(p, tid)], cred, { tid });
      return replies(engine.handleStun(ctx, r.bytes, T0))[0]!;
    };
    expect(bind(0x4000, peer).cls).toBe(MessageClass.SuccessResponse);
    const frame = encodeChannelData(0x4000, new Uint8Array([5, 6]), false);
    const binding = engine.channelFromClient(ctx.key, frame, T0 + 1);
    expect(binding?.peer).toEqual(peer);
    expect(channelDataLength(frame)).toBe(2);
    const back = engine.fromPeer(alloc, peer.address, peer.port, new Uint8Array([8]), T0 + 2);
    expect(back).toEqual(new Uint8Array([0x40, 0x00, 0x00, 0x01, 8]));
    // The engine counts what it relayed on the allocation, which shows the counts read-only.
    expect(alloc.traffic).toEqual({ packetsToPeer: 1, bytesToPeer: 2, packetsToClient: 1, bytesToClient: 1 });

    expect(errorCodeOf(bind(0x4000, { ...peer, port: 6000 }))).toBe(400);
    expect(errorCodeOf(bind(0x4001, peer))).toBe(400);
    expect(errorCodeOf(bind(0x3fff, { ...peer, port: 7000 }))).toBe(400);
    expect(errorCodeOf(bind(0x8000, { ...peer, port: 7000 }))).toBe(400);
    // Rebinding the same pair refreshes it.
    expect(bind(0x4000, peer).cls).toBe(MessageClass.SuccessResponse);
    expect(
      engine.channelFromClient(ctx.key, encodeChannelData(0x4001, new Uint8Array(1), false), T0),
    ).toBeUndefined();
    expect(engine.drops.noChannel).toBe(1);
  });

  it('pads ChannelData to the client over TCP', () => {
    const s = setup();
    const ctx = s.client('tcp');
    const cred = alice();
    const { allocation } = allocate(s.engine, ctx, cred);
    const tid = new Uint8Array(12).fill(4);
    s.engine.handleStun(
      ctx,
      request(Method.ChannelBind, [channel(0x4abc), peerAttr(peer, tid)], cred, { tid }).bytes,
      T0,
    );
    const out = s.engine.fromPeer(allocation!, peer.address, peer.port, new Uint8Array([1]), T0);
    expect(out).toEqual(new Uint8Array([0x4a, 0xbc, 0, 1, 1, 0, 0, 0]));
  });

  it('cuts an allocation that sends above its packet rate', () => {
    const s = setup({}, { allocPps: 10 });
    const ctx = s.client();
    const cred = alice();
    allocate(s.engine, ctx, cred);
    const tid = new Uint8Array(12).fill(5);
    s.engine.handleStun(
      ctx,
      request(Method.ChannelBind, [channel(0x4000), peerAttr(peer, tid)], cred, { tid }).bytes,
      T0,
    );
    const frame = encodeChannelData(0x4000, new Uint8Array(10), false);
    let passed = 0;
    for (let i = 0; i < 50; i++) if (s.engine.channelFromClient(ctx.key, frame, T0 + 1)) passed++;
    expect(passed).toBe(10);
    expect(s.engine.drops.rateLimited).toBe(40);
    // A second later the bucket has refilled.
    expect(s.engine.channelFromClient(ctx.key, frame, T0 + 1001)).toBeDefined();
  });
});

describe('expiry', () => {
  it('ends an allocation when its lifetime passes and releases its relayed socket', () => {
    const { engine, client } = setup();
    const { allocation } = allocate(engine, client(), alice());
    expect(engine.tick(T0 + 599_000)).toEqual([]);
    const actions = engine.tick(T0 + 600_000);
    expect(actions).toEqual([{ type: 'release-relay', allocation, shell: {}, reason: 'expired' }]);
    expect(engine.allocationCount).toBe(0);
  });

  it('ends the allocation of a stream client whose connection closed', () => {
    const { engine, client } = setup();
    const ctx = client('tcp');
    allocate(engine, ctx, alice());
    expect(engine.clientClosed(ctx.key, T0)).toMatchObject([
      { type: 'release-relay', reason: 'client-closed' },
    ]);
  });

  it("hands the shell's socket state back in release-relay, once, and keeps it only while the allocation lives", () => {
    const { engine, client } = setup();
    const ctx = client('tcp');
    const actions = ask(engine, ctx, Method.Allocate, [transportUdp()], alice());
    const bind = actions.find((a) => a.type === 'bind-relay')!;
    const relayed = { family: 4 as const, address: '127.0.0.1', port: 50000 };
    const socket = { name: 'relayed socket' };
    engine.relayBound(bind.allocation, { relayed, advertised: relayed, shell: socket }, T0);
    expect(bind.allocation.shell).toBe(socket);
    const [release] = engine.clientClosed(ctx.key, T0);
    expect(release).toMatchObject({ type: 'release-relay', reason: 'client-closed' });
    expect(release?.type === 'release-relay' && release.shell).toBe(socket);
    expect(bind.allocation.shell).toBeUndefined();
    expect(engine.end(bind.allocation, 'shutdown', T0)).toEqual([]);
  });

  it('releases the socket of an allocation that ended while its socket was being bound', () => {
    const { engine, client } = setup();
    const ctx = client('tcp');
    const actions = ask(engine, ctx, Method.Allocate, [transportUdp()], alice());
    const bind = actions.find((a) => a.type === 'bind-relay')!;
    expect(engine.clientClosed(ctx.key, T0)).toEqual([]);
    const relayed = { family: 4 as const, address: '127.0.0.1', port: 50000 };
    expect(engine.relayBound(bind.allocation, { relayed, advertised: relayed, shell: {} }, T0)).toMatchObject(
      [{ type: 'release-relay' }],
    );
  });
});

describe('garbage', () => {
  it('drops malformed messages and messages with a bad FINGERPRINT without answering', () => {
    const { engine, client } = setup();
    const ctx = client();
    expect(engine.handleStun(ctx, new Uint8Array([0, 1, 0, 0]), T0)).toEqual([]);
    const good = request(Method.Binding, [], undefined, { fingerprint: true }).bytes;
    good[good.length - 1]! ^= 0xff;
    expect(engine.handleStun(ctx, good, T0)).toEqual([]);
    expect(engine.drops.malformed).toBe(2);
  });

  it('answers an unknown method with 400', () => {
    const { engine, client } = setup();
    const [reply] = replies(engine.handleStun(client(), request(0x00b, []).bytes, T0));
    expect(errorCodeOf(reply!)).toBe(400);
  });
});
