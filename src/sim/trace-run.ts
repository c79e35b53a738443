/**
 * A run of the trace-driven world (trace.ts): the same allocation, call and backbone phases as the
 * synthetic world, then what only measured data can judge:
 *
 *   hold-outs   regret and prediction error split by who was seen when: fit sites before and
 *               after the hold-out day, held-out sites after it (their clients never allocated
 *               before; the global path model was learned on the fit sites), and the held-out
 *               sites' first day
 *   overlay     backbone paths between relays as routing picks them, against the direct measured
 *               RTT and the best measured path of at most `maxHops` links
 *   data        what the loader dropped and why
 *
 * Pure: the parsed data, the config and a progress callback come in.
 */

import type { RankOptions } from '../allocation/rank.ts';
import { bestPathsFrom, DEFAULT_HYSTERESIS } from '../routing/index.ts';
import { type AllocationRun, runAllocations, STRATEGIES, type Strategy } from './allocations.ts';
import { runBackbone, trueSnapshot } from './backbone.ts';
import { runCalls } from './calls.ts';
import type { SimConfig } from './config.ts';
import type { Internet } from './internet.ts';
import { type CompleteSites, detourGain, type ImpossiblePair, impossibleBySite } from './measured.ts';
import {
  type AllocationFigures,
  allocationFigures,
  type BackboneFigures,
  backboneFigures,
  callFigures,
  type Progress,
  type RegretSummary,
  type SimFigures,
  worldFigures,
} from './run.ts';
import { quantile, round, share } from './stats.ts';
import { buildTraceWorld, DEFAULT_TRACE_CONFIG, type DriftTable, type TraceConfig } from './trace.ts';
import type { World } from './world.ts';

export interface TraceData {
  readonly sites: CompleteSites;
  readonly impossible: readonly ImpossiblePair[];
  /** Directed pairs unmeasured in the file. */
  readonly missing: number;
  readonly drift?: DriftTable | undefined;
}

export interface HoldoutRow {
  readonly group: string;
  readonly allocations: number;
  readonly regret: Record<Strategy, RegretSummary>;
  readonly learnedRelErr: number;
  readonly distanceRelErr: number;
  readonly learnedBasisShare: number;
}

export interface OverlayFigures {
  readonly relayPairs: number;
  /** Routed backbone RTT over the direct measured RTT between the two relays, median. */
  readonly routedOverDirectMedian: number;
  /** Share of relay pairs routed through at least one other relay. */
  readonly multiHopShare: number;
  /** Share of pairs where the routed path is shorter than direct, and its median gain there. */
  readonly fasterShare: number;
  readonly fasterGainMedian: number;
  /** Routed RTT over the best measured path (least RTT, at most maxHops links), median and p95. */
  readonly routedOverBestMedian: number;
  readonly routedOverBestP95: number;
  /** Pairs routed within 5 % of the best measured path. */
  readonly withinFivePercentShare: number;
}

export interface TraceFigures {
  readonly sim: SimFigures;
  readonly trace: TraceConfig;
  readonly data: {
    readonly impossiblePairs: number;
    readonly impossibleBySite: readonly [string, number][];
    readonly impossibleExamples: readonly ImpossiblePair[];
    readonly missingPairs: number;
    readonly droppedSites: CompleteSites['dropped'];
    readonly sites: number;
    readonly relaySites: number;
    readonly fitSites: number;
    readonly testSites: number;
    readonly detourShare: number;
    readonly detourMedianGain: number;
    readonly driftPairs: number;
  };
  readonly holdout: readonly HoldoutRow[];
  readonly overlay: OverlayFigures;
}

const DAY = 86_400_000;

