/**
 * The cost of one overlay link, in "effective milliseconds" of one-way delay: costs add up along a
 * path and compare directly with a latency budget. For a link from relay X into relay Y:
 *
 *   cost = rtt / 2                        one-way delay. Relays cannot measure one-way delay
 *                                         without synchronised clocks, so half the RTT it is
 *        + jitterFactor * jitter          the receiver's jitter buffer must hold about 2-3x the
 *                                         RFC 3550 §6.4.1 interarrival jitter to avoid late loss,
 *                                         so jitter is paid for in delay. Summing it along a path
 *                                         overstates it (independent variances add, deviations do
 *                                         not), which errs towards fewer hops
 *        + lossMsPerPercent * loss%       loss as the delay that hurts as much. In the ITU-T G.107
 *                                         E-model a codec with concealment (G.711 + PLC, G.113
 *                                         App. I) loses about 3.6-4 R points per % of random loss,
 *                                         while delay costs 0.024 R/ms below the 177.3 ms knee and
 *                                         0.134 R/ms above it (Cole & Rosenbluth, "Voice over IP
 *                                         performance monitoring", 2001). Long-haul calls, the ones
 *                                         the backbone exists for, sit above the knee: 4 / 0.134
 *                                         ≈ 30 ms per %. (Below the knee 1 % is worth ~150 ms: 30
 *                                         leans towards low delay, fair for Opus, whose FEC and
 *                                         NACK recover part of the loss.) Small losses add along a
 *                                         path, 1 - Π(1 - p) ≈ Σ p, so the term stays additive
 *        + loadMs * u / (1 - u)           queueing at relay Y (utilisation u): the M/M/1 mean wait
 *                                         is S·u/(1-u) for a service time S. u is clamped to
 *                                         [0, maxLoad] so a full relay costs a large, finite amount
 *                                         (2 ms x 99 = 198 ms): it is avoided, not disconnected
 *        + hopMs                          each relay crossed costs a little (a user-space forward,
 *                                         one more thing that can fail), so a detour must beat the
 *                                         direct link by more than this to be taken; ties go direct
 *
 * Broken links cost Infinity: loss at or above `brokenLoss` (the backbone announces such links as
 * dead), a measurement older than `maxAgeMs`, or a missing or non-finite measurement. The cost is
 * monotonic (non-decreasing) in RTT, jitter, loss, load and age. Pure: the age comes in, no clock.
 */

export interface LinkStats {
  /** Smoothed round-trip time, ms. */
  readonly rttMs: number;
  /** RFC 3550-style interarrival jitter, ms. */
  readonly jitterMs: number;
  /** Loss over the recent probe window, 0..1. */
  readonly lossRate: number;
  /** How old the measurement is, ms; missing = fresh. */
  readonly ageMs?: number;
}

export interface CostParams {
  /** ms of cost per ms of jitter: the jitter buffer holds ~2-3x the jitter. Default 2. */
  readonly jitterFactor: number;
  /** ms of cost per % of loss (E-model, above the delay knee). Default 30. */
  readonly lossMsPerPercent: number;
  /** Service-time scale of the queueing term, ms: 2 at u = 0.5, 18 at 0.9, 198 at 0.99. Default 2. */
  readonly loadMs: number;
  /** Utilisation is clamped to this before the queueing term, which keeps it finite. Default 0.99. */
  readonly maxLoad: number;
  /** ms added per link, so equal-cost detours lose to direct links. Default 1. */
  readonly hopMs: number;
  /** A link losing this fraction or more is broken. Default 0.5, the backbone's "dead" mark. */
  readonly brokenLoss: number;
  /** Measurements older than this (ms) are stale and the link is broken. Default 10 s. */
  readonly maxAgeMs: number;
  /**
   * Loss up to this fraction costs nothing: only the excess is charged. Default 0. The hysteresis
   * of path-choice.ts sets it when it weighs a switch (see `lossDeadband` there).
   */
  readonly lossDeadband?: number;
}

export const DEFAULT_COST: CostParams = Object.freeze({
  jitterFactor: 2,
  lossMsPerPercent: 30,
  loadMs: 2,
  maxLoad: 0.99,
  hopMs: 1,
  brokenLoss: 0.5,
  maxAgeMs: 10_000,
});

const INF = Number.POSITIVE_INFINITY;

/**
 * Additive cost of a link in effective ms, or Infinity when it is broken. `load` is the
 * utilisation (0..1) of the relay the link enters; a missing or non-finite load counts as full.
 */
export function linkCost(link: LinkStats, load: number, params: CostParams = DEFAULT_COST): number {
  const { rttMs, jitterMs, lossRate } = link;
  const age = link.ageMs ?? 0;
  if (!Number.isFinite(rttMs) || rttMs < 0) return INF;
  if (!Number.isFinite(jitterMs) || !Number.isFinite(lossRate)) return INF;
  if (lossRate >= params.brokenLoss) return INF;
  if (Number.isNaN(age) || age > params.maxAgeMs) return INF;
  const u = Number.isFinite(load) ? Math.min(params.maxLoad, Math.max(0, load)) : params.maxLoad;
  return (
    rttMs / 2 +
    params.jitterFactor * Math.max(0, jitterMs) +
    params.lossMsPerPercent * 100 * Math.max(0, lossRate - (params.lossDeadband ?? 0)) +
    (params.loadMs * u) / (1 - u) +
    params.hopMs
  );
}
