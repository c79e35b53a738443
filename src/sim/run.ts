/**
 * One simulation run, phase by phase, and the figures it yields as plain JSON-able data (what the
 * report plots and the CLI prints). The phases are separate functions so a caller can run the
 * backbone phase beside the others (it depends only on the world); `runSimulation` runs them all
 * in turn. Pure: the city list, the config and a progress callback come in.
 */
import { fiberRttMs } from '../allocation/learned.ts';
import { type AllocationRun, runAllocations, STRATEGIES, type Strategy } from './allocations.ts';
import {
  type BackboneRun,
  type EndToEndFigures,
  FAILURE_KINDS,
  type FailureKind,
  type RoutingSummary,
  runBackbone,
} from './backbone.ts';
import { CALL_OPTIONS, type CallOption, type CallRun, runCalls } from './calls.ts';
import type { SimConfig } from './config.ts';
import { Internet } from './internet.ts';
import { cdf, mean, quantile, round, share, sorted } from './stats.ts';
import { buildWorld, type City, type World } from './world.ts';

export type Phase = 'world' | 'allocations' | 'calls' | 'backbone';

export type Progress = (phase: Phase, done: number, total: number) => void;

export interface Prepared {
  readonly world: World;
  readonly internet: Internet;
}

export function prepare(cities: readonly City[], config: SimConfig): Prepared {
  const world = buildWorld(cities, config);
  return { world, internet: new Internet(world, config) };
}

type Point = [number, number];

export interface RegretSummary {
  readonly medianMs: number;
  readonly p95Ms: number;
  readonly meanMs: number;
  /** Share of allocations more than `regretMs` worse than the best relay. */
  readonly missShare: number;
}

export interface WarmupPoint {
  /** Middle of the bucket, simulated days. */
  readonly day: number;
  readonly regret: Record<Strategy, RegretSummary>;
  /** Median relative error of learned predictions, and the share of answers on a learned basis. */
  readonly learnedRelErr: number;
  readonly learnedBasisShare: number;
}

export interface AllocationFigures {
  readonly count: number;
  readonly summary: Record<Strategy | 'probes, uncalibrated', RegretSummary>;
  readonly learnedRelErrMedian: number;
  readonly distanceRelErrMedian: number;
  readonly learnedBasisShare: number;
  readonly oracleProbedShare: number;
  /**
   * Of the probes answers more than the miss threshold off, the share whose best relay had been
   * probed (lost to probe noise between near-equal relays) rather than never offered.
   */
  readonly missesWithBestProbedShare: number;
  readonly unprobedChoiceShare: number;
  /** Probes per allocation, both rounds (the cost), mean and p95; share with a second round. */
  readonly probesMean: number;
  readonly probesP95: number;
  readonly secondRoundShare: number;
  readonly bestRttMedianMs: number;
  readonly finalInflation: number;
  readonly regretCdf: Record<Strategy, Point[]>;
  readonly warmup: WarmupPoint[];
}

export interface CallSummary {
  readonly rttMedianMs: number;
  readonly rttP95Ms: number;
  readonly lossMedian: number;
  readonly jitterMedianMs: number;
  readonly poorShare: number;
  /** Of the calls poor on the direct path, the share this option makes not poor. */
  readonly fixedShare: number;
  /** Median RTT over the fiber bound between the two clients (calls over 1,000 km). */
  readonly stretchMedian: number;
}

export interface CallFigures {
  readonly count: number;
  readonly summary: Record<CallOption, CallSummary>;
  readonly rttCdf: Record<CallOption, Point[]>;
  readonly stretchCdf: Record<CallOption, Point[]>;
  readonly fiberBoundCdf: Point[];
  readonly productTwoRelaysShare: number;
  /** Per-call choices that relayed, and that explored the other path. */
  readonly perCallRelayedShare: number;
  readonly perCallExploreShare: number;
  readonly samplePaths: {
    readonly a: Point;
    readonly b: Point;
    readonly hops: Point[];
    readonly ids: string[];
  }[];
}