/** The allocations for which `keep` holds, as a run of their own. */
export function subsetRun(run: AllocationRun, keep: (i: number) => boolean): AllocationRun {
  const idx: number[] = [];
  for (let i = 0; i < run.count; i++) if (keep(i)) idx.push(i);
  const pickF32 = (a: Float32Array) => Float32Array.from(idx, (i) => a[i]!);
  const pickU8 = (a: Uint8Array) => Uint8Array.from(idx, (i) => a[i]!);
  const pickU16 = (a: Uint16Array) => Uint16Array.from(idx, (i) => a[i]!);
  const per = <T>(f: (s: Strategy) => T) =>
    Object.fromEntries(STRATEGIES.map((s) => [s, f(s)])) as Record<Strategy, T>;
  return {
    ...run,
    count: idx.length,
    time: Float64Array.from(idx, (i) => run.time[i]!),
    prefix: Int32Array.from(idx, (i) => run.prefix[i]!),
    bestRttMs: pickF32(run.bestRttMs),
    regret: per((s) => pickF32(run.regret[s])),
    choice: per((s) => pickU16(run.choice[s])),
    learnedRelErr: pickF32(run.learnedRelErr),
    distanceRelErr: pickF32(run.distanceRelErr),
    probesUnprobedChoice: pickU8(run.probesUnprobedChoice),
    oracleProbed: pickU8(run.oracleProbed),
    probeCount: pickU8(run.probeCount),
    secondRound: pickU8(run.secondRound),
    uncalibratedRegret: pickF32(run.uncalibratedRegret),
  };
}

function holdoutRow(group: string, f: AllocationFigures): HoldoutRow {
  return {
    group,
    allocations: f.count,
    regret: Object.fromEntries(STRATEGIES.map((s) => [s, f.summary[s]])) as Record<Strategy, RegretSummary>,
    learnedRelErr: f.learnedRelErrMedian,
    distanceRelErr: f.distanceRelErrMedian,
    learnedBasisShare: f.learnedBasisShare,
  };
}

/** Routed backbone paths between all relays against direct and the best measured path. */
export function overlayFigures(world: World, internet: Internet, maxHops: number): OverlayFigures {
  const R = world.relays.length;
  const ids = world.records.map((r) => r.id);
  const index = new Map(ids.map((id, i) => [id, i]));
  const snapshot = trueSnapshot(world, internet);
  const rtt = internet.bbRtt;
  // Least RTT with at most maxHops links (Bellman-Ford rounds from the direct matrix).
  let best = Float64Array.from(rtt);
  for (let round = 2; round <= maxHops; round++) {
    const next = Float64Array.from(best);
    for (let i = 0; i < R; i++)
      for (let k = 0; k < R; k++) {
        if (k === i) continue;
        const ik = best[i * R + k]!;
        for (let j = 0; j < R; j++) {
          if (j === i || j === k) continue;
          const via = ik + rtt[k * R + j]!;
          if (via < next[i * R + j]!) next[i * R + j] = via;
        }
      }
    best = next;
  }
  const overDirect: number[] = [];
  const overBest: number[] = [];
  const gains: number[] = [];
  let multi = 0;
  for (let i = 0; i < R; i++) {
    const paths = bestPathsFrom(snapshot, ids[i]!, { maxHops, ...DEFAULT_HYSTERESIS });
    for (const [to, path] of paths) {
      const j = index.get(to)!;
      let sum = 0;
      for (let h = 1; h < path.hops.length; h++)
        sum += rtt[index.get(path.hops[h - 1]!)! * R + index.get(path.hops[h]!)!]!;
      const direct = rtt[i * R + j]!;
      overDirect.push(sum / direct);
      overBest.push(sum / best[i * R + j]!);
      if (path.hops.length > 2) multi++;
      if (sum < direct) gains.push((direct - sum) / direct);
    }
  }
  return {
    relayPairs: overDirect.length,
    routedOverDirectMedian: round(quantile(overDirect, 0.5)),
    multiHopShare: round(multi / Math.max(1, overDirect.length)),
    fasterShare: round(gains.length / Math.max(1, overDirect.length)),
    fasterGainMedian: round(quantile(gains, 0.5)),
    routedOverBestMedian: round(quantile(overBest, 0.5)),
    routedOverBestP95: round(quantile(overBest, 0.95)),
    withinFivePercentShare: round(share(overBest, (v) => v <= 1.05)),
  };
}

/** What `runTraceClients` leaves out: the backbone's figures. */
export type TraceClientFigures = Omit<TraceFigures, 'sim'> & { readonly sim: Omit<SimFigures, 'backbone'> };

