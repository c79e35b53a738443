/**
 * The TURN server state machine (RFC 8656 over RFC 8489). It takes decoded events (a STUN message
 * from a client, a relayed socket bound, a datagram from a peer, a tick of the clock) and returns
 * what the shell must do: reply to the client, bind or release a relayed socket, send to a peer.
 * It owns allocations, permissions, channels, authentication, quotas and the retransmission cache.
 * No sockets, no timers, no Date.now(): `now` (ms since the epoch) is always a parameter.
 */
import { parseTurnRestUsername } from '../credentials/turn-rest.ts';
import { copyBytes } from '../crypto/encoding.ts';
import { sourceKey } from '../limits/connection-limiter.ts';
import { type SourceLimit, SourceLimiter } from '../limits/source-limiter.ts';
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
import {
  AddressFamily,
  Attr,
  ErrorCode,
  MAGIC_COOKIE,
  MessageClass,
  Method,
  TransportProtocol,
} from '../stun/constants.ts';
import {
  decodeMessage,
  encodeDataIndication,
  findAttribute,
  fingerprintMatches,
  type StunMessage,
  splitMessageType,
} from '../stun/message.ts';
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
  type TrafficCounters,
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
import { ReservationBook } from './reservations.ts';
import { SEND_INDICATION_TYPE, scanSendIndication, xorIpv6Text } from './send-indication.ts';

export interface TurnLifetimes {
  /** Seconds; RFC 8656 §7.2 default 600 and maximum 3600. */
  readonly defaultAllocation: number;
  readonly maxAllocation: number;
  /** Seconds; RFC 8656 §9: 300. */
  readonly permission: number;
  /** Seconds; RFC 8656 §12: 600. */
  readonly channel: number;
  /**
   * Seconds an allocation may live in all, however often it is refreshed and whether or not its
   * credential has expired since (the credential's expiry bounds only Allocate). Infinity: none.
   */
  readonly maxAllocationAge: number;
}

export interface TurnLimits {
  /** Relay-wide cap on allocations (508 past it). */
  readonly maxAllocations: number;
  /** Per-username cap (486 past it). */
  readonly userQuota: number;
  /** Per-tenant cap over all its usernames (486 past it); static users have no tenant. */
  readonly tenantQuota: number;
  /** Per-allocation caps, each direction; 0 = unlimited. */
  readonly allocPps: number;
  readonly allocBps: number;
  readonly maxPeersPerAllocation: number;
  /** Channels per allocation (508 past it); DEFAULT_MAX_CHANNELS when absent. */
  readonly maxChannelsPerAllocation?: number;
  /** Requests larger than this get 400 before any credential is checked; DEFAULT_MAX_REQUEST_BYTES. */
  readonly maxRequestBytes?: number;
}

/**
 * A channel costs a binding and two map entries; WebRTC binds one per peer candidate in use, a
 * handful. 256 leaves room for any real client and keeps a full allocation near 22 KB instead
 * of the 16,384 channels (~1.4 MB) RFC 8656 §12 numbers allow.
 */
export const DEFAULT_MAX_CHANNELS = 256;
/**
 * The largest request a real client sends is an Allocate or CreatePermission of a few hundred
 * bytes (USERNAME is at most 513, RFC 8489 §14.3; our REALM and NONCE are short). 2048 leaves
 * room for that and bounds the HMAC work a forged request can ask for (one per shared secret).
 */
export const DEFAULT_MAX_REQUEST_BYTES = 2048;
/**
 * Answers to requests that did not authenticate (401, 438, 4xx, Binding), per source IP: enough
 * for a few hundred clients behind one NAT starting at once (UDP retransmits absorb the rest),
 * and at most ~4 KB/s of 76-byte challenges towards any one address a forger names.
 */
export const DEFAULT_UNAUTHENTICATED_LIMIT: SourceLimit = { ratePerSecond: 50, burst: 100, capacity: 65_536 };

