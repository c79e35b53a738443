/**
 * The backbone between relays, run through the backbone core's own measurement and routing code:
 * LinkEstimator (src/measure) per directed link fed with probes at the relay's cadence, the
 * core's link records and routing snapshot (src/backbone/links.ts) and its route table with
 * hysteresis (src/routing/route-table.ts), tuned by the same defaults (src/backbone/defaults.ts).
 * Frames themselves are not simulated: probes are drawn per link, not sealed and parsed.
 *
 * Steady state: every link is probed every `probeIntervalMs` with the link's true RTT plus jitter
 * and its loss; once a simulated second every relay's estimates form a snapshot (a link silent
 * `deadAfterMs` counts as fully lossy, as the core publishes it) and `flapSources` relays update
 * their route tables. Links also fail now and then (a
 * blackhole for a log-normal time). Counted: route changes per flow by reason; a change for
 * reason 'better' is a flap when it happens with no failure near the flow's path.
 *
 * Failover: one link of a flow's path blackholes at a random moment. The relay that owns the link
 * (sends on it) keeps probing every `probeIntervalMs`; its LinkEstimator stops hearing replies and
 * at its next recompute tick (every `recomputeMs`, own phase) after `deadAfterMs` of silence it
 * routes around the link: with hop-by-hop forwarding that is when the flow works again. The
 * source, when it is not the owner, hears of it through the directory: the owner publishes to
 * Redis at once, Redis tells the source, the source reads the relay list and the links (two round
 * trips) and reroutes at its next tick. The relays' distance to Redis is the backbone RTT to the
 * relay hosting it.
 */
import { BACKBONE_DEFAULTS } from '../backbone/defaults.ts';
import { linkRecord, routingSnapshot } from '../backbone/links.ts';
import type { LinkRecord } from '../directory/types.ts';
import { LinkEstimator } from '../measure/link-estimator.ts';
import {
  bestPathsFrom,
  choosePath,
  type LinkStats,
  type OverlaySnapshot,
  type Path,
  RouteTable,
  type RouteTableOptions,
} from '../routing/index.ts';
import type { SimConfig } from './config.ts';
import type { Internet } from './internet.ts';
import { createRng, logNormal, type Rng } from './random.ts';
import type { World } from './world.ts';

export interface FailoverTrial {
  /** Links of the flow's path before the failed one (0: the source's own link). */
  readonly hop: number;
  /** From the failure to the first relay routing around it (the flow works again), ms. */
  readonly workingMs: number;
  /** From the failure to the source's own table avoiding the link, ms. */
  readonly sourceMs: number;
  /** Cost of the path after the failure over the cost before. */
  readonly stretch: number;
}

export interface RoutingSummary {
  readonly changes: { readonly better: number; readonly broken: number; readonly unreachable: number };
  /** Route changes for reason 'better' (no failure near the path) per flow per hour. */
  readonly flapsPerFlowHour: number;
  /** Flows that changed path at least once for reason 'better'. */
  readonly flowsWithFlap: number;
  /** What each flap gained on the old path's usual cost, ms. */
  readonly flapGainMs: readonly number[];
}

export interface BackboneRun {
  readonly seconds: number;
  readonly flows: number;
  /** Routing as the core does it (BACKBONE_DEFAULTS). */
  readonly current: RoutingSummary;
  /** The same with `lossDeadband: 0`: the hysteresis before the simulation found the flaps. */
  readonly withoutDeadband: RoutingSummary;
  readonly failuresInjected: number;
  readonly failover: readonly FailoverTrial[];
}

export interface BackboneHooks {
  readonly progress?: (done: number, total: number) => void;
}

/** The backbone as its true link properties: what the estimators converge to with no failure. */
export function trueSnapshot(world: World, internet: Internet): OverlaySnapshot {
  const ids = world.records.map((r) => r.id);
  const links = new Map<string, Map<string, LinkStats>>();
  const R = ids.length;
  for (let i = 0; i < R; i++) {
    const row = new Map<string, LinkStats>();
    for (let j = 0; j < R; j++) {
      if (i === j) continue;
      const l = internet.backboneLink(i, j);
      row.set(ids[j]!, { rttMs: l.rttMs, jitterMs: l.jitterMs, lossRate: l.loss });
    }
    links.set(ids[i]!, row);
  }
  return { relays: ids, links, load: new Map() };
}

interface Failure {
  readonly a: number;
  readonly b: number;
  readonly from: number;
  readonly to: number;
}

/** The core's route-table options, with the simulation's hop limit. */
function choiceOptions(config: SimConfig): RouteTableOptions {
  return { ...BACKBONE_DEFAULTS, maxHops: config.backbone.maxHops };
}

