/**
 * The backbone between relays, run through the backbone core's own measurement and routing code:
 * LinkEstimator (src/measure) per directed link fed with probes at the relay's cadence, the
 * core's link records and routing snapshot (src/backbone/links.ts) and its route table with
 * hysteresis (src/routing/route-table.ts), tuned by the same defaults (src/backbone/defaults.ts).
 * Frames themselves are not simulated: probes are drawn per link, not sealed and parsed.
 *
 * Steady state: every `probeIntervalMs` each relay probes the peers its own PeerTable names
 * (src/backbone/peers.ts, as the core does: all while there are at most 32, past that the 16
 * nearest, the next hops in use and a rotating 8; `probeSchedule: 'all'` probes every link), with
 * the link's true RTT plus jitter and its loss (independent, or Gilbert-Elliott bursts of
 * `burstProbes`); once a simulated second every relay's estimates form a snapshot (a link silent
 * `deadAfterMs` counts as fully lossy, as the core publishes it) and `flapSources` relays update
 * their route tables. Links also fail now and then for a log-normal time: a blackhole, or
 * (`partialShare` of them) a partial loss of `partialLoss` that still answers most probes.
 * Counted: route changes per flow by reason; a change for reason 'better' is a flap when it
 * happens with no failure near the flow's path; and for each failure, how long the flows that
 * were on the link when it failed stay on it.
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
import { DeliveryCheck } from '../backbone/delivery.ts';
import { DEFAULT_END_TO_END, EndToEndCheck } from '../backbone/end-to-end.ts';
import type { KeyRing } from '../backbone/key-ring.ts';
import { linkRecord, routingSnapshot } from '../backbone/links.ts';
import { PeerTable } from '../backbone/peers.ts';
import type { LinkRecord } from '../directory/types.ts';
import { LinkEstimator } from '../measure/link-estimator.ts';
import {
  bestPathsFrom,
  choosePath,
  DEFAULT_LOSS_DEADBAND,
  type LinkStats,
  type OverlaySnapshot,
  type Path,
  pathCost,
  RouteTable,
  type RouteTableOptions,
} from '../routing/index.ts';
import type { SimConfig } from './config.ts';
import type { Internet } from './internet.ts';
import { createRng, logNormal, type Rng } from './random.ts';
import type { World } from './world.ts';

/** The simulation measures links and routes; it seals no frames, so no peer's run keys are made. */
const NO_FRAMES: KeyRing = {
  macName: 'node-crypto',
  currentId: 0,
  forRun() {
    throw new Error('the simulation seals no backbone frames');
  },
};

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
  /**
   * Share of the detour gain available within the hop limit (on the links' true values) the
   * routes take at the end of the run: Σ (direct - chosen) / Σ (direct - best).
   */
  readonly gainTaken: number;
}

/**
 * A failure in the steady state: of a link (a blackhole; partial, losing some probes and data;
 * gray, losing data and answering every probe) or of a whole relay (site: every link of it at
 * once; gray-relay: it answers probes and forwards nothing).
 */
export type FailureKind = 'blackhole' | 'partial' | 'gray' | 'site' | 'gray-relay';
export const FAILURE_KINDS: readonly FailureKind[] = ['blackhole', 'partial', 'gray', 'site', 'gray-relay'];

/** How long a flow stayed on a failure after it began (censored at the failure's end or the run's). */
export interface StayOnFailure {
  readonly kind: FailureKind;
  readonly ms: number;
  /** Still on the failure when it (or the run) ended. */
  readonly stayed: boolean;
  /** Packets the flow lost to the failure meanwhile (at `flowPacketsPerSecond`). */
  readonly lostPackets: number;
}

export interface BackboneRun {
  readonly seconds: number;
  /** Probes sent per relay per second, mean (the probe schedule's cost). */
  readonly probesPerRelaySecond: number;
  readonly stays: readonly StayOnFailure[];
  readonly flows: number;
  /** Routing as the core does it (BACKBONE_DEFAULTS). */
  readonly current: RoutingSummary;
  /** Before the damping for measured links: no jitter margin, no confirmation, 2 % deadband. */
  readonly before: RoutingSummary;
  /** That with `lossDeadband: 0`: the hysteresis before the simulation found the flaps. */
  readonly withoutDeadband: RoutingSummary;
  readonly failuresInjected: number;
  readonly failover: readonly FailoverTrial[];
  /** The end-to-end check of the tracked sources (with `endToEndCheck`; zeros without). */
  readonly endToEnd: EndToEndFigures;
}

