/**
 * A relay with several backbone threads (--workers N): which thread a frame goes to, per-thread
 * sender ids and replay windows, routes given by thread 0, transit in any thread, a frame passed
 * to the thread that owns its port, and relays from before threads. One core per thread on a
 * small lossless in-memory wire keyed by backbone address, one fake clock.
 */
import { describe, expect, it } from 'vitest';
import { nodeCryptoMac } from '../../relay/frame-mac.ts';
import { BundleWriter, DEFAULT_BUNDLE_BYTES } from '../../src/backbone/bundle.ts';
import { BackboneCore } from '../../src/backbone/core.ts';
import type { BackboneAction } from '../../src/backbone/core-actions.ts';
import { BACKBONE_DEFAULTS } from '../../src/backbone/defaults.ts';
import type { EndToEndLoss } from '../../src/backbone/end-to-end.ts';
import {
  encodeDataFrame,
  joinParts,
  peekSender,
  untaggedLength,
  writeDataFrame,
} from '../../src/backbone/frame.ts';
import { createKeyRing, parseRunId, type RunKeys } from '../../src/backbone/key-ring.ts';
import { relayHash } from '../../src/backbone/relay-hash.ts';
import { canSendTo, pickThread, type RelayThreads, senderId, sliceOf } from '../../src/backbone/threads.ts';
import type { LinkRecord, RelayRecord } from '../../src/directory/types.ts';
import { relayRecord, testRun } from '../support/relay-record.ts';

const KEY = 'a-mesh-key-of-at-least-16-bytes';

/** Relay `id`'s run keys: its record carries testRun(id), and every thread seals under it. */
const runKeys = (id: string): RunKeys => createKeyRing([KEY], nodeCryptoMac).forRun(parseRunId(testRun(id))!);
const T0 = 1_800_000_000_000;

describe('backbone threads: the pure choice', () => {
  const two: RelayThreads = {
    threads: [
      { minPort: 50000, maxPort: 50499 },
      { minPort: 50500, maxPort: 50999 },
    ],
    legacy: false,
  };
  const three: RelayThreads = {
    threads: [
      { minPort: 40000, maxPort: 40099 },
      { minPort: 40100, maxPort: 40199 },
      { minPort: 40200, maxPort: 40299 },
    ],
    legacy: false,
  };
  const legacy: RelayThreads = { threads: [{ minPort: 30000, maxPort: 30999 }], legacy: true };

  it('sends a frame for a relay to the thread whose slice holds the port', () => {
    expect(pickThread(two, two, 50000, false)).toBe(0);
    expect(pickThread(two, two, 50499, false)).toBe(0);
    expect(pickThread(two, two, 50500, false)).toBe(1);
    expect(pickThread(two, two, 50999, false)).toBe(1);
    // Outside every slice (a stale view): thread 0, which passes it on.
    expect(pickThread(two, two, 51000, false)).toBe(0);
    expect(sliceOf(three.threads, 40250)).toBe(2);
    expect(sliceOf(three.threads, 39999)).toBe(-1);
  });

  it('spreads transit over the hop’s threads by the target thread, and keeps legacy targets on thread 0', () => {
    expect(pickThread(two, three, 40050, true)).toBe(0);
    expect(pickThread(two, three, 40150, true)).toBe(1);
    expect(pickThread(two, three, 40250, true)).toBe(0);
    expect(pickThread(three, two, 50700, true)).toBe(1);
    expect(pickThread(two, legacy, 30500, true)).toBe(0);
    expect(pickThread(legacy, two, 50700, true)).toBe(0);
  });

  it('lets only thread 0 send to a relay from before threads', () => {
    expect(canSendTo(0, legacy)).toBe(true);
    expect(canSendTo(1, legacy)).toBe(false);
    expect(canSendTo(1, two)).toBe(true);
  });

  it('gives each thread the relay hash plus its index as sender id, wrapping at 48 bits', () => {
    expect(senderId(1000, 0)).toBe(1000);
    expect(senderId(1000, 3)).toBe(1003);
    expect(senderId(2 ** 48 - 1, 2)).toBe(1);
  });
});

/** Relay `id` at 10.0.0.n, backbone port 7000 + thread, relayed 10.1.0.n ports 50000-50999. */
function record(id: string, n: number, threads: number | 'legacy'): RelayRecord {
  const ip = `10.0.0.${n}`;
  const base = relayRecord(id, ip, 0, n, {
    relayedAddress: `10.1.0.${n}`,
    portRange: [50000, 50999],
    backbone: `${ip}:7000`,
    startedAt: T0,
  });
  if (threads === 'legacy') return base;
  const size = 1000 / threads;
  return {
    ...base,
    backboneThreads: Array.from({ length: threads }, (_, i) => ({
      backbone: `${ip}:${7000 + i}`,
      portRange: [50000 + i * size, 50000 + (i + 1) * size - 1] as const,
    })),
  };
}

