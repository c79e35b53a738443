/**
 * The relay's backbone shell: it owns the UDP port for relay-to-relay frames, one timer, the
 * directory I/O, metrics and fault injection, and executes what the pure core decides
 * (src/backbone/core.ts): probing, link estimates, routes with hysteresis, framing, replay and
 * address checks all live there. Packets an allocation sends to another relay's relayed address
 * leave through the backbone (PeerEgress); frames for this relay's relayed addresses are
 * delivered into the owning allocation through the BackboneHost. Data frames the core queues in
 * bundles (src/backbone/bundle.ts) leave at the end of the event-loop turn: one setImmediate per
 * turn calls core.flush().
 *
 * The port is a UdpPort (relay/udp-io.ts) of the relay's --udp-io, as the TURN listeners' are:
 * with native I/O frames come in batches read with recvmmsg, each a view valid only during its
 * call (the core copies what it keeps: bundle entries), and leave through the addon's send pool.
 * The bundles' setImmediate runs after the addon's own end-of-turn flush, so it flushes the pool
 * itself: a bundle leaves in the turn it was sealed in.
 *
 * With --workers N there is one per thread, each on its own port (P + thread index; see
 * docs/BACKBONE.md, "Several TURN workers and the backbone"). Thread 0's leads: it reads and
 * writes the directory, probes and computes routes, and sends the others (`followers`) the
 * directory and its routes once a second and on every route change. The others (`report`) have
 * no directory: they take those updates and tell thread 0 their data counts every 250 ms, for
 * the delivery checks (per link and end to end). No message per packet.
 */
import { randomBytes } from 'node:crypto';
import { BackboneCore } from '../src/backbone/core.ts';
import type { BackboneAction, PeerCounts } from '../src/backbone/core-actions.ts';
import type { BackboneTuning } from '../src/backbone/defaults.ts';
import type { FrameMac } from '../src/backbone/frame-mac.ts';
import { createKeyRing, parseRunId, RUN_ID_BYTES } from '../src/backbone/key-ring.ts';
import type { LinkRecord, RelayDirectory, RelayRecord } from '../src/directory/types.ts';
import { faultFor, grayTransit, impair, type LinkFault } from '../src/faults/link-fault.ts';
import { addressKey, type TransportAddress } from '../src/net/address.ts';
import type { Path } from '../src/routing/paths.ts';
import type { RelayMetricsBackbone } from './backbone-metrics.ts';
import type { RelayConfig } from './config.ts';
import { type FrameMacChoice, frameMacFor, nodeCryptoMac } from './frame-mac.ts';
import { type Logger, rateLimitedLog } from './logger.ts';
import { directEgress, type PeerEgress, type RelayAllocation } from './relay-allocation.ts';
import { dgramIo, type UdpIo, type UdpPort, udpIo } from './udp-io.ts';

export interface BackboneOptions {
  readonly id: string;
  readonly bindAddress: string;
  readonly port: number;
  readonly meshKeys: readonly string[];
  readonly faults: ReadonlyMap<string, LinkFault> | undefined;
  readonly tuning: BackboneTuning;
  /** Where this relay is, to pick the nearest peers to probe in a large mesh. */
  readonly lat: number;
  readonly lon: number;
  /** This relay's thread (--workers N), 0 by default; its socket binds `port` as given. */
  readonly thread?: number;
  /** dgram or native (--udp-io), as the TURN side's; dgram by default. */
  readonly io?: UdpIo;
  /** Who computes frame tags (--backbone-mac; relay/frame-mac.ts); node:crypto by default. */
  readonly mac?: FrameMacChoice;
  /** This relay process's run (newBackboneRun), the same on every thread and in its record. */
  readonly run: string;
}

/** A fresh run id for a relay process, as its record carries it (`backboneRun`: 32 hex digits). */
export function newBackboneRun(): string {
  return randomBytes(RUN_ID_BYTES).toString('hex');
}

/** The bytes of a run id made by newBackboneRun (a caller fault otherwise). */
function runIdOf(run: string): Uint8Array {
  const bytes = parseRunId(run);
  if (!bytes) throw new TypeError(`backbone run: 32 lowercase hex digits, got ${JSON.stringify(run)}`);
  return bytes;
}

