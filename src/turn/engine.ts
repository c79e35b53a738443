/**
 * The TURN server state machine (RFC 8656 over RFC 8489). It takes decoded events (a STUN message
 * from a client, a relayed socket bound, a datagram from a peer, a tick of the clock) and returns
 * what the shell must do: reply to the client, bind or release a relayed socket, send to a peer.
 * It owns allocations, permissions, channels, authentication, quotas and the retransmission cache.
 * No sockets, no timers, no Date.now(): `now` (ms since the epoch) is always a parameter.
 */
import { copyBytes } from '../crypto/encoding.ts';
import type { IpFamily, TransportAddress } from '../net/address.ts';
import { parseIp } from '../net/ip.ts';
import type { PeerPolicy } from '../net/peer-policy.ts';
import {
  decodeChannelNumber,
  decodeEvenPort,
  decodeFirstByte,
  decodeU32,
  decodeXorAddress,
  encodeU32,
  encodeXorAddress,
} from '../stun/attributes.ts';
import { channelDataLength, encodeChannelData, isValidChannel } from '../stun/channel-data.ts';
import { Attr, ErrorCode, MessageClass, Method, TransportProtocol } from '../stun/constants.ts';
import { decodeMessage, encodeMessage, findAttribute, type StunMessage } from '../stun/message.ts';
import type { StunCrypto } from '../stun/stun-crypto.ts';
import {
  type Allocation,
  type ChannelBinding,
  type ClientContext,
  createAllocation,
  type EndReason,
  expirePeers,
  hasPermission,
  peerEntry,
} from './allocation.ts';
import type { Authenticator } from './auth.ts';
import type { NonceManager } from './nonce.ts';
import { allowPacket } from './rate-limit.ts';
import {
  type AuthOutcome,
  authenticate,
  type ErrorExtras,
  findUnknownAttributes,
  Responder,
} from './request-support.ts';

export interface TurnLifetimes {
  /** Seconds; RFC 8656 §7.2 default 600 and maximum 3600. */
  readonly defaultAllocation: number;
  readonly maxAllocation: number;
  /** Seconds; RFC 8656 §9: 300. */
  readonly permission: number;
  /** Seconds; RFC 8656 §12: 600. */
  readonly channel: number;
}

export interface TurnLimits {
  /** Relay-wide cap on allocations (508 past it). */
  readonly maxAllocations: number;
  /** Per-username cap (486 past it). */
  readonly userQuota: number;
  /** Per-allocation caps, each direction; 0 = unlimited. */
  readonly allocPps: number;
  readonly allocBps: number;
  readonly maxPeersPerAllocation: number;
}

export interface TurnHooks {
  allocationCreated?(alloc: Allocation, now: number): void;
  allocationEnded?(alloc: Allocation, reason: EndReason, now: number): void;
  requestFailed?(method: number, code: number, reason?: string): void;
  authFailed?(reason: string): void;
}

export interface TurnEngineOptions {
  readonly realm: string;
  readonly software?: string | undefined;
  readonly auth: Authenticator;
  readonly nonces: NonceManager;
  readonly peerPolicy: PeerPolicy;
  /** Address families for which this server can bind relayed sockets. */
  readonly relayFamilies: readonly IpFamily[];
  readonly lifetimes: TurnLifetimes;
  readonly limits: TurnLimits;
  readonly hooks?: TurnHooks;
  /** 12 random bytes chosen at start; transaction ids of Data indications count up from them. */
  readonly transactionSeed: Uint8Array;
  /** The platform's HMAC-SHA1 and CRC-32 for MESSAGE-INTEGRITY and FINGERPRINT (the shell's). */
  readonly crypto: StunCrypto;
}