interface Sent {
  readonly from: string;
  readonly kind: string;
  readonly to: string;
  readonly bytes: Uint8Array;
}

/** Cores by backbone address; every send arrives at once; routes go from thread 0 to the others. */
class Wire {
  now = T0;
  readonly cores = new Map<string, { core: BackboneCore; relay: string }>();
  readonly records: RelayRecord[] = [];
  readonly sent: Sent[] = [];
  readonly delivered: { at: string; relayed: string; peerIp: string; data: number }[] = [];
  readonly drops: { at: string; reason: string }[] = [];
  /** Relay pairs `X>Y` whose frames from X to Y are lost (every kind). */
  readonly block = new Set<string>();
  /** Each relay's links as its thread 0 last published them; read back by all when `shareLinks`. */
  readonly published = new Map<string, readonly LinkRecord[]>();
  shareLinks = false;
  /** Relays whose other threads report their counts to thread 0 every 250 ms, as relay/backbone.ts does. */
  readonly reporting = new Set<string>();
  readonly endLosses: { at: string; loss: EndToEndLoss }[] = [];
  readonly queued: { at: string; kind: string }[] = [];

  add(id: string, n: number, threads: number | 'legacy'): void {
    const r = record(id, n, threads);
    this.records.push(r);
    const count = threads === 'legacy' ? 1 : threads;
    for (let thread = 0; thread < count; thread++) {
      const core = new BackboneCore({
        id,
        lat: 0,
        lon: n,
        keys: createKeyRing([KEY], nodeCryptoMac),
        run: parseRunId(testRun(id))!,
        tuning: BACKBONE_DEFAULTS,
        ...(threads === 'legacy' ? {} : { thread }),
      });
      this.cores.set(`10.0.0.${n}:${7000 + thread}`, { core, relay: id });
    }
  }

  core(address: string): BackboneCore {
    return this.cores.get(address)!.core;
  }

  /** Directory and ticks for `ms`, thread 0's routes given to the other threads at each step. */
  run(ms: number, every?: () => void): void {
    const end = this.now + ms;
    for (; this.now <= end; this.now += 10) {
      every?.();
      const links = this.shareLinks ? [...this.published.values()].flat() : [];
      for (const [at, { core, relay }] of this.cores) {
        if (this.now % 1000 === 0)
          for (const a of core.directory(this.view(relay), links, this.now)) this.exec(at, a);
        if (this.reporting.has(relay) && core.thread !== 0 && this.now % 250 === 0)
          this.leader(relay).siblingCounts(core.thread, core.counts());
        if (core.nextDue() <= this.now) for (const a of core.tick(this.now)) this.exec(at, a);
      }
      for (const { core, relay } of this.cores.values())
        if (core.thread !== 0) core.setRoutes(this.leader(relay).routes);
    }
  }

  /** The directory as `relay` reads it: a relay from before threads does not see backboneThreads. */
  view(relay: string): RelayRecord[] {
    if (this.records.find((r) => r.id === relay)!.backboneThreads) return this.records;
    return this.records.map(({ backboneThreads: _, ...r }) => r);
  }

  leader(relay: string): BackboneCore {
    return [...this.cores.values()].find((c) => c.relay === relay && c.core.thread === 0)!.core;
  }

  /** An allocation on the relay of thread `at` (relayed port `src`) sends to `dst`:`port`. */
  send(at: string, dstIp: string, port: number, data: number, src = 50001): BackboneAction {
    const { core } = this.cores.get(at)!;
    const relayed = this.records.find((r) => r.id === core.id)!.relayedAddress;
    const a = core.route({ family: 4, address: relayed, port: src }, dstIp, port, Uint8Array.of(data));
    this.exec(at, a);
    return a;
  }

  inject(to: string, bytes: Uint8Array, from: string): void {
    const [ip, port] = from.split(':');
    this.exec(to, this.core(to).frame(bytes, ip!, Number(port), this.now));
  }

