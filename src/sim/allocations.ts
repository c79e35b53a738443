/**
 * The allocation phase: clients of the simulated prefixes ask for a relay, over `days` of
 * simulated time, and every request is answered four ways so the strategies meet the same
 * clients at the same moments:
 *
 *   geolocation  rankRelays with GeoIP's location only (distance basis, the fixed 2.1 inflation)
 *   learned      rankRelays with what the prefix's earlier clients measured (decayed weights) and
 *                the inflation learned so far: the edge's answer before the client has probed
 *   probes       the client probes the first answer's probeTargets (best of two noisy pings, as
 *                sdk/index.ts does) and asks again with them: the product's answer
 *   oracle       the relay with the least true RTT at that moment
 *
 * After each request the client reports its probes: `learn` folds them into the prefix's learned
 * map and `learnInflation` (through `inflationEvidence`, which takes the access delay out) into
 * the global inflation, as POST /v1/measurements does. All of it is
 * the project's own code from src/allocation; the simulation only supplies the world.
 */
import {
  areaKey,
  areaSamples,
  decayedWeight,
  INITIAL_INFLATION,
  type Inflation,
  inflationEvidence,
  inflationFactor,
  type LearnedRtt,
  learn,
  learnPathModel,
  pathModelOf,
} from '../allocation/learned.ts';
import { DEFAULT_RANK, type RankOptions, type RankResult, rankRelays } from '../allocation/rank.ts';
import { greatCircleKm } from '../directory/geo.ts';
import type { SimConfig } from './config.ts';
import type { Internet } from './internet.ts';
import { createRng, weightedSampler } from './random.ts';
import type { World } from './world.ts';

