/**
 * The backbone as a pure core (Sans-IO), shaped like the TURN engine (src/turn/engine.ts): the
 * relay shell (relay/backbone.ts) feeds it events and executes the actions it returns.
 *
 * Events: a frame's bytes and its UDP sender (`frame`), a packet an allocation sends to a peer
 * (`route`), a directory snapshot (`directory`), the clock (`tick`, at `nextDue()` or later).
 * Actions: send a frame to a peer relay, deliver a datagram to a local allocation, send a packet
 * directly (plain UDP), publish links, report measured links, path changes and drops, read the
 * directory. Time is always the `now` parameter (ms), one clock for probes, links and routes.
 *
 * Data path (`frame`, `route`): one action object and at most one buffer per packet. A data
 * frame is built in one buffer (the payload copied once) and tagged with one platform hash call,
 * with no per-call object; a forwarded frame leaves as the datagram it came in (its
 * hop limit lowered in place). Addresses stay bytes: the strings a delivery needs come from small
 * caches keyed by numbers, not built per packet. Received frames pass, in order and before any MAC work, a size check and a check that the UDP source is
 * a registered relay's backbone address (the sender's own unless the frame was forwarded); then
 * the tag; then the sender's replay window (replay-window.ts).
 */
import type { LinkRecord, RelayRecord } from '../directory/types.ts';
import { checkLinkRecord, checkRelayRecord } from '../directory/validate.ts';
import { addressKey, type TransportAddress } from '../net/address.ts';
import { formatIp, parseIp } from '../net/ip.ts';
import { type RouteChange, RouteTable } from '../routing/index.ts';
import type { Path } from '../routing/paths.ts';
import type { BackboneTuning } from './defaults.ts';
import {
  dataOverhead,
  decodeFrame,
  encodeProbe,
  encodeProbeReply,
  FRAME_HEADER_LENGTH,
  FRAME_TAG_LENGTH,
  type FrameDecodeError,
  FrameOffset,
  FrameType,
  forwardFrame,
  ipLength,
  MAX_FRAME_LENGTH,
  peekSender,
  sealDataFrame,
} from './frame.ts';
import type { KeyRing } from './key-ring.ts';
import { linkRecord, routingSnapshot } from './links.ts';
import { PeerTable } from './peers.ts';
import { relayHash } from './relay-hash.ts';

export interface BackboneCoreOptions {
  readonly id: string;
  /** Where this relay is, to pick the nearest peers to probe in a large mesh. */
  readonly lat: number;
  readonly lon: number;
  readonly keys: KeyRing;
  readonly tuning: BackboneTuning;
}

/** Why a frame or packet was not carried; the shell counts them by reason. */
export type BackboneDropReason =
  | FrameDecodeError
  | 'ERR_TOO_LONG'
  | 'ERR_UNKNOWN_ADDRESS'
  | 'ERR_WRONG_ADDRESS'
  | 'ERR_UNKNOWN_SENDER'
  | 'ERR_WRONG_TARGET'
  | 'ERR_REPLAYED'
  | 'ERR_TOO_OLD'
  | 'ERR_NO_ROUTE';

export type SendKind = 'data' | 'forward' | 'probe' | 'reply';

export type BackboneAction =
  | {
      readonly type: 'send';
      readonly kind: SendKind;
      readonly peer: string;
      readonly to: TransportAddress;
      /** The frame, in parts to be sent one after the other in one datagram (a vectored write). */
      readonly parts: readonly Uint8Array[];
    }
  | {
      readonly type: 'deliver';
      /** addressKey of the local relayed address the datagram is for. */
      readonly relayed: string;
      readonly peerIp: string;
      readonly peerPort: number;
      readonly data: Uint8Array;
    }
  /** Send the packet as plain UDP; `reason` says why it could not take the backbone, if it should have. */
  | { readonly type: 'direct'; readonly reason?: 'ERR_FRAME_TOO_LARGE' }
  | { readonly type: 'drop'; readonly reason: BackboneDropReason }
  | { readonly type: 'none' }
  | { readonly type: 'read-directory' }
  | { readonly type: 'publish-links'; readonly links: readonly LinkRecord[]; readonly announce: boolean }
  | { readonly type: 'measured'; readonly links: readonly LinkRecord[] }
  | { readonly type: 'path-changed'; readonly change: RouteChange }
  | { readonly type: 'skipped-relay'; readonly id: string; readonly why: string };

const DIRECT: BackboneAction = Object.freeze({ type: 'direct' });
const TOO_LARGE: BackboneAction = Object.freeze({ type: 'direct', reason: 'ERR_FRAME_TOO_LARGE' });
const NONE: BackboneAction = Object.freeze({ type: 'none' });
const drops = new Map<BackboneDropReason, BackboneAction>();
const drop = (reason: BackboneDropReason): BackboneAction => {
  let a = drops.get(reason);
  if (!a) {
    a = Object.freeze({ type: 'drop', reason });
    drops.set(reason, a);
  }
  return a;
};

