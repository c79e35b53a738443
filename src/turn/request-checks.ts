/**
 * The checks of TURN requests that depend only on the request, the allocation it is made on and
 * the configuration: what an Allocate, Refresh, CreatePermission or ChannelBind asks for, or the
 * refusal (error code and reason) it gets. Pure functions; the engine looks at its own state
 * (draining, quotas), changes it and answers. Imports no engine code.
 */
import type { IpFamily, TransportAddress } from '../net/address.ts';
import { parseIp } from '../net/ip.ts';
import type { PeerPolicy } from '../net/peer-policy.ts';
import {
  decodeChannelNumber,
  decodeEvenPort,
  decodeFirstByte,
  decodeU32,
  decodeXorAddress,
} from '../stun/attributes.ts';
import { isValidChannel } from '../stun/channel-data.ts';
import { Attr, ErrorCode, TransportProtocol } from '../stun/constants.ts';
import { findAttribute, type StunMessage } from '../stun/message.ts';
import type { Allocation } from './allocation.ts';
import type { TurnLifetimes } from './engine-options.ts';
import type { ErrorExtras } from './request-support.ts';

/** A request refused: the error code and what the answer carries beside it. */
export interface Refusal {
  readonly ok: false;
  readonly code: number;
  readonly extra?: ErrorExtras & { readonly reason?: string };
}

function refuse(code: number, reason?: string): Refusal {
  return reason === undefined ? { ok: false, code } : { ok: false, code, extra: { reason } };
}

/** What an Allocate asks for. */
export interface AllocateRequest {
  readonly ok: true;
  readonly family: IpFamily;
  /** RFC 8656 §7.2: an even port; with `reserveNext`, also hold the port above it. */
  readonly evenPort: boolean;
  readonly reserveNext: boolean;
  /** RFC 8656 §14.9: the 8-byte token of a port an earlier Allocate reserved. */
  readonly token: Uint8Array | undefined;
}

/**
 * RFC 8656 §7.2 rules 2-6: REQUESTED-TRANSPORT, EVEN-PORT, RESERVATION-TOKEN and
 * REQUESTED-ADDRESS-FAMILY, checked against the families this relay can bind. The family defaults
 * to IPv4, or IPv6 for an IPv6 client when the relay has no IPv4.
 */
export function readAllocate(
  msg: StunMessage,
  clientFamily: IpFamily,
  relayFamilies: readonly IpFamily[],
): AllocateRequest | Refusal {
  const transport = findAttribute(msg, Attr.RequestedTransport);
  if (!transport) return refuse(ErrorCode.BadRequest, 'no REQUESTED-TRANSPORT');
  const protocol = decodeFirstByte(transport.value);
  if (!protocol.ok) return refuse(ErrorCode.BadRequest, 'bad REQUESTED-TRANSPORT');
  if (protocol.value !== TransportProtocol.UDP) return refuse(ErrorCode.UnsupportedTransportProtocol);

  const familyAttr = findAttribute(msg, Attr.RequestedAddressFamily);
  const evenAttr = findAttribute(msg, Attr.EvenPort);
  const token = findAttribute(msg, Attr.ReservationToken);
  // RFC 8656 §7.2 rules 4-6: a token cannot come with EVEN-PORT or REQUESTED-ADDRESS-FAMILY.
  if (token && (evenAttr || familyAttr))
    return refuse(ErrorCode.BadRequest, 'RESERVATION-TOKEN with EVEN-PORT or REQUESTED-ADDRESS-FAMILY');
  if (token && token.value.length !== 8) return refuse(ErrorCode.BadRequest, 'RESERVATION-TOKEN not 8 bytes');
  let evenPort = false;
  let reserveNext = false;
  if (evenAttr) {
    const even = decodeEvenPort(evenAttr.value);
    if (!even.ok) return refuse(ErrorCode.BadRequest, 'bad EVEN-PORT');
    evenPort = true;
    reserveNext = even.value.reserveNext;
  }
  let family: IpFamily = clientFamily === 6 && !relayFamilies.includes(4) ? 6 : 4;
  if (familyAttr) {
    const fam = decodeFirstByte(familyAttr.value);
    if (!fam.ok || (fam.value !== 1 && fam.value !== 2)) return refuse(ErrorCode.AddressFamilyNotSupported);
    family = fam.value === 1 ? 4 : 6;
  }
  if (!relayFamilies.includes(family)) return refuse(ErrorCode.AddressFamilyNotSupported);
  return { ok: true, family, evenPort, reserveNext, token: token?.value };
}

/** RFC 8656 §7.2 rule 8: the requested lifetime (s), raised to the default and capped at the maximum. */
export function readLifetime(msg: StunMessage, lifetimes: TurnLifetimes): number | Refusal {
  const attr = findAttribute(msg, Attr.Lifetime);
  const { defaultAllocation, maxAllocation } = lifetimes;
  if (!attr) return defaultAllocation;
  const requested = decodeU32(attr.value);
  if (!requested.ok) return refuse(ErrorCode.BadRequest, 'bad LIFETIME');
  // On a Refresh 0 deletes the allocation (RFC 8656 §7.3): readRefresh looks for it first.
  return Math.min(Math.max(requested.value, defaultAllocation), maxAllocation);
}

