/**
 * The relay directory as the rest of the system sees it: what a relay registers about itself, the
 * link measurements relays publish, the events that announce changes, and the port (interface)
 * that an in-memory store and the Redis store both implement. Times are ms since the epoch and
 * always come in as parameters.
 */
import type { Revocations, RevocationTarget } from '../credentials/revocation.ts';

export type RelayState = 'active' | 'draining';

export interface RelayRecord {
  readonly id: string;
  readonly region: string;
  readonly lat: number;
  readonly lon: number;
  /** Standard TURN URLs clients can use, e.g. `turn:203.0.113.5:3478?transport=udp`. */
  readonly turnUrls: readonly string[];
  /**
   * Where other relays reach this one's backbone port: `ip:port` or `[ipv6]:port` ('' without a
   * backbone). With several threads, thread 0's (the one that probes).
   */
  readonly backbone: string;
  /**
   * Each backbone thread (--workers N), thread i at index i: its backbone address and its slice of
   * `portRange`. Entry 0's address is `backbone`. Absent in records from before threads, which
   * read as one thread at `backbone` owning the whole range (src/backbone/threads.ts).
   */
  readonly backboneThreads?: readonly BackboneThreadRecord[];
  /**
   * True when its backbone takes bundles (frame type 4, src/backbone/bundle.ts). Absent in records
   * from before bundles: other relays then send it every data frame alone.
   */
  readonly backboneBundles?: boolean;
  /**
   * This run of the relay process: 16 random bytes as 32 lowercase hex digits, new at every start.
   * Its backbone frames are sealed with keys derived from the mesh key and this run
   * (src/backbone/key-ring.ts); a record without it (a relay from before version-3 frames) is
   * not a backbone peer.
   */
  readonly backboneRun?: string;
  /** The address relayed sockets are advertised on, and their port range. */
  readonly relayedAddress: string;
  readonly portRange: readonly [number, number];
  /** Allocations this relay is sized for. */
  readonly capacity: number;
  readonly load: { readonly allocations: number; readonly pps: number; readonly bps: number };
  readonly state: RelayState;
  readonly version: string;
  readonly startedAt: number;
  readonly updatedAt: number;
  /** HTTP URL clients time to measure RTT to this relay (`GET /ping`, CORS open, no caching). */
  readonly pingUrl?: string;
}

/** One backbone thread of a relay: where it listens and the relayed ports it owns. */
export interface BackboneThreadRecord {
  readonly backbone: string;
  readonly portRange: readonly [number, number];
}

/** What one relay knows about its link to another, from probes. */
export interface LinkMetrics {
  /** Smoothed RTT (RFC 6298 style) and recent percentiles. */
  readonly rttMs: number;
  readonly rttP50Ms: number;
  readonly rttP95Ms: number;
  /** Interarrival jitter, RFC 3550 §6.4.1 style. */
  readonly jitterMs: number;
  /** Lost probes over the sliding window, 0..1. */
  readonly lossRate: number;
  /** Replies received over the link's lifetime. */
  readonly samples: number;
}

export interface LinkRecord extends LinkMetrics {
  readonly from: string;
  readonly to: string;
  readonly updatedAt: number;
  /**
   * Backbone data frames `from` has received from `to` since it started: `to` compares it with
   * what it sent to find data lost on a link that answers probes (src/backbone/delivery.ts).
   */
  readonly dataIn?: number;
  /**
   * Backbone data frames `to` originated that reached `from` as their final hop, whatever relays
   * they crossed, since `from` started: `to` compares it with what it originated toward `from` to
   * find a path that loses data past its first link, e.g. through a gray relay
   * (src/backbone/end-to-end.ts). Absent from relays before that check: unknown.
   */
  readonly endIn?: number;
}

/** Directory listings are ordered by relay id. */
export function compareRelayIds(a: { id: string }, b: { id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export type DirectoryEvent =
  | { readonly type: 'relay-up' | 'relay-draining' | 'relay-down'; readonly id: string; readonly at: number }
  | { readonly type: 'links'; readonly id: string; readonly at: number }
  | {
      readonly type: 'revoked';
      readonly id: string;
      readonly target: RevocationTarget;
      readonly at: number;
    };

export interface RelayDirectory {
  /** Insert or refresh a relay; it stays listed until `now + ttlMs` unless refreshed again. */
  register(relay: RelayRecord, ttlMs: number, now: number): Promise<void>;
  /** Remove a relay at once (clean shutdown). */
  deregister(id: string, now: number): Promise<void>;
  get(id: string, now: number): Promise<RelayRecord | undefined>;
  /** Live relays, ordered by id. */
  list(now: number): Promise<RelayRecord[]>;
  /** Live relays within `radiusKm` of a point, nearest first. */
  nearby(
    lat: number,
    lon: number,
    radiusKm: number,
    now: number,
  ): Promise<{ id: string; distanceKm: number }[]>;
  /** Replace the links measured from one relay; they vanish after `ttlMs` unless published again. */
  putLinks(from: string, links: readonly LinkRecord[], ttlMs: number, now: number): Promise<void>;
  /** Every live link measurement. */
  links(now: number): Promise<LinkRecord[]>;
  /** Revoke a username, a client or a tenant until `until` (unix ms); a later `until` wins. */
  revoke(target: RevocationTarget, until: number): Promise<void>;
  /** Revocations not yet lapsed, each list sorted. */
  revoked(now: number): Promise<Revocations>;
  publish(event: DirectoryEvent): Promise<void>;
  /** Resolves once subscribed; returns the function that unsubscribes. */
  subscribe(handler: (event: DirectoryEvent) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
