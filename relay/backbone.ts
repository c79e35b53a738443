/**
 * The relay's backbone: one UDP socket for relay-to-relay frames. It probes every other relay
 * in the directory, keeps an estimate per link, publishes its links to the directory, computes
 * overlay paths with src/routing from its own fresh links plus everyone else's published ones,
 * and carries data: packets an allocation sends to another relay's relayed address leave through
 * the backbone along the chosen path (maybe through a third relay) instead of plain UDP, and
 * frames for this relay's relayed addresses are delivered into the owning allocation as if they
 * had come straight from the sender's relayed address (subject to its permissions).
 */
import dgram from 'node:dgram';
import {
  decodeFrame,
  encodeDataFrame,
  encodeProbe,
  encodeProbeReply,
  FrameType,
  forwardFrame,
  frameDestination,
  frameSource,
  wireAddress,
} from '../src/backbone/frame.ts';
import { createKeyRing, type KeyRing } from '../src/backbone/key-ring.ts';
import { relayHash } from '../src/backbone/relay-hash.ts';
import { greatCircleKm } from '../src/directory/geo.ts';
import type { LinkRecord, RelayDirectory, RelayRecord } from '../src/directory/types.ts';
import { faultFor, impair, type LinkFault } from '../src/faults/link-fault.ts';
import { LinkEstimator } from '../src/measure/link-estimator.ts';
import { addressKey, type TransportAddress } from '../src/net/address.ts';
import { parseHostPort } from '../src/net/ip.ts';
import { DEFAULT_HYSTERESIS, routeAll } from '../src/routing/path-choice.ts';
import type { Path } from '../src/routing/paths.ts';
import type { Allocation } from '../src/turn/allocation.ts';
import type { RelayMetricsBackbone } from './backbone-metrics.ts';
import type { Logger } from './logger.ts';
import { directEgress, type PeerEgress, type RelayedSocket } from './turn-relay.ts';

export interface BackboneOptions {
  readonly id: string;
  readonly bindAddress: string;
  readonly port: number;
  readonly meshKeys: readonly string[];
  readonly faults: ReadonlyMap<string, LinkFault> | undefined;
  /** How often each link is probed. 100 ms gives a failover well under a second. */
  readonly probeIntervalMs?: number;
  /** A link silent this long is broken, whatever its averages say. */
  readonly deadAfterMs?: number;
  readonly maxHops?: number;
  /** Where this relay is, to pick the nearest peers to probe in a large mesh. */
  readonly lat: number;
  readonly lon: number;
}

/** What the backbone needs from the TURN side. */
export interface BackboneHost {
  deliverFromPeer(relayedKey: string, peerIp: string, peerPort: number, data: Uint8Array): boolean;
}

interface Peer {
  readonly id: string;
  readonly hash: number;
  address: TransportAddress;
  readonly estimator: LinkEstimator;
  seq: number;
}

const PROBE_ALL = 32;
const PROBE_NEAREST = 16;
const PROBE_SAMPLE = 8;

/** Probe timing: a monotonic clock, in ms since the epoch so it reads like Date.now(). */
const wallClock = (): number => performance.timeOrigin + performance.now();

export class Backbone implements PeerEgress {
  readonly #log: Logger;
  readonly #keys: KeyRing;
  readonly #me: number;
  readonly #peers = new Map<string, Peer>();
  readonly #byHash = new Map<number, Peer>();
  /** Relayed address (IP) -> relays advertising it, with their port ranges. */
  readonly #relayed = new Map<string, { id: string; min: number; max: number }[]>();
  #routes = new Map<string, Path>();
  #remoteLinks: LinkRecord[] = [];
  #relays: RelayRecord[] = [];
  #faults: ReadonlyMap<string, LinkFault>;
  #socket: dgram.Socket | undefined;
  #timers: NodeJS.Timeout[] = [];
  #seq = 0;
  #unsubscribe: (() => Promise<void>) | undefined;
  #syncing = false;
  #dead = '';
  #rotation = 0;

