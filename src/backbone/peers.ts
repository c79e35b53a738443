/**
 * The other relays as the backbone core knows them: built from directory snapshots, with what is
 * needed per frame (the registered backbone address a sender must send from, a link estimator, a
 * replay window) and per packet to route (which relay owns a relayed address and port).
 *
 * A relay with several backbone threads (threads.ts) is one peer with one thread entry each: its
 * address, its sender id, its relayed port slice and its own replay window. Probes, link estimates
 * and data counts are per relay (thread 0 probes); replay windows and the address a frame must
 * come from are per thread. This relay's own threads (from its own record) are known too, so a
 * frame one of them passes to another is accepted (core.ts).
 *
 * A relay that leaves the directory stays a peer while it still answers probes (Redis may be the
 * one away) and is dropped after `10 x deadAfterMs` of silence. A relay that restarted (a new
 * `backboneRun` or `startedAt`) or moved or re-split its threads gets fresh replay windows: its
 * counters began again. Each peer carries the keys of its run (key-ring.ts), derived once per run
 * and per key rotation: a frame is verified with its sender's, and a relay whose record has no
 * valid `backboneRun` (one from before version-3 frames) cannot be a backbone peer.
 */

import { greatCircleKm } from '../directory/geo.ts';
import type { RelayRecord } from '../directory/types.ts';
import { LinkEstimator } from '../measure/link-estimator.ts';
import { addressKey, type TransportAddress } from '../net/address.ts';
import { canonicalIp, parseHostPort } from '../net/ip.ts';
import type { BundleWriter } from './bundle.ts';
import type { BackboneTuning } from './defaults.ts';
import { DeliveryCheck } from './delivery.ts';
import { type KeyRing, parseRunId, type RunKeys } from './key-ring.ts';
import { relayHash } from './relay-hash.ts';
import { ReplayWindow } from './replay-window.ts';
import { type PortSlice, type RelayThreads, senderId } from './threads.ts';

/** One backbone thread of a peer (thread 0 alone for a one-thread or legacy relay). */
export interface PeerThread extends PortSlice {
  readonly peer: Peer;
  readonly index: number;
  /** The sender id it seals with: the relay hash plus its index. */
  readonly sender: number;
  readonly address: TransportAddress;
  /** addressKey(address): what the UDP source of a frame it made must be. */
  readonly addressKey: string;
  readonly replay: ReplayWindow;
  /** The bundle being filled for it in this event-loop turn (core.ts), made on first use. */
  bundle: BundleWriter | undefined;
}

export interface Peer extends RelayThreads {
  readonly id: string;
  readonly hash: number;
  /** Thread 0's address, where probes go. */
  address: TransportAddress;
  startedAt: number;
  /** Thread i at index i. */
  threads: readonly PeerThread[];
  /** Its record's `backboneRun`, as text and bytes. */
  run: string;
  runId: Uint8Array;
  /** The keys its frames are sealed with in that run, derived on first use (PeerTable.keysFor). */
  keys: RunKeys | undefined;
  legacy: boolean;
  /** Its record says it takes bundles (`backboneBundles`): data frames to it may go bundled. */
  bundles: boolean;
  /** The threads' addresses and slices, to notice a change. */
  layout: string;
  readonly estimator: LinkEstimator;
  /** Data frames sent to this peer (ours and forwarded) and received from it, since we started. */
  dataSent: number;
  dataReceived: number;
  /**
   * End to end (end-to-end.ts): data frames this relay originated toward this peer, and data
   * frames this peer originated that reached this relay as their final hop, since we started.
   */
  endSent: number;
  endReceived: number;
  /** Whether what we send it arrives, from its published count (delivery.ts). */
  readonly delivery: DeliveryCheck;
}

/** Why a relay with a backbone address is not a peer: it cannot say which keys seal its frames. */
const NO_RUN = 'no backboneRun in its record (a relay from before version-3 frames): upgrade it';

/** Past this many peers only some are probed each round (probeTargets). */
const PROBE_ALL = 32;
const PROBE_NEAREST = 16;
const PROBE_SAMPLE = 8;

