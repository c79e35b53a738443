/**
 * Every parameter of the world simulation, in one typed object with documented defaults. Where a
 * number comes from a measurement study, the comment names it; where it is our assumption, the
 * comment says so. docs/SIMULATION.md discusses them.
 *
 * Sources:
 * [Singla]  Singla, Chandrasekaran, Godfrey, Maggs, "The Internet at the Speed of Light", HotNets
 *           2014, and Bozkurt et al., "Why Is the Internet so Slow?!", PAM 2017: the median
 *           minimum ping time is about 3.2x the speed-of-light (c) latency, i.e. about 2.1x the
 *           latency at fiber speed (2/3 c). The project's ranking starts from the same 2.1
 *           (src/allocation/learned.ts cites Bozkurt et al. 2018).
 * [Via]     Jiang et al., "Via: Improving Internet Telephony Call Quality Using Predictive Relay
 *           Selection", SIGCOMM 2016 (430 million Skype calls): a call is poor when RTT > 320 ms,
 *           loss > 1.2 % or jitter > 12 ms; about one call in five is on a poor path; an oracle
 *           overlay could fix up to 53 % of those; performance is scattered in space and time and
 *           the best relaying option of many AS pairs changes within a couple of days.
 * [MBA]     FCC, "Measuring Broadband America" fixed reports (2016-2023): median idle latency of
 *           fixed access to the nearest test server is ~10-30 ms (fiber lowest, DSL highest).
 * [GeoIP]   Poese et al., "IP Geolocation Databases: Unreliable?", ACM CCR 2011; Gharaibeh et
 *           al., "A Look at Router Geolocation in Public and Commercial Databases", IMC 2017:
 *           databases are mostly right at country level and often wrong by hundreds of km at
 *           city level.
 * [Relay]   This project: src/backbone/defaults.ts, read here (probe every
 *           100 ms, a link silent 400 ms is broken, recompute every 250 ms, directory sync every
 *           1 s, 50-probe windows, 1 s loss deadline, at most 3 links per path).
 */
import { BACKBONE_DEFAULTS } from '../backbone/defaults.ts';

