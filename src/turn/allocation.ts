/**
 * The TURN allocation model (RFC 8656 §2.2, §9, §12): an allocation, its permissions and its
 * channel bindings. Peers are indexed by IP first (permissions are per IP, §9) and then by port
 * (channels are per transport address), so the data path needs two map lookups and no strings
 * built per packet. Plain mutable objects owned by the engine; the relay shell reads them on the
 * data path. The engine is generic over the shell's types (the client handle, the relayed
 * socket state), so the shell gets its own types back without casts.
 */
import type { IpFamily, TransportAddress } from '../net/address.ts';
import { parseIp } from '../net/ip.ts';
import { createRateLimiter, type RateLimiter } from './rate-limit.ts';

export type ClientTransport = 'udp' | 'tcp' | 'tls';

/** One client 5-tuple as seen by a listener. The shell creates it and owns `handle`. */
export interface ClientContext<H = unknown> {
  /** Unique per 5-tuple (transport, client address, server address). */
  readonly key: string;
  readonly transport: ClientTransport;
  readonly client: TransportAddress;
  readonly server: TransportAddress;
  /** The shell's way to reach this client (a UDP socket and address, a TCP socket...). */
  readonly handle: H;
}

export type AllocationState = 'pending' | 'active' | 'ended';

export type EndReason =
  | 'expired'
  | 'refresh-zero'
  | 'client-closed'
  | 'bind-failed'
  | 'drain-timeout'
  | 'revoked'
  | 'max-age'
  | 'shutdown';

export interface PeerEntry<H = unknown, S extends object = object> {
  readonly ip: string;
  /** `ip` as 4 or 16 bytes, parsed once: Data indications to the client carry it. */
  readonly ipBytes: Uint8Array;
  /** Permission expiry in ms since the epoch; 0 when no permission is installed. */
  permissionExpiresAt: number;
  /** Channel bindings to ports of this IP. */
  readonly channelsByPort: Map<number, ChannelBinding<H, S>>;
}

export interface ChannelBinding<H = unknown, S extends object = object> {
  readonly channel: number;
  readonly peer: TransportAddress;
  readonly peerEntry: PeerEntry<H, S>;
  readonly allocation: Allocation<H, S>;
  expiresAt: number;
}

export interface TrafficCounters {
  packetsToPeer: number;
  bytesToPeer: number;
  packetsToClient: number;
  bytesToClient: number;
}

/**
 * One allocation. `H` is the shell's handle on the client (ClientContext), `S` the shell's state
 * for the relayed socket; the engine stores both and never looks inside them.
 */
export interface Allocation<H = unknown, S extends object = object> {
  readonly id: number;
  readonly client: ClientContext<H>;
  readonly username: string;
  readonly integrityKey: Uint8Array;
  /** The tenant a REST username names; undefined for static users. */
  readonly tenant: string | undefined;
  /** When the credential stops creating allocations (ms); undefined when it never expires. */
  readonly credentialExpiresAt: number | undefined;
  readonly family: IpFamily;
  readonly createdAt: number;
  state: AllocationState;
  expiresAt: number;
  /** The address the relayed socket is bound to, once bound. */
  relayed: TransportAddress | undefined;
  /** The address advertised to the client in XOR-RELAYED-ADDRESS (differs behind NAT). */
  advertised: TransportAddress | undefined;
  readonly peers: Map<string, PeerEntry<H, S>>;
  readonly channels: Map<number, ChannelBinding<H, S>>;
  readonly toPeerLimit: RateLimiter;
  readonly toClientLimit: RateLimiter;
  /** Packets and bytes relayed: counted by the engine, read-only to everyone else. */
  readonly traffic: Readonly<TrafficCounters>;
  /** Transaction of the Allocate request that created it, to recognise retransmissions (hex). */
  readonly allocateTransaction: string;
  /**
   * The shell's per-allocation state (the relayed socket): handed to the engine in relayBound, and
   * taken off again by the release-relay action that carries it back. Only the engine sets it.
   */
  shell: S | undefined;
}

export interface NewAllocation<H> {
  readonly id: number;
  readonly client: ClientContext<H>;
  readonly username: string;
  readonly integrityKey: Uint8Array;
  readonly tenant: string | undefined;
  readonly credentialExpiresAt: number | undefined;
  readonly family: IpFamily;
  readonly now: number;
  readonly expiresAt: number;
  readonly allocateTransaction: string;
  readonly maxPps: number;
  readonly maxBps: number;
  /** The engine's own counters, which the allocation shows read-only. */
  readonly traffic: TrafficCounters;
}

export function createAllocation<H, S extends object>(a: NewAllocation<H>): Allocation<H, S> {
  return {
    id: a.id,
    client: a.client,
    username: a.username,
    integrityKey: a.integrityKey,
    tenant: a.tenant,
    credentialExpiresAt: a.credentialExpiresAt,
    family: a.family,
    createdAt: a.now,
    state: 'pending',
    expiresAt: a.expiresAt,
    relayed: undefined,
    advertised: undefined,
    peers: new Map(),
    channels: new Map(),
    toPeerLimit: createRateLimiter(a.maxPps, a.maxBps, a.now),
    toClientLimit: createRateLimiter(a.maxPps, a.maxBps, a.now),
    traffic: a.traffic,
    allocateTransaction: a.allocateTransaction,
    shell: undefined,
  };
}

export function peerEntry<H, S extends object>(alloc: Allocation<H, S>, ip: string): PeerEntry<H, S> {
  let entry = alloc.peers.get(ip);
  if (!entry) {
    entry = {
      ip,
      ipBytes: parseIp(ip) ?? new Uint8Array(4),
      permissionExpiresAt: 0,
      channelsByPort: new Map(),
    };
    alloc.peers.set(ip, entry);
  }
  return entry;
}

/**
 * RFC 8656 §11.2: bind `channel` to `peer`, or refresh the binding it already has, and install or
 * refresh the peer's permission (a ChannelBind installs one too, §9), never shortening it. The
 * caller has checked that neither the channel nor the peer is bound to another (request-checks.ts).
 */
export function bindChannel<H, S extends object>(
  alloc: Allocation<H, S>,
  channel: number,
  peer: TransportAddress,
  permissionExpiresAt: number,
  expiresAt: number,
): void {
  const target = peerEntry(alloc, peer.address);
  target.permissionExpiresAt = Math.max(target.permissionExpiresAt, permissionExpiresAt);
  const bound = alloc.channels.get(channel);
  if (bound) {
    bound.expiresAt = expiresAt;
    return;
  }
  const binding: ChannelBinding<H, S> = { channel, peer, peerEntry: target, allocation: alloc, expiresAt };
  alloc.channels.set(channel, binding);
  target.channelsByPort.set(peer.port, binding);
}

export function hasPermission<H, S extends object>(
  alloc: Allocation<H, S>,
  ip: string,
  now: number,
): boolean {
  const entry = alloc.peers.get(ip);
  return entry !== undefined && entry.permissionExpiresAt > now;
}

/**
 * Drop expired permissions and channel bindings (RFC 8656 §9, §12). A peer entry is kept while a
 * permission or a channel still refers to it.
 */
export function expirePeers<H, S extends object>(alloc: Allocation<H, S>, now: number): void {
  for (const binding of alloc.channels.values()) {
    if (binding.expiresAt <= now) {
      alloc.channels.delete(binding.channel);
      binding.peerEntry.channelsByPort.delete(binding.peer.port);
    }
  }
  for (const [ip, entry] of alloc.peers) {
    if (entry.permissionExpiresAt <= now && entry.channelsByPort.size === 0) alloc.peers.delete(ip);
  }
}
