/**
 * The pure checks of TURN requests (src/turn/request-checks.ts): tables of requests, each with the
 * exact refusal (code and reason) or what it asks for. The engine's tests cover the same requests
 * end to end; these pin the reasons the hooks and logs report.
 */
import { describe, expect, it } from 'vitest';
import type { TransportAddress } from '../../src/net/address.ts';
import { parseCidr } from '../../src/net/cidr.ts';
import { createPeerPolicy } from '../../src/net/peer-policy.ts';
import { Attr, ErrorCode, Method } from '../../src/stun/constants.ts';
import type { StunMessage } from '../../src/stun/message.ts';
import { bindChannel, peerEntry } from '../../src/turn/allocation.ts';
import { AllocationBook } from '../../src/turn/allocation-book.ts';
import type { TurnLifetimes } from '../../src/turn/engine-options.ts';
import {
  type PeerRules,
  readAllocate,
  readChannelBind,
  readLifetime,
  readPermissionPeers,
  readRefresh,
} from '../../src/turn/request-checks.ts';
import { allocationFields, T0 } from '../support/allocation-fields.ts';
import {
  type AttrList,
  channel,
  decoded,
  lifetime,
  peerAttr,
  request,
  transportUdp,
} from '../support/stun-builders.ts';

const TID = new Uint8Array(12).fill(4);
const LIFETIMES: TurnLifetimes = {
  defaultAllocation: 600,
  maxAllocation: 3600,
  permission: 300,
  channel: 600,
  maxAllocationAge: 86_400,
};
const loopback = parseCidr('127.0.0.0/8');
if (!loopback.ok) throw new Error(loopback.error);
const RULES: PeerRules = {
  policy: createPeerPolicy({ allow: [loopback.value] }),
  maxPeers: 2,
  maxChannels: 2,
};
const peer: TransportAddress = { family: 4, address: '127.0.0.9', port: 5000 };
const byte = (type: number, b: number): [number, Uint8Array] => [type, new Uint8Array([b, 0, 0, 0])];

function msg(method: number, attrs: AttrList): StunMessage {
  return decoded(request(method, attrs, undefined, { tid: TID }).bytes);
}

const allocation = () => new AllocationBook<null>().add(allocationFields('alice'));

const refusal = (code: number, reason?: string) =>
  reason === undefined ? { ok: false, code } : { ok: false, code, extra: { reason } };

describe('readAllocate', () => {
  const token: [number, Uint8Array] = [Attr.ReservationToken, new Uint8Array(8).fill(1)];
  const cases: [string, AttrList, object][] = [
    ['no REQUESTED-TRANSPORT', [], refusal(ErrorCode.BadRequest, 'no REQUESTED-TRANSPORT')],
    [
      'an empty REQUESTED-TRANSPORT',
      [[Attr.RequestedTransport, new Uint8Array(0)]],
      refusal(ErrorCode.BadRequest, 'bad REQUESTED-TRANSPORT'),
    ],
    [
      'TCP as the transport',
      [byte(Attr.RequestedTransport, 6)],
      refusal(ErrorCode.UnsupportedTransportProtocol),
    ],
    [
      'a token with EVEN-PORT',
      [transportUdp(), token, byte(Attr.EvenPort, 0)],
      refusal(ErrorCode.BadRequest, 'RESERVATION-TOKEN with EVEN-PORT or REQUESTED-ADDRESS-FAMILY'),
    ],
    [
      'a token of 4 bytes',
      [transportUdp(), [Attr.ReservationToken, new Uint8Array(4)]],
      refusal(ErrorCode.BadRequest, 'RESERVATION-TOKEN not 8 bytes'),
    ],
    [
      'an empty EVEN-PORT',
      [transportUdp(), [Attr.EvenPort, new Uint8Array(0)]],
      refusal(ErrorCode.BadRequest, 'bad EVEN-PORT'),
    ],
    ['address family 3', [transportUdp(), byte(Attr.RequestedAddressFamily, 3)], refusal(440)],
    ['IPv6 on an IPv4-only relay', [transportUdp(), byte(Attr.RequestedAddressFamily, 2)], refusal(440)],
  ];
  it.each(cases)('refuses %s', (_name, attrs, expected) => {
    expect(readAllocate(msg(Method.Allocate, attrs), 4, [4])).toEqual(expected);
  });

  it('reads EVEN-PORT with R, and a token on its own', () => {
    const even = readAllocate(msg(Method.Allocate, [transportUdp(), byte(Attr.EvenPort, 0x80)]), 4, [4]);
    expect(even).toEqual({ ok: true, family: 4, evenPort: true, reserveNext: true, token: undefined });
    const claim = readAllocate(msg(Method.Allocate, [transportUdp(), token]), 4, [4]);
    expect(claim).toMatchObject({ ok: true, evenPort: false, token: token[1] });
  });

  it('relays IPv6 clients over IPv6 only when the relay has no IPv4', () => {
    const plain = msg(Method.Allocate, [transportUdp()]);
    expect(readAllocate(plain, 6, [4, 6])).toMatchObject({ ok: true, family: 4 });
    expect(readAllocate(plain, 6, [6])).toMatchObject({ ok: true, family: 6 });
    expect(readAllocate(plain, 4, [6])).toEqual(refusal(440));
  });
});

