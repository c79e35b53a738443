/**
 * The other relays as the backbone core knows them: built from directory snapshots, with what is
 * needed per frame (the registered backbone address a sender must send from, a link estimator, a
 * replay window) and per packet to route (which relay owns a relayed address and port).
 *
 * A relay that leaves the directory stays a peer while it still answers probes (Redis may be the
 * one away) and is dropped after `10 x deadAfterMs` of silence. A relay that restarted (a new
 * `startedAt`) or moved its backbone address gets a fresh replay window: its counter began again.
 */

import { greatCircleKm } from '../directory/geo.ts';
import type { RelayRecord } from '../directory/types.ts';
import { LinkEstimator } from '../measure/link-estimator.ts';
import { addressKey, type TransportAddress } from '../net/address.ts';
import { canonicalIp, parseHostPort } from '../net/ip.ts';
import type { BackboneTuning } from './defaults.ts';
import { DeliveryCheck } from './delivery.ts';
import { relayHash } from './relay-hash.ts';
import { ReplayWindow } from './replay-window.ts';

export interface Peer {
  readonly id: string;
  readonly hash: number;
  address: TransportAddress;
  /** addressKey(address): what a frame's UDP source must be. */
  addressKey: string;
  startedAt: number;
  readonly estimator: LinkEstimator;
  replay: ReplayWindow;
  /** Data frames sent to this peer (ours and forwarded) and received from it, since we started. */
  dataSent: number;
  dataReceived: number;
  /** Whether what we send it arrives, from its published count (delivery.ts). */
  readonly delivery: DeliveryCheck;
}

/** Past this many peers only some are probed each round (probeTargets). */
const PROBE_ALL = 32;
const PROBE_NEAREST = 16;
const PROBE_SAMPLE = 8;

export class PeerTable {
  readonly byId = new Map<string, Peer>();
  readonly byHash = new Map<number, Peer>();
  /** addressKey of a registered backbone address -> the peer registered there. */
  readonly byAddress = new Map<string, Peer>();
  /** The same by IP, then port: found per frame without building a key string. */
  readonly #byIp = new Map<string, Map<number, Peer>>();
  /** Relayed IP -> relays advertising it, with their port ranges. */
  readonly #relayed = new Map<string, { id: string; min: number; max: number }[]>();
  #relays: readonly RelayRecord[] = [];
  #rotation = 0;

  constructor(
    private readonly self: { readonly id: string; readonly lat: number; readonly lon: number },
    private readonly tuning: BackboneTuning,
  ) {}

  get relays(): readonly RelayRecord[] {
    return this.#relays;
  }

  /** The peer whose registered backbone address is `ip`:`port`, if any. */
  at(ip: string, port: number): Peer | undefined {
    return this.#byIp.get(ip)?.get(port);
  }

  /** The relay whose relayed port range holds `ip`:`port`, if any (this one included). */
  ownerOf(ip: string, port: number): string | undefined {
    const ranges = this.#relayed.get(ip);
    if (ranges) for (const r of ranges) if (port >= r.min && port <= r.max) return r.id;
    return undefined;
  }

  /** Takes a directory listing (records already validated by the store). Returns ids skipped. */
  update(relays: readonly RelayRecord[], now: number): string[] {
    this.#relays = relays;
    this.#relayed.clear();
    const skipped: string[] = [];
    const seen = new Set<string>();
    for (const r of relays) {
      const relayedIp = canonicalIp(r.relayedAddress) ?? r.relayedAddress;
      const ranges = this.#relayed.get(relayedIp) ?? [];
      ranges.push({ id: r.id, min: r.portRange[0], max: r.portRange[1] });
      this.#relayed.set(relayedIp, ranges);
      if (r.id === this.self.id || !r.backbone) continue;
      const hp = parseHostPort(r.backbone);
      if (!hp) {
        skipped.push(r.id);
        continue;
      }
      seen.add(r.id);
      const family = hp.host.includes(':') ? 6 : 4;
      const address: TransportAddress = { family, address: hp.host, port: hp.port };
      const key = addressKey(address);
      const known = this.byId.get(r.id);
      if (known) {
        if (known.addressKey !== key || known.startedAt !== r.startedAt) {
          this.byAddress.delete(known.addressKey);
          known.address = address;
          known.addressKey = key;
          known.startedAt = r.startedAt;
          known.replay = new ReplayWindow(this.tuning.replayWindow);
        }
        this.byAddress.set(key, known);
        continue;
      }
      const peer: Peer = {
        id: r.id,
        hash: relayHash(r.id),
        address,
        addressKey: key,
        startedAt: r.startedAt,
        estimator: new LinkEstimator({
          window: this.tuning.estimatorWindow,
          lossTimeoutMs: this.tuning.lossTimeoutMs,
        }),
        replay: new ReplayWindow(this.tuning.replayWindow),
        dataSent: 0,
        dataReceived: 0,
        delivery: new DeliveryCheck(),
      };
      this.byId.set(r.id, peer);
      this.byHash.set(peer.hash, peer);
      this.byAddress.set(key, peer);
    }
    for (const [id, peer] of this.byId) {
      if (seen.has(id) || peer.estimator.silenceMs(now) <= this.tuning.deadAfterMs * 10) continue;
      this.byId.delete(id);
      this.byHash.delete(peer.hash);
      if (this.byAddress.get(peer.addressKey) === peer) this.byAddress.delete(peer.addressKey);
    }
    this.#byIp.clear();
    for (const peer of this.byAddress.values()) {
      const ports = this.#byIp.get(peer.address.address) ?? new Map<number, Peer>();
      ports.set(peer.address.port, peer);
      this.#byIp.set(peer.address.address, ports);
    }
    return skipped;
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