  constructor(
    private readonly o: BackboneOptions,
    private readonly host: BackboneHost,
    private readonly directory: RelayDirectory,
    private readonly metrics: RelayMetricsBackbone,
    logger: Logger,
  ) {
    this.#log = logger.child({ part: 'backbone', id: o.id });
    this.#keys = createKeyRing(o.meshKeys);
    this.#me = relayHash(o.id);
    this.#faults = o.faults ?? new Map();
  }

  get address(): string {
    const a = this.#socket?.address();
    return a ? addressKey({ family: a.family === 'IPv6' ? 6 : 4, address: a.address, port: a.port }) : '';
  }

  /** Current next hops by destination relay, for tests and metrics. */
  routes(): ReadonlyMap<string, Path> {
    return this.#routes;
  }

  setFaults(faults: ReadonlyMap<string, LinkFault>): void {
    this.#faults = faults;
  }

  async start(): Promise<void> {
    const socket = dgram.createSocket({ type: this.o.bindAddress.includes(':') ? 'udp6' : 'udp4' });
    socket.on('error', (err) => this.#log.warn({ err }, 'backbone socket error'));
    socket.on('message', (msg) => this.#onFrame(msg));
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: this.o.bindAddress, port: this.o.port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.#socket = socket;
    const every = (ms: number, f: () => void) => {
      const t = setInterval(f, ms);
      t.unref();
      this.#timers.push(t);
    };
    every(this.o.probeIntervalMs ?? 100, () => this.#probeAll());
    every(1000, () => void this.#sync());
    every(250, () => this.#recompute());
    // Changes elsewhere (a relay up, draining or down; new links) trigger a sync at once.
    try {
      this.#unsubscribe = await this.directory.subscribe((e) => {
        if (e.id !== this.o.id) void this.#sync();
      });
    } catch (err) {
      this.#log.warn({ err }, 'no directory events; syncing once a second only');
    }
    await this.#sync();
  }

  async stop(): Promise<void> {
    await this.#unsubscribe?.().catch(() => undefined);
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    const s = this.#socket;
    this.#socket = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  /** PeerEgress: to another relay's relayed address through the backbone, else plain UDP. */
  send(alloc: Allocation, peerIp: string, peerPort: number, data: Uint8Array): void {
    const target = this.#ownerOf(peerIp, peerPort);
    const path = target ? this.#routes.get(target) : undefined;
    const next = path?.hops[1];
    const hop = next === undefined ? undefined : this.#peers.get(next);
    const source = (alloc.shell as RelayedSocket | undefined)?.key;
    if (!target || !hop || !alloc.advertised || !source) {
      directEgress.send(alloc, peerIp, peerPort, data);
      return;
    }
    const destination: TransportAddress = {
      family: peerIp.includes(':') ? 6 : 4,
      address: peerIp,
      port: peerPort,
    };
    const frame = encodeDataFrame(
      {
        seq: this.#nextSeq(),
        sender: this.#me,
        target: relayHash(target),
        source: wireAddress(alloc.advertised),
        destination: wireAddress(destination),
        payload: data,
        hopLimit: (this.o.maxHops ?? 3) + 1,
      },
      this.#keys,
    );
    this.metrics.dataSent(hop.id, data.length);
    this.#transmit(hop, frame);
  }

  #onFrame(bytes: Uint8Array): void {
    const r = decodeFrame(bytes, this.#keys);
    if (!r.ok) {
      this.metrics.rejected(r.error);
      return;
    }
    const f = r.frame;
    // The mesh key says a relay sealed it; the directory says which relays exist.
    const peer = this.#byHash.get(f.sender);
    if (!peer) {
      this.metrics.rejected('ERR_UNKNOWN_SENDER');
      return;
    }
    if (f.type === FrameType.Probe) {
      const reply = {
        seq: this.#nextSeq(),
        sender: this.#me,
        target: f.sender,
        probeSeq: f.seq,
        probeSentAt: f.sentAt,
      };
      this.#transmit(peer, encodeProbeReply(reply, this.#keys));
    } else if (f.type === FrameType.ProbeReply) {
      peer.estimator.replied(f.probeSeq, wallClock());
    } else if (f.target === this.#me) {
      const src = frameSource(f);
      const delivered = this.host.deliverFromPeer(
        addressKey(frameDestination(f)),
        src.address,
        src.port,
        f.payload,
      );
      this.metrics.dataDelivered(delivered, f.payload.length);
    } else {
      // Transit: pass it on toward its target with one hop less.
      const target = this.#byHash.get(f.target);
      const next = target ? this.#routes.get(target.id)?.hops[1] : undefined;
      const hop = next === undefined ? undefined : this.#peers.get(next);
      const out = forwardFrame(bytes);
      if (!hop || !out) {
        this.metrics.rejected(out ? 'ERR_NO_ROUTE' : 'ERR_HOP_LIMIT_EXHAUSTED');
        return;
      }
      this.metrics.forwarded(hop.id);
      this.#transmit(hop, out);
    }
  }

  #transmit(peer: Peer, frame: Uint8Array): void {
    const socket = this.#socket;
    if (!socket) return;
    const fate = impair(faultFor(this.#faults, peer.id), Math.random);
    if (fate === 'drop') {
      this.metrics.faultDropped(peer.id);
      return;
    }
    const send = () => socket.send(frame, peer.address.port, peer.address.address);
    if (fate === 0) send();
    else setTimeout(send, fate).unref();
  }

  /**
   * Which peers to probe this round: all of them while the mesh is small; past PROBE_ALL, the
   * PROBE_NEAREST nearest (they carry most paths), the next hops in use, and a rotating sample
   * of PROBE_SAMPLE others, so every link is measured now and then and a better far path can
   * still be found.
   */
  #probeTargets(): Peer[] {
    const peers = [...this.#peers.values()];
    if (peers.length <= PROBE_ALL) return peers;
    const place = new Map(this.#relays.map((r) => [r.id, r] as const));
    const distance = (p: Peer) => {
      const r = place.get(p.id);
      return r ? greatCircleKm(this.o.lat, this.o.lon, r.lat, r.lon) : Number.POSITIVE_INFINITY;
    };
    const chosen = new Set(peers.sort((a, b) => distance(a) - distance(b)).slice(0, PROBE_NEAREST));
    for (const path of this.#routes.values()) {
      const next = path.hops[1] === undefined ? undefined : this.#peers.get(path.hops[1]);
      if (next) chosen.add(next);
    }
    const rest = peers.filter((p) => !chosen.has(p));
    for (let i = 0; i < Math.min(PROBE_SAMPLE, rest.length); i++)
      chosen.add(rest[(this.#rotation + i) % rest.length]!);
    this.#rotation = (this.#rotation + PROBE_SAMPLE) % Math.max(1, rest.length);
    return [...chosen];
  }

  #probeAll(): void {
    const now = wallClock();
    for (const peer of this.#probeTargets()) {
      const seq = peer.seq++;
      peer.estimator.sent(seq, now);
      this.#transmit(
        peer,
        encodeProbe({ seq, sender: this.#me, target: peer.hash, sentAt: now }, this.#keys),
      );
    }
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    return this.#seq;
  }

  #ownerOf(ip: string, port: number): string | undefined {
    for (const r of this.#relayed.get(ip) ?? []) if (port >= r.min && port <= r.max) return r.id;
    return undefined;
  }

  /** Directory in, links out: once a second (and so within a second of any change). */
  async #sync(): Promise<void> {
    if (this.#syncing) return;
    this.#syncing = true;
    try {
      await this.#syncOnce();
    } finally {
      this.#syncing = false;
    }
  }

  async #syncOnce(): Promise<void> {
    const now = Date.now();
    try {
      this.#relays = await this.directory.list(now);
      this.#remoteLinks = (await this.directory.links(now)).filter((l) => l.from !== this.o.id);
    } catch (err) {
      this.#log.debug({ err }, 'directory unreachable; routing on last-known state');
    }
    this.#updatePeers();
    await this.#publishLinks(this.#ownLinks(now), now, false);
  }

  /** Links out to the directory; with `announce`, an event tells every relay to look now. */
  async #publishLinks(links: LinkRecord[], now: number, announce: boolean): Promise<void> {
    try {
      await this.directory.putLinks(this.o.id, links, 5000, now);
      if (announce) await this.directory.publish({ type: 'links', id: this.o.id, at: now });
    } catch {
      // Redis away: links are republished on the next sync.
    }
  }

  #updatePeers(): void {
    this.#relayed.clear();
    const seen = new Set<string>();
    for (const r of this.#relays) {
      const ranges = this.#relayed.get(r.relayedAddress) ?? [];
      ranges.push({ id: r.id, min: r.portRange[0], max: r.portRange[1] });
      this.#relayed.set(r.relayedAddress, ranges);
      if (r.id === this.o.id || !r.backbone) continue;
      const hp = parseHostPort(r.backbone);
      if (!hp) continue;
      seen.add(r.id);
      const address: TransportAddress = {
        family: hp.host.includes(':') ? 6 : 4,
        address: hp.host,
        port: hp.port,
      };
      const known = this.#peers.get(r.id);
      if (known) known.address = address;
      else {
        const peer: Peer = {
          id: r.id,
          hash: relayHash(r.id),
          address,
          estimator: new LinkEstimator({ window: 50, lossTimeoutMs: 1000 }),
          seq: 0,
        };
        this.#peers.set(r.id, peer);
        this.#byHash.set(peer.hash, peer);
      }
    }
    // Relays that left the directory stay as long as they answer probes (Redis may be the one away).
    for (const [id, peer] of this.#peers) {
      if (!seen.has(id) && peer.estimator.silenceMs(Date.now()) > (this.o.deadAfterMs ?? 400) * 10) {
        this.#peers.delete(id);
        this.#byHash.delete(peer.hash);
      }
    }
  }

  #ownLinks(now: number): LinkRecord[] {
    const wall = wallClock();
    return [...this.#peers.values()].map((p) => {
      const e = p.estimator.estimate(wall);
      const dead = p.estimator.quiet(wall, this.o.deadAfterMs ?? 400);
      return {
        from: this.o.id,
        to: p.id,
        rttMs: e.rttMs,
        rttP50Ms: e.rttP50Ms,
        rttP95Ms: e.rttP95Ms,
        jitterMs: e.jitterMs,
        lossRate: dead ? 1 : e.lossRate,
        samples: e.samples,
        updatedAt: now,
      };
    });
  }

  #recompute(): void {
    const now = Date.now();
    const own = this.#ownLinks(now);
    for (const l of own) this.metrics.link(l);
    // A link that broke or came back is news for every relay's routes: announce it at once.
    const dead = own
      .filter((l) => l.lossRate >= 0.5)
      .map((l) => l.to)
      .join();
    if (dead !== this.#dead) {
      this.#dead = dead;
      void this.#publishLinks(own, now, true);
    }
    const links = new Map<string, Map<string, { rttMs: number; jitterMs: number; lossRate: number }>>();
    for (const l of [...own, ...this.#remoteLinks]) {
      const from = links.get(l.from) ?? new Map();
      from.set(l.to, { rttMs: l.rttMs, jitterMs: l.jitterMs, lossRate: l.lossRate });
      links.set(l.from, from);
    }
    const load = new Map(
      this.#relays.map((r) => [r.id, r.capacity > 0 ? r.load.allocations / r.capacity : 1]),
    );
    const down = new Set(this.#relays.filter((r) => r.state === 'draining').map((r) => r.id));
    const relays = [...new Set([this.o.id, ...this.#peers.keys()])];
    const result = routeAll({ relays, links, load, down }, this.o.id, this.#routes, {
      maxHops: this.o.maxHops ?? 3,
      ...DEFAULT_HYSTERESIS,
    });
    this.#routes = new Map(result.routes);
    for (const change of result.changes) {
      this.metrics.pathChanged(change.to, change.reason);
      this.#log.info({ to: change.to, path: change.path?.hops, reason: change.reason }, 'path changed');
    }
  }
}