describe('readLifetime and readRefresh', () => {
  it('raise a requested lifetime to the default and cap it at the maximum', () => {
    expect(readLifetime(msg(Method.Allocate, []), LIFETIMES)).toBe(600);
    expect(readLifetime(msg(Method.Allocate, [lifetime(30)]), LIFETIMES)).toBe(600);
    expect(readLifetime(msg(Method.Allocate, [lifetime(1200)]), LIFETIMES)).toBe(1200);
    expect(readLifetime(msg(Method.Allocate, [lifetime(99_999)]), LIFETIMES)).toBe(3600);
    expect(readLifetime(msg(Method.Allocate, [[Attr.Lifetime, new Uint8Array(2)]]), LIFETIMES)).toEqual(
      refusal(ErrorCode.BadRequest, 'bad LIFETIME'),
    );
  });

  it('read 0 on a Refresh as a deletion, and refuse another address family with 443', () => {
    const alloc = allocation();
    expect(readRefresh(msg(Method.Refresh, [lifetime(0)]), alloc, LIFETIMES)).toBe(0);
    expect(readRefresh(msg(Method.Refresh, [lifetime(30)]), alloc, LIFETIMES)).toBe(600);
    expect(
      readRefresh(msg(Method.Refresh, [byte(Attr.RequestedAddressFamily, 2)]), alloc, LIFETIMES),
    ).toEqual(refusal(ErrorCode.PeerAddressFamilyMismatch));
    expect(readRefresh(msg(Method.Refresh, [[Attr.Lifetime, new Uint8Array(0)]]), alloc, LIFETIMES)).toEqual(
      refusal(ErrorCode.BadRequest, 'bad LIFETIME'),
    );
  });
});

describe('readPermissionPeers', () => {
  it('returns every listed peer, or refuses them all for one bad peer', () => {
    const alloc = allocation();
    const other = { ...peer, address: '127.0.0.10' };
    const ok = readPermissionPeers(
      msg(Method.CreatePermission, [peerAttr(peer, TID), peerAttr(other, TID)]),
      alloc,
      RULES,
    );
    expect(ok).toEqual({ ok: true, peers: [peer, other] });
    const outside = { ...peer, address: '10.0.0.1' };
    const bad = msg(Method.CreatePermission, [peerAttr(peer, TID), peerAttr(outside, TID)]);
    expect(readPermissionPeers(bad, alloc, RULES)).toEqual(refusal(ErrorCode.Forbidden));
    expect(readPermissionPeers(msg(Method.CreatePermission, []), alloc, RULES)).toEqual(
      refusal(ErrorCode.BadRequest, 'no XOR-PEER-ADDRESS'),
    );
  });

  it('counts only new peers against the cap on peers', () => {
    const alloc = allocation();
    peerEntry(alloc, '127.0.0.2');
    peerEntry(alloc, '127.0.0.3');
    const known = { ...peer, address: '127.0.0.2' };
    expect(readPermissionPeers(msg(Method.CreatePermission, [peerAttr(known, TID)]), alloc, RULES).ok).toBe(
      true,
    );
    expect(readPermissionPeers(msg(Method.CreatePermission, [peerAttr(peer, TID)]), alloc, RULES)).toEqual(
      refusal(ErrorCode.InsufficientCapacity),
    );
  });
});

describe('readChannelBind', () => {
  const bind = (n: number, p: TransportAddress) => msg(Method.ChannelBind, [channel(n), peerAttr(p, TID)]);

  const cases: [string, AttrList, object][] = [
    ['no CHANNEL-NUMBER', [peerAttr(peer, TID)], refusal(400, 'CHANNEL-NUMBER or XOR-PEER-ADDRESS missing')],
    [
      'channel 0x3FFF',
      [channel(0x3fff), peerAttr(peer, TID)],
      refusal(400, 'channel number outside 0x4000-0x7FFF'),
    ],
    ['an IPv6 peer', [channel(0x4000), peerAttr({ family: 6, address: '::1', port: 1 }, TID)], refusal(443)],
  ];
  it.each(cases)('refuses %s', (_name, attrs, expected) => {
    expect(readChannelBind(msg(Method.ChannelBind, attrs), allocation(), RULES)).toEqual(expected);
  });

  it('keeps a channel to one peer and a peer to one channel, and refreshes the same pair', () => {
    const alloc = allocation();
    bindChannel(alloc, 0x4000, peer, T0 + 300_000, T0 + 600_000);
    expect(readChannelBind(bind(0x4000, peer), alloc, RULES)).toEqual({ ok: true, channel: 0x4000, peer });
    expect(readChannelBind(bind(0x4000, { ...peer, port: 6000 }), alloc, RULES)).toEqual(
      refusal(400, 'channel bound to another peer'),
    );
    expect(readChannelBind(bind(0x4001, peer), alloc, RULES)).toEqual(
      refusal(400, 'peer bound to another channel'),
    );
  });

  it('refuses a new channel past the cap on channels, and a new peer past the cap on peers', () => {
    const alloc = allocation();
    bindChannel(alloc, 0x4000, peer, T0 + 300_000, T0 + 600_000);
    bindChannel(alloc, 0x4001, { ...peer, port: 5001 }, T0 + 300_000, T0 + 600_000);
    expect(readChannelBind(bind(0x4002, { ...peer, port: 5002 }), alloc, RULES)).toEqual(
      refusal(508, 'channel limit reached'),
    );
    peerEntry(alloc, '127.0.0.2');
    expect(readChannelBind(bind(0x4002, { ...peer, address: '127.0.0.3' }), alloc, RULES)).toEqual(
      refusal(508),
    );
  });
});
