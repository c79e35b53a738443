/**
 * An in-memory network for backbone cores (src/backbone/core.ts): relays at 10.0.0.N:7000 with
 * relayed addresses 10.1.0.N, links with a one-way delay, jitter and loss per direction, an
 * in-memory directory, and one fake clock. `run` executes every action the cores return, as the
 * relay shell does, and records deliveries and drops. Deterministic for a seed.
 */
import { createHash } from 'node:crypto';
import { nodeCryptoMac } from '../../relay/frame-mac.ts';
import { BackboneCore } from '../../src/backbone/core.ts';
import type { BackboneAction } from '../../src/backbone/core-actions.ts';
import { BACKBONE_DEFAULTS, type BackboneTuning } from '../../src/backbone/defaults.ts';
import type { EndToEndLoss } from '../../src/backbone/end-to-end.ts';
import { joinParts } from '../../src/backbone/frame.ts';
import type { FrameMac } from '../../src/backbone/frame-mac.ts';
import { createKeyRing, RUN_ID_BYTES } from '../../src/backbone/key-ring.ts';
import type { LinkRecord, RelayRecord } from '../../src/directory/types.ts';
import type { TransportAddress } from '../../src/net/address.ts';
import type { RouteChange } from '../../src/routing/path-choice.ts';
import { createRng } from '../../src/sim/random.ts';

export const T0 = 1_800_000_000_000;
export const MESH_KEY = 'a-mesh-key-of-at-least-16-bytes';

export interface LinkSpec {
  /** Round-trip time, ms (each direction takes half). */
  rttMs: number;
  /** Extra one-way delay, exponential with this mean, ms. */
  jitterMs?: number;
  /** Per-direction loss, 0..1. */
  loss?: number;
  /** Per-direction loss of data frames only (ours and forwarded), 0..1: a gray failure. */
  dataLoss?: number;
  down?: boolean;
}

export interface Delivery {
  readonly at: number;
  readonly relay: string;
  readonly relayed: string;
  readonly peerIp: string;
  readonly peerPort: number;
  readonly data: Uint8Array;
}

interface InFlight {
  readonly at: number;
  readonly to: string;
  readonly fromIp: string;
  readonly fromPort: number;
  readonly bytes: Uint8Array;
}

interface Node {
  readonly core: BackboneCore;
  /** What it lists in the directory (a test may replace it). */
  record: RelayRecord;
  listed: boolean;
  up: boolean;
}

const indexOf = (id: string, ids: readonly string[]) => ids.indexOf(id) + 1;

export class MemoryNet {
  now = T0;
  readonly nodes = new Map<string, Node>();
  readonly links = new Map<string, LinkSpec>();
  readonly published = new Map<string, { links: readonly LinkRecord[]; at: number }>();
  readonly delivered: Delivery[] = [];
  readonly drops: { relay: string; reason: string; at: number }[] = [];
  readonly changes: { relay: string; at: number; change: RouteChange }[] = [];
  readonly skipped: { relay: string; id: string; why: string }[] = [];
  readonly sent: { relay: string; kind: string; peer: string; bytes: Uint8Array; at: number }[] = [];
  readonly endLosses: { relay: string; at: number; loss: EndToEndLoss }[] = [];
  /** Relays from before the end-to-end check: their published records carry no `endIn`. */
  readonly withoutEndIn = new Set<string>();
  /** Data frames queued in bundles (sent at the end of the turn, with kind 'bundle'). */
  readonly queued: { relay: string; kind: string; peer: string }[] = [];
  #queue: InFlight[] = [];
  readonly #rng;
  readonly #ids: string[];

  /** Relay starts so far: each gets a run of its own. */
  #starts = 0;

  constructor(
    ids: readonly string[],
    readonly options: {
      tuning?: Partial<BackboneTuning>;
      seed?: number;
      /** The frame MAC every relay uses; node:crypto's by default. */
      mac?: FrameMac;
      /** Relays whose records say `backboneBundles` (all with true, these with a list); none by default. */
      bundles?: boolean | readonly string[];
      /** The cores' `reuseFrameBuffer` (the network copies every datagram when it is sent). */
      reuseFrameBuffer?: boolean;
    } = {},
  ) {
    this.#ids = [...ids];
    this.#rng = createRng(options.seed ?? 1);
    for (const id of ids) this.add(id);
  }