export interface RoutingFigures {
  readonly flapsPerFlowHour: number;
  readonly flowsWithFlapShare: number;
  readonly brokenChanges: number;
  readonly flapGainMedianMs: number;
  /** Share of the available detour gain the routes take at the end of the run. */
  readonly gainTaken: number;
}

export interface StayFigures {
  /** Flows on a link when it failed. */
  readonly flows: number;
  /** Time until they left it, median and p95 (a flow that stayed counts its whole stay), ms. */
  readonly medianMs: number;
  readonly p95Ms: number;
  /** Still on the link when the failure or the run ended. */
  readonly stayedShare: number;
  /** Packets a flow lost to the failure (at the flow's packet rate), median and p95. */
  readonly lostPacketsMedian: number;
  readonly lostPacketsP95: number;
}

export interface BackboneFigures {
  readonly seconds: number;
  readonly probesPerRelaySecond: number;
  readonly stays: Readonly<Record<FailureKind, StayFigures>>;
  readonly flows: number;
  readonly failuresInjected: number;
  readonly current: RoutingFigures;
  readonly before: RoutingFigures;
  readonly withoutDeadband: RoutingFigures;
  readonly endToEnd: EndToEndFigures;
  readonly failover: {
    readonly trials: number;
    readonly workingMedianMs: number;
    readonly workingP95Ms: number;
    readonly workingMaxMs: number;
    readonly sourceMedianMs: number;
    readonly sourceP95Ms: number;
    readonly firstLinkShare: number;
    readonly stretchMedian: number;
    readonly workingCdf: Point[];
    readonly sourceCdf: Point[];
  };
}

export interface SimFigures {
  readonly seed: number;
  readonly scale: SimConfig['scale'];
  readonly world: {
    readonly cities: number;
    readonly countries: number;
    readonly carriers: number;
    readonly prefixes: number;
    readonly relays: {
      readonly id: string;
      readonly lat: number;
      readonly lon: number;
      readonly population: number;
    }[];
  };
  readonly allocations: AllocationFigures;
  readonly calls: CallFigures;
  readonly backbone: BackboneFigures;
}

function regretSummary(values: ArrayLike<number>, missMs: number): RegretSummary {
  const s = sorted(values);
  return {
    medianMs: round(quantile(s, 0.5)),
    p95Ms: round(quantile(s, 0.95)),
    meanMs: round(mean(s)),
    missShare: round(share(s, (v) => v > missMs)),
  };
}

function missesWithBestProbed(run: AllocationRun, missMs: number): number {
  let misses = 0;
  let probed = 0;
  for (let i = 0; i < run.count; i++)
    if (run.regret.probes[i]! > missMs) {
      misses++;
      probed += run.oracleProbed[i]!;
    }
  return misses > 0 ? probed / misses : 0;
}