/**
 * RFC 8656 §7.3: the lifetime (s) a Refresh on `alloc` asks for, 0 to delete the allocation.
 * A REQUESTED-ADDRESS-FAMILY must name the allocation's own family (443).
 */
export function readRefresh<H, S extends object>(
  msg: StunMessage,
  alloc: Allocation<H, S>,
  lifetimes: TurnLifetimes,
): number | Refusal {
  const familyAttr = findAttribute(msg, Attr.RequestedAddressFamily);
  if (familyAttr) {
    const fam = decodeFirstByte(familyAttr.value);
    if (!fam.ok || (fam.value === 1 ? 4 : 6) !== alloc.family)
      return refuse(ErrorCode.PeerAddressFamilyMismatch);
  }
  const lifetimeAttr = findAttribute(msg, Attr.Lifetime);
  const requested = lifetimeAttr ? decodeU32(lifetimeAttr.value) : undefined;
  if (requested?.ok && requested.value === 0) return 0;
  return readLifetime(msg, lifetimes);
}

/** Decode and vet an XOR-PEER-ADDRESS for `family`: 400, 443 or 403 when unusable. */
function readPeer(
  msg: StunMessage,
  value: Uint8Array,
  family: IpFamily,
  policy: PeerPolicy,
): TransportAddress | Refusal {
  const peer = decodeXorAddress(value, msg.transactionId);
  if (!peer.ok) return refuse(ErrorCode.BadRequest);
  if (peer.value.family !== family) return refuse(ErrorCode.PeerAddressFamilyMismatch);
  const ip = parseIp(peer.value.address);
  if (!ip || !policy.check(ip).allowed) return refuse(ErrorCode.Forbidden);
  return peer.value;
}

/** The caps a CreatePermission or ChannelBind is checked against. */
export interface PeerRules {
  readonly policy: PeerPolicy;
  readonly maxPeers: number;
  readonly maxChannels: number;
}

/**
 * RFC 8656 §9.1: the peers of a CreatePermission on `alloc`, all of them usable and within the
 * cap on peers, or the refusal of the whole request (all-or-nothing over the listed peers).
 */
export function readPermissionPeers<H, S extends object>(
  msg: StunMessage,
  alloc: Allocation<H, S>,
  rules: PeerRules,
): { readonly ok: true; readonly peers: TransportAddress[] } | Refusal {
  const peers: TransportAddress[] = [];
  for (const attr of msg.attributes) {
    if (attr.type !== Attr.XorPeerAddress) continue;
    const peer = readPeer(msg, attr.value, alloc.family, rules.policy);
    if ('ok' in peer) return peer;
    peers.push(peer);
  }
  if (peers.length === 0) return refuse(ErrorCode.BadRequest, 'no XOR-PEER-ADDRESS');
  const fresh = peers.filter((p) => !alloc.peers.has(p.address)).length;
  if (alloc.peers.size + fresh > rules.maxPeers) return refuse(ErrorCode.InsufficientCapacity);
  return { ok: true, peers };
}

/**
 * RFC 8656 §11.2: the channel and peer of a ChannelBind on `alloc`, or its refusal. A channel is
 * bound to one peer and a peer to one channel; a new peer or channel must fit under the caps.
 */
export function readChannelBind<H, S extends object>(
  msg: StunMessage,
  alloc: Allocation<H, S>,
  rules: PeerRules,
): { readonly ok: true; readonly channel: number; readonly peer: TransportAddress } | Refusal {
  const channelAttr = findAttribute(msg, Attr.ChannelNumber);
  const peerAttr = findAttribute(msg, Attr.XorPeerAddress);
  if (!channelAttr || !peerAttr)
    return refuse(ErrorCode.BadRequest, 'CHANNEL-NUMBER or XOR-PEER-ADDRESS missing');
  const channel = decodeChannelNumber(channelAttr.value);
  if (!channel.ok || !isValidChannel(channel.value))
    return refuse(ErrorCode.BadRequest, 'channel number outside 0x4000-0x7FFF');
  const peer = readPeer(msg, peerAttr.value, alloc.family, rules.policy);
  if ('ok' in peer) return peer;

  const byChannel = alloc.channels.get(channel.value);
  const entry = alloc.peers.get(peer.address);
  const byPeer = entry?.channelsByPort.get(peer.port);
  if (byChannel && (byChannel.peer.address !== peer.address || byChannel.peer.port !== peer.port))
    return refuse(ErrorCode.BadRequest, 'channel bound to another peer');
  if (byPeer && byPeer.channel !== channel.value)
    return refuse(ErrorCode.BadRequest, 'peer bound to another channel');
  if (!entry && alloc.peers.size >= rules.maxPeers) return refuse(ErrorCode.InsufficientCapacity);
  // Issue 12: a cap on channels per allocation, answered like the cap on peers above.
  if (!byChannel && alloc.channels.size >= rules.maxChannels)
    return refuse(ErrorCode.InsufficientCapacity, 'channel limit reached');
  return { ok: true, channel: channel.value, peer };
}