/** Entries a data-path string cache holds before it starts again (bounds memory, not speed). */
const CACHE_LIMIT = 4096;

export class BackboneCore {
  readonly #me: number;
  /** IP literal -> its bytes, for the addresses of packets routed out. */
  readonly #ipBytes = new Map<string, Uint8Array | null>();
  /** IPv4 as a u32 -> its literal, for the sources of frames delivered. */
  readonly #ip4Text = new Map<number, string>();
  /** IPv4 u32 * 65536 + port -> addressKey, for the relayed addresses frames are delivered to. */
  readonly #ip4Key = new Map<number, string>();
  readonly #peers: PeerTable;
  readonly #table: RouteTable;
  readonly #t: BackboneTuning;
  #keys: KeyRing;
  #remote: readonly LinkRecord[] = [];
  #seq = 0;
  #dead = '';
  #nextProbe = Number.NEGATIVE_INFINITY;
  #nextRecompute = Number.NEGATIVE_INFINITY;
  #nextSync = Number.NEGATIVE_INFINITY;

  constructor(readonly options: BackboneCoreOptions) {
    this.#t = options.tuning;
    this.#me = relayHash(options.id);
    this.#keys = options.keys;
    this.#peers = new PeerTable(options, options.tuning);
    this.#table = new RouteTable(options.id, { ...options.tuning });
  }

  get id(): string {
    return this.options.id;
  }

  /** The path in use per destination relay. */
  get routes(): ReadonlyMap<string, Path> {
    return this.#table.routes;
  }