export function allocationFigures(run: AllocationRun, config: SimConfig): AllocationFigures {
  const miss = config.thresholds.regretMs;
  const summary = Object.fromEntries(
    STRATEGIES.map((s) => [s, regretSummary(run.regret[s], miss)]),
  ) as Record<Strategy, RegretSummary>;
  const warmup: WarmupPoint[] = [];
  const B = Math.max(1, Math.min(config.warmupBuckets, run.count));
  for (let k = 0; k < B; k++) {
    const lo = Math.floor((k * run.count) / B);
    const hi = Math.floor(((k + 1) * run.count) / B);
    const learnedErr = run.learnedRelErr.subarray(lo, hi);
    let basis = 0;
    for (let i = 0; i < learnedErr.length; i++) if (!Number.isNaN(learnedErr[i]!)) basis++;
    warmup.push({
      day: round((run.time[lo]! + run.time[Math.max(lo, hi - 1)]!) / 2 / 86_400_000),
      regret: Object.fromEntries(
        STRATEGIES.map((s) => [s, regretSummary(run.regret[s].subarray(lo, hi), miss)]),
      ) as Record<Strategy, RegretSummary>,
      learnedRelErr: round(quantile(learnedErr, 0.5)),
      learnedBasisShare: round(basis / Math.max(1, hi - lo)),
    });
  }
  let learnedBasis = 0;
  for (let i = 0; i < run.count; i++) if (!Number.isNaN(run.learnedRelErr[i]!)) learnedBasis++;
  return {
    count: run.count,
    summary: { ...summary, 'probes, uncalibrated': regretSummary(run.uncalibratedRegret, miss) },
    learnedRelErrMedian: round(quantile(run.learnedRelErr, 0.5)),
    distanceRelErrMedian: round(quantile(run.distanceRelErr, 0.5)),
    learnedBasisShare: round(learnedBasis / Math.max(1, run.count)),
    oracleProbedShare: round(share(run.oracleProbed, (v) => v === 1)),
    missesWithBestProbedShare: round(missesWithBestProbed(run, miss)),
    unprobedChoiceShare: round(share(run.probesUnprobedChoice, (v) => v === 1)),
    probesMean: round(mean(run.probeCount)),
    probesP95: round(quantile(run.probeCount, 0.95)),
    secondRoundShare: round(share(run.secondRound, (v) => v === 1)),
    bestRttMedianMs: round(quantile(run.bestRttMs, 0.5)),
    finalInflation: round(run.inflation.at(-1) ?? Number.NaN),
    regretCdf: Object.fromEntries(STRATEGIES.map((s) => [s, cdf(run.regret[s])])) as Record<
      Strategy,
      Point[]
    >,
    warmup,
  };
}

export function callFigures(run: CallRun, world: World): CallFigures {
  const N = run.count;
  const longHaul = (values: Float32Array) => {
    const out: number[] = [];
    for (let i = 0; i < N; i++) if (run.km[i]! >= 1000) out.push(values[i]! / fiberRttMs(run.km[i]!));
    return out;
  };
  let poorDirect = 0;
  for (let i = 0; i < N; i++) poorDirect += run.poor.direct[i]!;
  const summary = {} as Record<CallOption, CallSummary>;
  const rttCdf = {} as Record<CallOption, Point[]>;
  const stretchCdf = {} as Record<CallOption, Point[]>;
  for (const o of CALL_OPTIONS) {
    let poor = 0;
    let fixed = 0;
    for (let i = 0; i < N; i++) {
      poor += run.poor[o][i]!;
      if (run.poor.direct[i] === 1 && run.poor[o][i] === 0) fixed++;
    }
    const stretch = longHaul(run.rttMs[o]);
    summary[o] = {
      rttMedianMs: round(quantile(run.rttMs[o], 0.5)),
      rttP95Ms: round(quantile(run.rttMs[o], 0.95)),
      lossMedian: round(quantile(run.loss[o], 0.5)),
      jitterMedianMs: round(quantile(run.jitterMs[o], 0.5)),
      poorShare: round(poor / Math.max(1, N)),
      fixedShare: round(fixed / Math.max(1, poorDirect)),
      stretchMedian: round(quantile(stretch, 0.5)),
    };
    rttCdf[o] = cdf(run.rttMs[o]);
    stretchCdf[o] = cdf(stretch);
  }
  const fiber = Float32Array.from(run.km, (km) => fiberRttMs(km));
  const at = (r: number): Point => [round(world.relays[r]!.lat), round(world.relays[r]!.lon)];
  const pf = world.prefixes;
  return {
    count: N,
    summary,
    rttCdf,
    stretchCdf,
    fiberBoundCdf: cdf(fiber),
    productTwoRelaysShare: round(run.productTwoRelays / Math.max(1, N)),
    perCallRelayedShare: round(run.perCallRelayed / Math.max(1, N)),
    perCallExploreShare: round(run.perCallExplored / Math.max(1, N)),
    samplePaths: run.samplePaths.map((p) => ({
      a: [round(pf.lat[p.a]!), round(pf.lon[p.a]!)] as Point,
      b: [round(pf.lat[p.b]!), round(pf.lon[p.b]!)] as Point,
      hops: p.hops.map(at),
      ids: p.hops.map((r) => world.relays[r]!.id),
    })),
  };
}

