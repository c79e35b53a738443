/**
 * The call phase: two clients talk, after the allocation phase (the learned map is warm). Each
 * party gets its relay the product's way (rankRelays without probes, probe the targets, rankRelays
 * with the probes); the second party also passes the first one's relay as the room's relay. Each
 * call is then carried five ways:
 *
 *   direct     the public Internet between the two clients (no relay)
 *   one relay  both parties on the first party's relay (plain TURN, no backbone)
 *   backbone   each on its own best relay, the relays joined by the backbone path that
 *              bestPathsFrom (src/routing) picks on the backbone's measured links
 *   product    what the edge does: the second party joins the room's relay when rankRelays says
 *              it is close enough (room affinity), else its own relay and the backbone
 *   per call   the edge's per-call choice between direct and the product's relays
 *              (chooseCallPath, src/allocation/call-choice.ts), learned from the end-of-call
 *              reports of the calls before (per prefix pair, country pair and overall); the
 *              reported loss is counted over the call's packets on a Gilbert-Elliott channel
 *   best of direct and product   the per-call choice's own ceiling: the better of the two
 *   oracle     the best of: direct, every single relay, and every pair among each side's
 *              `oracleCandidates` best relays over the backbone; best = not poor, then least RTT
 *
 * A call is poor when RTT > 320 ms, loss > 1.2 % or jitter > 12 ms (Via, SIGCOMM 2016).
 */
import {
  type CallPath,
  type CallReport,
  callLevelKeys,
  chooseCallPath,
  DEFAULT_CALL_CHOICE,
  type PathQuality,
  recordCall,
} from '../allocation/call-choice.ts';
import { decayedWeight, pathModelOf } from '../allocation/learned.ts';
import { rankRelays } from '../allocation/rank.ts';
import { greatCircleKm } from '../directory/geo.ts';
import { bestPathsFrom, DEFAULT_HYSTERESIS } from '../routing/index.ts';
import type { LearnedState } from './allocations.ts';
import { trueSnapshot } from './backbone.ts';
import type { SimConfig } from './config.ts';
import { type Internet, inSeries, newStats, type PathStats } from './internet.ts';
import { createRng, gilbertElliottLost, type Rng, weightedSampler } from './random.ts';
import type { World } from './world.ts';

export const CALL_OPTIONS = [
  'direct',
  'one relay',
  'backbone',
  'product',
  'per call',
  'best of direct and product',
  'oracle',
] as const;
export type CallOption = (typeof CALL_OPTIONS)[number];

export interface CallRun {
  readonly count: number;
  readonly km: Float32Array;
  readonly rttMs: Record<CallOption, Float32Array>;
  readonly jitterMs: Record<CallOption, Float32Array>;
  readonly loss: Record<CallOption, Float32Array>;
  readonly poor: Record<CallOption, Uint8Array>;
  /** Product calls carried over the backbone (two relays) rather than one relay. */
  readonly productTwoRelays: number;
  /** Per-call choices: calls relayed, and calls that took the other path to explore. */
  readonly perCallRelayed: number;
  readonly perCallExplored: number;
  /** Backbone paths of some product calls, as relay indices, with the two clients' prefixes. */
  readonly samplePaths: readonly {
    readonly a: number;
    readonly b: number;
    readonly hops: readonly number[];
  }[];
}

export interface CallHooks {
  readonly progress?: (done: number, total: number) => void;
}

const DAY = 86_400_000;

