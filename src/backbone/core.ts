/**
 * The backbone as a pure core (Sans-IO), shaped like the TURN engine (src/turn/engine.ts): the
 * relay shell (relay/backbone.ts) feeds it events and executes the actions it returns.
 *
 * Events: a frame's bytes and its UDP sender (`frame`), a packet an allocation sends to a peer
 * (`route`), a directory snapshot (`directory`), the clock (`tick`, at `nextDue()` or later).
 * Actions (core-actions.ts, with the options and drop reasons): send a frame to a peer relay,
 * deliver a datagram to a local allocation, send a packet directly (plain UDP), publish links,
 * report measured links, path changes and drops, read the directory. Time is always the `now`
 * parameter (ms), one clock for probes, links and routes. The clock and the directory are the
 * control plane's (control-plane.ts: probes, link records, delivery checks, routes); this file
 * keeps the data path, the state it shares and the bundles.
 *
 * Data path (`frame`, `route`): one action object and at most one buffer per packet. A data frame
 * is built in one buffer (the payload copied once; with `reuseFrameBuffer`, the same buffer for
 * every frame) and tagged with one call of the shell's frame MAC (frame-mac.ts); a forwarded frame
 * leaves as the datagram it came in (its hop limit lowered in place). To a relay that takes bundles
 * (bundle.ts), small data frames are written into the bundle for their next hop instead and leave
 * when the shell calls `flush()` at the end of the event-loop turn: one seal, one verify and one
 * datagram per bundle; a bundle's entries are checked and delivered or passed on one by one
 * (`each`). Addresses stay bytes: the strings a delivery needs come from small caches keyed by
 * numbers (address-cache.ts), not built per packet. Received frames pass, in order and before any
 * MAC work, a size check and a check that the UDP source is a registered relay's backbone address
 * (the sender's own unless the frame was forwarded); then the tag; then the sender's replay window
 * (replay-window.ts).
 *
 * Several threads (--workers N; threads.ts, docs/BACKBONE.md): one core per thread, each with its
 * own backbone port, sender id and replay windows. Thread 0 leads: it probes, publishes links and
 * computes routes; the shell gives the others its routes (`setRoutes`) and directory snapshots,
 * and gives it their data counts (`siblingCounts`) for the delivery checks, per link
 * (delivery.ts) and end to end (end-to-end.ts: per destination, whose losses avoid the path's
 * transit relays for it). The others only seal, send, forward and deliver.
 */
import type { LinkRecord, RelayRecord } from '../directory/types.ts';
import type { TransportAddress } from '../net/address.ts';
import { RouteTable } from '../routing/index.ts';
import type { Path } from '../routing/paths.ts';
import { AddressCache } from './address-cache.ts';
import { BundleWriter, bundles } from './bundle.ts';
import { ControlPlane } from './control-plane.ts';
import {
  type BackboneAction,
  type BackboneCoreOptions,
  type DataKind,
  DIRECT,
  drop,
  NONE,
  type PeerCounts,
  TOO_LARGE,
} from './core-actions.ts';
import type { BackboneTuning } from './defaults.ts';
import {
  BUNDLE_ENTRY_HEADER,
  type DataFrame,
  type DataFrameInit,
  dataOverhead,
  decodeBundled,
  decodeFrame,
  encodeProbeReply,
  FRAME_HEADER_LENGTH,
  FRAME_TAG_LENGTH,
  FrameOffset,
  FrameType,
  forwardFrame,
  ipLength,
  MAX_FRAME_LENGTH,
  peekSender,
  sealDataFrame,
  sealUntagged,
  untaggedLength,
  writeDataFrame,
} from './frame.ts';
import type { KeyRing, RunKeys } from './key-ring.ts';
import { type Peer, PeerTable, type PeerThread } from './peers.ts';
import { relayHash } from './relay-hash.ts';
import { canSendTo, pickThread, senderId, sliceOf } from './threads.ts';

const NO_ROUTES: ReadonlyMap<string, Path> = new Map();