export const STRATEGIES = ['geolocation', 'learned', 'probes', 'oracle'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** What the edge has learned by the end of the run, for the call phase. */
export interface LearnedState {
  readonly byPrefix: readonly (ReadonlyMap<string, LearnedRtt> | undefined)[];
  readonly inflation: Inflation;
}

export interface AllocationRun {
  readonly count: number;
  /** Simulated time of each allocation, ms. */
  readonly time: Float64Array;
  readonly prefix: Int32Array;
  /** True RTT of the oracle's relay. */
  readonly bestRttMs: Float32Array;
  /** RTT of each strategy's relay minus the oracle's, ms. */
  readonly regret: Record<Strategy, Float32Array>;
  /** The relay each strategy chose. */
  readonly choice: Record<Strategy, Uint16Array>;
  /** |predicted - true| / true of the learned answer's relay; NaN when it was not on that basis. */
  readonly learnedRelErr: Float32Array;
  readonly distanceRelErr: Float32Array;
  /** Probes answers whose relay had not been probed (chosen on a learned or distance prediction). */
  readonly probesUnprobedChoice: Uint8Array;
  /** Whether the oracle's relay was among the relays the client probed. */
  readonly oracleProbed: Uint8Array;
  /** Probes the client made, both rounds (a re-probed relay counts twice). */
  readonly probeCount: Uint8Array;
  /** 1 when the client probed a second round (the second answer named targets). */
  readonly secondRound: Uint8Array;
  /** The learned inflation after every 1 % of the run. */
  readonly inflation: number[];
  /**
   * Regret of the probes answer ranked as before the distance calibration (same probes, same
   * learned map, `calibrateDistance: false`), to show what the change in rank.ts did; a
   * diagnostic, so computed on one allocation in `UNCALIBRATED_EVERY` (NaN for the rest).
   */
  readonly uncalibratedRegret: Float32Array;
  readonly learnedState: LearnedState;
}

export interface Hooks {
  /** Called now and then with how far the phase is. */
  readonly progress?: (done: number, total: number) => void;
  /**
   * Which prefix asks at time t, from a uniform u in [0, 1): by default every prefix by its
   * activity; the trace-driven world uses it to hold some sites out of the first days.
   */
  readonly pick?: (u: number, tMs: number) => number;
}

const DAY = 86_400_000;
/**
 * The diagnostic ranking ("probes, ranked as before `calibrateDistance`", a fourth `rankRelays`
 * per allocation) runs on allocations 0, N, 2N, ...: a deterministic 1-in-N sample, a tenth of
 * the cost (docs/SIMULATION.md, "Scale and time").
 */
export const UNCALIBRATED_EVERY = 10;

/**
 * Draw from `random` exactly what `rankRelays(input, random, o)` draws for a ranking of `usable`
 * relays (all of them usable; the simulation loads none): one draw whether to add an explorer
 * when any relay is left after the probe targets, and one more to pick it when it is added. A
 * skipped diagnostic ranking keeps the run's random stream, and so every other figure, as it was.
 */
export function skipRankDraws(random: () => number, usable: number, o: RankOptions): void {
  if (usable === 0) return;
  const picks = Math.min(Math.max(1, o.probeTargets), usable);
  const rest = usable - picks;
  const pool = o.exploreWithin === undefined ? rest : Math.min(rest, o.exploreWithin);
  if (pool > 0 && random() < o.exploreShare) random();
}
const NO_MAP: ReadonlyMap<string, never> = new Map<string, never>();

export function runAllocations(
  world: World,
  internet: Internet,
  config: SimConfig,
  hooks: Hooks = {},
  rankOptions?: RankOptions,
): AllocationRun {
  const N = config.scale.allocations;
  const pf = world.prefixes;
  const rng = createRng(config.seed).fork('allocations');
  const random = () => rng.next();
  const byActivity = weightedSampler(pf.activity);
  const pickPrefix = hooks.pick ?? ((u: number) => byActivity(u));
  const records = world.records;
  const index = new Map(records.map((r, i) => [r.id, i]));
  const learnedByPrefix: (Map<string, LearnedRtt> | undefined)[] = new Array(pf.count);
  // What the edge keeps per area (areaKey of the GeoIP location), for probe targets.
  const learnedByArea = new Map<string, Map<string, LearnedRtt>>();
  const areaOf: string[] = new Array(pf.count);
  const geoChoice = new Int32Array(pf.count).fill(-1);
  let inflation: Inflation = INITIAL_INFLATION;
  const fixedInflation = inflationFactor(INITIAL_INFLATION);
  const rank = (input: Parameters<typeof rankRelays>[0]): RankResult =>
    rankRelays(input, random, rankOptions);

  const out: AllocationRun = {
    count: N,
    time: new Float64Array(N),
    prefix: new Int32Array(N),
    bestRttMs: new Float32Array(N),
    regret: {
      geolocation: new Float32Array(N),
      learned: new Float32Array(N),
      probes: new Float32Array(N),
      oracle: new Float32Array(N),
    },
    choice: {
      geolocation: new Uint16Array(N),
      learned: new Uint16Array(N),
      probes: new Uint16Array(N),
      oracle: new Uint16Array(N),
    },
    learnedRelErr: new Float32Array(N).fill(Number.NaN),
    distanceRelErr: new Float32Array(N).fill(Number.NaN),
    probesUnprobedChoice: new Uint8Array(N),
    oracleProbed: new Uint8Array(N),
    probeCount: new Uint8Array(N),
    secondRound: new Uint8Array(N),
    inflation: [],
    uncalibratedRegret: new Float32Array(N).fill(Number.NaN),
    learnedState: { byPrefix: learnedByPrefix, inflation },
  };
  const uncalibrated: RankOptions = {
    ...(rankOptions ?? DEFAULT_RANK),
    calibrateDistance: false,
    nextTargets: 0,
    repingTargets: 0,
  };
  // The answer after the last round names no more targets (the SDK probes two rounds at most).
  const lastRound: RankOptions = { ...(rankOptions ?? DEFAULT_RANK), nextTargets: 0, repingTargets: 0 };
  // The backbone's links as the directory carries them: relay-to-relay RTT by id (static here).
  const R = records.length;
  const links = new Map<string, Map<string, number>>();
  for (let a = 0; a < R; a++) {
    const row = new Map<string, number>();
    for (let b = 0; b < R; b++) if (a !== b) row.set(records[b]!.id, internet.bbRtt[a * R + b]!);
    links.set(records[a]!.id, row);
  }
  const span = config.scale.days * DAY;
  const progressEvery = Math.max(1, Math.floor(N / 100));

  for (let i = 0; i < N; i++) {
    const t = ((i + 0.5) / N) * span;
    const p = pickPrefix(rng.next(), t);
    internet.client(p, i);
    const location = { lat: pf.geoLat[p]!, lon: pf.geoLon[p]! };
    out.time[i] = t;
    out.prefix[i] = p;

    const oracle = internet.bestRelay(p, t);
    out.bestRttMs[i] = oracle.rttMs;
    out.choice.oracle[i] = oracle.relay;

    // Geolocation only: the same answer for a prefix every time (no state), so computed once.
    if (geoChoice[p]! < 0) {
      const g = rank({
        relays: records,
        location,
        probes: NO_MAP,
        learned: NO_MAP,
        inflation: fixedInflation,
      });
      geoChoice[p] = index.get(g.chosen!.relay.id)!;
    }
    const geo = geoChoice[p]!;

    const entries = learnedByPrefix[p];
    const learned = new Map<string, { rttMs: number; weight: number }>();
    if (entries)
      for (const [id, e] of entries) learned.set(id, { rttMs: e.rttMs, weight: decayedWeight(e, t) });
    areaOf[p] ??= areaKey(location.lat, location.lon);
    const areaEntries = learnedByArea.get(areaOf[p]!);
    const areaLearned = new Map<string, { rttMs: number; weight: number }>();
    if (areaEntries)
      for (const [id, e] of areaEntries) areaLearned.set(id, { rttMs: e.rttMs, weight: decayedWeight(e, t) });
    const { inflation: inflationNow, accessMs } = pathModelOf(inflation);
    const first = rank({
      relays: records,
      location,
      probes: NO_MAP,
      learned,
      areaLearned,
      inflation: inflationNow,
      accessMs,
    });
    const firstChosen = first.chosen!;
    const learnedPick = index.get(firstChosen.relay.id)!;

    const probes = new Map<string, number>();
    for (const target of first.probeTargets) {
      const r = index.get(target.id)!;
      probes.set(target.id, internet.probe(p, r, t, rng, config.probes.pings, config.probes.overheadMeanMs));
    }
    let second = rank({
      relays: records,
      location,
      probes,
      learned,
      inflation: inflationNow,
      accessMs,
      links,
    });
    let count = probes.size;
    // A second round when the answer names one (sdk/index.ts): a re-probed relay keeps its best.
    if (second.nextProbeTargets.length > 0) {
      out.secondRound[i] = 1;
      for (const target of second.nextProbeTargets) {
        const ms = internet.probe(
          p,
          index.get(target.id)!,
          t,
          rng,
          config.probes.pings,
          config.probes.overheadMeanMs,
        );
        probes.set(target.id, Math.min(ms, probes.get(target.id) ?? Number.POSITIVE_INFINITY));
        count++;
      }
      second = rankRelays(
        { relays: records, location, probes, learned, inflation: inflationNow, accessMs, links },
        random,
        lastRound,
      );
    }
    out.probeCount[i] = Math.min(255, count);
    const probesPick = index.get(second.chosen!.relay.id)!;
    let beforePick = -1;
    if (i % UNCALIBRATED_EVERY === 0) {
      const before = rankRelays(
        { relays: records, location, probes, learned, inflation: inflationNow },
        random,
        uncalibrated,
      );
      beforePick = index.get(before.chosen!.relay.id)!;
    } else skipRankDraws(random, records.length, uncalibrated);
    if (!probes.has(second.chosen!.relay.id)) out.probesUnprobedChoice[i] = 1;
    if (probes.has(records[oracle.relay]!.id)) out.oracleProbed[i] = 1;

    const rttOf = (r: number) => (r === oracle.relay ? oracle.rttMs : internet.clientRelayRtt(p, r, t));
    out.choice.geolocation[i] = geo;
    out.choice.learned[i] = learnedPick;
    out.choice.probes[i] = probesPick;
    out.regret.geolocation[i] = rttOf(geo) - oracle.rttMs;
    const learnedRtt = rttOf(learnedPick);
    out.regret.learned[i] = learnedRtt - oracle.rttMs;
    out.regret.probes[i] = rttOf(probesPick) - oracle.rttMs;
    out.regret.oracle[i] = 0;
    if (beforePick >= 0) out.uncalibratedRegret[i] = rttOf(beforePick) - oracle.rttMs;
    const relErr = Math.abs(firstChosen.predictedRttMs - learnedRtt) / learnedRtt;
    if (firstChosen.basis === 'learned') out.learnedRelErr[i] = relErr;
    else if (firstChosen.basis === 'distance') out.distanceRelErr[i] = relErr;

    // The client reports what it measured (POST /v1/measurements).
    const row = entries ?? new Map<string, LearnedRtt>();
    const spans: { rttMs: number; km: number }[] = [];
    for (const [id, ms] of probes) {
      row.set(id, learn(row.get(id), ms, t));
      const relay = world.relays[index.get(id)!]!;
      spans.push({ rttMs: ms, km: greatCircleKm(location.lat, location.lon, relay.lat, relay.lon) });
    }
    const area = areaEntries ?? new Map<string, LearnedRtt>();
    for (const [id, ms] of areaSamples(probes)) area.set(id, learn(area.get(id), ms, t));
    learnedByArea.set(areaOf[p]!, area);
    const evidence = inflationEvidence(spans);
    if (evidence) inflation = learnPathModel(inflation, evidence);
    learnedByPrefix[p] = row;

    if (i % progressEvery === progressEvery - 1 || i === N - 1) {
      out.inflation.push(inflationFactor(inflation));
      hooks.progress?.(i + 1, N);
    }
  }
  return { ...out, learnedState: { byPrefix: learnedByPrefix, inflation } };
}