export type TurnAction =
  | { readonly type: 'reply'; readonly client: ClientContext; readonly bytes: Uint8Array }
  | {
      readonly type: 'bind-relay';
      readonly allocation: Allocation;
      /** RFC 8656 §7.2: an even port; with `reserveNext`, also hold port+1 and hand back a token. */
      readonly evenPort: boolean;
      readonly reserveNext: boolean;
      /** RFC 8656 §14.9: use the port held under this token by an earlier Allocate. */
      readonly reservationToken: Uint8Array | undefined;
    }
  | { readonly type: 'release-relay'; readonly allocation: Allocation; readonly reason: EndReason }
  | {
      readonly type: 'to-peer';
      readonly allocation: Allocation;
      readonly peer: TransportAddress;
      readonly data: Uint8Array;
    };

/** Packets dropped on the data path, by reason; the shell exports them as metrics. */
export interface DropCounters {
  noAllocation: number;
  noChannel: number;
  noPermission: number;
  rateLimited: number;
  malformed: number;
}

interface CachedResponse {
  readonly bytes: Uint8Array;
  readonly expiresAt: number;
}

/** RFC 8489 §6.3.1: keep responses long enough to answer retransmissions (Ti = 39.5 s). */
const TRANSACTION_CACHE_MS = 40_000;
const TRANSACTION_CACHE_MAX = 50_000;