export interface TurnHooks<H = unknown, S extends object = object> {
  allocationCreated?(alloc: Allocation<H, S>, now: number): void;
  allocationEnded?(alloc: Allocation<H, S>, reason: EndReason, now: number): void;
  requestFailed?(method: number, code: number, reason?: string): void;
  /** An authenticated request succeeded; `credentialExpired` when its credential had expired. */
  requestSucceeded?(method: number, credentialExpired: boolean): void;
  authFailed?(reason: string): void;
}

export interface TurnEngineOptions<H = unknown, S extends object = object> {
  readonly realm: string;
  readonly software?: string | undefined;
  readonly auth: Authenticator;
  readonly nonces: NonceManager;
  readonly peerPolicy: PeerPolicy;
  /** Address families for which this server can bind relayed sockets. */
  readonly relayFamilies: readonly IpFamily[];
  readonly lifetimes: TurnLifetimes;
  readonly limits: TurnLimits;
  readonly hooks?: TurnHooks<H, S>;
  /** Per-source limit on unauthenticated answers; DEFAULT_UNAUTHENTICATED_LIMIT when absent. */
  readonly unauthenticatedLimit?: SourceLimit;
  /** 12 random bytes chosen at start; transaction ids of Data indications count up from them. */
  readonly transactionSeed: Uint8Array;
  /** The platform's HMAC-SHA1 and CRC-32 for MESSAGE-INTEGRITY and FINGERPRINT (the shell's). */
  readonly crypto: StunCrypto;
}

export type TurnAction<H = unknown, S extends object = object> =
  | { readonly type: 'reply'; readonly client: ClientContext<H>; readonly bytes: Uint8Array }
  | {
      readonly type: 'bind-relay';
      readonly allocation: Allocation<H, S>;
      /** RFC 8656 §7.2: an even port; with `reserveNext`, also hold port+1 and hand back a token. */
      readonly evenPort: boolean;
      readonly reserveNext: boolean;
      /** RFC 8656 §14.9: use the port held under this token by an earlier Allocate. */
      readonly reservationToken: Uint8Array | undefined;
    }
  | {
      readonly type: 'release-relay';
      readonly allocation: Allocation<H, S>;
      /** The shell's state given in relayBound, now taken off the allocation. */
      readonly shell: S;
      readonly reason: EndReason;
    }
  /** RFC 8656 §7.2: a port held by EVEN-PORT's R bit was not claimed in time; close it. */
  | { readonly type: 'release-reservation'; readonly token: Uint8Array }
  | {
      readonly type: 'to-peer';
      readonly allocation: Allocation<H, S>;
      readonly peer: TransportAddress;
      readonly data: Uint8Array;
    };

/** What the shell reports when a relayed socket is bound (relayBound). */
/** Where a Send indication's payload goes (sendFromAllocation). */
export interface SendTarget {
  readonly peer: TransportAddress;
  readonly data: Uint8Array;
}

export interface RelayBound<S extends object> {
  /** The address the relayed socket is bound to. */
  readonly relayed: TransportAddress;
  /** The address advertised in XOR-RELAYED-ADDRESS (differs behind NAT). */
  readonly advertised: TransportAddress;
  /** The shell's state for the socket, handed back in release-relay. */
  readonly shell: S;
  /** RFC 8656 §7.2: the token of the port reserved beside this one (EVEN-PORT with R). */
  readonly reservationToken?: Uint8Array | undefined;
}

/** Packets dropped on the data path, by reason; the shell exports them as metrics. */
export interface DropCounters {
  noAllocation: number;
  noChannel: number;
  noPermission: number;
  rateLimited: number;
  malformed: number;
}

/** Requests refused before any work was done for them, by reason; exported as metrics. */
export interface RefusalCounters {
  requestTooLarge: number;
  unauthenticatedRateLimited: number;
}

interface CachedResponse {
  readonly bytes: Uint8Array;
  readonly expiresAt: number;
}

