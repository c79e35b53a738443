/**
 * The backbone core's control plane: what the core (core.ts) does on the clock and on directory
 * snapshots, beside its per-frame data path. On the clock (thread 0 only): read the directory
 * every syncMs; every probeIntervalMs probe the peers (peers.ts chooses which) and note the data
 * frames sent so far for the delivery checks; every recomputeMs turn the link estimates into link
 * records (links.ts), announce at once a link that broke or came back, and recompute the routes
 * (routing/, with hysteresis), reporting each path change. On a directory snapshot: the peer
 * table (every thread); on thread 0 also the links other relays published, what each peer says
 * it received from this relay (delivery.ts, per link), what each destination says reached it
 * (end-to-end.ts, whose losses avoid the path's transit relays for it), and this relay's links to
 * publish. Data counts are summed over every thread: the others report theirs (`siblingCounts`).
 *
 * The core owns it and shares with it the peer table, the route table and its thread's one seq
 * counter: probes and data frames draw from the same counter, as the receiver keeps one replay
 * window per sender. Pure: `now` and the mesh keys come in as parameters.
 */
import type { LinkRecord, RelayRecord } from '../directory/types.ts';
import { checkLinkRecord, checkRelayRecord } from '../directory/validate.ts';
import type { RouteTable } from '../routing/index.ts';
import type { OverlaySnapshot } from '../routing/paths.ts';
import type { BackboneAction, PeerCounts } from './core-actions.ts';
import type { BackboneTuning } from './defaults.ts';
import { EndToEndCheck, pathRttMs } from './end-to-end.ts';
import { encodeProbe } from './frame.ts';
import type { RunKeys } from './key-ring.ts';
import { linkRecord, routingSnapshot } from './links.ts';
import type { Peer, PeerTable } from './peers.ts';

/** What the core shares with its control plane. */
export interface ControlPlaneParts {
  readonly id: string;
  readonly thread: number;
  /** This thread's sender id, which its probes carry. */
  readonly sender: number;
  readonly tuning: BackboneTuning;
  readonly peers: PeerTable;
  /** Thread 0's routes: the control plane updates them, the data path reads them. */
  readonly table: RouteTable;
  /** The next value of this thread's seq counter, which the data path draws from too. */
  readonly nextSeq: () => number;
}

export class ControlPlane {
  readonly #id: string;
  readonly #thread: number;
  readonly #sender: number;
  readonly #t: BackboneTuning;
  readonly #peers: PeerTable;
  readonly #table: RouteTable;
  readonly #nextSeq: () => number;
  /** The other threads' counts per peer (thread 0 only), for the delivery check. */
  readonly #siblings = new Map<number, ReadonlyMap<string, PeerCounts>>();
  #remote: readonly LinkRecord[] = [];
  /** Thread 0: is what this relay originates toward each destination reaching it (end-to-end.ts)? */
  readonly #endToEnd = new EndToEndCheck();
  /** Thread 0: the links of the last route computation, for the paths' one-way delays. */
  #links: OverlaySnapshot['links'] = new Map();
  #dead = '';
  #nextProbe = Number.NEGATIVE_INFINITY;
  #nextRecompute = Number.NEGATIVE_INFINITY;
  #nextSync = Number.NEGATIVE_INFINITY;

  constructor(parts: ControlPlaneParts) {
    this.#id = parts.id;
    this.#thread = parts.thread;
    this.#sender = parts.sender;
    this.#t = parts.tuning;
    this.#peers = parts.peers;
    this.#table = parts.table;
    this.#nextSeq = parts.nextSeq;
  }

  /** Thread 0: another thread's cumulative counts per peer, as it last reported them. */
  siblingCounts(thread: number, counts: readonly PeerCounts[]): void {
    this.#siblings.set(thread, new Map(counts.map((c) => [c.id, c])));
  }