export class TurnEngine {
  readonly #drops: DropCounters = {
    noAllocation: 0,
    noChannel: 0,
    noPermission: 0,
    rateLimited: 0,
    malformed: 0,
  };
  readonly #byClient = new Map<string, Allocation>();
  readonly #byUser = new Map<string, Set<Allocation>>();
  readonly #transactions = new Map<string, CachedResponse>();
  readonly #respond: Responder;
  #nextId = 1;
  #draining = false;
  #alternate: TransportAddress | undefined;

  constructor(private readonly o: TurnEngineOptions) {
    this.#respond = new Responder(o.software, o.transactionSeed, o.crypto);
  }

  /** Packets dropped on the data path, by reason: the engine's own counts, read-only to the shell. */
  get drops(): Readonly<DropCounters> {
    return this.#drops;
  }

  get allocationCount(): number {
    return this.#byClient.size;
  }

  get draining(): boolean {
    return this.#draining;
  }

  allocations(): IterableIterator<Allocation> {
    return this.#byClient.values();
  }

  allocationFor(clientKey: string): Allocation | undefined {
    return this.#byClient.get(clientKey);
  }

  /** Stop taking allocations: Allocate gets 300 towards `alternate` when given, else 508. */
  drain(alternate?: TransportAddress): void {
    this.#draining = true;
    this.#alternate = alternate;
  }

  /** A STUN message from a client. Malformed input is dropped; requests always get one answer. */
  handleStun(ctx: ClientContext, bytes: Uint8Array, now: number): TurnAction[] {
    const decoded = decodeMessage(bytes);
    if (!decoded.ok) {
      this.#drops.malformed++;
      return [];
    }
    const msg = decoded.message;
    if (!this.#respond.fingerprintValid(msg)) {
      this.#drops.malformed++;
      return [];
    }
    if (msg.cls === MessageClass.Indication) return this.#indication(ctx, msg, now);
    if (msg.cls !== MessageClass.Request) return [];

    const txKey = `${ctx.key}/${this.#respond.transactionHex(msg)}`;
    const cached = this.#transactions.get(txKey);
    if (cached && cached.expiresAt > now) return [{ type: 'reply', client: ctx, bytes: cached.bytes }];

    const actions: TurnAction[] = [];
    const reply = this.#request(ctx, msg, now, actions);
    if (reply) {
      // Only authenticated requests leave state behind: unauthenticated traffic costs no memory.
      if (reply.authenticated) this.#remember(txKey, reply.bytes, now);
      actions.unshift({ type: 'reply', client: ctx, bytes: reply.bytes });
    }
    return actions;
  }

  /** The shell bound the relayed socket of a pending allocation. */
  relayBound(
    alloc: Allocation,
    relayed: TransportAddress,
    advertised: TransportAddress,
    now: number,
    reservationToken?: Uint8Array,
  ): TurnAction[] {
    if (alloc.state !== 'pending')
      return [{ type: 'release-relay', allocation: alloc, reason: 'client-closed' }];
    alloc.state = 'active';
    alloc.relayed = relayed;
    alloc.advertised = advertised;
    const lifetime = Math.round((alloc.expiresAt - now) / 1000);
    const req = this.#pendingRequests.get(alloc.id);
    this.#pendingRequests.delete(alloc.id);
    this.o.hooks?.allocationCreated?.(alloc, now);
    if (!req) return [];
    const attrs: [number, Uint8Array][] = [
      [Attr.XorRelayedAddress, encodeXorAddress(advertised, req.transactionId)],
      [Attr.Lifetime, encodeU32(lifetime)],
    ];
    if (reservationToken) attrs.push([Attr.ReservationToken, reservationToken]);
    attrs.push([Attr.XorMappedAddress, encodeXorAddress(alloc.client.client, req.transactionId)]);
    const bytes = this.#respond.success(req, alloc.integrityKey, attrs);
    this.#remember(`${alloc.client.key}/${this.#respond.transactionHex(req)}`, bytes, now);
    return [{ type: 'reply', client: alloc.client, bytes }];
  }

  /** The shell could not bind a relayed socket (port range exhausted, address gone). */
  relayBindFailed(alloc: Allocation, now: number): TurnAction[] {
    const req = this.#pendingRequests.get(alloc.id);
    this.#pendingRequests.delete(alloc.id);
    if (alloc.state !== 'pending') return [];
    this.#forget(alloc, 'bind-failed', now);
    if (!req) return [];
    this.o.hooks?.requestFailed?.(req.method, ErrorCode.InsufficientCapacity);
    return [
      {
        type: 'reply',
        client: alloc.client,
        bytes: this.#respond.error(req, ErrorCode.InsufficientCapacity),
      },
    ];
  }

  /**
   * Data path, client to peer: a ChannelData message from the client. Returns the binding to send
   * `bytes.subarray(4, 4 + length)` to, or undefined when the packet must be dropped (counted).
   */
  channelFromClient(clientKey: string, bytes: Uint8Array, now: number): ChannelBinding | undefined {
    const alloc = this.#byClient.get(clientKey);
    if (alloc === undefined || alloc.state !== 'active') {
      this.#drops.noAllocation++;
      return undefined;
    }
    return this.channelFromAllocation(alloc, bytes, now);
  }

  /** As channelFromClient, for stream transports where the shell already holds the allocation. */
  channelFromAllocation(alloc: Allocation, bytes: Uint8Array, now: number): ChannelBinding | undefined {
    const length = channelDataLength(bytes);
    if (length < 0) {
      this.#drops.malformed++;
      return undefined;
    }
    const binding = alloc.channels.get((bytes[0]! << 8) | bytes[1]!);
    if (binding === undefined || binding.expiresAt <= now) {
      this.#drops.noChannel++;
      return undefined;
    }
    if (binding.peerEntry.permissionExpiresAt <= now) {
      this.#drops.noPermission++;
      return undefined;
    }
    if (!allowPacket(alloc.toPeerLimit, length, now)) {
      this.#drops.rateLimited++;
      return undefined;
    }
    alloc.traffic.packetsToPeer++;
    alloc.traffic.bytesToPeer += length;
    return binding;
  }

  /**
   * Data path, peer to client (RFC 8656 §11.3, §12.5): a datagram that arrived for `alloc` from a
   * peer. Returns the bytes to send to the client (ChannelData when a channel is bound to the
   * peer, else a Data indication), or undefined when dropped for lack of a permission or by the
   * rate limit. `peerIp` must be canonical (as the socket layer reports it).
   */
  fromPeer(
    alloc: Allocation,
    peerIp: string,
    peerPort: number,
    data: Uint8Array,
    now: number,
  ): Uint8Array | undefined {
    const entry = alloc.peers.get(peerIp);
    if (entry === undefined || entry.permissionExpiresAt <= now || alloc.state !== 'active') {
      this.#drops.noPermission++;
      return undefined;
    }
    if (!allowPacket(alloc.toClientLimit, data.length, now)) {
      this.#drops.rateLimited++;
      return undefined;
    }
    alloc.traffic.packetsToClient++;
    alloc.traffic.bytesToClient += data.length;
    const binding = entry.channelsByPort.get(peerPort);
    if (binding !== undefined && binding.expiresAt > now) {
      return encodeChannelData(binding.channel, data, alloc.client.transport !== 'udp');
    }
    const peer: TransportAddress = { family: alloc.family, address: peerIp, port: peerPort };
    const tid = this.#respond.newTransactionId();
    return encodeMessage(Method.Data, MessageClass.Indication, tid, [
      [Attr.XorPeerAddress, encodeXorAddress(peer, tid)],
      [Attr.Data, data],
    ]);
  }

  /** The client's connection closed (TCP/TLS): its allocation ends (RFC 8656 §3.1). */
  clientClosed(clientKey: string, now: number): TurnAction[] {
    const alloc = this.#byClient.get(clientKey);
    return alloc ? this.#end(alloc, 'client-closed', now) : [];
  }

  /** End one allocation for an outside reason (drain timeout, revocation, shutdown). */
  end(alloc: Allocation, reason: EndReason, now: number): TurnAction[] {
    return alloc.state === 'ended' ? [] : this.#end(alloc, reason, now);
  }

  /** End every allocation of a username (revocation). */
  endUser(username: string, reason: EndReason, now: number): TurnAction[] {
    const actions: TurnAction[] = [];
    for (const alloc of [...(this.#byUser.get(username) ?? [])])
      actions.push(...this.#end(alloc, reason, now));
    return actions;
  }

  /** Call about once a second: expires allocations, permissions, channels and cached responses. */
  tick(now: number): TurnAction[] {
    const actions: TurnAction[] = [];
    for (const alloc of [...this.#byClient.values()]) {
      if (alloc.expiresAt <= now) actions.push(...this.#end(alloc, 'expired', now));
      else expirePeers(alloc, now);
    }
    for (const [key, entry] of this.#transactions) {
      if (entry.expiresAt > now) break; // insertion order is expiry order
      this.#transactions.delete(key);
    }
    return actions;
  }

  // ---- requests -------------------------------------------------------------------------------

  readonly #pendingRequests = new Map<number, StunMessage>();

  #request(
    ctx: ClientContext,
    msg: StunMessage,
    now: number,
    actions: TurnAction[],
  ): { bytes: Uint8Array; authenticated: boolean } | undefined {
    const plain = (bytes: Uint8Array) => ({ bytes, authenticated: false });
    const unknown = findUnknownAttributes(msg);
    if (unknown.length > 0) return plain(this.#fail(msg, ErrorCode.UnknownAttribute, undefined, { unknown }));
    if (msg.method === Method.Binding) {
      // RFC 8489 §10.1 (no auth for Binding on a TURN port, as deployed servers do).
      return plain(
        this.#respond.success(msg, undefined, [
          [Attr.XorMappedAddress, encodeXorAddress(ctx.client, msg.transactionId)],
        ]),
      );
    }
    if (
      msg.method !== Method.Allocate &&
      msg.method !== Method.Refresh &&
      msg.method !== Method.CreatePermission &&
      msg.method !== Method.ChannelBind
    ) {
      return plain(this.#fail(msg, ErrorCode.BadRequest, undefined, { reason: 'unknown method' }));
    }

    const existing = this.#byClient.get(ctx.key);
    if (msg.method === Method.Allocate && existing?.state === 'pending') {
      // A retransmission while the relayed socket is being bound: the answer is on its way.
      if (existing.allocateTransaction === this.#respond.transactionHex(msg)) return undefined;
    }
    const auth = this.#authenticate(msg, now);
    if (!auth.ok) return plain(auth.reply);
    const bytes = this.#authenticatedRequest(ctx, msg, auth, existing, now, actions);
    return bytes && { bytes, authenticated: true };
  }

  #authenticatedRequest(
    ctx: ClientContext,
    msg: StunMessage,
    auth: AuthOutcome & { ok: true },
    existing: Allocation | undefined,
    now: number,
    actions: TurnAction[],
  ): Uint8Array | undefined {
    // RFC 8656 §5: requests on an allocation must use the credentials that created it.
    if (existing && existing.username !== auth.username && msg.method !== Method.Allocate) {
      return this.#fail(msg, ErrorCode.WrongCredentials, auth.key);
    }
    switch (msg.method) {
      case Method.Allocate:
        return this.#allocate(ctx, msg, auth, existing, now, actions);
      case Method.Refresh:
        return this.#refresh(msg, auth, existing, now, actions);
      case Method.CreatePermission:
        return this.#createPermission(msg, auth, existing, now);
      default:
        return this.#channelBind(msg, auth, existing, now);
    }
  }

  #authenticate(msg: StunMessage, now: number): AuthOutcome {
    const outcome = authenticate(msg, now, this.o.realm, this.o.auth, this.o.nonces, this.#respond);
    if (!outcome.ok) {
      this.o.hooks?.authFailed?.(outcome.reason);
      this.o.hooks?.requestFailed?.(msg.method, outcome.code);
    }
    return outcome;
  }

  #fail(
    msg: StunMessage,
    code: number,
    key?: Uint8Array,
    extra?: ErrorExtras & { reason?: string },
  ): Uint8Array {
    this.o.hooks?.requestFailed?.(msg.method, code, extra?.reason);
    return this.#respond.error(msg, code, key, extra);
  }

  /** RFC 8656 §7.2 */
  #allocate(
    ctx: ClientContext,
    msg: StunMessage,
    auth: AuthOutcome & { ok: true },
    existing: Allocation | undefined,
    now: number,
    actions: TurnAction[],
  ): Uint8Array | undefined {
    const { key } = auth;
    if (existing) return this.#fail(msg, ErrorCode.AllocationMismatch, key);
    const transport = findAttribute(msg, Attr.RequestedTransport);
    if (!transport) return this.#fail(msg, ErrorCode.BadRequest, key, { reason: 'no REQUESTED-TRANSPORT' });
    const protocol = decodeFirstByte(transport.value);
    if (!protocol.ok)
      return this.#fail(msg, ErrorCode.BadRequest, key, { reason: 'bad REQUESTED-TRANSPORT' });
    if (protocol.value !== TransportProtocol.UDP)
      return this.#fail(msg, ErrorCode.UnsupportedTransportProtocol, key);

    const familyAttr = findAttribute(msg, Attr.RequestedAddressFamily);
    const evenAttr = findAttribute(msg, Attr.EvenPort);
    const token = findAttribute(msg, Attr.ReservationToken);
    // RFC 8656 §7.2 rules 4-6: a token cannot come with EVEN-PORT or REQUESTED-ADDRESS-FAMILY.
    if (token && (evenAttr || familyAttr))
      return this.#fail(msg, ErrorCode.BadRequest, key, {
        reason: 'RESERVATION-TOKEN with EVEN-PORT or REQUESTED-ADDRESS-FAMILY',
      });
    if (token && token.value.length !== 8)
      return this.#fail(msg, ErrorCode.BadRequest, key, { reason: 'RESERVATION-TOKEN not 8 bytes' });
    let evenPort = false;
    let reserveNext = false;
    if (evenAttr) {
      const even = decodeEvenPort(evenAttr.value);
      if (!even.ok) return this.#fail(msg, ErrorCode.BadRequest, key, { reason: 'bad EVEN-PORT' });
      evenPort = true;
      reserveNext = even.value.reserveNext;
    }
    let family: IpFamily = ctx.client.family === 6 && !this.o.relayFamilies.includes(4) ? 6 : 4;
    if (familyAttr) {
      const fam = decodeFirstByte(familyAttr.value);
      if (!fam.ok || (fam.value !== 1 && fam.value !== 2))
        return this.#fail(msg, ErrorCode.AddressFamilyNotSupported, key);
      family = fam.value === 1 ? 4 : 6;
    }
    if (!this.o.relayFamilies.includes(family))
      return this.#fail(msg, ErrorCode.AddressFamilyNotSupported, key);

    if (this.#draining) {
      if (this.#alternate) {
        return this.#fail(msg, ErrorCode.TryAlternate, key, { alternate: this.#alternate });
      }
      return this.#fail(msg, ErrorCode.InsufficientCapacity, key);
    }
    if ((this.#byUser.get(auth.username)?.size ?? 0) >= this.o.limits.userQuota) {
      return this.#fail(msg, ErrorCode.AllocationQuotaReached, key);
    }
    if (this.#byClient.size >= this.o.limits.maxAllocations)
      return this.#fail(msg, ErrorCode.InsufficientCapacity, key);

    const lifetime = this.#lifetime(msg, key);
    if (typeof lifetime !== 'number') return lifetime;
    const alloc = createAllocation({
      id: this.#nextId++,
      client: ctx,
      username: auth.username,
      integrityKey: key,
      family,
      now,
      expiresAt: now + lifetime * 1000,
      allocateTransaction: this.#respond.transactionHex(msg),
      maxPps: this.o.limits.allocPps,
      maxBps: this.o.limits.allocBps,
    });
    this.#byClient.set(ctx.key, alloc);
    const userSet = this.#byUser.get(auth.username) ?? new Set<Allocation>();
    this.#byUser.set(auth.username, userSet);
    userSet.add(alloc);
    this.#pendingRequests.set(alloc.id, msg);
    actions.push({
      type: 'bind-relay',
      allocation: alloc,
      evenPort,
      reserveNext,
      reservationToken: token ? copyBytes(token.value) : undefined,
    });
    return undefined;
  }

  /** RFC 8656 §7.2 rule 8: the requested lifetime, raised to the default and capped at the maximum. */
  #lifetime(msg: StunMessage, key: Uint8Array): number | Uint8Array {
    const attr = findAttribute(msg, Attr.Lifetime);
    const { defaultAllocation, maxAllocation } = this.o.lifetimes;
    if (!attr) return defaultAllocation;
    const requested = decodeU32(attr.value);
    if (!requested.ok) return this.#fail(msg, ErrorCode.BadRequest, key, { reason: 'bad LIFETIME' });
    return Math.min(Math.max(requested.value, defaultAllocation), maxAllocation);
  }

  /** RFC 8656 §7.3 */
  #refresh(
    msg: StunMessage,
    auth: AuthOutcome & { ok: true },
    alloc: Allocation | undefined,
    now: number,
    actions: TurnAction[],
  ): Uint8Array {
    const { key } = auth;
    if (alloc?.state !== 'active') return this.#fail(msg, ErrorCode.AllocationMismatch, key);
    const familyAttr = findAttribute(msg, Attr.RequestedAddressFamily);
    if (familyAttr) {
      const fam = decodeFirstByte(familyAttr.value);
      if (!fam.ok || (fam.value === 1 ? 4 : 6) !== alloc.family) {
        return this.#fail(msg, ErrorCode.PeerAddressFamilyMismatch, key);
      }
    }
    const lifetimeAttr = findAttribute(msg, Attr.Lifetime);
    const requested = lifetimeAttr ? decodeU32(lifetimeAttr.value) : undefined;
    if (requested && !requested.ok)
      return this.#fail(msg, ErrorCode.BadRequest, key, { reason: 'bad LIFETIME' });
    if (requested?.ok && requested.value === 0) {
      actions.push(...this.#end(alloc, 'refresh-zero', now));
      return this.#respond.success(msg, key, [[Attr.Lifetime, encodeU32(0)]]);
    }
    const lifetime = this.#lifetime(msg, key);
    if (typeof lifetime !== 'number') return lifetime;
    alloc.expiresAt = now + lifetime * 1000;
    return this.#respond.success(msg, key, [[Attr.Lifetime, encodeU32(lifetime)]]);
  }

  /** Decode and vet an XOR-PEER-ADDRESS for this allocation: 400, 443 or 403 when unusable. */
  #peer(msg: StunMessage, value: Uint8Array, alloc: Allocation): TransportAddress | number {
    const peer = decodeXorAddress(value, msg.transactionId);
    if (!peer.ok) return ErrorCode.BadRequest;
    if (peer.value.family !== alloc.family) return ErrorCode.PeerAddressFamilyMismatch;
    const ip = parseIp(peer.value.address);
    if (!ip || !this.o.peerPolicy.check(ip).allowed) return ErrorCode.Forbidden;
    return peer.value;
  }

  /** RFC 8656 §9.1 (all-or-nothing over the listed peers). */
  #createPermission(
    msg: StunMessage,
    auth: AuthOutcome & { ok: true },
    alloc: Allocation | undefined,
    now: number,
  ): Uint8Array {
    const { key } = auth;
    if (alloc?.state !== 'active') return this.#fail(msg, ErrorCode.AllocationMismatch, key);
    const peers: TransportAddress[] = [];
    for (const attr of msg.attributes) {
      if (attr.type !== Attr.XorPeerAddress) continue;
      const peer = this.#peer(msg, attr.value, alloc);
      if (typeof peer === 'number') return this.#fail(msg, peer, key);
      peers.push(peer);
    }
    if (peers.length === 0)
      return this.#fail(msg, ErrorCode.BadRequest, key, { reason: 'no XOR-PEER-ADDRESS' });
    const fresh = peers.filter((p) => !alloc.peers.has(p.address)).length;
    if (alloc.peers.size + fresh > this.o.limits.maxPeersPerAllocation) {
      return this.#fail(msg, ErrorCode.InsufficientCapacity, key);
    }
    const expiresAt = now + this.o.lifetimes.permission * 1000;
    for (const p of peers) peerEntry(alloc, p.address).permissionExpiresAt = expiresAt;
    return this.#respond.success(msg, key, []);
  }

  /** RFC 8656 §11.2 */
  #channelBind(
    msg: StunMessage,
    auth: AuthOutcome & { ok: true },
    alloc: Allocation | undefined,
    now: number,
  ): Uint8Array {
    const { key } = auth;
    if (alloc?.state !== 'active') return this.#fail(msg, ErrorCode.AllocationMismatch, key);
    const channelAttr = findAttribute(msg, Attr.ChannelNumber);
    const peerAttr = findAttribute(msg, Attr.XorPeerAddress);
    if (!channelAttr || !peerAttr)
      return this.#fail(msg, ErrorCode.BadRequest, key, {
        reason: 'CHANNEL-NUMBER or XOR-PEER-ADDRESS missing',
      });
    const channel = decodeChannelNumber(channelAttr.value);
    if (!channel.ok || !isValidChannel(channel.value))
      return this.#fail(msg, ErrorCode.BadRequest, key, { reason: 'channel number outside 0x4000-0x7FFF' });
    const peer = this.#peer(msg, peerAttr.value, alloc);
    if (typeof peer === 'number') return this.#fail(msg, peer, key);

    const byChannel = alloc.channels.get(channel.value);
    const entry = alloc.peers.get(peer.address);
    const byPeer = entry?.channelsByPort.get(peer.port);
    // RFC 8656 §11.2: a channel is bound to one peer and a peer to one channel.
    if (byChannel && (byChannel.peer.address !== peer.address || byChannel.peer.port !== peer.port)) {
      return this.#fail(msg, ErrorCode.BadRequest, key, { reason: 'channel bound to another peer' });
    }
    if (byPeer && byPeer.channel !== channel.value)
      return this.#fail(msg, ErrorCode.BadRequest, key, { reason: 'peer bound to another channel' });
    if (!entry && alloc.peers.size >= this.o.limits.maxPeersPerAllocation) {
      return this.#fail(msg, ErrorCode.InsufficientCapacity, key);
    }

    const target = peerEntry(alloc, peer.address);
    target.permissionExpiresAt = Math.max(
      target.permissionExpiresAt,
      now + this.o.lifetimes.permission * 1000,
    );
    const expiresAt = now + this.o.lifetimes.channel * 1000;
    if (byChannel) {
      byChannel.expiresAt = expiresAt;
    } else {
      const binding: ChannelBinding = {
        channel: channel.value,
        peer,
        peerEntry: target,
        allocation: alloc,
        expiresAt,
      };
      alloc.channels.set(channel.value, binding);
      target.channelsByPort.set(peer.port, binding);
    }
    return this.#respond.success(msg, key, []);
  }

  /** RFC 8656 §11.1 Send indication; other indications are ignored. Never answered. */
  #indication(ctx: ClientContext, msg: StunMessage, now: number): TurnAction[] {
    if (msg.method !== Method.Send) return [];
    const alloc = this.#byClient.get(ctx.key);
    if (alloc?.state !== 'active') {
      this.#drops.noAllocation++;
      return [];
    }
    const peerAttr = findAttribute(msg, Attr.XorPeerAddress);
    const dataAttr = findAttribute(msg, Attr.Data);
    if (!peerAttr || !dataAttr || findUnknownAttributes(msg).length > 0) {
      this.#drops.malformed++;
      return [];
    }
    const peer = decodeXorAddress(peerAttr.value, msg.transactionId);
    if (!peer.ok || peer.value.family !== alloc.family) {
      this.#drops.malformed++;
      return [];
    }
    if (!hasPermission(alloc, peer.value.address, now)) {
      this.#drops.noPermission++;
      return [];
    }
    if (!allowPacket(alloc.toPeerLimit, dataAttr.value.length, now)) {
      this.#drops.rateLimited++;
      return [];
    }
    alloc.traffic.packetsToPeer++;
    alloc.traffic.bytesToPeer += dataAttr.value.length;
    return [{ type: 'to-peer', allocation: alloc, peer: peer.value, data: dataAttr.value }];
  }

  // ---- bookkeeping ----------------------------------------------------------------------------

  #end(alloc: Allocation, reason: EndReason, now: number): TurnAction[] {
    const wasPending = alloc.state === 'pending';
    this.#forget(alloc, reason, now);
    this.#pendingRequests.delete(alloc.id);
    // A pending allocation's socket is still being bound; relayBound() releases it when it arrives.
    return wasPending ? [] : [{ type: 'release-relay', allocation: alloc, reason }];
  }

  #forget(alloc: Allocation, reason: EndReason, now: number): void {
    const wasActive = alloc.state === 'active';
    alloc.state = 'ended';
    if (this.#byClient.get(alloc.client.key) === alloc) this.#byClient.delete(alloc.client.key);
    const userSet = this.#byUser.get(alloc.username);
    userSet?.delete(alloc);
    if (userSet?.size === 0) this.#byUser.delete(alloc.username);
    alloc.channels.clear();
    alloc.peers.clear();
    if (wasActive) this.o.hooks?.allocationEnded?.(alloc, reason, now);
  }

  #remember(key: string, bytes: Uint8Array, now: number): void {
    if (this.#transactions.size >= TRANSACTION_CACHE_MAX) {
      this.#transactions.delete(this.#transactions.keys().next().value as string);
    }
    this.#transactions.delete(key);
    this.#transactions.set(key, { bytes, expiresAt: now + TRANSACTION_CACHE_MS });
  }
}
