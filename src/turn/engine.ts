/**
 * The TURN server state machine (RFC 8656 over RFC 8489). It takes decoded events (a STUN message
 * from a client, a relayed socket bound, a datagram from a peer, a tick of the clock) and returns
 * what the shell must do: reply to the client, bind or release a relayed socket, send to a peer.
 * It owns allocations, permissions, channels, authentication, quotas and the retransmission cache,
 * with the help of allocation-book.ts (indexes, traffic counters, reservations, quota counts),
 * request-checks.ts (what a request asks for, or its refusal), transaction-cache.ts and
 * allocation.ts; its options are in engine-options.ts, its actions and counters in
 * engine-actions.ts. The data path (channelFromClient, channelFromAllocation, fromPeer,
 * sendFromAllocation) stays here, a few map lookups and no objects per packet beyond the output.
 * No sockets, no timers, no Date.now(): `now` (ms since the epoch) is always a parameter.
 */
import { parseTurnRestUsername } from '../credentials/turn-rest.ts';
import { copyBytes } from '../crypto/encoding.ts';
import { sourceKey } from '../limits/connection-limiter.ts';
import { SourceLimiter } from '../limits/source-limiter.ts';
import type { TransportAddress } from '../net/address.ts';
import { decodeXorAddress, encodeU32, encodeXorAddress } from '../stun/attributes.ts';
import { channelDataLength, encodeChannelData } from '../stun/channel-data.ts';
import { AddressFamily, Attr, ErrorCode, MAGIC_COOKIE, MessageClass, Method } from '../stun/constants.ts';
import {
  decodeMessage,
  encodeDataIndication,
  findAttribute,
  fingerprintMatches,
  type StunMessage,
  splitMessageType,
} from '../stun/message.ts';
import {
  type Allocation,
  bindChannel,
  type ChannelBinding,
  type ClientContext,
  type EndReason,
  expirePeers,
  hasPermission,
  peerEntry,
} from './allocation.ts';
import { AllocationBook } from './allocation-book.ts';
import type { DropCounters, RefusalCounters, RelayBound, SendTarget, TurnAction } from './engine-actions.ts';
import {
  DEFAULT_MAX_CHANNELS,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_UNAUTHENTICATED_LIMIT,
  type TurnEngineOptions,
} from './engine-options.ts';
import { allowPacket } from './rate-limit.ts';
import {
  type PeerRules,
  type Refusal,
  readAllocate,
  readChannelBind,
  readLifetime,
  readPermissionPeers,
  readRefresh,
} from './request-checks.ts';
import {
  type AuthOutcome,
  authenticate,
  type ErrorExtras,
  findUnknownAttributes,
  Responder,
} from './request-support.ts';
import { SEND_INDICATION_TYPE, scanSendIndication, xorIpv4Text, xorIpv6Text } from './send-indication.ts';
import { TransactionCache } from './transaction-cache.ts';