export interface EndToEndFigures {
  /** Losses found (each avoids the path's transit relays for its destination for 60 s). */
  readonly losses: number;
  /** (source, destination, transit relay) avoidances. */
  readonly avoided: number;
  /** Of those, relays with no failure of their own or of a link of theirs on the path then. */
  readonly innocent: number;
  /** Share of the flows' time (sources x destinations x steady seconds) with an innocent relay avoided. */
  readonly innocentFlowShare: number;
  /**
   * Detour gain (a share of what is available, as `gainTaken`) the flows with an avoid set at the
   * end miss: with a relay in it that was innocent when blamed, and with only guilty ones.
   */
  readonly gainLostInnocent: number;
  readonly gainLostFailing: number;
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
  readonly kind: FailureKind;
  /** The link's ends, or the relay (b = -1) for site and gray-relay. */
  readonly a: number;
  readonly b: number;
  readonly from: number;
  readonly to: number;
}

/** The core's route-table options, with the simulation's hop limit. */
function choiceOptions(config: SimConfig): RouteTableOptions {
  return { ...BACKBONE_DEFAULTS, maxHops: config.backbone.maxHops };
}

/**
 * One probe's fate on a link's Gilbert-Elliott channel: `bad` is the link's state, moved one probe
 * on; independent loss when `burst` is 1 or less.
 */