  /** Adds relay `id` (listed in the directory, up). */
  add(id: string, startedAt = this.now): BackboneCore {
    if (!this.#ids.includes(id)) this.#ids.push(id);
    const n = indexOf(id, this.#ids);
    // A new run at every start, as a relay process draws one (not from the seeded rng, whose
    // draws the tests' link jitter and loss depend on).
    const run = createHash('sha256')
      .update(`${id} run ${++this.#starts}`)
      .digest()
      .subarray(0, RUN_ID_BYTES);
    const core = new BackboneCore({
      id,
      lat: 0,
      lon: n,
      keys: createKeyRing([MESH_KEY], this.options.mac ?? nodeCryptoMac),
      run,
      tuning: { ...BACKBONE_DEFAULTS, ...this.options.tuning },
      reuseFrameBuffer: this.options.reuseFrameBuffer ?? false,
    });
    const record: RelayRecord = {
      id,
      region: 'test',
      lat: 0,
      lon: n,
      turnUrls: [],
      backbone: `${this.ip(id)}:7000`,
      relayedAddress: `10.1.0.${n}`,
      portRange: [50000, 50999],
      capacity: 1000,
      load: { allocations: 0, pps: 0, bps: 0 },
      state: 'active',
      version: 'test',
      startedAt,
      updatedAt: this.now,
      ...(this.#bundles(id) ? { backboneBundles: true } : {}),
      backboneRun: run.toString('hex'),
    };
    this.nodes.set(id, { core, record, listed: true, up: true });
    return core;
  }

  #bundles(id: string): boolean {
    const b = this.options.bundles;
    return b === true || (Array.isArray(b) && b.includes(id));
  }

  /** The end of `id`'s event-loop turn: what it queued in bundles leaves (the shell's setImmediate). */
  flush(id: string): void {
    const core = this.core(id);
    if (core.pending) for (const a of core.flush()) this.#execute(id, a);
  }

  ip(id: string): string {
    return `10.0.0.${indexOf(id, this.#ids)}`;
  }

  core(id: string): BackboneCore {
    return this.nodes.get(id)!.core;
  }

  /** Sets the link a<->b (both directions) or only a->b with `oneWay`. */
  link(a: string, b: string, spec: LinkSpec, oneWay = false): void {
    this.links.set(`${a}>${b}`, spec);
    if (!oneWay) this.links.set(`${b}>${a}`, spec);
  }

  /** Full mesh from a matrix of RTTs (ids in order). */
  matrix(rtt: readonly (readonly number[])[], extra: Omit<LinkSpec, 'rttMs'> = {}): void {
    this.#ids.forEach((a, i) => {
      this.#ids.forEach((b, j) => {
        if (i !== j) this.link(a, b, { ...extra, rttMs: rtt[i]![j]! }, true);
      });
    });
  }

  setListed(id: string, listed: boolean): void {
    this.nodes.get(id)!.listed = listed;
  }

  setUp(id: string, up: boolean): void {
    this.nodes.get(id)!.up = up;
  }

  /** A datagram arriving at `to`'s backbone port from fromIp:fromPort after `delayMs`. */
  inject(to: string, bytes: Uint8Array, fromIp: string, fromPort = 7000, delayMs = 0): void {
    this.#push({ at: this.now + delayMs, to, fromIp, fromPort, bytes });
  }

  /** What an allocation on `from` (relayed port `srcPort`) sends to port `dstPort` on `to`'s relayed address. */
  send(from: string, to: string, data: Uint8Array, srcPort = 50000, dstPort = 50001): BackboneAction {
    const source: TransportAddress = {
      family: 4,
      address: this.nodes.get(from)!.record.relayedAddress,
      port: srcPort,
    };
    const a = this.core(from).route(source, this.nodes.get(to)!.record.relayedAddress, dstPort, data);
    this.#execute(from, a);
    return a;
  }

  /** Advances the clock to `until`, running every due tick and delivering datagrams in time order. */
  run(untilMs: number, every?: { ms: number; f: () => void }): void {
    const end = this.now + untilMs;
    // What send() queued before this call leaves now, at the end of that turn.
    for (const [id, n] of this.nodes) if (n.up) this.flush(id);
    let nextEvery = every ? this.now : Number.POSITIVE_INFINITY;
    for (let guard = 0; guard < 50_000_000; guard++) {
      let next = Math.min(end, this.#queue[0]?.at ?? Number.POSITIVE_INFINITY, nextEvery);
      for (const n of this.nodes.values()) if (n.up) next = Math.min(next, n.core.nextDue());
      if (next > end) break;
      this.now = Math.max(this.now, next);
      if (this.now >= nextEvery && every) {
        every.f();
        nextEvery += every.ms;
      }
      while (this.#queue.length && this.#queue[0]!.at <= this.now) {
        const d = this.#queue.shift()!;
        const node = this.nodes.get(d.to);
        if (node?.up) this.#execute(d.to, node.core.frame(d.bytes, d.fromIp, d.fromPort, this.now));
      }
      // The turn ends: every relay sends the bundles it queued.
      for (const [id, n] of this.nodes) if (n.up) this.flush(id);
      for (const [id, n] of this.nodes) {
        if (n.up && n.core.nextDue() <= this.now) for (const a of n.core.tick(this.now)) this.#execute(id, a);
      }
      if (this.now >= end && !this.#queue.some((d) => d.at <= end)) break;
    }
    this.now = end;
  }

  #push(d: InFlight): void {
    // Keep the queue in time order (binary insertion).
    let lo = 0;
    let hi = this.#queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#queue[mid]!.at <= d.at) lo = mid + 1;
      else hi = mid;
    }
    this.#queue.splice(lo, 0, d);
  }

  #execute(relay: string, a: BackboneAction): void {
    switch (a.type) {
      case 'send': {
        // The wire joins the parts into one datagram, and the receiver gets its own copy.
        const bytes = joinParts(a.parts);
        this.sent.push({ relay, kind: a.kind, peer: a.peer, bytes, at: this.now });
        const spec = this.links.get(`${relay}>${a.peer}`);
        if (!spec || spec.down || this.#rng.next() < (spec.loss ?? 0)) return;
        const data = a.kind === 'data' || a.kind === 'forward' || a.kind === 'bundle';
        if (data && spec.dataLoss && this.#rng.next() < spec.dataLoss) return;
        const jitter = spec.jitterMs ? -spec.jitterMs * Math.log(1 - this.#rng.next()) : 0;
        this.#push({
          at: this.now + spec.rttMs / 2 + jitter,
          to: a.peer,
          fromIp: this.ip(relay),
          fromPort: 7000,
          bytes: bytes.slice(),
        });
        return;
      }
      case 'queued':
        this.queued.push({ relay, kind: a.kind, peer: a.peer });
        return;
      case 'each':
        for (const x of a.actions) this.#execute(relay, x);
        return;
      case 'deliver':
        this.delivered.push({ at: this.now, relay, ...a });
        return;
      case 'drop':
        this.drops.push({ relay, reason: a.reason, at: this.now });
        return;
      case 'read-directory': {
        const records = [...this.nodes.values()].filter((n) => n.listed).map((n) => n.record);
        const ttl = this.options.tuning?.linkTtlMs ?? BACKBONE_DEFAULTS.linkTtlMs;
        const links = [...this.published.values()]
          .filter((p) => this.now - p.at < ttl)
          .flatMap((p) => p.links);
        for (const x of this.core(relay).directory(records, links, this.now)) this.#execute(relay, x);
        return;
      }
      case 'publish-links': {
        const old = this.withoutEndIn.has(relay);
        const links = old ? a.links.map(({ endIn: _, ...l }) => l) : a.links;
        this.published.set(relay, { links, at: this.now });
        return;
      }
      case 'end-to-end-loss':
        this.endLosses.push({ relay, at: this.now, loss: a.loss });
        return;
      case 'path-changed':
        this.changes.push({ relay, at: this.now, change: a.change });
        return;
      case 'skipped-relay':
        this.skipped.push({ relay, id: a.id, why: a.why });
        return;
      default:
        return;
    }
  }
}