/** Thread `thread`'s backbone as the relay's configuration gives it: port --backbone-port + thread. */
export function backboneOptions(config: RelayConfig, thread: number, run: string): BackboneOptions {
  return {
    run,
    id: config.id,
    bindAddress: config.listen[0]!,
    port: config.backbonePort! + thread,
    meshKeys: config.meshKey,
    faults: config.faultLinks,
    tuning: config.backbone,
    lat: config.lat,
    lon: config.lon,
    thread,
    // The TURN side warned already when the addon is missing.
    io: udpIo(config.udpIo, () => undefined),
    mac: frameMacFor(config.backboneMac),
  };
}

/** From thread 0 to the other threads: the directory's relays, its routes, or both. */
export interface BackboneUpdate {
  readonly relays?: readonly RelayRecord[];
  readonly routes?: readonly (readonly [string, Path])[];
}

/** How this backbone reaches the directory: itself (thread 0), or through thread 0 (the others). */
export type BackboneSource =
  | {
      readonly directory: RelayDirectory;
      /** Where the other threads' updates go (none with one thread). */
      readonly followers?: (update: BackboneUpdate) => void;
    }
  | {
      /** Where this thread's counts go, for thread 0. */
      readonly report: (counts: PeerCounts[]) => void;
    };

/** How often a thread other than 0 reports its data counts to thread 0. */
const REPORT_MS = 250;

/** What the backbone needs from the TURN side. */
export interface BackboneHost {
  deliverFromPeer(relayedKey: string, peerIp: string, peerPort: number, data: Uint8Array): boolean;
}

/** One clock for the core: monotonic, in ms since the epoch so it reads like Date.now(). */
const wallClock = (): number => performance.timeOrigin + performance.now();

/** A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d; the directory lists a.b.c.d. */
const unmapped = (ip: string): string => (ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip);

const isGrayOnly = (f: LinkFault): boolean =>
  f.delayMs === 0 && f.jitterMs === 0 && f.loss === 0 && !f.blackhole;

export class Backbone implements PeerEgress {
  readonly core: BackboneCore;
  readonly #log: Logger;
  readonly #warn = rateLimitedLog();
  /** A relay the directory lists but the backbone cannot use is said again at most once a minute. */
  readonly #skipWarn = rateLimitedLog(60_000);
  #faults: ReadonlyMap<string, LinkFault> = new Map();
  readonly #io: UdpIo;
  readonly #mac: FrameMac;
  #socket: UdpPort | undefined;
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  #syncing = false;
  #flushing = false;
  #stopped = false;
  readonly #directory: RelayDirectory | undefined;