export class PeerTable {
  readonly byId = new Map<string, Peer>();
  /** Relay hash (a frame's target) -> peer. */
  readonly byHash = new Map<number, Peer>();
  /** Sender id (a frame's sender) -> the peer thread that seals with it. */
  readonly bySender = new Map<number, PeerThread>();
  /** This relay's own threads, from its own record (none until it is listed). */
  own: readonly PeerThread[] = [];
  /** Registered backbone address by IP, then port: found per frame without building a key string. */
  readonly #byIp = new Map<string, Map<number, PeerThread>>();
  /** Relayed IP -> relays advertising it, with their port ranges. */
  readonly #relayed = new Map<string, { id: string; min: number; max: number }[]>();
  #relays: readonly RelayRecord[] = [];
  #rotation = 0;
  /** This relay as its own record describes it. */
  #self: Peer | undefined;

  #ring: KeyRing;

  constructor(
    private readonly self: { readonly id: string; readonly lat: number; readonly lon: number },
    private readonly tuning: BackboneTuning,
    ring: KeyRing,
  ) {
    this.#ring = ring;
  }

  /** New mesh keys (rotation): every peer's run keys are derived again on next use. */
  rekey(ring: KeyRing): void {
    this.#ring = ring;
    for (const peer of this.byId.values()) peer.keys = undefined;
    if (this.#self) this.#self.keys = undefined;
  }

  /** The keys of `peer`'s run, derived once per run and key rotation (one HMAC per mesh key). */
  keysFor(peer: Peer): RunKeys {
    if (peer.keys === undefined) peer.keys = this.#ring.forRun(peer.runId);
    return peer.keys;
  }

  /** The run keys of the relay thread that seals with `sender` (this relay's other threads included). */
  keysOf(sender: number): RunKeys | undefined {
    const t = this.bySender.get(sender);
    if (t) return this.keysFor(t.peer);
    for (const own of this.own) if (own.sender === sender) return this.keysFor(own.peer);
    return undefined;
  }

  get relays(): readonly RelayRecord[] {
    return this.#relays;
  }

  /** The peer thread (or own thread) whose registered backbone address is `ip`:`port`, if any. */
  at(ip: string, port: number): PeerThread | undefined {
    return this.#byIp.get(ip)?.get(port);
  }

  /** The relay whose relayed port range holds `ip`:`port`, if any (this one included). */
  ownerOf(ip: string, port: number): string | undefined {
    const ranges = this.#relayed.get(ip);
    if (ranges) for (const r of ranges) if (port >= r.min && port <= r.max) return r.id;
    return undefined;
  }

  /** Takes a directory listing (records already validated by the store). Returns relays skipped, and why. */
  update(relays: readonly RelayRecord[], now: number): { id: string; why: string }[] {
    this.#relays = relays;
    this.#relayed.clear();
    const skipped: { id: string; why: string }[] = [];
    const seen = new Set<string>();
    for (const r of relays) {
      const relayedIp = canonicalIp(r.relayedAddress) ?? r.relayedAddress;
      const ranges = this.#relayed.get(relayedIp) ?? [];
      ranges.push({ id: r.id, min: r.portRange[0], max: r.portRange[1] });
      this.#relayed.set(relayedIp, ranges);
      if (!r.backbone) continue;
      const layout = threadLayout(r);
      const run = r.backboneRun === undefined ? undefined : parseRunId(r.backboneRun);
      if (!layout || !run) {
        const why = layout ? NO_RUN : 'backbone address is not ip:port';
        if (r.id !== this.self.id) skipped.push({ id: r.id, why });
        continue;
      }
      const key = layout.map((t) => `${addressKey(t.address)}/${t.minPort}-${t.maxPort}`).join();
      if (r.id === this.self.id) {
        if (this.#self?.layout !== key || this.#self.run !== r.backboneRun)
          this.#self = this.#newPeer(r, layout, key, run);
        continue;
      }
      seen.add(r.id);
      const known = this.byId.get(r.id);
      if (known) {
        const restarted = known.run !== r.backboneRun;
        if (known.layout !== key || known.startedAt !== r.startedAt || restarted) {
          for (const t of known.threads) this.bySender.delete(t.sender);
          this.#setThreads(known, r, layout, key);
          known.startedAt = r.startedAt;
        }
        if (restarted) {
          known.run = r.backboneRun!;
          known.runId = run;
          known.keys = undefined;
        }
        continue;
      }
      const peer = this.#newPeer(r, layout, key, run);
      this.byId.set(r.id, peer);
      this.byHash.set(peer.hash, peer);
    }
    for (const [id, peer] of this.byId) {
      if (seen.has(id) || peer.estimator.silenceMs(now) <= this.tuning.deadAfterMs * 10) continue;
      this.byId.delete(id);
      this.byHash.delete(peer.hash);
      for (const t of peer.threads) if (this.bySender.get(t.sender) === t) this.bySender.delete(t.sender);
    }
    // Own threads only matter with several (a frame passed between them); one would be our own address.
    this.own = this.#self && this.#self.threads.length > 1 ? this.#self.threads : [];
    this.#byIp.clear();
    const place = (t: PeerThread) => {
      const ports = this.#byIp.get(t.address.address) ?? new Map<number, PeerThread>();
      ports.set(t.address.port, t);
      this.#byIp.set(t.address.address, ports);
    };
    for (const peer of this.byId.values()) for (const t of peer.threads) place(t);
    for (const t of this.own) place(t);
    return skipped;
  }

  #newPeer(r: RelayRecord, layout: readonly ThreadLayout[], key: string, run: Uint8Array): Peer {
    const peer: Peer = {
      id: r.id,
      hash: relayHash(r.id),
      address: layout[0]!.address,
      startedAt: r.startedAt,
      threads: [],
      run: r.backboneRun!,
      runId: run,
      keys: undefined,
      legacy: r.backboneThreads === undefined,
      bundles: r.backboneBundles === true,
      layout: key,
      estimator: new LinkEstimator({
        window: this.tuning.estimatorWindow,
        lossTimeoutMs: this.tuning.lossTimeoutMs,
      }),
      dataSent: 0,
      dataReceived: 0,
      endSent: 0,
      endReceived: 0,
      delivery: new DeliveryCheck(),
    };
    this.#setThreads(peer, r, layout, key);
    return peer;
  }

  /** New thread entries (fresh replay windows) for `peer` from its record. */
  #setThreads(peer: Peer, r: RelayRecord, layout: readonly ThreadLayout[], key: string): void {
    const threads = layout.map(
      (t, index): PeerThread => ({
        peer,
        index,
        sender: senderId(peer.hash, index),
        address: t.address,
        addressKey: addressKey(t.address),
        minPort: t.minPort,
        maxPort: t.maxPort,
        replay: new ReplayWindow(this.tuning.replayWindow),
        bundle: undefined,
      }),
    );
    peer.threads = threads;
    peer.address = threads[0]!.address;
    peer.legacy = r.backboneThreads === undefined;
    peer.bundles = r.backboneBundles === true;
    peer.layout = key;
    if (r.id !== this.self.id) for (const t of threads) this.bySender.set(t.sender, t);
  }