export interface SimConfig {
  readonly seed: number;
  readonly scale: {
    /** Relay sites, at the largest metros. */
    readonly relays: number;
    /** Client network prefixes (IPv4 /24s), placed in cities by population. */
    readonly prefixes: number;
    /** Allocation requests, spread evenly over `days`. */
    readonly allocations: number;
    /** Two-party calls, made after the allocations (learned map warm). */
    readonly calls: number;
    /** Simulated span of the allocation phase. */
    readonly days: number;
  };
  readonly world: {
    /** Two cities closer than this are one metro when placing relays (assumption). */
    readonly relayDedupKm: number;
    /** Carriers (access networks) per country, with Zipf market shares 1/rank^zipf (assumption). */
    readonly carriersPerCountry: number;
    readonly carrierZipf: number;
    /** Clients of a prefix sit up to this far from the city centre (assumption). */
    readonly prefixScatterKm: number;
    /** Share of prefixes on mobile access (assumption; mobile access is slower and noisier). */
    readonly mobileShare: number;
    /** Access (last-mile) RTT, log-normal: fixed median ~10 ms [MBA], mobile ~35 ms (assumption). */
    readonly accessRtt: LogNormalParam & { readonly mobileMedianMs: number };
    /** Access jitter (ms) and loss (fraction), log-normal; mobile multiplies them (assumption). */
    readonly accessJitter: LogNormalParam;
    readonly accessLoss: LogNormalParam;
    readonly mobileImpairment: number;
    /**
     * Several access networks within one prefix (an office LAN and its guest Wi-Fi, a carrier's
     * fixed and mobile customers behind one /24): this share of prefixes has a second network,
     * drawn like the first, on which a share of its clients (uniform in [minClients, maxClients])
     * sit. The learned map keeps one RTT per prefix and relay for both (assumption).
     */
    readonly mixedAccess: {
      readonly share: number;
      readonly minClients: number;
      readonly maxClients: number;
    };
    /** Prefix activity (how often it allocates), log-normal with median 1 (assumption). */
    readonly activitySigma: number;
    /** GeoIP error: a share is right to within ~accurateMeanKm, the rest off by a log-normal [GeoIP]. */
    readonly geoError: {
      readonly accurateShare: number;
      readonly accurateMeanKm: number;
      readonly wrongMedianKm: number;
      readonly wrongSigma: number;
      readonly maxKm: number;
    };
  };
  readonly internet: {
    /** Median path inflation over fiber distance [Singla]. */
    readonly inflationMedian: number;
    /**
     * Inflation = 1 + (median - 1) * exp(carrier + prefix + drift), each term normal in log space
     * with these deviations: per (carrier, relay), per (prefix, relay), and per route epoch.
     * Together ~0.5, which puts p90 near 3.2x and p99 near 5x (assumption, shaped after the
     * spread in [Singla]).
     */
    readonly inflationSigma: { readonly carrier: number; readonly prefix: number; readonly drift: number };
    /** Metro and peering detour per route, exponential mean (assumption). */
    readonly peeringDetourMeanMs: number;
    /**
     * Tromboning: a share of routes (per epoch) go through a far exchange, adding a Pareto
     * distance; these are the triangle-inequality violations relaying can fix [Via] (assumption).
     */
    readonly trombone: {
      readonly share: number;
      readonly minKm: number;
      readonly alpha: number;
      readonly maxKm: number;
    };
    /** A route keeps its state for an epoch, uniform in this range of hours, per pair [Via]. */
    readonly routeEpochHours: readonly [number, number];
    /** Jitter (ms) and loss (fraction) of the wide-area part, log-normal, growing with distance (assumption, calibrated so ~1 in 5 direct calls is poor [Via]). */
    readonly pathJitter: LogNormalParam & { readonly perThousandKm: number };
    readonly pathLoss: LogNormalParam & { readonly perThousandKm: number };
    /** Relay forwarding time (assumption). */
    readonly relayProcessingMs: number;
    /**
     * Regional hubs and transit: a share of carriers hand all their traffic to a transit
     * provider at the nearest of `hubs` hubs (the largest relay metros at least `spacingKm`
     * apart), so their routes go prefix -> hub -> destination rather than the great circle; a
     * review's stress run of this shape moved the probes answer's misses from 3 % to 15.5 %
     * (issue 14). Our assumption for the shares.
     */
    readonly transit: { readonly share: number; readonly hubs: number; readonly spacingKm: number };
  };
  readonly probes: {
    /** A probe is the best of this many HTTP pings (sdk/index.ts times two). */
    readonly pings: number;
    /** HTTP and timer overhead on top of the network RTT, exponential mean (assumption). */
    readonly overheadMeanMs: number;
  };
  readonly backbone: {
    /** Backbone links: fiber distance times a lower inflation (assumption: a managed backbone). */
    readonly inflationMedian: number;
    readonly inflationSigma: number;
    readonly fixedMs: number;
    readonly jitter: LogNormalParam;
    readonly loss: LogNormalParam;
    /** The relay's measurement and routing cadence [Relay]. */
    readonly probeIntervalMs: number;
    readonly deadAfterMs: number;
    readonly recomputeMs: number;
    readonly syncMs: number;
    readonly estimatorWindow: number;
    readonly lossTimeoutMs: number;
    readonly maxHops: number;
    /** Steady-state run: simulated seconds, one snapshot per second, flows from this many sources. */
    readonly steadySeconds: number;
    readonly flapSources: number;
    /** Link failures during the steady-state run, per link per day, and their length (assumption). */
    readonly failuresPerLinkDay: number;
    readonly failureMedianS: number;
    /** Failover experiments: single link failures on links that carry a flow. */
    readonly failoverTrials: number;
    /** Which relay (by rank of metro size) hosts the directory's Redis. */
    readonly redisRelay: number;
    /**
     * Probe loss on backbone links: independent per probe when 1 or less, else Gilbert-Elliott
     * with bad runs of this many probes on average, losing `lossInBad` of the probes in a bad
     * run, at the link's mean loss (assumption: Internet loss comes in bursts).
     */
    readonly burstProbes: number;
    readonly lossInBad: number;
    /**
     * Which links a relay probes each round: 'core' as the backbone core does (PeerTable
     * .probeTargets: every peer up to 32, past that the 16 nearest, the next hops in use and a
     * rotating 8 others), 'all' every link every round.
     */
    readonly probeSchedule: 'core' | 'all';
    /**
     * Of the steady state's link failures, the share that are partial (gray: the link still
     * answers, losing `partialLoss` of probes and data) instead of a blackhole.
     */
    readonly partialShare: number;
    readonly partialLoss: number;
    /**
     * Of the link failures that are not partial, the share that are gray: the link drops
     * `grayLoss` of the data and none of the probes (a filter, an MTU or a policer that passes
     * small frames), so the routing sees nothing.
     */
    readonly grayShare: number;
    readonly grayLoss: number;
    /**
     * Whole relays failing in the steady state, per relay per day (every link of it at once; its
     * own clients must fail over through the edge), of the same length as link failures; of those
     * `grayRelayShare` answer probes but forward nothing (a stuck forwarding path).
     */
    readonly siteFailuresPerRelayDay: number;
    readonly grayRelayShare: number;
    /** Packets per second of a flow, to count what a failure loses (a voice call: 50). */
    readonly flowPacketsPerSecond: number;
    /** Whether the relays check data-plane delivery per link (src/backbone/delivery.ts), as now. */
    readonly deliveryCheck: boolean;
    /**
     * Whether the tracked sources check delivery end to end per destination and avoid a lossy
     * path's transit relays for it (src/backbone/end-to-end.ts), as now.
     */
    readonly endToEndCheck: boolean;
  };
  readonly calls: {
    /** Share of calls whose second party is in the first one's country (assumption). */
    readonly domesticShare: number;
    /** The oracle tries relay pairs among each side's this many best relays. */
    readonly oracleCandidates: number;
    /**
     * A call's report counts its loss over this many packets (a 2-minute call at 50 packets a
     * second) on a Gilbert-Elliott channel with bad runs of `burstPackets` on average (assumption).
     */
    readonly reportPackets: number;
    readonly burstPackets: number;
    /**
     * People call the same people: this share of calls repeats a pair from a pool of
     * `repeatPoolShare` x calls pairs (so a pair calls about ten times a day); per-pair learning
     * needs it (assumption).
     */
    readonly repeatShare: number;
    readonly repeatPoolShare: number;
  };
  readonly thresholds: {
    /** Poor-call thresholds [Via]. */
    readonly poorRttMs: number;
    readonly poorLoss: number;
    readonly poorJitterMs: number;
    /** An allocation this much worse than the best relay counts as a miss. */
    readonly regretMs: number;
  };
  /** Points on the warm-up curve. */
  readonly warmupBuckets: number;
}