/** One simulated second of probes on link i->j: sends, and replies unless lost or failed. */
function probeSecond(
  est: LinkEstimator,
  seq: { n: number },
  start: number,
  phase: number,
  rtt: number,
  jitter: number,
  loss: number,
  down: (t: number) => boolean,
  rng: Rng,
  b: SimConfig['backbone'],
): void {
  for (let t = start + phase; t < start + 1000; t += b.probeIntervalMs) {
    const s = seq.n++;
    est.sent(s, t);
    if (rng.next() < loss) continue;
    const back = t + rtt - jitter * Math.log(1 - rng.next());
    if (down(t) || down(back)) continue;
    est.replied(s, back);
  }
}

export function runBackbone(
  world: World,
  internet: Internet,
  config: SimConfig,
  hooks: BackboneHooks = {},
): BackboneRun {
  const b = config.backbone;
  const R = world.relays.length;
  const ids = world.records.map((r) => r.id);
  const rng = createRng(config.seed).fork('backbone');
  const o = choiceOptions(config);

  // Failures during the steady-state run: Poisson per undirected link.
  const warmup = 10;
  const seconds = b.steadySeconds;
  const total = warmup + seconds;
  const failures: Failure[] = [];
  const expected = ((R * (R - 1)) / 2) * b.failuresPerLinkDay * (total / 86_400);
  // Poisson count: exponential gaps until the expected number is passed.
  let count = 0;
  let acc = -Math.log(1 - rng.next());
  while (acc < expected) {
    count++;
    acc -= Math.log(1 - rng.next());
  }
  for (let k = 0; k < count; k++) {
    const a = rng.int(R);
    let c = rng.int(R - 1);
    if (c >= a) c++;
    const from = (warmup + rng.next() * seconds) * 1000;
    failures.push({ a, b: c, from, to: from + logNormal(rng, b.failureMedianS, 1) * 1000 });
  }
  const failuresOf = new Map<number, Failure[]>();
  for (const f of failures) {
    for (const key of [f.a * R + f.b, f.b * R + f.a]) {
      const list = failuresOf.get(key) ?? [];
      list.push(f);
      failuresOf.set(key, list);
    }
  }
  const never = () => false;
  const downOf = (i: number, j: number) => {
    const list = failuresOf.get(i * R + j);
    return list ? (t: number) => list.some((f) => t >= f.from && t < f.to) : never;
  };

  const est: LinkEstimator[] = [];
  const seqs: { n: number }[] = [];
  const phase = new Float64Array(R * R);
  for (let k = 0; k < R * R; k++) {
    est.push(new LinkEstimator({ window: b.estimatorWindow, lossTimeoutMs: b.lossTimeoutMs }));
    seqs.push({ n: 0 });
    phase[k] = rng.next() * b.probeIntervalMs;
  }
  const sources = Array.from({ length: Math.min(R, b.flapSources) }, (_, k) =>
    Math.floor((k * R) / Math.min(R, b.flapSources)),
  );
  // The routing as it is, and without the loss deadband (as it was before the simulation).
  const variants = [o, { ...o, lossDeadband: 0 }].map((options) => ({
    options,
    tables: sources.map((src) => new RouteTable(ids[src]!, options)),
    changes: { better: 0, broken: 0, unreachable: 0 },
    flapsByFlow: new Map<string, number>(),
    gains: [] as number[],
  }));
  const probeRng = rng.fork('probes');

  for (let s = 0; s < total; s++) {
    const start = s * 1000;
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < R; j++) {
        if (i === j) continue;
        const k = i * R + j;
        probeSecond(
          est[k]!,
          seqs[k]!,
          start,
          phase[k]!,
          internet.bbRtt[k]!,
          internet.bbJitter[k]!,
          internet.bbLoss[k]!,
          downOf(i, j),
          probeRng,
          b,
        );
      }
    }
    // Replies still in flight at the snapshot are applied early: it moves a detection by one RTT at most.
    const now = start + 1000;
    const records: LinkRecord[] = [];
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < R; j++) {
        if (i !== j) records.push(linkRecord(ids[i]!, ids[j]!, est[i * R + j]!, now, b.deadAfterMs));
      }
    }
    const snapshot = routingSnapshot(ids, [], records, []);
    const failing = failures.filter((f) => now >= f.from - 2000 && now < f.to + 12_000);
    for (const v of variants) {
      sources.forEach((src, n) => {
        const changes = v.tables[n]!.update(snapshot, now);
        if (s < warmup) return;
        for (const c of changes) {
          if (c.reason === 'initial') continue;
          if (c.reason === 'better') {
            // A failure on or near the old path explains the change; otherwise it is a flap.
            const hops = new Set(c.previous?.hops ?? []);
            if (failing.some((f) => hops.has(ids[f.a]!) || hops.has(ids[f.b]!))) continue;
            v.changes.better++;
            const flow = `${ids[src]}>${c.to}`;
            v.flapsByFlow.set(flow, (v.flapsByFlow.get(flow) ?? 0) + 1);
            // What the switch gained on the path's usual cost (its cost when last kept).
            if (c.previous && c.path) v.gains.push(c.previous.cost - c.path.cost);
          } else if (c.reason === 'broken') v.changes.broken++;
          else v.changes.unreachable++;
        }
      });
    }
    hooks.progress?.(s + 1, total + b.failoverTrials / 10);
  }
  const flows = sources.length * (R - 1);
  const summary = (v: (typeof variants)[number]): RoutingSummary => ({
    changes: v.changes,
    flapsPerFlowHour: v.changes.better / flows / (seconds / 3600),
    flowsWithFlap: v.flapsByFlow.size,
    flapGainMs: v.gains,
  });

  const failover = runFailover(world, internet, config, rng.fork('failover'));
  hooks.progress?.(total + b.failoverTrials / 10, total + b.failoverTrials / 10);
  return {
    seconds,
    flows,
    current: summary(variants[0]!),
    withoutDeadband: summary(variants[1]!),
    failuresInjected: failures.length,
    failover,
  };
}