  /**
   * Which peers to probe this round: all of them while the mesh is small; past PROBE_ALL, the
   * PROBE_NEAREST nearest (they carry most paths), the next hops in use, and a rotating sample
   * of PROBE_SAMPLE others, so every link is measured now and then and a better far path can
   * still be found.
   */
  probeTargets(nextHops: Iterable<string>): Peer[] {
    const peers = [...this.byId.values()];
    if (peers.length <= PROBE_ALL) return peers;
    const place = new Map(this.#relays.map((r) => [r.id, r] as const));
    const distance = (p: Peer) => {
      const r = place.get(p.id);
      return r ? greatCircleKm(this.self.lat, this.self.lon, r.lat, r.lon) : Number.POSITIVE_INFINITY;
    };
    const chosen = new Set(peers.sort((a, b) => distance(a) - distance(b)).slice(0, PROBE_NEAREST));
    for (const id of nextHops) {
      const next = this.byId.get(id);
      if (next) chosen.add(next);
    }
    const rest = peers.filter((p) => !chosen.has(p));
    for (let i = 0; i < Math.min(PROBE_SAMPLE, rest.length); i++)
      chosen.add(rest[(this.#rotation + i) % rest.length]!);
    this.#rotation = (this.#rotation + PROBE_SAMPLE) % Math.max(1, rest.length);
    return [...chosen];
  }
}

interface ThreadLayout extends PortSlice {
  readonly address: TransportAddress;
}

/** A record's threads (one, at `backbone` with the whole range, for a legacy record); undefined if an address is not ip:port. */
function threadLayout(r: RelayRecord): ThreadLayout[] | undefined {
  const list = r.backboneThreads ?? [{ backbone: r.backbone, portRange: r.portRange }];
  const out: ThreadLayout[] = [];
  for (const t of list) {
    const hp = parseHostPort(t.backbone);
    if (!hp) return undefined;
    const address: TransportAddress = {
      family: hp.host.includes(':') ? 6 : 4,
      address: hp.host,
      port: hp.port,
    };
    out.push({ address, minPort: t.portRange[0], maxPort: t.portRange[1] });
  }
  return out;
}