export function probeLost(
  bad: Uint8Array,
  k: number,
  loss: number,
  burst: number,
  lossInBad: number,
  rng: Rng,
): boolean {
  if (burst <= 1) return rng.next() < loss;
  const badShare = Math.min(0.999, loss / lossInBad);
  if (bad[k]) {
    if (rng.next() < 1 / burst) bad[k] = 0;
  } else if (rng.next() < badShare / burst / (1 - badShare)) bad[k] = 1;
  return bad[k] === 1 && rng.next() < lossInBad;
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
    const to = from + logNormal(rng, b.failureMedianS, 1) * 1000;
    const partial = rng.next() < b.partialShare;
    const gray = !partial && b.grayShare > 0 && rng.next() < b.grayShare;
    failures.push({ kind: partial ? 'partial' : gray ? 'gray' : 'blackhole', a, b: c, from, to });
  }
  // Whole relays: Poisson per relay, from their own stream (the link failures stay as they were).
  const siteRng = createRng(config.seed).fork('backbone-sites');
  const siteExpected = R * b.siteFailuresPerRelayDay * (seconds / 86_400);
  let sites = 0;
  let gaps = -Math.log(1 - siteRng.next());
  while (gaps < siteExpected) {
    sites++;
    gaps -= Math.log(1 - siteRng.next());
  }
  for (let k = 0; k < sites; k++) {
    const a = siteRng.int(R);
    const from = (warmup + siteRng.next() * seconds) * 1000;
    const to = from + logNormal(siteRng, b.failureMedianS, 1) * 1000;
    failures.push({ kind: siteRng.next() < b.grayRelayShare ? 'gray-relay' : 'site', a, b: -1, from, to });
  }
  const failuresOf = new Map<number, Failure[]>();
  const relayFailuresOf = new Map<number, Failure[]>();
  for (const f of failures) {
    const keys = f.b < 0 ? [f.a] : [f.a * R + f.b, f.b * R + f.a];
    const map = f.b < 0 ? relayFailuresOf : failuresOf;
    for (const key of keys) {
      const list = map.get(key) ?? [];
      list.push(f);
      map.set(key, list);
    }
  }
  /** Probe loss a failure adds on link k at time t: gray failures answer every probe. */
  const probeLoss = (f: Failure, t: number): number => {
    if (t < f.from || t >= f.to) return 0;
    return f.kind === 'blackhole' || f.kind === 'site' ? 1 : f.kind === 'partial' ? b.partialLoss : 0;
  };
  /** Directed links a gray failure hits, with their delivery check and packet counts. */
  const grayLinks = new Map<number, { check: DeliveryCheck; sent: number; delivered: number }>();
  for (const f of failures)
    if (f.kind === 'gray')
      for (const k of [f.a * R + f.b, f.b * R + f.a])
        grayLinks.set(k, { check: new DeliveryCheck(), sent: 0, delivered: 0 });
  const grayLossOf = (k: number, t: number): number => {
    let worst = 0;
    for (const f of failuresOf.get(k) ?? [])
      if (f.kind === 'gray' && t >= f.from && t < f.to) worst = Math.max(worst, b.grayLoss);
    return worst;
  };
  const failedLoss = (k: number, t: number): number => {
    let worst = 0;
    for (const f of failuresOf.get(k) ?? []) worst = Math.max(worst, probeLoss(f, t));
    for (const f of relayFailuresOf.get(Math.floor(k / R)) ?? []) worst = Math.max(worst, probeLoss(f, t));
    for (const f of relayFailuresOf.get(k % R) ?? []) worst = Math.max(worst, probeLoss(f, t));
    return worst;
  };

  // Each relay's peer table, as its core keeps it: the estimators and the probe schedule.
  const tuning = {
    ...BACKBONE_DEFAULTS,
    probeIntervalMs: b.probeIntervalMs,
    deadAfterMs: b.deadAfterMs,
    estimatorWindow: b.estimatorWindow,
    lossTimeoutMs: b.lossTimeoutMs,
  };
  const records = world.records.map((r, i) => ({
    ...r,
    backbone: `10.${(i >> 8) & 255}.${i & 255}.1:7000`,
    backboneRun: i.toString(16).padStart(32, '0'),
  }));
  const peerTables = records.map((r) => {
    const t = new PeerTable({ id: r.id, lat: r.lat, lon: r.lon }, tuning, NO_FRAMES);
    t.update(records, 0);
    return t;
  });
  const index = new Map(ids.map((id, i) => [id, i]));
  const est: LinkEstimator[] = new Array(R * R);
  for (let i = 0; i < R; i++)
    for (const [id, peer] of peerTables[i]!.byId) est[i * R + index.get(id)!] = peer.estimator;
  const seqs = new Uint32Array(R);
  const bad = new Uint8Array(R * R);
  const phase = Float64Array.from({ length: R }, () => rng.next() * b.probeIntervalMs);
  const everyone = Array.from({ length: R }, (_, i) => ids.filter((_, j) => j !== i));
  // Next hops in use: a source's from its route table, any other relay's from the true snapshot.
  const truth = b.probeSchedule === 'core' && R > 32 ? trueSnapshot(world, internet) : undefined;
  const staticHops: string[][] = ids.map((id) =>
    truth ? [...new Set([...bestPathsFrom(truth, id, o).values()].map((p) => p.hops[1]!))] : [],
  );
  let probesSent = 0;
  const sources = Array.from({ length: Math.min(R, b.flapSources) }, (_, k) =>
    Math.floor((k * R) / Math.min(R, b.flapSources)),
  );
  // The routing as it is, and without the loss deadband (as it was before the simulation).
  // The routing as it is now; as it was before the damping for measured links (issue 14); and
  // that without the loss deadband (as it was before the simulation found the flaps).
  const before: RouteTableOptions = {
    ...o,
    jitterMargin: 0,
    confirmMs: 0,
    lossDeadband: DEFAULT_LOSS_DEADBAND,
    sustainLossDeadband: DEFAULT_LOSS_DEADBAND,
  };
  const variants = [o, before, { ...before, lossDeadband: 0, sustainLossDeadband: 0 }].map((options) => ({
    options,
    tables: sources.map((src) => new RouteTable(ids[src]!, options)),
    changes: { better: 0, broken: 0, unreachable: 0 },
    flapsByFlow: new Map<string, number>(),
    gains: [] as number[],
  }));
  const probeRng = rng.fork('probes');

  const sourceOf = new Map(sources.map((src, n) => [src, n]));
  const rounds = Math.max(1, Math.round(1000 / b.probeIntervalMs));
  const stays: StayOnFailure[] = [];
  // Flows on a link when it failed: failure -> flow key -> source index, until they leave it.
  const onFailed = new Map<Failure, Map<string, { n: number; loss: number }>>();
  /**
   * The share of a flow's data that failure f loses on `path` (0: the path does not cross it). A
   * failed relay at either end of a flow is for its clients to fail over from (the edge), not for
   * the routing: such flows are not counted here.
   */
  const dataLoss = (path: Path | undefined, f: Failure): number => {
    if (!path) return 0;
    const hops = path.hops;
    if (f.b < 0) {
      const at = hops.indexOf(ids[f.a]!);
      return at > 0 && at < hops.length - 1 ? 1 : 0;
    }
    for (let h = 1; h < hops.length; h++) {
      const x = hops[h - 1]!;
      const y = hops[h]!;
      if ((x === ids[f.a] && y === ids[f.b]) || (x === ids[f.b] && y === ids[f.a]))
        return f.kind === 'partial' ? b.partialLoss : f.kind === 'gray' ? b.grayLoss : 1;
    }
    return 0;
  };
  const crosses = (path: Path | undefined, f: Failure) => dataLoss(path, f) > 0;
  /** The share of a flow's data lost on `path` to the failures `active`. */
  const pathLoss = (path: Path, active: readonly Failure[]): number => {
    let kept = 1;
    for (const f of active) kept *= 1 - dataLoss(path, f);
    return 1 - kept;
  };
  /** Whether relay `r` (an index) itself, or a link of it on `path`, has one of the failures `active`. */
  const guilty = (r: number, path: readonly string[], active: readonly Failure[]): boolean =>
    active.some((f) => {
      if (f.b < 0) return f.a === r;
      if (f.a !== r && f.b !== r) return false;
      const other = ids[f.a === r ? f.b : f.a]!;
      const at = path.indexOf(ids[r]!);
      return path[at - 1] === other || path[at + 1] === other;
    });
  // The end-to-end check (src/backbone/end-to-end.ts), run by each tracked source as its core
  // runs it: every flow (source, destination) sends `flowPacketsPerSecond`; what its path's
  // failures drop does not arrive; the destination's count, published a second ago, comes back
  // and is paired with the source's count then (exact here: whole seconds, nothing in flight, so
  // no one-way shift); the avoid sets go into the route table's update.
  const ends = b.endToEndCheck ? sources.map(() => new EndToEndCheck()) : undefined;
  const endCounts = sources.map(() => new Map<string, { sent: number; delivered: number }>());
  const endToEnd = {
    losses: 0,
    avoided: 0,
    innocent: 0,
    innocentFlowShare: 0,
    gainLostInnocent: 0,
    gainLostFailing: 0,
  };
  let innocentMs = 0;
  /** Source index > destination > avoided relay: whether it was innocent when last found. */
  const blamed = new Map<string, Map<string, boolean>>();

  for (let s = 0; s < total; s++) {
    const start = s * 1000;
    for (let q = 0; q < rounds; q++) {
      for (let i = 0; i < R; i++) {
        const t = start + q * b.probeIntervalMs + phase[i]!;
        let targets: readonly string[] = everyone[i]!;
        if (b.probeSchedule === 'core') {
          const n = sourceOf.get(i);
          const hops =
            n === undefined
              ? staticHops[i]!
              : [...variants[0]!.tables[n]!.routes.values()].map((p) => p.hops[1]!).filter(Boolean);
          targets = peerTables[i]!.probeTargets(hops).map((p) => p.id);
        }
        for (const id of targets) {
          const j = index.get(id)!;
          const k = i * R + j;
          const e = est[k]!;
          const seq = seqs[i]!++;
          probesSent++;
          e.sent(seq, t);
          if (probeLost(bad, k, internet.bbLoss[k]!, b.burstProbes, b.lossInBad, probeRng)) continue;
          const back = t + internet.bbRtt[k]! - internet.bbJitter[k]! * Math.log(1 - probeRng.next());
          const extra = Math.max(failedLoss(k, t), failedLoss(j * R + i, back));
          if (extra > 0 && (extra >= 1 || probeRng.next() < extra)) continue;
          e.replied(seq, back);
        }
      }
    }
    // Replies still in flight at the snapshot are applied early: it moves a detection by one RTT at most.
    const now = start + 1000;
    // The data-plane delivery check (src/backbone/delivery.ts) on the links a gray failure hits:
    // the flows routed over the link this second (the tracked sources' routes) send their
    // packets, the failure drops its share, and the far end's count, published a second ago,
    // comes back. Elsewhere data fares as the probes do, and the check finds nothing.
    if (b.deliveryCheck) {
      const load = new Map<number, number>();
      for (const table of variants[0]!.tables) {
        for (const path of table.routes.values()) {
          for (let h = 1; h < path.hops.length; h++) {
            const k = index.get(path.hops[h - 1]!)! * R + index.get(path.hops[h]!)!;
            if (grayLinks.has(k)) load.set(k, (load.get(k) ?? 0) + b.flowPacketsPerSecond);
          }
        }
      }
      for (const [k, d] of grayLinks) {
        const sent = load.get(k) ?? 0;
        d.check.report(d.delivered, now - 1000, d.sent, now);
        d.sent += sent;
        d.delivered += sent * (1 - grayLossOf(k, now - 500));
      }
    }
    if (ends) {
      const active = failures.filter((f) => now - 500 >= f.from && now - 500 < f.to);
      sources.forEach((_src, n) => {
        const check = ends[n]!;
        for (const [to, path] of variants[0]!.tables[n]!.routes) {
          let c = endCounts[n]!.get(to);
          if (!c) {
            c = { sent: 0, delivered: 0 };
            endCounts[n]!.set(to, c);
          }
          const loss = check.report(to, c.delivered, now - 1000, c.sent, 0, now);
          if (loss) {
            endToEnd.losses++;
            const flags = blamed.get(`${n}>${to}`) ?? new Map<string, boolean>();
            blamed.set(`${n}>${to}`, flags);
            for (const r of loss.avoid) {
              endToEnd.avoided++;
              const innocent = !guilty(index.get(r)!, loss.path, active);
              flags.set(r, innocent);
              if (!innocent) continue;
              endToEnd.innocent++;
              innocentMs += Math.max(0, Math.min(DEFAULT_END_TO_END.avoidMs, total * 1000 - now));
            }
          }
          c.sent += b.flowPacketsPerSecond;
          c.delivered += b.flowPacketsPerSecond * (1 - pathLoss(path, active));
          check.note(to, c.sent, now);
        }
      });
    }
    const records: LinkRecord[] = [];
    for (let i = 0; i < R; i++) {
      for (let j = 0; j < R; j++) {
        if (i === j) continue;
        const d = grayLinks.get(i * R + j);
        const data = d && { received: 0, loss: d.check.loss(now) };
        records.push(linkRecord(ids[i]!, ids[j]!, est[i * R + j]!, now, b.deadAfterMs, data));
      }
    }
    const snapshot = routingSnapshot(ids, [], records, []);
    const failing = failures.filter((f) => now >= f.from - 2000 && now < f.to + 12_000);
    // The flows on a link when it failed: their routes before this second's update.
    for (const f of failures) {
      if (s < warmup || now < f.from || onFailed.has(f)) continue;
      const flows = new Map<string, { n: number; loss: number }>();
      sources.forEach((src, n) => {
        for (const [to, path] of variants[0]!.tables[n]!.routes) {
          const loss = dataLoss(path, f);
          if (loss > 0) flows.set(`${src}>${to}`, { n, loss });
        }
      });
      onFailed.set(f, flows);
    }
    for (const v of variants) {
      sources.forEach((src, n) => {
        const check = v === variants[0] ? ends?.[n] : undefined;
        const changes = v.tables[n]!.update(snapshot, now, check?.avoid(now));
        for (const c of check ? changes : []) check!.route(c.to, c.path?.hops);
        if (s < warmup) return;
        for (const c of changes) {
          if (c.reason === 'initial') continue;
          if (c.reason === 'better') {
            // A failure on or near the old path explains the change; otherwise it is a flap.
            const hops = new Set(c.previous?.hops ?? []);
            if (failing.some((f) => hops.has(ids[f.a]!) || (f.b >= 0 && hops.has(ids[f.b]!)))) continue;
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
    if (s >= warmup) {
      const tables = variants[0]!.tables;
      for (const f of failures) {
        if (now < f.from) continue;
        const flows = onFailed.get(f);
        if (!flows) continue;
        const kind = f.kind;
        for (const [flow, { n, loss }] of flows) {
          const to = flow.slice(flow.indexOf('>') + 1);
          const over = now >= f.to || s === total - 1;
          const lost = (ms: number) => (ms / 1000) * b.flowPacketsPerSecond * loss;
          const left = !crosses(tables[n]!.routes.get(to), f);
          if (left) stays.push({ kind, ms: now - f.from, stayed: false, lostPackets: lost(now - f.from) });
          else if (over) {
            const ms = Math.min(now, f.to) - f.from;
            stays.push({ kind, ms, stayed: true, lostPackets: lost(ms) });
          } else continue;
          flows.delete(flow);
        }
      }
    }
    hooks.progress?.(s + 1, total + b.failoverTrials / 10);
  }
  const flows = sources.length * (R - 1);
  endToEnd.innocentFlowShare = innocentMs / (flows * seconds * 1000);
  const truthAll = trueSnapshot(world, internet);
  const gainTaken = (v: (typeof variants)[number]) => {
    let taken = 0;
    let available = 0;
    sources.forEach((src, n) => {
      for (const [to, best] of bestPathsFrom(truthAll, ids[src]!, o)) {
        const direct = pathCost(truthAll, [ids[src]!, to]);
        if (!Number.isFinite(direct)) continue;
        available += direct - best.cost;
        const chosen = v.tables[n]!.routes.get(to);
        taken += direct - (chosen ? pathCost(truthAll, chosen.hops) : direct);
      }
    });
    return available > 0 ? taken / available : 1;
  };
  // The detour gain the end-to-end check's avoid sets cost at the end of the run: for the flows
  // with one, what their routes fall short of the best path (on the true links) over the gain
  // available to all flows; split by whether an avoided relay was innocent when blamed (no
  // failure of its own then, nor of a link of it on the path) or every one was guilty.
  if (ends) {
    const end = total * 1000;
    let available = 0;
    sources.forEach((src, n) => {
      const avoid = ends[n]!.avoid(end);
      for (const [to, best] of bestPathsFrom(truthAll, ids[src]!, o)) {
        const direct = pathCost(truthAll, [ids[src]!, to]);
        if (!Number.isFinite(direct)) continue;
        available += direct - best.cost;
        const set = avoid.get(to);
        const chosen = variants[0]!.tables[n]!.routes.get(to);
        if (!set || !chosen) continue;
        const short = pathCost(truthAll, chosen.hops) - best.cost;
        const flags = blamed.get(`${n}>${to}`);
        if (![...set].some((r) => flags?.get(r))) endToEnd.gainLostFailing += short;
        else endToEnd.gainLostInnocent += short;
      }
    });
    endToEnd.gainLostFailing /= available || 1;
    endToEnd.gainLostInnocent /= available || 1;
  }
  const summary = (v: (typeof variants)[number]): RoutingSummary => ({
    changes: v.changes,
    flapsPerFlowHour: v.changes.better / flows / (seconds / 3600),
    flowsWithFlap: v.flapsByFlow.size,
    flapGainMs: v.gains,
    gainTaken: gainTaken(v),
  });

  const failover = runFailover(world, internet, config, rng.fork('failover'));
  hooks.progress?.(total + b.failoverTrials / 10, total + b.failoverTrials / 10);
  return {
    seconds,
    probesPerRelaySecond: probesSent / R / total,
    stays,
    flows,
    current: summary(variants[0]!),
    before: summary(variants[1]!),
    withoutDeadband: summary(variants[2]!),
    failuresInjected: failures.length,
    failover,
    endToEnd,
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
    const bad = new Uint8Array(1);
    const probePhase = rng.next() * b.probeIntervalMs;
    const t0 = 5000 + rng.next() * 1000;
    let seq = 0;
    const sendUntil = t0 + 5000;
    for (let t = probePhase; t < sendUntil; t += b.probeIntervalMs) {
      estimator.sent(seq, t);
      const back = t + rtt - jitter * Math.log(1 - rng.next());
      if (!probeLost(bad, 0, loss, b.burstProbes, b.lossInBad, rng) && back < t0)
        estimator.replied(seq, back);
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