export class TurnEngine<H = unknown, S extends object = object> {
  readonly #drops: DropCounters = {
    noAllocation: 0,
    noChannel: 0,
    noPermission: 0,
    rateLimited: 0,
    malformed: 0,
  };
  readonly #refusals: RefusalCounters = { requestTooLarge: 0, unauthenticatedRateLimited: 0 };
  readonly #book = new AllocationBook<H, S>();
  readonly #transactions = new TransactionCache();
  /** Allocate requests waiting for their relayed socket (relayBound answers them), by allocation id. */
  readonly #pendingRequests = new Map<number, StunMessage>();
  readonly #respond: Responder;
  readonly #strangers: SourceLimiter;
  readonly #maxRequest: number;
  readonly #peerRules: PeerRules;
  /** The text of peer IPv4 addresses seen in Send indications (xorIpv4Text's cache). */
  readonly #v4Text = new Map<number, string>();
  #draining = false;
  #alternate: TransportAddress | undefined;

  constructor(private readonly o: TurnEngineOptions<H, S>) {
    this.#respond = new Responder(o.software, o.transactionSeed, o.crypto);
    this.#strangers = new SourceLimiter(o.unauthenticatedLimit ?? DEFAULT_UNAUTHENTICATED_LIMIT);
    this.#maxRequest = o.limits.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.#peerRules = {
      policy: o.peerPolicy,
      maxPeers: o.limits.maxPeersPerAllocation,
      maxChannels: o.limits.maxChannelsPerAllocation ?? DEFAULT_MAX_CHANNELS,
    };
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
    return this.#book.reservations.size;
  }

  get allocationCount(): number {
    return this.#book.byClient.size;
  }

  get draining(): boolean {
    return this.#draining;
  }

  allocations(): IterableIterator<Allocation<H, S>> {
    return this.#book.byClient.values();
  }

  allocationFor(clientKey: string): Allocation<H, S> | undefined {
    return this.#book.byClient.get(clientKey);
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
    const cached = this.#transactions.get(txKey, now);
    if (cached) return [{ type: 'reply', client: ctx, bytes: cached }];

    const actions: TurnAction<H, S>[] = [];
    const reply = this.#request(ctx, msg, now, actions);
    if (reply) {
      // Only authenticated requests leave state behind: unauthenticated traffic costs no memory.
      if (reply.authenticated) this.#transactions.remember(txKey, reply.bytes, now);
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
    if (reservationToken) this.#book.reservations.add(reservationToken, alloc.username, now);
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
    this.#transactions.remember(`${alloc.client.key}/${this.#respond.transactionHex(req)}`, bytes, now);
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
    const alloc = this.#book.byClient.get(clientKey);
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
    const traffic = this.#book.traffic.get(alloc)!;
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
    const traffic = this.#book.traffic.get(alloc)!;
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
      size === 4 ? xorIpv4Text(bytes, peerAt + 4, this.#v4Text) : xorIpv6Text(bytes, peerAt + 4);
    return this.#toPeer(
      alloc,
      { family: alloc.family, address, port },
      bytes.subarray(dataAt, dataAt + dataLength),
      now,
    );
  }

  /** The client's connection closed (TCP/TLS): its allocation ends (RFC 8656 §3.1). */
  clientClosed(clientKey: string, now: number): TurnAction<H, S>[] {
    const alloc = this.#book.byClient.get(clientKey);
    return alloc ? this.#end(alloc, 'client-closed', now) : [];
  }

  /** End one allocation for an outside reason (drain timeout, revocation, shutdown). */
  end(alloc: Allocation<H, S>, reason: EndReason, now: number): TurnAction<H, S>[] {
    return alloc.state === 'ended' ? [] : this.#end(alloc, reason, now);
  }

  /** End every allocation of a username (revocation). */
  endUser(username: string, reason: EndReason, now: number): TurnAction<H, S>[] {
    const actions: TurnAction<H, S>[] = [];
    for (const alloc of this.#book.forUser(username)) actions.push(...this.#end(alloc, reason, now));
    return actions;
  }

  /** End every allocation whose username `revoked` matches (by username, client or tenant). */
  endRevoked(revoked: (username: string) => boolean, now: number): TurnAction<H, S>[] {
    const actions: TurnAction<H, S>[] = [];
    for (const username of this.#book.usernames()) {
      if (!revoked(username)) continue;
      for (const alloc of this.#book.forUser(username)) actions.push(...this.#end(alloc, 'revoked', now));
    }
    return actions;
  }

  /** Call about once a second: expires allocations, permissions, channels and cached responses. */
  tick(now: number): TurnAction<H, S>[] {
    const actions: TurnAction<H, S>[] = [];
    for (const alloc of [...this.#book.byClient.values()]) {
      if (this.#pastMaxAge(alloc, now)) actions.push(...this.#end(alloc, 'max-age', now));
      else if (alloc.expiresAt <= now) actions.push(...this.#end(alloc, 'expired', now));
      else expirePeers(alloc, now);
    }
    this.#transactions.expire(now);
    for (const r of this.#book.reservations.expire(now))
      actions.push({ type: 'release-reservation', token: r.token });
    return actions;
  }

  // ---- requests -------------------------------------------------------------------------------

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

    const existing = this.#book.byClient.get(ctx.key);
    if (msg.method === Method.Allocate && existing?.state === 'pending') {
      // A retransmission while the relayed socket is being bound: the answer is on its way.
      if (existing.allocateTransaction === this.#respond.transactionHex(msg)) return undefined;
    }
    // Requests on a live allocation are checked against the key that created it, expired or not.
    const bound = msg.method !== Method.Allocate && existing?.state === 'active' ? existing : undefined;
    const { realm, auth: authenticator, nonces, hooks } = this.o;
    const source = ctx.client.address;
    const auth = authenticate(msg, now, realm, authenticator, nonces, this.#respond, source, bound);
    if (!auth.ok) {
      hooks?.authFailed?.(auth.reason);
      hooks?.requestFailed?.(msg.method, auth.code);
      return plain(auth.reply);
    }
    const bytes = this.#authenticatedRequest(ctx, msg, auth, existing, now, actions);
    // Count successes (not Allocate's, which answers from relayBound) by whether they rode on an
    // expired credential: how many calls already outlive theirs.
    if (bytes && splitMessageType((bytes[0]! << 8) | bytes[1]!).cls === MessageClass.SuccessResponse) {
      const expiredAt = existing?.credentialExpiresAt;
      hooks?.requestSucceeded?.(msg.method, expiredAt !== undefined && expiredAt <= now);
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
    const { key } = auth;
    if (msg.method === Method.Allocate) return this.#allocate(ctx, msg, auth, existing, now, actions);
    // RFC 8656 §5: requests on an allocation must use the credentials that created it.
    if (existing && existing.username !== auth.username)
      return this.#fail(msg, ErrorCode.WrongCredentials, key);
    // RFC 8656 §7.3, §9.1, §11.2: Refresh, CreatePermission and ChannelBind need a live allocation.
    if (existing?.state !== 'active') return this.#fail(msg, ErrorCode.AllocationMismatch, key);
    switch (msg.method) {
      case Method.Refresh:
        return this.#refresh(msg, key, existing, now, actions);
      case Method.CreatePermission:
        return this.#createPermission(msg, key, existing, now);
      default:
        return this.#channelBind(msg, key, existing, now);
    }
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

  /** A refusal from request-checks.ts, answered (and counted) like any other failure. */
  #refuse(msg: StunMessage, key: Uint8Array, refusal: Refusal): Uint8Array {
    return this.#fail(msg, refusal.code, key, refusal.extra);
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
    const req = readAllocate(msg, ctx.client.family, this.o.relayFamilies);
    if (!req.ok) return this.#refuse(msg, key, req);
    if (this.#draining) {
      if (this.#alternate) {
        return this.#fail(msg, ErrorCode.TryAlternate, key, { alternate: this.#alternate });
      }
      return this.#fail(msg, ErrorCode.InsufficientCapacity, key);
    }
    // RFC 8656 §7.2: a RESERVATION-TOKEN the server cannot honour gets 508 (Insufficient Capacity).
    const { token } = req;
    const held = token ? this.#book.reservations.get(token) : undefined;
    if (token && !held)
      return this.#fail(msg, ErrorCode.InsufficientCapacity, key, { reason: 'no such reservation' });
    const rest = parseTurnRestUsername(auth.username);
    const tenant = rest.ok ? rest.tenant : undefined;
    // Issue 12: EVEN-PORT with R takes two ports, its own and the one it reserves (admit).
    const wanted = req.reserveNext ? 2 : 1;
    const quota = this.#book.admit(auth.username, tenant, held, wanted, this.o.limits);
    if (quota) return this.#refuse(msg, key, quota);

    const lifetime = readLifetime(msg, this.o.lifetimes);
    if (typeof lifetime !== 'number') return this.#refuse(msg, key, lifetime);
    const alloc = this.#book.add({
      client: ctx,
      username: auth.username,
      integrityKey: key,
      tenant,
      credentialExpiresAt: rest.ok ? rest.expiry * 1000 : undefined,
      family: req.family,
      now,
      expiresAt: now + Math.min(lifetime, this.o.lifetimes.maxAllocationAge) * 1000,
      allocateTransaction: this.#respond.transactionHex(msg),
      maxPps: this.o.limits.allocPps,
      maxBps: this.o.limits.allocBps,
    });
    this.#pendingRequests.set(alloc.id, detached(msg));
    if (token) this.#book.reservations.take(token);
    actions.push({
      type: 'bind-relay',
      allocation: alloc,
      evenPort: req.evenPort,
      reserveNext: req.reserveNext,
      reservationToken: token ? copyBytes(token) : undefined,
    });
    return undefined;
  }

  /** RFC 8656 §7.3 */
  #refresh(
    msg: StunMessage,
    key: Uint8Array,
    alloc: Allocation<H, S>,
    now: number,
    actions: TurnAction<H, S>[],
  ): Uint8Array {
    const requested = readRefresh(msg, alloc, this.o.lifetimes);
    if (typeof requested !== 'number') return this.#refuse(msg, key, requested);
    if (requested === 0) {
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
    // RFC 8656 §7.3: the server picks the lifetime; never past the maximum allocation age.
    const deadline = alloc.createdAt + this.o.lifetimes.maxAllocationAge * 1000;
    alloc.expiresAt = Math.min(now + requested * 1000, deadline);
    const lifetime = Math.max(1, Math.floor((alloc.expiresAt - now) / 1000));
    return this.#respond.success(msg, key, [[Attr.Lifetime, encodeU32(lifetime)]]);
  }

  #pastMaxAge(alloc: Allocation<H, S>, now: number): boolean {
    return now - alloc.createdAt >= this.o.lifetimes.maxAllocationAge * 1000;
  }

  /** RFC 8656 §9.1 (all-or-nothing over the listed peers). */
  #createPermission(msg: StunMessage, key: Uint8Array, alloc: Allocation<H, S>, now: number): Uint8Array {
    const req = readPermissionPeers(msg, alloc, this.#peerRules);
    if (!req.ok) return this.#refuse(msg, key, req);
    const expiresAt = now + this.o.lifetimes.permission * 1000;
    for (const p of req.peers) peerEntry(alloc, p.address).permissionExpiresAt = expiresAt;
    return this.#respond.success(msg, key, []);
  }

  /** RFC 8656 §11.2 */
  #channelBind(msg: StunMessage, key: Uint8Array, alloc: Allocation<H, S>, now: number): Uint8Array {
    const req = readChannelBind(msg, alloc, this.#peerRules);
    if (!req.ok) return this.#refuse(msg, key, req);
    const { lifetimes } = this.o;
    bindChannel(
      alloc,
      req.channel,
      req.peer,
      now + lifetimes.permission * 1000,
      now + lifetimes.channel * 1000,
    );
    return this.#respond.success(msg, key, []);
  }

  /** RFC 8656 §11.1 Send indication; other indications are ignored. Never answered. */
  #indication(ctx: ClientContext<H>, msg: StunMessage, now: number): TurnAction<H, S>[] {
    if (msg.method !== Method.Send) return [];
    const alloc = this.#book.byClient.get(ctx.key);
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
    const traffic = this.#book.traffic.get(alloc)!;
    traffic.packetsToPeer++;
    traffic.bytesToPeer += data.length;
    return { peer, data };
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
    this.#book.remove(alloc);
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
}

/**
 * A request kept past the call that decoded it, on bytes of its own: the shell's may be reused
 * before the relayed socket is bound (with native I/O they are a view of the addon's receive area,
 * which the next batch of datagrams overwrites). One copy per Allocate.
 */
function detached(msg: StunMessage): StunMessage {
  const again = decodeMessage(copyBytes(msg.raw));
  return again.ok ? again.message : msg;
}