export class BackboneCore {
  /** This relay's hash: the target field of frames for it. */
  readonly #me: number;
  /** This thread's sender id (the relay hash plus the thread index). */
  readonly #sender: number;
  readonly #thread: number;
  /** Routes thread 0 computed, on the other threads. */
  #given: ReadonlyMap<string, Path> = NO_ROUTES;
  readonly #addresses = new AddressCache();
  readonly #peers: PeerTable;
  readonly #table: RouteTable;
  /** Probes, link records, delivery checks and routes: the clock's and the directory's side. */
  readonly #control: ControlPlane;
  readonly #t: BackboneTuning;
  /** This run's keys: what every frame this thread makes is sealed with. */
  #keys: RunKeys;
  /** The run keys of the sender a bundle entry names (a bundle of one leaves as its plain frame). */
  readonly #keysOf = (sender: number): RunKeys | undefined =>
    sender === this.#sender ? this.#keys : this.#peers.keysOf(sender);
  /** Writers with frames, in the order they were opened. */
  #open: PeerThread[] = [];
  /** Full bundles sealed before the turn ended, sent with the next flush. */
  #ready: BackboneAction[] = [];
  /** Fault injection: transit frames toward these next hops ('*': all) are dropped uncounted. */
  #grayTransit: ReadonlySet<string> = new Set();
  #seq = 0;
  /** With `reuseFrameBuffer`: every data frame `route` seals alone is built here (grown as needed). */
  #frameBuffer: Uint8Array | undefined;