/** RFC 8489 §6.3.1: keep responses long enough to answer retransmissions (Ti = 39.5 s). */
const TRANSACTION_CACHE_MS = 40_000;
const TRANSACTION_CACHE_MAX = 50_000;
/** Peer IPv4 addresses whose text the Send path keeps (cleared when full): 64 Ki, ~4 MB at most. */
const IPV4_TEXT_CACHE_MAX = 65_536;

export class TurnEngine<H = unknown, S extends object = object> {
  readonly #drops: DropCounters = {
    noAllocation: 0,
    noChannel: 0,
    noPermission: 0,
    rateLimited: 0,
    malformed: 0,
  };
  readonly #refusals: RefusalCounters = { requestTooLarge: 0, unauthenticatedRateLimited: 0 };
  readonly #byClient = new Map<string, Allocation<H, S>>();
  /** Each allocation's traffic counters, writable here only (the allocation shows them read-only). */
  readonly #traffic = new WeakMap<Allocation<H, S>, TrafficCounters>();
  readonly #byUser = new Map<string, Set<Allocation<H, S>>>();
  readonly #byTenant = new Map<string, Set<Allocation<H, S>>>();
  readonly #transactions = new Map<string, CachedResponse>();
  readonly #respond: Responder;
  readonly #reservations = new ReservationBook();
  readonly #strangers: SourceLimiter;
  readonly #maxRequest: number;
  readonly #maxChannels: number;
  readonly #v4Text = new Map<number, string>();
  #nextId = 1;
  #draining = false;
  #alternate: TransportAddress | undefined;

  constructor(private readonly o: TurnEngineOptions<H, S>) {
    this.#respond = new Responder(o.software, o.transactionSeed, o.crypto);
    this.#strangers = new SourceLimiter(o.unauthenticatedLimit ?? DEFAULT_UNAUTHENTICATED_LIMIT);
    this.#maxRequest = o.limits.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.#maxChannels = o.limits.maxChannelsPerAllocation ?? DEFAULT_MAX_CHANNELS;
  }

  /** Packets dropped on the data path, by reason: the engine's own counts, read-only to the shell. */
  get drops(): Readonly<DropCounters> {
    return this.#drops;
  }

  /** Requests refused before any work, by reason: the engine's own counts, read-only to the shell. */
  get refusals(): Readonly<RefusalCounters> {
    return this.#refusals;
  }

  /** Ports held for EVEN-PORT reservations (RFC 8656 §7.2), each counted as an allocation. */
  get reservationCount(): number {
    return this.#reservations.size;
  }

  get allocationCount(): number {
    return this.#byClient.size;
  }

  get draining(): boolean {
    return this.#draining;
  }

  allocations(): IterableIterator<Allocation<H, S>> {
    return this.#byClient.values();
  }

  allocationFor(clientKey: string): Allocation<H, S> | undefined {
    return this.#byClient.get(clientKey);
  }

  /** Stop taking allocations: Allocate gets 300 towards `alternate` when given, else 508. */
  drain(alternate?: TransportAddress): void {
    this.#draining = true;
    this.#alternate = alternate;
  }

  /** A STUN message from a client. Malformed input is dropped; requests always get one answer. */
  handleStun(ctx: ClientContext<H>, bytes: Uint8Array, now: number): TurnAction<H, S>[] {
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
    // A request without MESSAGE-INTEGRITY can only be answered as a stranger: when its source is
    // over the limit, drop it before any work (issue 12: reflection and CPU floods).
    const source = sourceKey(ctx.client.address);
    if (msg.integrityOffset === undefined && this.#strangers.blocked(source, now)) {
      this.#refusals.unauthenticatedRateLimited++;
      return [];
    }
    if (bytes.length > this.#maxRequest) {
      // Before the credential check: a forged large request costs one HMAC per shared secret.
      this.#refusals.requestTooLarge++;
      if (!this.#mayAnswerStranger(source, now)) return [];
      const reason = `request larger than ${this.#maxRequest} bytes`;
      return [
        { type: 'reply', client: ctx, bytes: this.#fail(msg, ErrorCode.BadRequest, undefined, { reason }) },
      ];
    }

    const txKey = `${ctx.key}/${this.#respond.transactionHex(msg)}`;
    const cached = this.#transactions.get(txKey);
    if (cached && cached.expiresAt > now) return [{ type: 'reply', client: ctx, bytes: cached.bytes }];

    const actions: TurnAction<H, S>[] = [];
    const reply = this.#request(ctx, msg, now, actions);
    if (reply) {
      // Only authenticated requests leave state behind: unauthenticated traffic costs no memory.
      if (reply.authenticated) this.#remember(txKey, reply.bytes, now);
      else if (!this.#mayAnswerStranger(source, now)) return actions;
      actions.unshift({ type: 'reply', client: ctx, bytes: reply.bytes });
    }
    return actions;
  }

  /**
   * The shell bound the relayed socket of a pending allocation; `bound.shell` is the shell's state
   * for it, kept on the allocation and handed back by the release-relay action.
   */
  relayBound(alloc: Allocation<H, S>, bound: RelayBound<S>, now: number): TurnAction<H, S>[] {
    const { relayed, advertised, reservationToken } = bound;
    if (alloc.state !== 'pending') {
      const release: TurnAction<H, S>[] = [
        { type: 'release-relay', allocation: alloc, shell: bound.shell, reason: 'client-closed' },
      ];
      if (reservationToken) release.push({ type: 'release-reservation', token: reservationToken });
      return release;
    }
    alloc.shell = bound.shell;
    if (reservationToken) this.#reservations.add(reservationToken, alloc.username, now);
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
  relayBindFailed(alloc: Allocation<H, S>, now: number): TurnAction<H, S>[] {
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
  channelFromClient(clientKey: string, bytes: Uint8Array, now: number): ChannelBinding<H, S> | undefined {
    const alloc = this.#byClient.get(clientKey);
    if (alloc === undefined || alloc.state !== 'active') {
      this.#drops.noAllocation++;
      return undefined;
    }
    return this.channelFromAllocation(alloc, bytes, now);
  }

  /** As channelFromClient, for stream transports where the shell already holds the allocation. */
  channelFromAllocation(
    alloc: Allocation<H, S>,
    bytes: Uint8Array,
    now: number,
  ): ChannelBinding<H, S> | undefined {
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
    const traffic = this.#traffic.get(alloc)!;
    traffic.packetsToPeer++;
    traffic.bytesToPeer += length;
    return binding;
  }

  /**
   * Data path, peer to client (RFC 8656 §11.3, §12.5): a datagram that arrived for `alloc` from a
   * peer. Returns the bytes to send to the client (ChannelData when a channel is bound to the
   * peer, else a Data indication), or undefined when dropped for lack of a permission or by the
   * rate limit. `peerIp` must be canonical (as the socket layer reports it).
   */
  fromPeer(
    alloc: Allocation<H, S>,
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
    const traffic = this.#traffic.get(alloc)!;
    traffic.packetsToClient++;
    traffic.bytesToClient += data.length;
    const binding = entry.channelsByPort.get(peerPort);
    if (binding !== undefined && binding.expiresAt > now) {
      return encodeChannelData(binding.channel, data, alloc.client.transport !== 'udp');
    }
    // RFC 8656 §11.4: no channel to this peer port, a Data indication.
    return encodeDataIndication(this.#respond.nextTransactionId(), entry.ipBytes, peerPort, data);
  }

  /**
   * Data path, client to peer (RFC 8656 §11.1): a Send indication from the UDP client of `alloc`,
   * which the shell found from the datagram's source. The peer and payload to send, or undefined
   * when dropped (counted). The same checks as through handleStun, without a ClientContext.
   */
  sendFromAllocation(alloc: Allocation<H, S>, bytes: Uint8Array, now: number): SendTarget | undefined {
    // One walk over the attributes (send-indication.ts), no decoded message: it accepts and
    // refuses what decodeMessage and #send do, in the same order, with the same counts.
    const scan = scanSendIndication(bytes);
    if (
      scan === undefined ||
      (scan.fingerprintAt >= 0 && !fingerprintMatches(bytes, scan.fingerprintAt, this.o.crypto))
    ) {
      this.#drops.malformed++;
      return undefined;
    }
    if (((bytes[0]! << 8) | bytes[1]!) !== SEND_INDICATION_TYPE) return undefined;
    if (alloc.state !== 'active') {
      this.#drops.noAllocation++;
      return undefined;
    }
    const { peerAt, peerLength, dataAt, dataLength } = scan;
    if (peerAt < 0 || dataAt < 0 || scan.unknownRequired) {
      this.#drops.malformed++;
      return undefined;
    }
    // RFC 8489 §14.2 X-Address, read in place: family 1 (4 bytes) or 2 (16), XORed with the cookie
    // (and, for IPv6, the transaction id); the text of an IPv4 address comes from a cache.
    const family = bytes[peerAt + 1];
    const size = family === AddressFamily.IPv4 ? 4 : family === AddressFamily.IPv6 ? 16 : 0;
    if (size === 0 || peerLength !== 4 + size || (size === 4 ? 4 : 6) !== alloc.family) {
      this.#drops.malformed++;
      return undefined;
    }
    const port = ((bytes[peerAt + 2]! << 8) | bytes[peerAt + 3]!) ^ (MAGIC_COOKIE >>> 16);
    const address =
      size === 4
        ? this.#ipv4Text(
            (((bytes[peerAt + 4]! << 24) |
              (bytes[peerAt + 5]! << 16) |
              (bytes[peerAt + 6]! << 8) |
              bytes[peerAt + 7]!) ^
              MAGIC_COOKIE) >>>
              0,
          )
        : xorIpv6Text(bytes, peerAt + 4);
    return this.#toPeer(
      alloc,
      { family: alloc.family, address, port },
      bytes.subarray(dataAt, dataAt + dataLength),
      now,
    );
  }

  /** The client's connection closed (TCP/TLS): its allocation ends (RFC 8656 §3.1). */
  clientClosed(clientKey: string, now: number): TurnAction<H, S>[] {
    const alloc = this.#byClient.get(clientKey);
    return alloc ? this.#end(alloc, 'client-closed', now) : [];
  }

  /** End one allocation for an outside reason (drain timeout, revocation, shutdown). */
  end(alloc: Allocation<H, S>, reason: EndReason, now: number): TurnAction<H, S>[] {
    return alloc.state === 'ended' ? [] : this.#end(alloc, reason, now);
  }

  /** End every allocation of a username (revocation). */
  endUser(username: string, reason: EndReason, now: number): TurnAction<H, S>[] {
    const actions: TurnAction<H, S>[] = [];
    for (const alloc of [...(this.#byUser.get(username) ?? [])])
      actions.push(...this.#end(alloc, reason, now));
    return actions;
  }

  /** End every allocation whose username `revoked` matches (by username, client or tenant). */
  endRevoked(revoked: (username: string) => boolean, now: number): TurnAction<H, S>[] {
    const actions: TurnAction<H, S>[] = [];
    for (const [username, set] of [...this.#byUser]) {
      if (!revoked(username)) continue;
      for (const alloc of [...set]) actions.push(...this.#end(alloc, 'revoked', now));
    }
    return actions;
  }

  /** Call about once a second: expires allocations, permissions, channels and cached responses. */
  tick(now: number): TurnAction<H, S>[] {
    const actions: TurnAction<H, S>[] = [];
    for (const alloc of [...this.#byClient.values()]) {
      if (this.#pastMaxAge(alloc, now)) actions.push(...this.#end(alloc, 'max-age', now));
      else if (alloc.expiresAt <= now) actions.push(...this.#end(alloc, 'expired', now));
      else expirePeers(alloc, now);
    }
    for (const [key, entry] of this.#transactions) {
      if (entry.expiresAt > now) break; // insertion order is expiry order
      this.#transactions.delete(key);
    }
    for (const r of this.#reservations.expire(now))
      actions.push({ type: 'release-reservation', token: r.token });
    return actions;
  }

  // ---- requests -------------------------------------------------------------------------------

  readonly #pendingRequests = new Map<number, StunMessage>();

  #request(
    ctx: ClientContext<H>,
    msg: StunMessage,
    now: number,
    actions: TurnAction<H, S>[],
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
    // Requests on a live allocation are checked against the key that created it, expired or not.
    const bound = msg.method !== Method.Allocate && existing?.state === 'active' ? existing : undefined;
    const auth = this.#authenticate(msg, now, ctx.client.address, bound);
    if (!auth.ok) return plain(auth.reply);
    const bytes = this.#authenticatedRequest(ctx, msg, auth, existing, now, actions);
    // Count successes (not Allocate's, which answers from relayBound) by whether they rode on an
    // expired credential: how many calls already outlive theirs.
    if (bytes && splitMessageType((bytes[0]! << 8) | bytes[1]!).cls === MessageClass.SuccessResponse) {
      const expiredAt = existing?.credentialExpiresAt;
      this.o.hooks?.requestSucceeded?.(msg.method, expiredAt !== undefined && expiredAt <= now);
    }
    return bytes && { bytes, authenticated: true };
  }

  #authenticatedRequest(
    ctx: ClientContext<H>,
    msg: StunMessage,
    auth: AuthOutcome & { ok: true },
    existing: Allocation<H, S> | undefined,
    now: number,
    actions: TurnAction<H, S>[],
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

  #authenticate(
    msg: StunMessage,
    now: number,
    source: string,
    bound: Allocation<H, S> | undefined,
  ): AuthOutcome {
    const outcome = authenticate(
      msg,
      now,
      this.o.realm,
      this.o.auth,
      this.o.nonces,
      this.#respond,
      source,
      bound,
    );
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
    ctx: ClientContext<H>,
    msg: StunMessage,
    auth: AuthOutcome & { ok: true },
    existing: Allocation<H, S> | undefined,
    now: number,
    actions: TurnAction<H, S>[],
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
    // RFC 8656 §7.2: a RESERVATION-TOKEN the server cannot honour gets 508 (Insufficient Capacity).
    const held = token ? this.#reservations.get(token.value) : undefined;
    if (token && !held)
      return this.#fail(msg, ErrorCode.InsufficientCapacity, key, { reason: 'no such reservation' });
    // Reserved ports count like allocations (issue 12); a claimed one turns into this allocation,
    // and an Allocate with the R bit takes two: its own port and the one it reserves.
    const wanted = reserveNext ? 2 : 1;
    const ownHeld = held?.username === auth.username ? 1 : 0;
    const userHolds =
      (this.#byUser.get(auth.username)?.size ?? 0) + this.#reservations.countFor(auth.username) - ownHeld;
    if (userHolds + wanted > this.o.limits.userQuota) {
      return this.#fail(msg, ErrorCode.AllocationQuotaReached, key, { reason: 'user quota' });
    }
    const rest = parseTurnRestUsername(auth.username);
    const tenant = rest.ok ? rest.tenant : undefined;
    if (tenant !== undefined && (this.#byTenant.get(tenant)?.size ?? 0) >= this.o.limits.tenantQuota) {
      return this.#fail(msg, ErrorCode.AllocationQuotaReached, key, {
        reason: 'tenant quota',
        phrase: 'Tenant Allocation Quota Reached',
      });
    }
    const relayHolds = this.#byClient.size + this.#reservations.size - (held ? 1 : 0);
    if (relayHolds + wanted > this.o.limits.maxAllocations)
      return this.#fail(msg, ErrorCode.InsufficientCapacity, key);

    const lifetime = this.#lifetime(msg, key);
    if (typeof lifetime !== 'number') return lifetime;
    const traffic = { packetsToPeer: 0, bytesToPeer: 0, packetsToClient: 0, bytesToClient: 0 };
    const alloc = createAllocation<H, S>({
      traffic,
      id: this.#nextId++,
      client: ctx,
      username: auth.username,
      integrityKey: key,
      tenant,
      credentialExpiresAt: rest.ok ? rest.expiry * 1000 : undefined,
      family,
      now,
      expiresAt: now + Math.min(lifetime, this.o.lifetimes.maxAllocationAge) * 1000,
      allocateTransaction: this.#respond.transactionHex(msg),
      maxPps: this.o.limits.allocPps,
      maxBps: this.o.limits.allocBps,
    });
    this.#traffic.set(alloc, traffic);
    this.#byClient.set(ctx.key, alloc);
    const userSet = this.#byUser.get(auth.username) ?? new Set<Allocation<H, S>>();
    this.#byUser.set(auth.username, userSet);
    userSet.add(alloc);
    if (tenant !== undefined) {
      const tenantSet = this.#byTenant.get(tenant) ?? new Set<Allocation<H, S>>();
      this.#byTenant.set(tenant, tenantSet);
      tenantSet.add(alloc);
    }
    this.#pendingRequests.set(alloc.id, msg);
    if (token) this.#reservations.take(token.value);
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
    alloc: Allocation<H, S> | undefined,
    now: number,
    actions: TurnAction<H, S>[],
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
    if (this.#pastMaxAge(alloc, now)) {
      // RFC 8656 §7.3 lets the server refuse a Refresh; 403 (RFC 8489 §14.8: valid, but refused by
      // administrative restriction) says that retrying will not help: the allocation ends now.
      actions.push(...this.#end(alloc, 'max-age', now));
      return this.#fail(msg, ErrorCode.Forbidden, key, {
        reason: 'maximum allocation age reached',
        phrase: 'Maximum Allocation Age Reached',
      });
    }
    const requestedLifetime = this.#lifetime(msg, key);
    if (typeof requestedLifetime !== 'number') return requestedLifetime;
    // RFC 8656 §7.3: the server picks the lifetime; never past the maximum allocation age.
    const deadline = alloc.createdAt + this.o.lifetimes.maxAllocationAge * 1000;
    alloc.expiresAt = Math.min(now + requestedLifetime * 1000, deadline);
    const lifetime = Math.max(1, Math.floor((alloc.expiresAt - now) / 1000));
    return this.#respond.success(msg, key, [[Attr.Lifetime, encodeU32(lifetime)]]);
  }

  #pastMaxAge(alloc: Allocation<H, S>, now: number): boolean {
    return now - alloc.createdAt >= this.o.lifetimes.maxAllocationAge * 1000;
  }

  /** Decode and vet an XOR-PEER-ADDRESS for this allocation: 400, 443 or 403 when unusable. */
  #peer(msg: StunMessage, value: Uint8Array, alloc: Allocation<H, S>): TransportAddress | number {
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
    alloc: Allocation<H, S> | undefined,
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
    alloc: Allocation<H, S> | undefined,
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
    // Issue 12: a cap on channels per allocation, answered like the cap on peers above.
    if (!byChannel && alloc.channels.size >= this.#maxChannels) {
      return this.#fail(msg, ErrorCode.InsufficientCapacity, key, { reason: 'channel limit reached' });
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
      const binding: ChannelBinding<H, S> = {
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
  #indication(ctx: ClientContext<H>, msg: StunMessage, now: number): TurnAction<H, S>[] {
    if (msg.method !== Method.Send) return [];
    const alloc = this.#byClient.get(ctx.key);
    const target = alloc && this.#send(alloc, msg, now);
    return target ? [{ type: 'to-peer', allocation: alloc!, peer: target.peer, data: target.data }] : [];
  }

  /** RFC 8656 §11.1-11.2: a Send indication's checks; the peer and payload, or a counted drop. */
  #send(alloc: Allocation<H, S>, msg: StunMessage, now: number): SendTarget | undefined {
    if (alloc.state !== 'active') {
      this.#drops.noAllocation++;
      return undefined;
    }
    const peerAttr = findAttribute(msg, Attr.XorPeerAddress);
    const dataAttr = findAttribute(msg, Attr.Data);
    if (!peerAttr || !dataAttr || findUnknownAttributes(msg).length > 0) {
      this.#drops.malformed++;
      return undefined;
    }
    const peer = decodeXorAddress(peerAttr.value, msg.transactionId);
    if (!peer.ok || peer.value.family !== alloc.family) {
      this.#drops.malformed++;
      return undefined;
    }
    return this.#toPeer(alloc, peer.value, dataAttr.value, now);
  }

  /** RFC 8656 §11.2 on: the permission, the rate limit and the counts of a Send indication. */
  #toPeer(
    alloc: Allocation<H, S>,
    peer: TransportAddress,
    data: Uint8Array,
    now: number,
  ): SendTarget | undefined {
    if (!hasPermission(alloc, peer.address, now)) {
      this.#drops.noPermission++;
      return undefined;
    }
    if (!allowPacket(alloc.toPeerLimit, data.length, now)) {
      this.#drops.rateLimited++;
      return undefined;
    }
    const traffic = this.#traffic.get(alloc)!;
    traffic.packetsToPeer++;
    traffic.bytesToPeer += data.length;
    return { peer, data };
  }

  /** IPv4 addresses as text, by their 32-bit value: no string built per Send indication. */
  #ipv4Text(value: number): string {
    let text = this.#v4Text.get(value);
    if (text === undefined) {
      text = `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
      if (this.#v4Text.size >= IPV4_TEXT_CACHE_MAX) this.#v4Text.clear();
      this.#v4Text.set(value, text);
    }
    return text;
  }

  // ---- bookkeeping ----------------------------------------------------------------------------

  #end(alloc: Allocation<H, S>, reason: EndReason, now: number): TurnAction<H, S>[] {
    const wasPending = alloc.state === 'pending';
    this.#forget(alloc, reason, now);
    this.#pendingRequests.delete(alloc.id);
    // A pending allocation's socket is still being bound; relayBound() releases it when it arrives.
    const shell = alloc.shell;
    if (wasPending || shell === undefined) return [];
    alloc.shell = undefined;
    return [{ type: 'release-relay', allocation: alloc, shell, reason }];
  }

  #forget(alloc: Allocation<H, S>, reason: EndReason, now: number): void {
    const wasActive = alloc.state === 'active';
    alloc.state = 'ended';
    if (this.#byClient.get(alloc.client.key) === alloc) this.#byClient.delete(alloc.client.key);
    const userSet = this.#byUser.get(alloc.username);
    userSet?.delete(alloc);
    if (userSet?.size === 0) this.#byUser.delete(alloc.username);
    if (alloc.tenant !== undefined) {
      const tenantSet = this.#byTenant.get(alloc.tenant);
      tenantSet?.delete(alloc);
      if (tenantSet?.size === 0) this.#byTenant.delete(alloc.tenant);
    }
    alloc.channels.clear();
    alloc.peers.clear();
    if (wasActive) this.o.hooks?.allocationEnded?.(alloc, reason, now);
  }

  /** Counts one unauthenticated answer to `source`; false when it is over its limit. */
  #mayAnswerStranger(source: string, now: number): boolean {
    if (this.#strangers.take(source, now)) return true;
    this.#refusals.unauthenticatedRateLimited++;
    return false;
  }

  #remember(key: string, bytes: Uint8Array, now: number): void {
    if (this.#transactions.size >= TRANSACTION_CACHE_MAX) {
      this.#transactions.delete(this.#transactions.keys().next().value as string);
    }
    this.#transactions.delete(key);
    this.#transactions.set(key, { bytes, expiresAt: now + TRANSACTION_CACHE_MS });
  }
}