/** The first tick of a relay recomputing every `period` ms from `phase` that is at or after t. */
function nextTick(t: number, phase: number, period: number): number {
  return phase + Math.ceil((t - phase) / period) * period;
}

export function runFailover(world: World, internet: Internet, config: SimConfig, rng: Rng): FailoverTrial[] {
  const b = config.backbone;
  const R = world.relays.length;
  const ids = world.records.map((r) => r.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const base = trueSnapshot(world, internet);
  const o = choiceOptions(config);
  const redis = Math.min(R - 1, b.redisRelay);
  const toRedis = (i: number) => (i === redis ? 0.5 : internet.bbRtt[i * R + redis]!);
  const trials: FailoverTrial[] = [];
  const tables = new Map<number, Map<string, Path>>();
  const table = (src: number) => {
    let t = tables.get(src);
    if (!t) {
      t = bestPathsFrom(base, ids[src]!, o);
      tables.set(src, t);
    }
    return t;
  };
  for (let n = 0; n < b.failoverTrials; n++) {
    const src = rng.int(R);
    let dst = rng.int(R - 1);
    if (dst >= src) dst++;
    const path = table(src).get(ids[dst]!);
    if (!path) continue;
    const hop = rng.int(path.hops.length - 1);
    const owner = index.get(path.hops[hop]!)!;
    const peer = index.get(path.hops[hop + 1]!)!;
    const k = owner * R + peer;
    const rtt = internet.bbRtt[k]!;
    const jitter = internet.bbJitter[k]!;
    const loss = internet.bbLoss[k]!;

    // The owner's estimator: five seconds of probes, then the link blackholes at t0.
    const estimator = new LinkEstimator({ window: b.estimatorWindow, lossTimeoutMs: b.lossTimeoutMs });
    const probePhase = rng.next() * b.probeIntervalMs;
    const t0 = 5000 + rng.next() * 1000;
    let seq = 0;
    const sendUntil = t0 + 5000;
    for (let t = probePhase; t < sendUntil; t += b.probeIntervalMs) {
      estimator.sent(seq, t);
      const back = t + rtt - jitter * Math.log(1 - rng.next());
      if (rng.next() >= loss && back < t0) estimator.replied(seq, back);
      seq++;
    }
    const ownerPhase = rng.next() * b.recomputeMs;
    let detected = nextTick(t0, ownerPhase, b.recomputeMs);
    while (!estimator.quiet(detected, b.deadAfterMs)) detected += b.recomputeMs;

    // The source hears it from the directory unless it owns the link.
    let sourceAt = detected;
    if (hop > 0) {
      const heard = detected + toRedis(owner) / 2 + toRedis(src) / 2 + 2 * toRedis(src);
      sourceAt = nextTick(heard, rng.next() * b.recomputeMs, b.recomputeMs);
    }

    // Where the flow goes afterwards: the source's choice on the snapshot with the link broken.
    const links = new Map(base.links);
    for (const [x, y] of [
      [owner, peer],
      [peer, owner],
    ] as const) {
      const row = new Map(base.links.get(ids[x]!)!);
      row.set(ids[y]!, { rttMs: rtt, jitterMs: jitter, lossRate: 1 });
      links.set(ids[x]!, row);
    }
    const broken: OverlaySnapshot = { relays: ids, links, load: new Map() };
    const after = choosePath(path, { best: bestPathsFrom(broken, ids[src]!, o).get(ids[dst]!) }, broken, o);
    trials.push({
      hop,
      workingMs: detected - t0,
      sourceMs: sourceAt - t0,
      stretch: after.path ? after.path.cost / path.cost : Number.POSITIVE_INFINITY,
    });
  }
  return trials;
}