export function runTrace(
  data: TraceData,
  config: SimConfig,
  trace: TraceConfig = DEFAULT_TRACE_CONFIG,
  progress?: Progress,
  rankOptions?: RankOptions,
): TraceFigures {
  const clients = runTraceClients(data, config, trace, progress, rankOptions);
  return withBackbone(clients, traceBackbone(data, config, trace, progress));
}

/**
 * The backbone phase of the trace-driven world on its own: it depends on the relays only (its own
 * random stream, the links between relay sites), so a worker thread can run it beside the
 * clients (`npm run sim:measured`) with the same figures.
 */
export function traceBackbone(
  data: TraceData,
  config: SimConfig,
  trace: TraceConfig = DEFAULT_TRACE_CONFIG,
  progress?: Progress,
): BackboneFigures {
  // The relays and the links between them do not depend on the prefixes: skip building them.
  const relaysOnly = { ...config, scale: { ...config.scale, prefixes: 1 } };
  const { world, internet } = buildTraceWorld(data.sites, relaysOnly, trace, data.drift);
  const run = runBackbone(world, internet, config, { progress: (d, t) => progress?.('backbone', d, t) });
  return backboneFigures(run);
}

/** The figures of `runTraceClients` with the backbone's, as `runTrace` gives them. */
export function withBackbone(clients: TraceClientFigures, backbone: BackboneFigures): TraceFigures {
  const { sim, ...rest } = clients;
  return { sim: { ...sim, backbone }, ...rest };
}

/** `runTrace` without the backbone phase: the world, allocations, calls and what measured data judges. */
export function runTraceClients(
  data: TraceData,
  config: SimConfig,
  trace: TraceConfig = DEFAULT_TRACE_CONFIG,
  progress?: Progress,
  rankOptions?: RankOptions,
): TraceClientFigures {
  progress?.('world', 0, 1);
  const tw = buildTraceWorld(data.sites, config, trace, data.drift);
  const { world, internet } = tw;
  progress?.('world', 1, 1);
  const allocations = runAllocations(
    world,
    internet,
    config,
    {
      progress: (d, t) => progress?.('allocations', d, t),
      pick: tw.pick,
    },
    rankOptions,
  );
  const calls = runCalls(world, internet, config, allocations.learnedState, {
    progress: (d, t) => progress?.('calls', d, t),
  });
  const sim: TraceClientFigures['sim'] = {
    seed: config.seed,
    scale: { ...config.scale, relays: world.relays.length },
    world: worldFigures(world),
    allocations: allocationFigures(allocations, config),
    calls: callFigures(calls, world),
  };

  const from = tw.holdoutFromMs;
  const held = (i: number) => tw.heldOut[allocations.prefix[i]!] === 1;
  const day = (x: number) => round(x / DAY);
  const group = (name: string, keep: (i: number) => boolean) =>
    holdoutRow(name, allocationFigures(subsetRun(allocations, keep), config));
  const holdout = [
    group(`fit sites, days 0-${day(from)}`, (i) => !held(i) && allocations.time[i]! < from),
    group(
      `fit sites, days ${day(from)}-${config.scale.days}`,
      (i) => !held(i) && allocations.time[i]! >= from,
    ),
    group(`held-out sites, days ${day(from)}-${config.scale.days}`, (i) => held(i)),
    group(`held-out sites, their first day`, (i) => held(i) && allocations.time[i]! < from + DAY),
  ];

  const gain = detourGain(data.sites.rtt, data.sites.sites.length);
  return {
    sim,
    trace,
    data: {
      impossiblePairs: data.impossible.length,
      impossibleBySite: impossibleBySite(data.impossible).slice(0, 10),
      impossibleExamples: [...data.impossible]
        .sort((a, b) => a.rttMs / a.boundMs - b.rttMs / b.boundMs)
        .slice(0, 8),
      missingPairs: data.missing,
      droppedSites: data.sites.dropped,
      sites: data.sites.sites.length,
      relaySites: tw.split.relaySites.length,
      fitSites: tw.split.fitSites.length,
      testSites: tw.split.testSites.length,
      detourShare: round(gain.share),
      detourMedianGain: round(gain.medianGain),
      driftPairs: data.drift?.pairs ?? 0,
    },
    holdout,
    overlay: overlayFigures(world, internet, config.backbone.maxHops),
  };
}
