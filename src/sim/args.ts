/**
 * The simulation's command line, parsed and validated into a config: one pure function, so the
 * CLI only prints what it says. Flags take a value as `--flag N` or `--flag=N`.
 */
import { DEFAULT_RANK, type RankOptions } from '../allocation/rank.ts';
import { DEFAULT_SIM_CONFIG, type SimConfig, simConfig } from './config.ts';

export interface SimArgs {
  readonly config: SimConfig;
  /** Folder for the report. */
  readonly out: string;
}

export type ParsedArgs =
  | { readonly ok: true; readonly help: false; readonly value: SimArgs }
  | { readonly ok: true; readonly help: true }
  | { readonly ok: false; readonly error: string };

const LIMITS = {
  relays: [2, 2000],
  prefixes: [1, 10_000_000],
  allocations: [1, 100_000_000],
  calls: [1, 10_000_000],
  days: [1, 365],
  seed: [0, 4_294_967_295],
} as const;

type Numeric = keyof typeof LIMITS;

const BACKBONE_FLAGS = {
  'burst-probes': [1, 1000],
  'failures-per-link-day': [0, 100_000],
  'partial-share': [0, 1],
  'gray-share': [0, 1],
  'site-failures-per-relay-day': [0, 100_000],
  'gray-relay-share': [0, 1],
} as const;
type BackboneFlag = keyof typeof BACKBONE_FLAGS;

export const USAGE = `usage: npm run sim -- [--relays N] [--prefixes N] [--allocations N] [--calls N] [--days N] [--seed N] [--out DIR]
  --relays N       relay sites at the largest metros (default ${DEFAULT_SIM_CONFIG.scale.relays})
  --prefixes N     client network prefixes (default ${DEFAULT_SIM_CONFIG.scale.prefixes})
  --allocations N  allocation requests (default ${DEFAULT_SIM_CONFIG.scale.allocations})
  --calls N        two-party calls (default ${DEFAULT_SIM_CONFIG.scale.calls})
  --days N         simulated days of allocations (default ${DEFAULT_SIM_CONFIG.scale.days})
  --seed N         random seed, 0..4294967295 (default ${DEFAULT_SIM_CONFIG.seed})
  --transit-share X  0..1, carriers routing through a regional hub (default ${DEFAULT_SIM_CONFIG.internet.transit.share})
  --mixed-share X    0..1, prefixes with a second access network (default ${DEFAULT_SIM_CONFIG.world.mixedAccess.share})
  --burst-probes N   1..1000, backbone probe loss in Gilbert-Elliott bursts of N probes (default ${DEFAULT_SIM_CONFIG.backbone.burstProbes}: independent)
  --probe-schedule S core (each relay's PeerTable, as production) or all (every link every round; default ${DEFAULT_SIM_CONFIG.backbone.probeSchedule})
  --failures-per-link-day X  0..100000, backbone link failures in the steady state (default ${DEFAULT_SIM_CONFIG.backbone.failuresPerLinkDay})
  --partial-share X  0..1, of those the share losing ${DEFAULT_SIM_CONFIG.backbone.partialLoss * 100} % instead of all (default ${DEFAULT_SIM_CONFIG.backbone.partialShare})
  --gray-share X     0..1, of those (after the partial ones) the share that drop data and still answer probes (default ${DEFAULT_SIM_CONFIG.backbone.grayShare})
  --site-failures-per-relay-day X  0..100000, whole relays failing in the steady state: every link at once (default ${DEFAULT_SIM_CONFIG.backbone.siteFailuresPerRelayDay})
  --gray-relay-share X  0..1, of those the share that answer probes but forward nothing (default ${DEFAULT_SIM_CONFIG.backbone.grayRelayShare})
  --delivery-check S on (the relays compare data sent with data arrived per link, as now) or off (default on)
  --end-to-end-check S  on (each source compares data sent with data arrived per destination and avoids a lossy path's transit relays, as now) or off (default on)
  --out DIR        report folder (default sim-report)`;