  /** Peer relay ids this core knows (from the directory, or still answering probes). */
  peerIds(): string[] {
    return [...this.#peers.byId.keys()];
  }

  /** New mesh keys (rotation): frames are sealed with the new current key from now on. */
  setKeys(keys: KeyRing): void {
    this.#keys = keys;
  }

  /** When `tick` next has something to do. */
  nextDue(): number {
    return Math.min(this.#nextProbe, this.#nextRecompute, this.#nextSync);
  }

  /** The clock: probes, recomputes and directory reads that are due at `now`. */
  tick(now: number): BackboneAction[] {
    const out: BackboneAction[] = [];
    if (now >= this.#nextSync) {
      this.#nextSync = now + this.#t.syncMs;
      out.push({ type: 'read-directory' });
    }
    if (now >= this.#nextProbe) {
      this.#nextProbe = Math.max(this.#nextProbe + this.#t.probeIntervalMs, now);
      if (this.#nextProbe === now) this.#nextProbe = now + this.#t.probeIntervalMs;
      this.#probe(now, out);
      for (const p of this.#peers.byId.values()) p.delivery.note(p.dataSent, now);
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
    for (const id of this.#peers.update(valid, now)) {
      out.push({ type: 'skipped-relay', id, why: 'backbone address is not ip:port' });
    }
    this.#remote = links.filter((l) => l.from !== this.options.id && checkLinkRecord(l).ok);
    // What each peer says it received from this relay: the data-plane check of the link to it.
    for (const l of this.#remote) {
      if (l.to !== this.options.id || l.dataIn === undefined) continue;
      const peer = this.#peers.byId.get(l.from);
      peer?.delivery.report(l.dataIn, l.updatedAt, peer.dataSent, now);
    }
    out.push({ type: 'publish-links', links: this.#ownLinks(now), announce: false });
    return out;
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
    const next = this.#table.routes.get(target.id)?.hops[1];
    const hop = next === undefined ? undefined : this.#peers.byId.get(next);
    if (!hop) return DIRECT;
    const dstFamily = peerIp.includes(':') ? 6 : 4;
    if (dataOverhead(source.family, dstFamily) + data.length > MAX_FRAME_LENGTH) return TOO_LARGE;
    const srcIp = this.#bytesOf(source.address);
    const dstIp = this.#bytesOf(peerIp);
    if (srcIp?.length !== ipLength(source.family) || dstIp?.length !== ipLength(dstFamily)) return DIRECT;
    hop.dataSent++;
    const frame = sealDataFrame(
      {
        seq: this.#nextSeq(),
        sender: this.#me,
        target: target.hash,
        source: { family: source.family, ip: srcIp, port: source.port },
        destination: { family: dstFamily, ip: dstIp, port: peerPort },
        payload: data,
        hopLimit: this.#t.maxHops + 1,
      },
      this.#keys,
    );
    return { type: 'send', kind: 'data', peer: hop.id, to: hop.address, parts: [frame] };
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
    // Not yet forwarded: it must come from its sender's own registered address.
    const forwarded = bytes[FrameOffset.HopLimit] !== bytes[FrameOffset.InitialHopLimit];
    if (!forwarded && peekSender(bytes) !== from.hash) return drop('ERR_WRONG_ADDRESS');
    const r = decodeFrame(bytes, this.#keys);
    if (!r.ok) return drop(r.error);
    const f = r.frame;
    const sender = this.#peers.byHash.get(f.sender);
    if (!sender) return drop('ERR_UNKNOWN_SENDER');
    if (f.type !== FrameType.Data && f.target !== this.#me) return drop('ERR_WRONG_TARGET');
    const verdict = sender.replay.check(f.seq);
    if (verdict !== 'ok') return drop(verdict);
    sender.replay.commit(f.seq);
    if (f.type === FrameType.Probe) {
      const reply = encodeProbeReply(
        { seq: this.#nextSeq(), sender: this.#me, target: f.sender, probeSeq: f.seq, probeSentAt: f.sentAt },
        this.#keys,
      );
      return { type: 'send', kind: 'reply', peer: sender.id, to: sender.address, parts: [reply] };
    }
    if (f.type === FrameType.ProbeReply) {
      sender.estimator.replied(f.probeSeq, now);
      return NONE;
    }
    from.dataReceived++;
    if (f.target === this.#me) {
      return {
        type: 'deliver',
        relayed: this.#relayedKey(f.dstIp, f.dstPort),
        peerIp: this.#textOf(f.srcIp),
        peerPort: f.srcPort,
        data: f.payload,
      };
    }
    // Transit: pass it on toward its target with one hop less.
    const target = this.#peers.byHash.get(f.target);
    const next = target ? this.#table.routes.get(target.id)?.hops[1] : undefined;
    const via = next === undefined ? undefined : this.#peers.byId.get(next);
    // Split horizon: never back to the relay it came from or to its sender. Two relays whose views
    // disagree (a restarted peer: each sees its own link to it lossy for the estimator's window
    // and the other's fine) would bounce it until it died; straight to the target cannot loop.
    const hop = via === from || via?.hash === f.sender ? target : via;
    if (!hop) return drop('ERR_NO_ROUTE');
    const out = forwardFrame(bytes);
    if (!out) return drop('ERR_HOP_LIMIT_EXHAUSTED');
    hop.dataSent++;
    return { type: 'send', kind: 'forward', peer: hop.id, to: hop.address, parts: [out] };
  }

  /** The bytes of an IP literal (null: not one), cached: the few relayed IPs a relay sends between. */
  #bytesOf(ip: string): Uint8Array | null {
    let b = this.#ipBytes.get(ip);
    if (b === undefined) {
      if (this.#ipBytes.size >= CACHE_LIMIT) this.#ipBytes.clear();
      b = parseIp(ip) ?? null;
      this.#ipBytes.set(ip, b);
    }
    return b;
  }

  /** The literal of an address in a frame; IPv4 from a cache keyed by its value. */
  #textOf(ip: Uint8Array): string {
    if (ip.length !== 4) return formatIp(ip);
    const n = ((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0;
    let t = this.#ip4Text.get(n);
    if (t === undefined) {
      if (this.#ip4Text.size >= CACHE_LIMIT) this.#ip4Text.clear();
      t = formatIp(ip);
      this.#ip4Text.set(n, t);
    }
    return t;
  }

  /** addressKey of a relayed address in a frame; IPv4 from a cache keyed by address and port. */
  #relayedKey(ip: Uint8Array, port: number): string {
    if (ip.length !== 4) return addressKey({ family: 6, address: formatIp(ip), port });
    const n = (((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0) * 65536 + port;
    let k = this.#ip4Key.get(n);
    if (k === undefined) {
      if (this.#ip4Key.size >= CACHE_LIMIT) this.#ip4Key.clear();
      k = addressKey({ family: 4, address: this.#textOf(ip), port });
      this.#ip4Key.set(n, k);
    }
    return k;
  }

  #nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    return this.#seq;
  }

  #probe(now: number, out: BackboneAction[]): void {
    const nextHops = new Set<string>();
    for (const path of this.#table.routes.values())
      if (path.hops[1] !== undefined) nextHops.add(path.hops[1]);
    for (const peer of this.#peers.probeTargets(nextHops)) {
      const seq = this.#nextSeq();
      peer.estimator.sent(seq, now);
      const bytes = encodeProbe({ seq, sender: this.#me, target: peer.hash, sentAt: now }, this.#keys);
      out.push({ type: 'send', kind: 'probe', peer: peer.id, to: peer.address, parts: [bytes] });
    }
  }

  #ownLinks(now: number): LinkRecord[] {
    const out: LinkRecord[] = [];
    for (const p of this.#peers.byId.values()) {
      out.push(
        linkRecord(this.options.id, p.id, p.estimator, now, this.#t.deadAfterMs, {
          received: p.dataReceived,
          loss: p.delivery.loss(now),
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
    const relays = [this.options.id, ...this.#peers.byId.keys()];
    const snapshot = routingSnapshot(relays, own, this.#remote, this.#peers.relays);
    for (const change of this.#table.update(snapshot, now)) out.push({ type: 'path-changed', change });
  }
}