  exec(at: string, a: BackboneAction): void {
    if (a.type === 'send') {
      const to = `${a.to.address}:${a.to.port}`;
      const bytes = joinParts(a.parts);
      this.sent.push({ from: at, kind: a.kind, to, bytes });
      const receiver = this.cores.get(to);
      if (receiver && this.block.has(`${this.cores.get(at)!.relay}>${receiver.relay}`)) return;
      if (receiver) this.inject(to, bytes.slice(), at);
    } else if (a.type === 'publish-links') {
      this.published.set(this.cores.get(at)!.relay, a.links);
    } else if (a.type === 'end-to-end-loss') {
      this.endLosses.push({ at, loss: a.loss });
    } else if (a.type === 'deliver') {
      this.delivered.push({ at, relayed: a.relayed, peerIp: a.peerIp, data: a.data[0]! });
    } else if (a.type === 'drop') {
      this.drops.push({ at, reason: a.reason });
    } else if (a.type === 'queued') {
      this.queued.push({ at, kind: a.kind });
    } else if (a.type === 'each') {
      for (const x of a.actions) this.exec(at, x);
    }
  }

  /** The end of the turn at `at`: its queued bundles leave. */
  flush(at: string): void {
    for (const a of this.core(at).flush()) this.exec(at, a);
  }
}

const A = '10.0.0.1:7000';
const A1 = '10.0.0.1:7001';
const B0 = '10.0.0.2:7000';
const B1 = '10.0.0.2:7001';
const C = '10.0.0.3:7000';

/** A data frame as relay A seals it for port `port` of C's relayed address, to inject in transit. */
function fromAtoC(seq: number, port: number, data: number): Uint8Array {
  return encodeDataFrame(
    {
      seq,
      sender: relayHash('A'),
      target: relayHash('C'),
      source: { family: 4, ip: Uint8Array.of(10, 1, 0, 1), port: 50001 },
      destination: { family: 4, ip: Uint8Array.of(10, 1, 0, 3), port },
      payload: Uint8Array.of(data),
    },
    runKeys('A'),
  );
}

function mesh(a: number | 'legacy' = 1): Wire {
  const w = new Wire();
  w.add('A', 1, a);
  w.add('B', 2, 2);
  w.add('C', 3, 1);
  w.run(3000);
  // Frames that came before their receiver had read the directory.
  w.drops.length = 0;
  return w;
}