function routingFigures(r: RoutingSummary, flows: number): RoutingFigures {
  return {
    flapsPerFlowHour: round(r.flapsPerFlowHour),
    flowsWithFlapShare: round(r.flowsWithFlap / Math.max(1, flows)),
    brokenChanges: r.changes.broken,
    flapGainMedianMs: round(quantile(r.flapGainMs, 0.5)),
    gainTaken: round(r.gainTaken),
  };
}

export function backboneFigures(run: BackboneRun): BackboneFigures {
  const working = run.failover.map((f) => f.workingMs);
  const source = run.failover.map((f) => f.sourceMs);
  const stays = (kind: FailureKind): StayFigures => {
    const of = run.stays.filter((s) => s.kind === kind);
    const times = of.map((s) => s.ms);
    const lost = of.map((s) => s.lostPackets);
    return {
      flows: of.length,
      medianMs: round(quantile(times, 0.5)),
      p95Ms: round(quantile(times, 0.95)),
      stayedShare: round(of.filter((s) => s.stayed).length / Math.max(1, of.length)),
      lostPacketsMedian: round(quantile(lost, 0.5)),
      lostPacketsP95: round(quantile(lost, 0.95)),
    };
  };
  return {
    seconds: run.seconds,
    probesPerRelaySecond: round(run.probesPerRelaySecond),
    stays: Object.fromEntries(FAILURE_KINDS.map((k) => [k, stays(k)])) as Record<FailureKind, StayFigures>,
    flows: run.flows,
    failuresInjected: run.failuresInjected,
    current: routingFigures(run.current, run.flows),
    before: routingFigures(run.before, run.flows),
    withoutDeadband: routingFigures(run.withoutDeadband, run.flows),
    endToEnd: run.endToEnd,
    failover: {
      trials: run.failover.length,
      workingMedianMs: round(quantile(working, 0.5)),
      workingP95Ms: round(quantile(working, 0.95)),
      workingMaxMs: round(quantile(working, 1)),
      sourceMedianMs: round(quantile(source, 0.5)),
      sourceP95Ms: round(quantile(source, 0.95)),
      firstLinkShare: round(
        share(
          Float64Array.from(run.failover, (f) => f.hop),
          (h) => h === 0,
        ),
      ),
      stretchMedian: round(
        quantile(
          Float64Array.from(run.failover, (f) => f.stretch),
          0.5,
        ),
      ),
      workingCdf: cdf(working, 100),
      sourceCdf: cdf(source, 100),
    },
  };
}

export function worldFigures(world: World): SimFigures['world'] {
  return {
    cities: world.cities.length,
    countries: world.countries.length,
    carriers: world.carriers,
    prefixes: world.prefixes.count,
    relays: world.relays.map((r) => ({
      id: r.id,
      lat: round(r.lat),
      lon: round(r.lon),
      population: r.population,
    })),
  };
}

/** Every phase in turn (tests, small runs). */
export function runSimulation(cities: readonly City[], config: SimConfig, progress?: Progress): SimFigures {
  progress?.('world', 0, 1);
  const { world, internet } = prepare(cities, config);
  progress?.('world', 1, 1);
  const allocations = runAllocations(world, internet, config, {
    progress: (d, t) => progress?.('allocations', d, t),
  });
  const calls = runCalls(world, internet, config, allocations.learnedState, {
    progress: (d, t) => progress?.('calls', d, t),
  });
  const backbone = runBackbone(world, internet, config, { progress: (d, t) => progress?.('backbone', d, t) });
  return {
    seed: config.seed,
    scale: config.scale,
    world: worldFigures(world),
    allocations: allocationFigures(allocations, config),
    calls: callFigures(calls, world),
    backbone: backboneFigures(backbone),
  };
}