  /** This thread's cumulative counts per peer (what the other threads report to thread 0). */
  counts(): PeerCounts[] {
    return [...this.#peers.byId.values()].map((p) => ({
      id: p.id,
      sent: p.dataSent,
      received: p.dataReceived,
      endSent: p.endSent,
      endReceived: p.endReceived,
    }));
  }

  /** A count of `peer` summed over every thread: this one's (`own`) and the others' last reports. */
  #all(peer: Peer, own: number, field: Exclude<keyof PeerCounts, 'id'>): number {
    let n = own;
    for (const s of this.#siblings.values()) n += s.get(peer.id)?.[field] ?? 0;
    return n;
  }

  #sent(peer: Peer): number {
    return this.#all(peer, peer.dataSent, 'sent');
  }

  #received(peer: Peer): number {
    return this.#all(peer, peer.dataReceived, 'received');
  }

  #endSent(peer: Peer): number {
    return this.#all(peer, peer.endSent, 'endSent');
  }

  #endReceived(peer: Peer): number {
    return this.#all(peer, peer.endReceived, 'endReceived');
  }

  /** When `tick` next has something to do. */
  nextDue(): number {
    if (this.#thread !== 0) return Number.POSITIVE_INFINITY;
    return Math.min(this.#nextProbe, this.#nextRecompute, this.#nextSync);
  }

  /** The clock: probes (sealed with `keys`), recomputes and directory reads that are due at `now`. */
  tick(now: number, keys: RunKeys): BackboneAction[] {
    const out: BackboneAction[] = [];
    if (this.#thread !== 0) return out;
    if (now >= this.#nextSync) {
      this.#nextSync = now + this.#t.syncMs;
      out.push({ type: 'read-directory' });
    }
    if (now >= this.#nextProbe) {
      this.#nextProbe = Math.max(this.#nextProbe + this.#t.probeIntervalMs, now);
      if (this.#nextProbe === now) this.#nextProbe = now + this.#t.probeIntervalMs;
      this.#probe(now, keys, out);
      for (const p of this.#peers.byId.values()) {
        p.delivery.note(this.#sent(p), now);
        this.#endToEnd.note(p.id, this.#endSent(p), now);
      }
    }
    if (now >= this.#nextRecompute) {
      this.#nextRecompute = now + this.#t.recomputeMs;
      this.#recompute(now, out);
    }
    return out;
  }

  /**
   * A directory snapshot: live relays and every published link. Records are checked again here
   * (src/directory/validate.ts), whatever the store did: a bad one is skipped and reported, and
   * never stops route updates.
   */
  directory(relays: readonly RelayRecord[], links: readonly LinkRecord[], now: number): BackboneAction[] {
    const out: BackboneAction[] = [];
    const valid: RelayRecord[] = [];
    for (const r of relays) {
      const c = checkRelayRecord(r);
      if (c.ok) valid.push(c.value);
      else out.push({ type: 'skipped-relay', id: String(r?.id), why: c.error });
    }
    for (const { id, why } of this.#peers.update(valid, now)) out.push({ type: 'skipped-relay', id, why });
    if (this.#thread !== 0) return out;
    this.#remote = links.filter((l) => l.from !== this.#id && checkLinkRecord(l).ok);
    // What each peer says it received from this relay: the data-plane check of the link to it.
    for (const l of this.#remote) {
      if (l.to !== this.#id || l.dataIn === undefined) continue;
      const peer = this.#peers.byId.get(l.from);
      if (peer) peer.delivery.report(l.dataIn, l.updatedAt, this.#sent(peer), now);
    }
    // What each destination says reached it from this relay, over whatever path: end to end.
    for (const l of this.#remote) {
      if (l.to !== this.#id || l.endIn === undefined) continue;
      const peer = this.#peers.byId.get(l.from);
      if (!peer) continue;
      const path = this.#table.routes.get(peer.id)?.hops;
      const rtt = path ? pathRttMs(this.#links, path) : undefined;
      const loss = this.#endToEnd.report(
        peer.id,
        l.endIn,
        l.updatedAt,
        this.#endSent(peer),
        (rtt ?? 0) / 2,
        now,
      );
      if (loss) out.push({ type: 'end-to-end-loss', loss });
    }
    out.push({ type: 'publish-links', links: this.#ownLinks(now), announce: false });
    return out;
  }

  #probe(now: number, keys: RunKeys, out: BackboneAction[]): void {
    const nextHops = new Set<string>();
    for (const path of this.#table.routes.values())
      if (path.hops[1] !== undefined) nextHops.add(path.hops[1]);
    for (const peer of this.#peers.probeTargets(nextHops)) {
      const seq = this.#nextSeq();
      peer.estimator.sent(seq, now);
      const bytes = encodeProbe({ seq, sender: this.#sender, target: peer.hash, sentAt: now }, keys);
      out.push({ type: 'send', kind: 'probe', peer: peer.id, to: peer.address, parts: [bytes] });
    }
  }

  #ownLinks(now: number): LinkRecord[] {
    const out: LinkRecord[] = [];
    for (const p of this.#peers.byId.values()) {
      out.push(
        linkRecord(this.#id, p.id, p.estimator, now, this.#t.deadAfterMs, {
          received: this.#received(p),
          loss: p.delivery.loss(now),
          endIn: this.#endReceived(p),
        }),
      );
    }
    return out;
  }

  #recompute(now: number, out: BackboneAction[]): void {
    const own = this.#ownLinks(now);
    out.push({ type: 'measured', links: own });
    // A link that broke or came back is news for every relay's routes: announce it at once.
    const dead = own
      .filter((l) => l.lossRate >= 0.5)
      .map((l) => l.to)
      .join();
    if (dead !== this.#dead) {
      this.#dead = dead;
      out.push({ type: 'publish-links', links: own, announce: true });
    }
    const relays = [this.#id, ...this.#peers.byId.keys()];
    const snapshot = routingSnapshot(relays, own, this.#remote, this.#peers.relays);
    this.#links = snapshot.links;
    for (const change of this.#table.update(snapshot, now, this.#endToEnd.avoid(now))) {
      this.#endToEnd.route(change.to, change.path?.hops);
      out.push({ type: 'path-changed', change });
    }
  }
}