describe('backbone threads: cores on a wire', () => {
  it('sends a packet for a relayed port to the thread that owns it, which delivers it', () => {
    const w = mesh();
    expect(w.leader('A').routes.get('B')?.hops).toEqual(['A', 'B']);
    w.send(A, '10.1.0.2', 50100, 1);
    w.send(A, '10.1.0.2', 50600, 2);
    expect(w.sent.filter((s) => s.kind === 'data').map((s) => s.to)).toEqual([B0, B1]);
    expect(w.delivered).toEqual([
      { at: B0, relayed: '10.1.0.2:50100', peerIp: '10.1.0.1', data: 1 },
      { at: B1, relayed: '10.1.0.2:50600', peerIp: '10.1.0.1', data: 2 },
    ]);
    expect(w.drops).toEqual([]);
  });

  it('seals each thread’s frames with its own sender id, and keeps a replay window per thread', () => {
    const w = mesh();
    // The other threads route on what thread 0 gave them: no probes of their own.
    expect(w.core(B1).routes.get('A')?.hops).toEqual(['B', 'A']);
    expect(w.sent.filter((s) => s.from === B1 && s.kind === 'probe')).toEqual([]);
    // Both threads count from 1 and interleave: neither's frames are taken for replays of the other's.
    for (let i = 0; i < 20; i++) w.send(i % 2 ? B1 : B0, '10.1.0.1', 50001, i, i % 2 ? 50600 : 50100);
    const data = w.sent.filter((s) => s.kind === 'data');
    expect(data.filter((s) => s.from === B1).map((s) => s.to)).toEqual(Array(10).fill(A));
    expect(new Set(data.map((s) => peekSender(s.bytes)))).toEqual(
      new Set([relayHash('B'), senderId(relayHash('B'), 1)]),
    );
    expect(w.delivered.map((d) => d.data)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(w.drops).toEqual([]);
    // A replayed frame of thread 1 is still dropped.
    w.inject(A, data.find((s) => s.from === B1)!.bytes, B1);
    expect(w.drops.map((d) => d.reason)).toEqual(['ERR_REPLAYED']);
    // A thread-1 frame from thread 0's address is refused before any MAC work.
    w.inject(A, data.filter((s) => s.from === B1)[1]!.bytes, B0);
    expect(w.drops.map((d) => d.reason)).toEqual(['ERR_REPLAYED', 'ERR_WRONG_ADDRESS']);
  });

  it('forwards transit frames in the thread they arrive on, to the thread that owns the port', () => {
    const w = mesh();
    // As A seals a frame for C that goes through B (the route A-B-C), arriving at B's thread 1.
    const frame = fromAtoC(1_000_000, 50700, 42);
    w.inject(B1, frame, A);
    expect(w.sent.filter((s) => s.kind === 'forward').map((s) => `${s.from}>${s.to}`)).toEqual([
      `${B1}>${C}`,
    ]);
    expect(w.delivered).toEqual([{ at: C, relayed: '10.1.0.3:50700', peerIp: '10.1.0.1', data: 42 }]);
  });

  it('chooses the hop’s thread for transit by the target’s thread', () => {
    const w = new Wire();
    w.add('A', 1, 1);
    w.add('B', 2, 2);
    w.add('C', 3, 2);
    w.run(3000);
    // Only thread 0 of A knows the route; force A-B-C on it by giving B-C the only way.
    const core = w.leader('A');
    const route = core.routes as Map<string, { hops: string[]; cost: number }>;
    route.set('C', { hops: ['A', 'B', 'C'], cost: 1 });
    w.send(A, '10.1.0.3', 50100, 1);
    w.send(A, '10.1.0.3', 50600, 2);
    const hops = w.sent
      .filter((s) => s.kind === 'data' || s.kind === 'forward')
      .map((s) => `${s.from}>${s.to}`);
    expect(hops).toEqual([`${A}>${B0}`, `${B0}>10.0.0.3:7000`, `${A}>${B1}`, `${B1}>10.0.0.3:7001`]);
    expect(w.delivered.map((d) => d.at)).toEqual(['10.0.0.3:7000', '10.0.0.3:7001']);
  });

  it('passes a frame from a relay before threads to the thread that owns its port', () => {
    const w = mesh('legacy');
    // A (no backboneThreads) knows one address for B, thread 0's: it sends there for every port.
    w.send(A, '10.1.0.2', 50600, 7);
    expect(
      w.sent.filter((s) => s.kind !== 'probe' && s.kind !== 'reply').map((s) => `${s.kind} ${s.to}`),
    ).toEqual([`data ${B0}`, `handover ${B1}`]);
    expect(w.delivered).toEqual([{ at: B1, relayed: '10.1.0.2:50600', peerIp: '10.1.0.1', data: 7 }]);
    // Toward it, only thread 0 (B's registered address and bare hash) uses the backbone.
    expect(w.send(B1, '10.1.0.1', 50001, 8, 50600)).toEqual({ type: 'direct' });
    expect(w.send(B0, '10.1.0.1', 50001, 9, 50100).type).toBe('send');
    expect(w.delivered.at(-1)).toMatchObject({ at: A, data: 9 });
  });

  it('publishes every thread’s received count on thread 0’s link record', () => {
    const w = mesh();
    for (let i = 0; i < 5; i++) w.send(A, '10.1.0.2', 50600, i);
    for (let i = 0; i < 3; i++) w.send(A, '10.1.0.2', 50100, i);
    const b0 = w.leader('B');
    const dataIn = () => {
      const out = b0.directory(w.records, [], w.now);
      const p = out.find((a) => a.type === 'publish-links');
      return p?.type === 'publish-links' ? p.links.find((l) => l.to === 'A')?.dataIn : undefined;
    };
    expect(dataIn()).toBe(3);
    b0.siblingCounts(1, w.core(B1).counts());
    expect(
      w
        .core(B1)
        .counts()
        .find((c) => c.id === 'A'),
    ).toEqual({ id: 'A', sent: 0, received: 5, endSent: 0, endReceived: 5 });
    expect(dataIn()).toBe(8);
    // The other threads publish nothing themselves.
    expect(
      w
        .core(B1)
        .directory(w.records, [], w.now)
        .filter((a) => a.type === 'publish-links'),
    ).toEqual([]);
  });

  it('goes straight to the target from a thread other than 0 when the next hop is from before threads', () => {
    const w = new Wire();
    w.add('A', 1, 1);
    w.add('B', 2, 2);
    w.add('C', 3, 1);
    w.add('L', 4, 'legacy');
    w.run(3000);
    w.drops.length = 0;
    // Thread 0's routes say B-L-C; L knows only B's thread 0.
    w.core(B1).setRoutes(new Map([['C', { hops: ['B', 'L', 'C'], cost: 1 }]]));
    w.core(B0).setRoutes(new Map([['C', { hops: ['B', 'L', 'C'], cost: 1 }]]));
    expect(w.send(B1, '10.1.0.3', 50001, 1, 50600)).toMatchObject({ type: 'send', to: { port: 7000 } });
    expect(w.sent.at(-1)).toMatchObject({ from: B1, kind: 'data', to: C });
    const frame = fromAtoC(2_000_000, 50002, 2);
    w.inject(B1, frame, A);
    expect(w.sent.at(-1)).toMatchObject({ from: B1, kind: 'forward', to: C });
    expect(w.delivered.map((d) => [d.at, d.data])).toEqual([
      [C, 1],
      [C, 2],
    ]);
    expect(w.drops).toEqual([]);
  });
  it('sums every thread’s end-to-end counts on thread 0, so a destination with threads shows no false loss', () => {
    /** A and B with two threads each, A-B cut both ways: A reaches B through C; 100 packets a second. */
    const run = (reporting: readonly string[]) => {
      const w = new Wire();
      w.add('A', 1, 2);
      w.add('B', 2, 2);
      w.add('C', 3, 1);
      w.block.add('A>B').add('B>A');
      w.shareLinks = true;
      for (const r of reporting) w.reporting.add(r);
      w.run(3000);
      expect(w.leader('A').routes.get('B')?.hops).toEqual(['A', 'C', 'B']);
      let n = 0;
      // Both of A's threads send, to ports of both of B's threads.
      w.run(20_000, () => {
        n++;
        w.send(n % 2 ? A : A1, '10.1.0.2', n % 4 < 2 ? 50100 : 50600, n & 0xff, n % 2 ? 50100 : 50600);
      });
      const endIn = w.published.get('B')?.find((l) => l.to === 'A')?.endIn;
      return { w, n, endIn };
    };
    const { w, n, endIn } = run(['A', 'B']);
    expect(
      w
        .core(B1)
        .counts()
        .find((c) => c.id === 'A')?.endReceived,
    ).toBeGreaterThan(n / 3);
    expect(
      w
        .core(A1)
        .counts()
        .find((c) => c.id === 'B')?.endSent,
    ).toBeGreaterThan(n / 3);
    // Published a second ago at most: all but the last second's frames, from both threads.
    expect(endIn).toBeGreaterThan(n - 150);
    expect(w.delivered.filter((d) => d.at === B0 || d.at === B1)).toHaveLength(n);
    expect(w.endLosses).toEqual([]);
    expect(w.leader('A').routes.get('B')?.hops).toEqual(['A', 'C', 'B']);
    // Without its other thread's reports, B publishes only thread 0's half: A leaves C for nothing.
    const alone = run(['A']);
    expect(alone.endIn).toBeLessThan(alone.n * 0.6);
    expect(alone.w.endLosses.map((e) => e.loss.avoid)).toContainEqual(['C']);
  });
});

describe('backbone threads: bundles', () => {
  it('hands the entries of a bundle for another thread’s ports to that thread in a bundle of its own', () => {
    const w = mesh();
    // As A (one thread) would bundle three frames for ports of B's thread 1 had it a stale view of B.
    const keys = runKeys('A');
    const bundle = new BundleWriter(DEFAULT_BUNDLE_BYTES);
    for (let i = 0; i < 3; i++) {
      const init = {
        seq: 2_000_000 + i,
        sender: relayHash('A'),
        target: relayHash('B'),
        source: { family: 4 as const, ip: Uint8Array.of(10, 1, 0, 1), port: 50001 },
        destination: { family: 4 as const, ip: Uint8Array.of(10, 1, 0, 2), port: 50600 },
        payload: Uint8Array.of(i),
      };
      writeDataFrame(bundle.reserve(untaggedLength(init)), init, keys);
    }
    const init = { seq: 2_000_010, sender: relayHash('A'), target: relayHash('B') };
    w.inject(B0, bundle.seal(init, keys, () => keys)!, A);
    expect(w.drops).toEqual([]);
    expect(w.queued).toEqual(Array(3).fill({ at: B0, kind: 'handover' }));
    expect(w.delivered).toEqual([]);
    w.flush(B0);
    expect(w.sent.filter((s) => s.kind === 'bundle').map((s) => `${s.from}>${s.to}`)).toEqual([
      `${B0}>${B1}`,
    ]);
    expect(w.delivered.map((d) => `${d.at} ${d.relayed} ${d.data}`)).toEqual([
      `${B1} 10.1.0.2:50600 0`,
      `${B1} 10.1.0.2:50600 1`,
      `${B1} 10.1.0.2:50600 2`,
    ]);
    expect(w.drops).toEqual([]);
  });
});