export function parseSimArgs(argv: readonly string[]): ParsedArgs {
  const values: Partial<Record<Numeric, number>> = {};
  const shares: Partial<Record<'transit-share' | 'mixed-share', number>> = {};
  const backbone: Partial<Record<BackboneFlag, number>> = {};
  let schedule: 'core' | 'all' | undefined;
  let deliveryCheck: boolean | undefined;
  let endToEndCheck: boolean | undefined;
  let out = 'sim-report';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { ok: true, help: true };
    if (!arg.startsWith('--')) return { ok: false, error: `unexpected argument '${arg}'` };
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    let value = eq < 0 ? undefined : arg.slice(eq + 1);
    const isShare = name === 'transit-share' || name === 'mixed-share';
    const isBackbone = name in BACKBONE_FLAGS;
    if (
      name !== 'out' &&
      name !== 'probe-schedule' &&
      name !== 'delivery-check' &&
      name !== 'end-to-end-check' &&
      !isShare &&
      !isBackbone &&
      !(name in LIMITS)
    )
      return { ok: false, error: `unknown option --${name}` };
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) return { ok: false, error: `--${name} needs a value` };
    }
    if (name === 'delivery-check' || name === 'end-to-end-check') {
      if (value !== 'on' && value !== 'off')
        return { ok: false, error: `--${name} must be on or off, got '${value}'` };
      if (name === 'delivery-check') deliveryCheck = value === 'on';
      else endToEndCheck = value === 'on';
      continue;
    }
    if (name === 'probe-schedule') {
      if (value !== 'core' && value !== 'all')
        return { ok: false, error: `--probe-schedule must be core or all, got '${value}'` };
      schedule = value;
      continue;
    }
    if (isBackbone) {
      const [lo, hi] = BACKBONE_FLAGS[name as BackboneFlag];
      const x = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
      if (!(x >= lo && x <= hi))
        return { ok: false, error: `--${name} must be a number from ${lo} to ${hi}, got '${value}'` };
      backbone[name as BackboneFlag] = x;
      continue;
    }
    if (isShare) {
      const x = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
      if (!(x >= 0 && x <= 1))
        return { ok: false, error: `--${name} must be a number from 0 to 1, got '${value}'` };
      shares[name] = x;
      continue;
    }
    if (name === 'out') {
      if (value === '') return { ok: false, error: '--out needs a folder name' };
      out = value;
      continue;
    }
    const key = name as Numeric;
    const [lo, hi] = LIMITS[key];
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < lo || n > hi) {
      return { ok: false, error: `--${name} must be a whole number from ${lo} to ${hi}, got '${value}'` };
    }
    values[key] = n;
  }
  const { seed, ...scale } = values;
  const base = simConfig({ seed, scale });
  const config: SimConfig = {
    ...base,
    internet: {
      ...base.internet,
      transit: { ...base.internet.transit, share: shares['transit-share'] ?? base.internet.transit.share },
    },
    backbone: {
      ...base.backbone,
      burstProbes: backbone['burst-probes'] ?? base.backbone.burstProbes,
      probeSchedule: schedule ?? base.backbone.probeSchedule,
      failuresPerLinkDay: backbone['failures-per-link-day'] ?? base.backbone.failuresPerLinkDay,
      partialShare: backbone['partial-share'] ?? base.backbone.partialShare,
      grayShare: backbone['gray-share'] ?? base.backbone.grayShare,
      siteFailuresPerRelayDay:
        backbone['site-failures-per-relay-day'] ?? base.backbone.siteFailuresPerRelayDay,
      grayRelayShare: backbone['gray-relay-share'] ?? base.backbone.grayRelayShare,
      deliveryCheck: deliveryCheck ?? base.backbone.deliveryCheck,
      endToEndCheck: endToEndCheck ?? base.backbone.endToEndCheck,
    },
    world: {
      ...base.world,
      mixedAccess: {
        ...base.world.mixedAccess,
        share: shares['mixed-share'] ?? base.world.mixedAccess.share,
      },
    },
  };
  return { ok: true, help: false, value: { config, out } };
}