export interface LogNormalParam {
  readonly median: number;
  readonly sigma: number;
}

export const DEFAULT_SIM_CONFIG: SimConfig = {
  seed: 1,
  scale: { relays: 200, prefixes: 100_000, allocations: 1_000_000, calls: 100_000, days: 14 },
  world: {
    relayDedupKm: 50,
    carriersPerCountry: 4,
    carrierZipf: 1,
    prefixScatterKm: 15,
    mobileShare: 0.3,
    accessRtt: { median: 10, sigma: 0.5, mobileMedianMs: 35 },
    accessJitter: { median: 1, sigma: 0.7 },
    accessLoss: { median: 0.0005, sigma: 1 },
    mobileImpairment: 3,
    mixedAccess: { share: 0.3, minClients: 0.1, maxClients: 0.5 },
    activitySigma: 1,
    geoError: { accurateShare: 0.8, accurateMeanKm: 20, wrongMedianKm: 250, wrongSigma: 1, maxKm: 3000 },
  },
  internet: {
    inflationMedian: 2.1,
    inflationSigma: { carrier: 0.4, prefix: 0.15, drift: 0.3 },
    peeringDetourMeanMs: 2,
    trombone: { share: 0.04, minKm: 500, alpha: 1.2, maxKm: 15_000 },
    routeEpochHours: [12, 72],
    pathJitter: { median: 1.5, sigma: 0.9, perThousandKm: 0.4 },
    pathLoss: { median: 0.001, sigma: 1.2, perThousandKm: 0.0006 },
    relayProcessingMs: 0.2,
    transit: { share: 0.2, hubs: 6, spacingKm: 3000 },
  },
  probes: { pings: 2, overheadMeanMs: 1.5 },
  backbone: {
    inflationMedian: 1.3,
    inflationSigma: 0.1,
    fixedMs: 0.5,
    jitter: { median: 0.3, sigma: 0.5 },
    loss: { median: 0.0001, sigma: 1 },
    // The relay's cadence, from the one set of backbone defaults.
    probeIntervalMs: BACKBONE_DEFAULTS.probeIntervalMs,
    deadAfterMs: BACKBONE_DEFAULTS.deadAfterMs,
    recomputeMs: BACKBONE_DEFAULTS.recomputeMs,
    syncMs: BACKBONE_DEFAULTS.syncMs,
    estimatorWindow: BACKBONE_DEFAULTS.estimatorWindow,
    lossTimeoutMs: BACKBONE_DEFAULTS.lossTimeoutMs,
    maxHops: BACKBONE_DEFAULTS.maxHops,
    steadySeconds: 120,
    flapSources: 20,
    failuresPerLinkDay: 0.5,
    failureMedianS: 300,
    failoverTrials: 300,
    redisRelay: 0,
    burstProbes: 1,
    lossInBad: 0.5,
    probeSchedule: 'core',
    partialShare: 0,
    partialLoss: 0.05,
    grayShare: 0,
    grayLoss: 1,
    siteFailuresPerRelayDay: 0,
    grayRelayShare: 0,
    flowPacketsPerSecond: 50,
    deliveryCheck: true,
    endToEndCheck: true,
  },
  calls: {
    domesticShare: 0.5,
    oracleCandidates: 8,
    reportPackets: 6000,
    burstPackets: 4,
    repeatShare: 0.5,
    repeatPoolShare: 0.05,
  },
  thresholds: { poorRttMs: 320, poorLoss: 0.012, poorJitterMs: 12, regretMs: 5 },
  warmupBuckets: 20,
};

/** The default config with another seed and scale. */
export function simConfig(over: { seed?: number; scale?: Partial<SimConfig['scale']> } = {}): SimConfig {
  return {
    ...DEFAULT_SIM_CONFIG,
    seed: over.seed ?? DEFAULT_SIM_CONFIG.seed,
    scale: { ...DEFAULT_SIM_CONFIG.scale, ...over.scale },
  };
}