  constructor(readonly options: BackboneCoreOptions) {
    this.#t = options.tuning;
    this.#me = relayHash(options.id);
    this.#thread = options.thread ?? 0;
    this.#sender = senderId(this.#me, this.#thread);
    this.#keys = options.keys.forRun(options.run);
    this.#peers = new PeerTable(options, options.tuning, options.keys);
    this.#table = new RouteTable(options.id, { ...options.tuning });
    this.#control = new ControlPlane({
      id: options.id,
      thread: this.#thread,
      sender: this.#sender,
      tuning: options.tuning,
      peers: this.#peers,
      table: this.#table,
      nextSeq: () => this.#nextSeq(),
    });
  }

  get id(): string {
    return this.options.id;
  }

  /** The path in use per destination relay (on threads other than 0, as thread 0 last gave them). */
  get routes(): ReadonlyMap<string, Path> {
    return this.#thread === 0 ? this.#table.routes : this.#given;
  }

  /** This core's thread; 0 leads. */
  get thread(): number {
    return this.#thread;
  }

  /** Threads other than 0: the routes thread 0 computed (sent on every change). */
  setRoutes(routes: ReadonlyMap<string, Path>): void {
    this.#given = routes;
  }

  /** Thread 0: another thread's cumulative counts per peer, as it last reported them. */
  siblingCounts(thread: number, counts: readonly PeerCounts[]): void {
    this.#control.siblingCounts(thread, counts);
  }

  /** This thread's cumulative counts per peer (what the other threads report to thread 0). */
  counts(): PeerCounts[] {
    return this.#control.counts();
  }

  /**
   * Fault injection (tests, demos; relay/backbone.ts, `--fault-links PEER:gray`): transit frames
   * whose next hop is in `to` ('*': any) are dropped after they were counted as received and
   * before they count as sent, and probes are still answered: a gray relay, whose every link
   * looks clean to the per-link check, which only the end-to-end check finds.
   */
  setGrayTransit(to: ReadonlySet<string>): void {
    this.#grayTransit = to;
  }

  /** Peer relay ids this core knows (from the directory, or still answering probes). */
  peerIds(): string[] {
    return [...this.#peers.byId.keys()];
  }

  /** New mesh keys (rotation): frames are sealed with the new current key from now on. */
  setKeys(keys: KeyRing): void {
    this.#keys = keys.forRun(this.options.run);
    this.#peers.rekey(keys);
  }

  /** When `tick` next has something to do. */
  nextDue(): number {
    return this.#control.nextDue();
  }

  /** The clock: probes, recomputes and directory reads that are due at `now`. */
  tick(now: number): BackboneAction[] {
    return this.#control.tick(now, this.#keys);
  }

  /** A directory snapshot: live relays and every published link (each record checked again). */
  directory(relays: readonly RelayRecord[], links: readonly LinkRecord[], now: number): BackboneAction[] {
    return this.#control.directory(relays, links, now);
  }

  /**
   * A packet from a local allocation (relayed address `source`) to `peerIp`:`peerPort`. Through
   * the backbone when another relay owns that address and a path to it is known; else direct.
   * A packet too large to frame goes direct too (counted), never thrown.
   */
  route(source: TransportAddress, peerIp: string, peerPort: number, data: Uint8Array): BackboneAction {
    const owner = this.#peers.ownerOf(peerIp, peerPort);
    const target = owner === undefined ? undefined : this.#peers.byId.get(owner);
    if (!target) return DIRECT; // no relay's, this relay's own, or a relay without a backbone
    const next = this.routes.get(target.id)?.hops[1];
    const hop = this.#reachable(next === undefined ? undefined : this.#peers.byId.get(next), target);
    if (!hop) return DIRECT;
    const to = hop.threads[pickThread(hop, target, peerPort, hop !== target)]!;
    const dstFamily = peerIp.includes(':') ? 6 : 4;
    const length = dataOverhead(source.family, dstFamily) + data.length;
    if (length > MAX_FRAME_LENGTH) return TOO_LARGE;
    const srcIp = this.#addresses.bytesOf(source.address);
    const dstIp = this.#addresses.bytesOf(peerIp);
    if (srcIp?.length !== ipLength(source.family) || dstIp?.length !== ipLength(dstFamily)) return DIRECT;
    hop.dataSent++;
    target.endSent++;
    const init: DataFrameInit = {
      seq: this.#nextSeq(),
      sender: this.#sender,
      target: target.hash,
      source: { family: source.family, ip: srcIp, port: source.port },
      destination: { family: dstFamily, ip: dstIp, port: peerPort },
      payload: data,
      hopLimit: this.#t.maxHops + 1,
    };
    if (hop.bundles) {
      const untagged = untaggedLength(init);
      if (bundles(untagged, this.#t.bundleBytes)) {
        writeDataFrame(this.#entry(to, untagged), init, this.#keys);
        return { type: 'queued', kind: 'data', peer: hop.id };
      }
    }
    const frame = sealDataFrame(init, this.#keys, this.#reusable(length));
    return this.#inOrder(to, { type: 'send', kind: 'data', peer: hop.id, to: to.address, parts: [frame] });
  }

  /**
   * `send` for `to`, after what still waits in bundles for `to` (sealed now): a frame that leaves
   * alone (too large to bundle, or a tagged frame in transit) never overtakes smaller ones of the
   * same flow queued earlier in the turn. Only mixed sizes to one hop in one turn pay for it.
   */
  #inOrder(to: PeerThread, send: BackboneAction): BackboneAction {
    const open = to.bundle !== undefined && to.bundle.count > 0;
    const ready = this.#ready.length > 0 && this.#ready.some((a) => a.type === 'send' && a.to === to.address);
    if (!open && !ready) return send;
    const before: BackboneAction[] = [];
    if (ready) {
      const rest: BackboneAction[] = [];
      for (const a of this.#ready) (a.type === 'send' && a.to === to.address ? before : rest).push(a);
      this.#ready = rest;
    }
    this.#seal(to, before);
    before.push(send);
    return { type: 'each', actions: before };
  }

  /** Whether bundles wait for flush(). */
  get pending(): boolean {
    return this.#open.length > 0 || this.#ready.length > 0;
  }

  /**
   * Seals every bundle queued since the last flush, one datagram per peer thread (a bundle of one
   * leaves as a plain data frame): the shell calls it once per event-loop turn with frames queued.
   */
  flush(): BackboneAction[] {
    const out = this.#ready;
    this.#ready = [];
    for (const t of this.#open) this.#seal(t, out);
    this.#open = [];
    return out;
  }

  /** A view for a data frame of `length` bytes (no tag) in the bundle for `to`; a full bundle is sealed first. */
  #entry(to: PeerThread, length: number): Uint8Array {
    let w = to.bundle;
    if (w === undefined) {
      w = new BundleWriter(this.#t.bundleBytes);
      to.bundle = w;
    }
    if (w.count === 0) this.#open.push(to);
    else if (!w.fits(length)) this.#seal(to, this.#ready);
    return w.reserve(length);
  }

  #seal(to: PeerThread, out: BackboneAction[]): void {
    const w = to.bundle;
    if (!w || w.count === 0) return;
    const frames = w.count;
    const init = { seq: this.#nextSeq(), sender: this.#sender, target: to.peer.hash };
    const bytes = w.seal(init, this.#keys, this.#keysOf);
    if (!bytes) return;
    out.push({ type: 'send', kind: 'bundle', peer: to.peer.id, to: to.address, parts: [bytes], frames });
  }

  /**
   * A datagram on the backbone port from `fromIp`:`fromPort` (IPv4-mapped addresses unmapped).
   * The bytes become the core's: a frame in transit is passed on in place.
   */
  frame(bytes: Uint8Array, fromIp: string, fromPort: number, now: number): BackboneAction {
    if (bytes.length > MAX_FRAME_LENGTH) return drop('ERR_TOO_LONG');
    if (bytes.length < FRAME_HEADER_LENGTH + FRAME_TAG_LENGTH) return drop('ERR_TOO_SHORT');
    const from = this.#peers.at(fromIp, fromPort);
    if (!from) return drop('ERR_UNKNOWN_ADDRESS');
    // Not yet forwarded: it must come from its sender's own registered address (a bundle, whose
    // hop limit is 1, always; this relay's own threads, in a handover, too). Forwarded: from a
    // known relay thread, whose run keys verify it.
    const forwarded = bytes[FrameOffset.HopLimit] !== bytes[FrameOffset.InitialHopLimit];
    let sender: PeerThread | undefined = from;
    if (forwarded) sender = this.#peers.bySender.get(peekSender(bytes));
    else if (peekSender(bytes) !== from.sender) return drop('ERR_WRONG_ADDRESS');
    if (!sender) return drop('ERR_UNKNOWN_SENDER');
    const r = decodeFrame(bytes, this.#peers.keysFor(sender.peer));
    if (!r.ok) return drop(r.error);
    const f = r.frame;
    if (f.type !== FrameType.Data && f.target !== this.#me) return drop('ERR_WRONG_TARGET');
    const verdict = sender.replay.check(f.seq);
    if (verdict !== 'ok') return drop(verdict);
    sender.replay.commit(f.seq);
    if (f.type === FrameType.Probe) {
      const reply = encodeProbeReply(
        {
          seq: this.#nextSeq(),
          sender: this.#sender,
          target: sender.peer.hash,
          probeSeq: f.seq,
          probeSentAt: f.sentAt,
        },
        this.#keys,
      );
      return { type: 'send', kind: 'reply', peer: sender.peer.id, to: sender.address, parts: [reply] };
    }
    if (f.type === FrameType.ProbeReply) {
      sender.peer.estimator.replied(f.probeSeq, now);
      return NONE;
    }
    if (f.type === FrameType.Bundle) return this.#unbundle(f.body, from);
    return this.#data(f, bytes, false, from, sender.peer);
  }

  /** The entries of a bundle whose tag and seq have passed, each as a data frame of its own. */
  #unbundle(body: Uint8Array, from: PeerThread): BackboneAction {
    const actions: BackboneAction[] = [];
    let o = 0;
    while (o < body.length) {
      const n = o + BUNDLE_ENTRY_HEADER <= body.length ? (body[o]! << 8) | body[o + 1]! : -1;
      const end = o + BUNDLE_ENTRY_HEADER + n;
      if (n < 0 || end > body.length) {
        actions.push(drop('ERR_TRUNCATED'));
        break;
      }
      const entry = body.subarray(o + BUNDLE_ENTRY_HEADER, end);
      o = end;
      const r = decodeBundled(entry);
      if (!r.ok) {
        actions.push(drop(r.error));
        continue;
      }
      const origin = this.#peers.bySender.get(r.frame.sender);
      if (!origin) actions.push(drop('ERR_UNKNOWN_SENDER'));
      else actions.push(this.#data(r.frame as DataFrame, entry, true, from, origin.peer));
    }
    return { type: 'each', actions };
  }

  /**
   * A data frame that passed every check: delivered here, handed to the thread owning its port, or
   * passed on. `bytes` is the frame as received: tagged, or a bundle entry (`bundled`, no tag).
   */
  #data(f: DataFrame, bytes: Uint8Array, bundled: boolean, from: PeerThread, origin: Peer): BackboneAction {
    from.peer.dataReceived++;
    if (f.target === this.#me) {
      // Another thread's port (a sender from before threads, or a stale view): pass it to the
      // owner's backbone port, one hop less; it is checked there again, in that thread's windows.
      const own = this.#peers.own;
      const owner = own.length > 1 ? sliceOf(own, f.dstPort) : -1;
      if (owner >= 0 && owner !== this.#thread) {
        const out = forwardFrame(bytes);
        if (!out) return drop('ERR_HOP_LIMIT_EXHAUSTED');
        return this.#passOn(own[owner]!, 'handover', out, bundled, true);
      }
      origin.endReceived++;
      return {
        type: 'deliver',
        relayed: this.#addresses.relayedKey(f.dstIp, f.dstPort),
        peerIp: this.#addresses.textOf(f.srcIp),
        peerPort: f.srcPort,
        data: f.payload,
      };
    }
    // Transit: pass it on toward its target with one hop less.
    const target = this.#peers.byHash.get(f.target);
    const next = target ? this.routes.get(target.id)?.hops[1] : undefined;
    const via = next === undefined ? undefined : this.#peers.byId.get(next);
    // Split horizon: never back to the relay it came from or to its sender. Two relays whose views
    // disagree (a restarted peer: each sees its own link to it lossy for the estimator's window
    // and the other's fine) would bounce it until it died; straight to the target cannot loop.
    const hop = target && this.#reachable(via === from.peer || via === origin ? target : via, target);
    if (!hop || !target) return drop('ERR_NO_ROUTE');
    if (this.#grayTransit.size > 0 && (this.#grayTransit.has('*') || this.#grayTransit.has(hop.id)))
      return drop('ERR_FAULT_GRAY');
    const out = forwardFrame(bytes);
    if (!out) return drop('ERR_HOP_LIMIT_EXHAUSTED');
    hop.dataSent++;
    const to = hop.threads[pickThread(hop, target, f.dstPort, hop !== target)]!;
    return this.#passOn(to, 'forward', out, bundled, hop.bundles);
  }

  /**
   * A frame passed on to `to`: a bundle entry into the bundle for `to` when it takes bundles (else
   * sealed alone); a tagged frame as it came (its tag still holds: no MAC work).
   */
  #passOn(
    to: PeerThread,
    kind: DataKind,
    bytes: Uint8Array,
    bundled: boolean,
    takes: boolean,
  ): BackboneAction {
    if (!bundled)
      return this.#inOrder(to, { type: 'send', kind, peer: to.peer.id, to: to.address, parts: [bytes] });
    if (takes && bundles(bytes.length, this.#t.bundleBytes)) {
      this.#entry(to, bytes.length).set(bytes);
      return { type: 'queued', kind, peer: to.peer.id };
    }
    const keys = this.#keysOf(peekSender(bytes));
    if (!keys) return drop('ERR_UNKNOWN_SENDER');
    const frame = sealUntagged(bytes, keys);
    return this.#inOrder(to, { type: 'send', kind, peer: to.peer.id, to: to.address, parts: [frame] });
  }

  /**
   * The hop a frame for `target` leaves through from this thread: `hop`, unless it is a relay from
   * before threads that only thread 0 may send to; then straight to the target when this thread
   * may send there (no loop can come of it), else none.
   */
  #reachable(hop: Peer | undefined, target: Peer): Peer | undefined {
    if (!hop || canSendTo(this.#thread, hop)) return hop;
    return canSendTo(this.#thread, target) ? target : undefined;
  }

  /** The reused frame buffer, at least `length` bytes, when the shell allows it (options). */
  #reusable(length: number): Uint8Array | undefined {
    if (!this.options.reuseFrameBuffer) return undefined;
    if (this.#frameBuffer === undefined || this.#frameBuffer.length < length)
      this.#frameBuffer = new Uint8Array(Math.max(length, 2048));
    return this.#frameBuffer;
  }

  /** 48 bits from 1, per run: 2^48 frames (8.9 years at a million a second) before it would repeat. */
  #nextSeq(): number {
    return ++this.#seq;
  }
}
