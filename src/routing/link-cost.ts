/**
 * The cost of one overlay link, in "effective milliseconds" of one-way delay, so that costs add
 * up along a path and compare directly with latency budgets:
 *
 *   cost = rtt/2                          one-way delay of the link
 *        + jitterFactor * jitter          a jitter buffer must hold ~2x the jitter to avoid
 *                                         late loss, so jitter is paid for in delay
 *        + lossMsPerPercent * loss%       loss as equivalent delay: in the ITU-T G.107 E-model
 *                                         1 % random loss costs G.711 about 3.6 R points, the
 *                                         same as ~150 ms of extra delay below 177 ms; Opus with
 *                                         FEC is far more robust, so the default is 30 ms per %
 *        + loadMs * u/(1-u)               queueing near capacity (M/M/1 shape) of the relay the
 *                                         link enters, u capped at 0.99
 *        + hopMs                          each relay crossed costs a little processing, and a
 *                                         detour must win by more than noise to be worth it
 *
 * A link with loss at or above `brokenLoss`, or measurements older than `maxAgeMs`, is broken:
 * Infinity. The cost is monotonic in every input. Pure: no clock; the age comes in.
 */
export interface LinkStats {
  readonly rttMs: number;
  readonly jitterMs: number;
  /** 0..1 */
  readonly lossRate: number;
  /** How old the measurement is; missing = fresh. */
  readonly ageMs?: number;
}

export interface CostParams {
  readonly jitterFactor: number;
  readonly lossMsPerPercent: number;
  readonly loadMs: number;
  readonly hopMs: number;
  readonly brokenLoss: number;
  readonly maxAgeMs: number;
}

export const DEFAULT_COST: CostParams = {
  jitterFactor: 2,
  lossMsPerPercent: 30,
  loadMs: 2,
  hopMs: 0.5,
  brokenLoss: 0.5,
  maxAgeMs: 10_000,
};

export function linkCost(link: LinkStats, load: number, params: CostParams = DEFAULT_COST): number {
  if (!Number.isFinite(link.rttMs) || link.rttMs < 0) return Number.POSITIVE_INFINITY;
  if (link.lossRate >= params.brokenLoss) return Number.POSITIVE_INFINITY;
  if ((link.ageMs ?? 0) > params.maxAgeMs) return Number.POSITIVE_INFINITY;
  const u = Math.min(0.99, Math.max(0, load));
  return (
    link.rttMs / 2 +
    params.jitterFactor * Math.max(0, link.jitterMs) +
    params.lossMsPerPercent * 100 * Math.max(0, link.lossRate) +
    (params.loadMs * u) / (1 - u) +
    params.hopMs
  );
}