/** The trace-driven world's command line: the options above plus the data and model knobs. */
export interface TraceArgs extends SimArgs {
  /** Folder with the measured data (wonderproxy-2020/, netlatency/). */
  readonly data: string;
  readonly drift: number;
  readonly carrierSigma: number;
  readonly lossMedian: number;
  /** Relays a client probes, the pick included, 2..10 (the edge's default, DEFAULT_RANK). */
  readonly probeTargets: number;
  /** Of those, how many go to the prefix's best learned relays (the edge's default, DEFAULT_RANK). */
  readonly learnedTargets: number;
  /** Then how many for the area's best relays (the edge's default, DEFAULT_RANK). */
  readonly areaTargets: number;
  /** A probe is the best of this many pings (sdk/index.ts: 2). */
  readonly pings: number;
  /** Share of answers adding one random relay to the probe targets (the edge's default 0.05). */
  readonly exploreShare: number;
  /** Decayed weight from which a learned RTT is trusted (the edge's default 2). */
  readonly minLearnedWeight: number;
  /** The explorer comes from the next N relays after the picks (0: from all, as the edge). */
  readonly exploreWithin: number;
  /** Second probing round: unprobed relays named, its bound's slack, re-probed close ones (DEFAULT_RANK). */
  readonly nextTargets: number;
  readonly nextBoundSlack: number;
  readonly repingTargets: number;
}

export type ParsedTraceArgs =
  | { readonly ok: true; readonly help: false; readonly value: TraceArgs }
  | { readonly ok: true; readonly help: true }
  | { readonly ok: false; readonly error: string };

/** Relays at measured sites: 60 of the 233 usable WonderProxy sites unless --relays says otherwise. */
export const TRACE_DEFAULT_RELAYS = 60;

const TRACE_REALS = {
  drift: [0, 1, 0.25],
  'carrier-sigma': [0, 1, 0.15],
  'loss-median': [0, 0.1, 0.0005],
  'probe-targets': [2, 10, DEFAULT_RANK.probeTargets],
  'learned-targets': [0, 10, DEFAULT_RANK.learnedTargets],
  'area-targets': [0, 10, DEFAULT_RANK.areaTargets],
  pings: [1, 5, DEFAULT_SIM_CONFIG.probes.pings],
  'explore-share': [0, 1, 0.05],
  'min-learned-weight': [0, 20, 2],
  'explore-within': [0, 100, 0],
  'next-targets': [0, 20, DEFAULT_RANK.nextTargets],
  'next-bound-slack': [0, 1, DEFAULT_RANK.nextBoundSlack],
  'reping-targets': [0, 10, DEFAULT_RANK.repingTargets],
} as const;

export const TRACE_USAGE = `usage: npm run sim:measured -- [options of npm run sim] [--data DIR] [--drift X] [--carrier-sigma X] [--loss-median X] [--probe-targets N] [--learned-targets N] [--area-targets N] [--pings N] [--explore-share X] [--min-learned-weight X] [--explore-within N] [--next-targets N] [--next-bound-slack X] [--reping-targets N]
  --relays N          relays at measured sites (default ${TRACE_DEFAULT_RELAYS})
  --data DIR          the measured data (default ../shared/data; see docs/SIMULATION.md)
  --drift X           0..1, how much of the Seattle slices' change to replay (default 0.25)
  --carrier-sigma X   0..1, spread between access networks at one site (default 0.15)
  --loss-median X     0..0.1, median loss of a wide-area path (default 0.0005)
  --probe-targets N   2..10 relays a client probes (default ${DEFAULT_RANK.probeTargets}, as the edge)
  --learned-targets N 0..10 of them for the prefix's best learned relays (default ${DEFAULT_RANK.learnedTargets}, as the edge)
  --area-targets N    0..10 then for the best relays of the client's area (default ${DEFAULT_RANK.areaTargets}, as the edge)
  --pings N           1..5 pings per probe, the best counts (default ${DEFAULT_SIM_CONFIG.probes.pings}, as the SDK)
  --explore-share X   0..1, answers adding a random relay to the probes (default 0.05, as the edge)
  --min-learned-weight X  0..20, weight from which a learned RTT is trusted (default 2, as the edge)
  --explore-within N  0..100, draw the explorer from the next N relays after the picks (0: all, as the edge)
  --next-targets N    0..20 unprobed relays of the second probing round (default ${DEFAULT_RANK.nextTargets}, as the edge; 0: no second round)
  --next-bound-slack X  0..1, how far the triangle bound is loosened (default ${DEFAULT_RANK.nextBoundSlack}, as the edge)
  --reping-targets N  0..10 close probed relays probed again in the second round (default ${DEFAULT_RANK.repingTargets}, as the edge)
  --out DIR           report folder (default sim-report-measured)`;