  constructor(
    private readonly o: BackboneOptions,
    private readonly host: BackboneHost,
    private readonly source: BackboneSource,
    private readonly metrics: RelayMetricsBackbone,
    logger: Logger,
  ) {
    this.#log = logger.child({ part: 'backbone', id: o.id, ...(o.thread ? { thread: o.thread } : {}) });
    this.#directory = 'directory' in source ? source.directory : undefined;
    this.#io = o.io ?? dgramIo;
    this.#mac = o.mac?.mac ?? nodeCryptoMac;
    // Once per relay: every thread makes the same choice (the same node, the same addon).
    if (!o.thread) this.#log.info({ mac: this.#mac.name, why: o.mac?.why }, 'backbone frame tags');
    this.core = new BackboneCore({
      id: o.id,
      lat: o.lat,
      lon: o.lon,
      keys: createKeyRing(o.meshKeys, this.#mac),
      run: runIdOf(o.run),
      tuning: o.tuning,
      thread: o.thread ?? 0,
      // Native I/O copies each datagram on send (#transmit copies what a fault delays).
      reuseFrameBuffer: this.#io.copiesOnSend,
    });
    this.setFaults(o.faults ?? new Map());
  }

  get address(): string {
    const s = this.#socket;
    return s ? addressKey(s) : '';
  }

  /** The UDP I/O its port runs on (--udp-io; dgram when the addon is missing). */
  get io(): UdpIo['mode'] {
    return this.#io.mode;
  }

  /** Who computes its frame tags (--backbone-mac). */
  get mac(): FrameMac['name'] {
    return this.#mac.name;
  }

  /** Current paths by destination relay, for tests and the status page. */
  routes(): ReadonlyMap<string, Path> {
    return this.core.routes;
  }

  setFaults(faults: ReadonlyMap<string, LinkFault>): void {
    const gray = grayTransit(faults);
    this.core.setGrayTransit(gray);
    // Gray faults alone impair no frame on the wire (the core drops the transit they concern):
    // the send path stays the plain one.
    this.#faults = [...faults.values()].every(isGrayOnly) ? new Map() : faults;
  }

  /** Mesh keys changed (rotation): the first seals from now on, all are accepted. */
  setMeshKeys(keys: readonly string[]): void {
    this.core.setKeys(createKeyRing(keys, this.#mac));
  }

  /** Threads other than 0: the directory and routes from thread 0. */
  update(u: BackboneUpdate): void {
    if (u.relays) for (const a of this.core.directory(u.relays, [], wallClock())) this.#run(a);
    if (u.routes) this.core.setRoutes(new Map(u.routes));
  }

  /** Thread 0: another thread's counts per peer. */
  siblingCounts(thread: number, counts: readonly PeerCounts[]): void {
    this.core.siblingCounts(thread, counts);
  }

  async start(): Promise<void> {
    // Buffers sized like the TURN listeners': bursts at saturation queue, not drop. Frames go to
    // IP literals from the directory (no name lookup per send).
    const family = this.o.bindAddress.includes(':') ? 6 : 4;
    const socket = await this.#io.bind(this.o.bindAddress, family, this.o.port, { bigBuffers: true });
    socket.onError((err) =>
      this.#warn('socket', Date.now(), (suppressed) =>
        this.#log.warn({ err, suppressed }, 'backbone socket error'),
      ),
    );
    socket.onMessage((msg, address, port) => {
      this.#run(this.core.frame(msg, unmapped(address), port, wallClock()));
      if (this.core.pending) this.#flushSoon();
    });
    this.#socket = socket;
    const source = this.source;
    if ('report' in source) {
      this.#timer = setInterval(() => source.report(this.core.counts()), REPORT_MS);
      this.#timer.unref();
      return;
    }
    // Changes elsewhere (a relay up, draining or down; new links) trigger a sync at once.
    try {
      this.#unsubscribe = await source.directory.subscribe((e) => {
        if (e.id !== this.o.id) void this.#sync();
      });
    } catch (err) {
      this.#log.warn({ err }, 'no directory events; syncing on the timer only');
    }
    await this.#sync();
    this.#tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#unsubscribe?.().catch(() => undefined);
    clearTimeout(this.#timer);
    clearInterval(this.#timer);
    const s = this.#socket;
    this.#socket = undefined;
    await s?.close();
  }

  /** PeerEgress: to another relay's relayed address through the backbone, else plain UDP. */
  send(alloc: RelayAllocation, peerIp: string, peerPort: number, data: Uint8Array): void {
    const source = alloc.advertised;
    const a = source ? this.core.route(source, peerIp, peerPort, data) : undefined;
    if (a?.type === 'send') {
      this.metrics.dataSent(a.peer, data.length);
      this.#transmit(a.peer, a.to, a.parts);
      return;
    }
    if (a?.type === 'queued') {
      this.metrics.dataSent(a.peer, data.length);
      this.#flushSoon();
      return;
    }
    if (a?.type === 'each') {
      // A frame that leaves alone after the bundle queued before it in this turn for the same
      // next hop (core.ts #inOrder): the bundle first, then the frame; both on the backbone.
      const last = a.actions.at(-1);
      if (last?.type === 'send') this.metrics.dataSent(last.peer, data.length);
      for (const x of a.actions) this.#run(x);
      return;
    }
    if (a?.type === 'direct' && a.reason) this.metrics.rejected(a.reason);
    directEgress.send(alloc, peerIp, peerPort, data);
  }

  /**
   * Bundles queued in this turn leave at its end: setImmediate runs after the poll phase that read
   * the datagrams, so a frame waits for the rest of its turn and nothing else. With native I/O the
   * addon flushed its send pool just before (its check hook runs before Node's immediates): the
   * flush below sends the bundles now, not after the next turn's timers.
   */
  #flushSoon(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#flushing = false;
    for (const a of this.core.flush()) this.#run(a);
    this.#io.flush();
  };

  #tick(): void {
    if (this.#stopped) return;
    const now = wallClock();
    let changed = false;
    for (const a of this.core.tick(now)) {
      this.#run(a);
      if (a.type === 'path-changed') changed = true;
    }
    if (changed) this.#follow(false);
    this.#timer = setTimeout(() => this.#tick(), Math.max(1, this.core.nextDue() - wallClock()));
    this.#timer.unref();
  }

  #run(a: BackboneAction): void {
    switch (a.type) {
      case 'send':
        if (a.kind === 'forward') this.metrics.forwarded(a.peer);
        else if (a.kind === 'handover') this.metrics.handedOver();
        else if (a.kind === 'bundle') this.metrics.bundleSent(a.frames ?? 1);
        this.#transmit(a.peer, a.to, a.parts);
        break;
      case 'queued':
        if (a.kind === 'forward') this.metrics.forwarded(a.peer);
        else if (a.kind === 'handover') this.metrics.handedOver();
        break;
      case 'each':
        for (const x of a.actions) this.#run(x);
        break;
      case 'deliver':
        this.metrics.dataDelivered(
          this.host.deliverFromPeer(a.relayed, a.peerIp, a.peerPort, a.data),
          a.data.length,
        );
        break;
      case 'drop':
        this.metrics.rejected(a.reason);
        break;
      case 'read-directory':
        void this.#sync();
        break;
      case 'publish-links':
        void this.#publish(a.links, a.announce);
        break;
      case 'measured':
        for (const l of a.links) this.metrics.link(l);
        break;
      case 'path-changed': {
        const c = a.change;
        this.metrics.pathChanged(c.to, c.reason);
        this.#log.info({ to: c.to, path: c.path?.hops, reason: c.reason }, 'path changed');
        break;
      }
      case 'end-to-end-loss': {
        const l = a.loss;
        this.metrics.endToEndLoss(l.to);
        this.#log.warn(
          { to: l.to, loss: Number(l.loss.toFixed(3)), path: l.path, avoid: l.avoid },
          'data lost end to end; avoiding the path’s transit relays for this destination',
        );
        break;
      }
      case 'skipped-relay':
        this.#skipWarn(a.id, Date.now(), (suppressed) =>
          this.#log.warn({ relay: a.id, why: a.why, suppressed }, 'relay skipped'),
        );
        break;
      case 'direct':
      case 'none':
        break;
    }
  }

  /**
   * One datagram from the frame's parts (the core makes one part today; more are joined). The
   * bytes may be a view of the native receive area (a frame passed on in place): sent now, or
   * copied when a fault delays them.
   */
  #transmit(peer: string, to: TransportAddress, frame: readonly Uint8Array[]): void {
    const socket = this.#socket;
    if (!socket) return;
    const bytes = frame.length === 1 ? frame[0]! : Buffer.concat(frame);
    if (this.#faults.size === 0) {
      socket.send(bytes, to.port, to.address);
      return;
    }
    const fate = impair(faultFor(this.#faults, peer), Math.random);
    if (fate === 'drop') {
      this.metrics.faultDropped(peer);
      return;
    }
    if (fate === 0) {
      socket.send(bytes, to.port, to.address);
      return;
    }
    const held = Uint8Array.from(bytes);
    setTimeout(() => this.#socket?.send(held, to.port, to.address), fate).unref();
  }

  /** Thread 0: the other threads get the relays just read (with `relays`) and the routes. */
  #follow(relays: readonly RelayRecord[] | false): void {
    const followers = 'followers' in this.source ? this.source.followers : undefined;
    if (!followers) return;
    followers({ ...(relays ? { relays } : {}), routes: [...this.core.routes] });
  }

  /** Directory in, links out (on the core's cadence, and at once on directory events). */
  async #sync(): Promise<void> {
    const directory = this.#directory;
    if (this.#syncing || this.#stopped || !directory) return;
    this.#syncing = true;
    try {
      const now = Date.now();
      const [relays, links] = await Promise.all([directory.list(now), directory.links(now)]);
      for (const a of this.core.directory(relays, links, wallClock())) this.#run(a);
      this.#follow(relays);
    } catch (err) {
      this.#log.debug({ err }, 'directory unreachable; routing on last-known state');
    } finally {
      this.#syncing = false;
    }
  }

  async #publish(links: readonly LinkRecord[], announce: boolean): Promise<void> {
    const now = Date.now();
    const directory = this.#directory;
    if (!directory) return;
    try {
      await directory.putLinks(this.o.id, links, this.o.tuning.linkTtlMs, now);
      if (announce) await directory.publish({ type: 'links', id: this.o.id, at: now });
    } catch {
      // Directory away: links are published again on the next sync.
    }
  }
}