/** Backbone path stats between every pair of relays, as routing picks the path. */
function backboneTable(world: World, internet: Internet, config: SimConfig) {
  const R = world.relays.length;
  const ids = world.records.map((r) => r.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const snapshot = trueSnapshot(world, internet);
  const rtt = new Float64Array(R * R);
  const jitter = new Float64Array(R * R);
  const loss = new Float64Array(R * R);
  const hops: (readonly number[] | undefined)[] = new Array(R * R);
  const link = newStats();
  const acc = newStats();
  for (let i = 0; i < R; i++) {
    const paths = bestPathsFrom(snapshot, ids[i]!, {
      maxHops: config.backbone.maxHops,
      ...DEFAULT_HYSTERESIS,
    });
    for (const [to, path] of paths) {
      const j = index.get(to)!;
      const h = path.hops.map((id) => index.get(id)!);
      acc.rttMs = 0;
      acc.jitterMs = 0;
      acc.loss = 0;
      for (let k = 1; k < h.length; k++) {
        inSeries(acc, acc, internet.backboneLink(h[k - 1]!, h[k]!, link));
        if (k > 1) acc.rttMs += config.internet.relayProcessingMs;
      }
      rtt[i * R + j] = acc.rttMs;
      jitter[i * R + j] = acc.jitterMs;
      loss[i * R + j] = acc.loss;
      hops[i * R + j] = h;
    }
  }
  return { rtt, jitter, loss, hops };
}

export function runCalls(
  world: World,
  internet: Internet,
  config: SimConfig,
  learned: LearnedState,
  hooks: CallHooks = {},
): CallRun {
  const N = config.scale.calls;
  const R = world.relays.length;
  const pf = world.prefixes;
  const th = config.thresholds;
  const rng = createRng(config.seed).fork('calls');
  const random = () => rng.next();
  const pickPrefix = weightedSampler(pf.activity);
  const records = world.records;
  const index = new Map(records.map((r, i) => [r.id, i]));
  const { inflation, accessMs } = pathModelOf(learned.inflation);
  const bb = backboneTable(world, internet, config);

  // Prefixes by country, to draw domestic second parties.
  const byCountry = new Map<number, number[]>();
  for (let p = 0; p < pf.count; p++) {
    const list = byCountry.get(pf.country[p]!) ?? [];
    list.push(p);
    byCountry.set(pf.country[p]!, list);
  }

  const f32 = () => new Float32Array(N);
  const perOption = <T>(make: () => T) =>
    Object.fromEntries(CALL_OPTIONS.map((o) => [o, make()])) as Record<CallOption, T>;
  const out: CallRun = {
    count: N,
    km: f32(),
    rttMs: perOption(f32),
    jitterMs: perOption(f32),
    loss: perOption(f32),
    poor: perOption(() => new Uint8Array(N)),
    productTwoRelays: 0,
    perCallRelayed: 0,
    perCallExplored: 0,
    samplePaths: [],
  };
  // The edge's per-call learning: path quality by level key and path.
  const quality = new Map<string, PathQuality>();
  const choiceRng = rng.fork('per-call');
  const choiceRandom = () => choiceRng.next();
  let perCallRelayed = 0;
  let perCallExplored = 0;
  const statsOf = (option: CallOption, i: number): PathStats => ({
    rttMs: out.rttMs[option][i]!,
    jitterMs: out.jitterMs[option][i]!,
    loss: out.loss[option][i]!,
  });
  let productTwoRelays = 0;
  const samplePaths: { a: number; b: number; hops: number[] }[] = [];
  const isPoor = (s: PathStats) =>
    s.rttMs > th.poorRttMs || s.loss > th.poorLoss || s.jitterMs > th.poorJitterMs;
  const legA = newStats();
  const legB = newStats();
  const mid = newStats();
  const total = newStats();

  /** The product's relay choice for one party: rank, probe the targets, rank again. */
  const choose = (p: number, t: number, roomRelay: string | undefined, probeRng: Rng) => {
    const location = { lat: pf.geoLat[p]!, lon: pf.geoLon[p]! };
    const learnedIn = new Map<string, { rttMs: number; weight: number }>();
    for (const [id, e] of learned.byPrefix[p] ?? [])
      learnedIn.set(id, { rttMs: e.rttMs, weight: decayedWeight(e, t) });
    const none = new Map<string, number>();
    const first = rankRelays(
      { relays: records, location, probes: none, learned: learnedIn, inflation, accessMs },
      random,
    );
    const probes = new Map<string, number>();
    for (const target of first.probeTargets) {
      const r = index.get(target.id)!;
      probes.set(
        target.id,
        internet.probe(p, r, t, probeRng, config.probes.pings, config.probes.overheadMeanMs),
      );
    }
    const own = rankRelays(
      { relays: records, location, probes, learned: learnedIn, inflation, accessMs },
      random,
    );
    const withRoom = roomRelay
      ? rankRelays(
          { relays: records, location, probes, learned: learnedIn, inflation, accessMs, roomRelay },
          random,
        )
      : own;
    return { own: index.get(own.chosen!.relay.id)!, room: index.get(withRoom.chosen!.relay.id)! };
  };

  /** Stats of a call carried from prefix a through relay ra, the backbone, relay rb, to prefix b. */
  const viaRelays = (a: number, ra: number, b: number, rb: number, t: number, into: PathStats): PathStats => {
    internet.clientRelay(a, ra, t, legA);
    internet.clientRelay(b, rb, t, legB);
    inSeries(into, legA, legB);
    if (ra !== rb) {
      const k = ra * R + rb;
      mid.rttMs = bb.rtt[k]!;
      mid.jitterMs = bb.jitter[k]!;
      mid.loss = bb.loss[k]!;
      if (!Number.isFinite(mid.rttMs) || bb.hops[k] === undefined) {
        into.rttMs = Number.POSITIVE_INFINITY;
        return into;
      }
      inSeries(into, into, mid);
    }
    return into;
  };

  const record = (option: CallOption, i: number, s: PathStats) => {
    out.rttMs[option][i] = s.rttMs;
    out.jitterMs[option][i] = s.jitterMs;
    out.loss[option][i] = s.loss;
    out.poor[option][i] = isPoor(s) ? 1 : 0;
  };

  const probeRng = rng.fork('probes');
  const pairRng = rng.fork('pairs');
  // Filled by the first call that draws each slot, so the pairs are drawn like any other call's.
  const pool: ([number, number] | undefined)[] = new Array(Math.floor(N * config.calls.repeatPoolShare));
  const start = config.scale.days * DAY;
  const candidateRtt = new Float64Array(R);
  const progressEvery = Math.max(1, Math.floor(N / 100));
  for (let i = 0; i < N; i++) {
    const t = start + ((i + 0.5) / N) * DAY;
    let a = pickPrefix(rng.next());
    let b = pickPrefix(rng.next());
    if (rng.next() < config.calls.domesticShare) {
      const list = byCountry.get(pf.country[a]!)!;
      b = list[rng.int(list.length)]!;
    }
    if (b === a) b = (a + 1) % pf.count;
    // People call the same people: a share of calls repeat a pair from a pool.
    if (pool.length > 0 && pairRng.next() < config.calls.repeatShare) {
      const k = pairRng.int(pool.length);
      if (pool[k] === undefined) pool[k] = [a, b];
      else [a, b] = pool[k]!;
    }
    internet.client(a, 2 * i);
    internet.client(b, 2 * i + 1);
    const km = greatCircleKm(pf.lat[a]!, pf.lon[a]!, pf.lat[b]!, pf.lon[b]!);
    out.km[i] = km;

    const direct = internet.direct(a, b, km, t, total);
    record('direct', i, direct);
    const ca = choose(a, t, undefined, probeRng);
    const ra = ca.own;
    const cb = choose(b, t, records[ra]!.id, probeRng);
    record('one relay', i, viaRelays(a, ra, b, ra, t, total));
    record('backbone', i, viaRelays(a, ra, b, cb.own, t, total));
    record('product', i, viaRelays(a, ra, b, cb.room, t, total));
    if (cb.room !== ra) {
      productTwoRelays++;
      if (samplePaths.length < 60 && i % 7 === 0)
        samplePaths.push({ a, b, hops: [...bb.hops[ra * R + cb.room]!] });
    }

    // Per call: the edge's choice from earlier reports, then this call's report.
    const keys = callLevelKeys(`p${a}`, `${pf.country[a]}`, `p${b}`, `${pf.country[b]}`);
    const levels = (path: CallPath) => keys.map((k) => quality.get(`${k}|${path}`));
    const choice = chooseCallPath({ direct: levels('direct'), relay: levels('relay') }, t, choiceRandom);
    const taken = statsOf(choice.path === 'relay' ? 'product' : 'direct', i);
    record('per call', i, taken);
    if (choice.path === 'relay') perCallRelayed++;
    if (choice.reason === 'explore') perCallExplored++;
    const packets = config.calls.reportPackets;
    const report: CallReport = {
      path: choice.path,
      rttMs: taken.rttMs,
      jitterMs: taken.jitterMs,
      loss: gilbertElliottLost(choiceRng, taken.loss, packets, config.calls.burstPackets) / packets,
    };
    for (const k of keys) {
      const key = `${k}|${choice.path}`;
      quality.set(key, recordCall(quality.get(key), report, t, DEFAULT_CALL_CHOICE));
    }
    const d = statsOf('direct', i);
    const pr = statsOf('product', i);
    const score = (x: PathStats) => (isPoor(x) ? 1e6 : 0) + x.rttMs;
    record('best of direct and product', i, score(pr) < score(d) ? pr : d);

    // Oracle: direct, any single relay, or a pair of good relays over the backbone.
    let bestScore = Number.POSITIVE_INFINITY;
    const best = newStats();
    const consider = (s: PathStats) => {
      const score = (isPoor(s) ? 1e6 : 0) + s.rttMs;
      if (score < bestScore) {
        bestScore = score;
        best.rttMs = s.rttMs;
        best.jitterMs = s.jitterMs;
        best.loss = s.loss;
      }
    };
    consider(internet.direct(a, b, km, t, total));
    for (let r = 0; r < R; r++) {
      const s = viaRelays(a, r, b, r, t, total);
      consider(s);
      candidateRtt[r] = legA.rttMs;
    }
    const k = Math.min(R, config.calls.oracleCandidates);
    const topA = topK(candidateRtt, k);
    for (let r = 0; r < R; r++) candidateRtt[r] = internet.clientRelayRtt(b, r, t);
    const topB = topK(candidateRtt, k);
    for (const x of topA) for (const y of topB) if (x !== y) consider(viaRelays(a, x, b, y, t, total));
    record('oracle', i, best);
    if (i % progressEvery === progressEvery - 1 || i === N - 1) hooks.progress?.(i + 1, N);
  }
  return { ...out, productTwoRelays, perCallRelayed, perCallExplored, samplePaths };
}

/** Indices of the k smallest values. */
function topK(values: Float64Array, k: number): number[] {
  return Array.from(values.keys())
    .sort((x, y) => values[x]! - values[y]!)
    .slice(0, k);
}