/** The edge's ranking options with the trace run's flags applied (sim:measured, sim:allocations). */
export function traceRank(args: TraceArgs): RankOptions {
  return {
    ...DEFAULT_RANK,
    probeTargets: args.probeTargets,
    learnedTargets: args.learnedTargets,
    areaTargets: args.areaTargets,
    exploreShare: args.exploreShare,
    minLearnedWeight: args.minLearnedWeight,
    exploreWithin: args.exploreWithin > 0 ? args.exploreWithin : undefined,
    nextTargets: args.nextTargets,
    nextBoundSlack: args.nextBoundSlack,
    repingTargets: args.repingTargets,
  };
}

export function parseTraceArgs(argv: readonly string[]): ParsedTraceArgs {
  const rest: string[] = [];
  let data = '../shared/data';
  const reals: Record<keyof typeof TRACE_REALS, number> = {
    drift: TRACE_REALS.drift[2],
    'carrier-sigma': TRACE_REALS['carrier-sigma'][2],
    'loss-median': TRACE_REALS['loss-median'][2],
    'probe-targets': TRACE_REALS['probe-targets'][2],
    'learned-targets': TRACE_REALS['learned-targets'][2],
    'area-targets': TRACE_REALS['area-targets'][2],
    pings: TRACE_REALS.pings[2],
    'explore-share': TRACE_REALS['explore-share'][2],
    'min-learned-weight': TRACE_REALS['min-learned-weight'][2],
    'explore-within': TRACE_REALS['explore-within'][2],
    'next-targets': TRACE_REALS['next-targets'][2],
    'next-bound-slack': TRACE_REALS['next-bound-slack'][2],
    'reping-targets': TRACE_REALS['reping-targets'][2],
  };
  let relaysGiven = false;
  let outGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') ? (eq < 0 ? arg.slice(2) : arg.slice(2, eq)) : '';
    if (name === 'data' || name in TRACE_REALS) {
      const value = eq < 0 ? argv[++i] : arg.slice(eq + 1);
      if (value === undefined || value === '') return { ok: false, error: `--${name} needs a value` };
      if (name === 'data') data = value;
      else {
        const [lo, hi] = TRACE_REALS[name as keyof typeof TRACE_REALS];
        const x = /^\d+(\.\d+)?$/.test(value) ? Number(value) : Number.NaN;
        if (!(x >= lo && x <= hi))
          return { ok: false, error: `--${name} must be a number from ${lo} to ${hi}, got '${value}'` };
        reals[name as keyof typeof TRACE_REALS] = x;
      }
      continue;
    }
    if (name === 'relays') relaysGiven = true;
    if (name === 'out') outGiven = true;
    rest.push(arg);
  }
  const base = parseSimArgs(rest);
  if (!base.ok || base.help) return base;
  const c = base.value.config;
  const scaled = relaysGiven ? c : { ...c, scale: { ...c.scale, relays: TRACE_DEFAULT_RELAYS } };
  const config = { ...scaled, probes: { ...scaled.probes, pings: Math.round(reals.pings) } };
  return {
    ok: true,
    help: false,
    value: {
      config,
      out: outGiven ? base.value.out : 'sim-report-measured',
      data,
      drift: reals.drift,
      carrierSigma: reals['carrier-sigma'],
      lossMedian: reals['loss-median'],
      probeTargets: Math.round(reals['probe-targets']),
      learnedTargets: Math.round(reals['learned-targets']),
      areaTargets: Math.round(reals['area-targets']),
      pings: Math.round(reals.pings),
      exploreShare: reals['explore-share'],
      minLearnedWeight: reals['min-learned-weight'],
      exploreWithin: Math.round(reals['explore-within']),
      nextTargets: Math.round(reals['next-targets']),
      nextBoundSlack: reals['next-bound-slack'],
      repingTargets: Math.round(reals['reping-targets']),
    },
  };
}
