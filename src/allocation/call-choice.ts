/**
 * Per-call choice between the direct path and the relays (as Via does: Jiang et al., "Via:
 * Improving Internet Telephony Call Quality Using Predictive Relay Selection", SIGCOMM 2016):
 * clients report at the end of a call what they measured (RTT, loss, jitter from getStats) and
 * which path they took; the edge keeps, per path, a decaying count of calls and of poor calls and
 * a mean RTT, at three levels: the pair of network prefixes, the pair of countries, everything.
 * A finer level is shrunk towards the coarser one (it counts as `priorWeight` calls), so a pair
 * nobody has reported on gets what its countries do, and a pair with its own history gets that.
 *
 * The choice: the path with the lower expected cost, poor-call probability plus RTT at
 * `rttCostPerSecond` (by default 10 ms of RTT weigh as 1 % more poor calls); relaying must win by
 * `relayMargin` (relaying costs relay capacity). A share `exploreShare` of calls (bounded, and
 * counted by the caller) takes the other path, so both keep being measured.
 *
 * A call is poor when RTT > 320 ms, loss > 1.2 % or jitter > 12 ms (Via). Pure: time and
 * randomness come in.
 */

export type CallPath = 'direct' | 'relay';

export interface CallReport {
  readonly path: CallPath;
  readonly rttMs: number;
  /** Fraction of packets lost, 0..1. */
  readonly loss: number;
  readonly jitterMs: number;
}

/** What the reports on one path at one level say, with weights decayed to `updatedAt`. */
export interface PathQuality {
  readonly calls: number;
  readonly poor: number;
  readonly rttMs: number;
  readonly updatedAt: number;
}

export interface CallChoiceOptions {
  readonly halfLifeMs: number;
  readonly maxWeight: number;
  /** How many calls the coarser level's estimate counts as at the finer one. */
  readonly priorWeight: number;
  readonly exploreShare: number;
  readonly rttCostPerSecond: number;
  readonly relayMargin: number;
  /** Used before any report at all: Via's one call in five poor on either path. */
  readonly initial: { readonly poor: number; readonly rttMs: number };
  readonly poorRttMs: number;
  readonly poorLoss: number;
  readonly poorJitterMs: number;
}

export const DEFAULT_CALL_CHOICE: CallChoiceOptions = {
  halfLifeMs: 3 * 86_400_000,
  maxWeight: 200,
  priorWeight: 4,
  exploreShare: 0.05,
  rttCostPerSecond: 1,
  relayMargin: 0.01,
  initial: { poor: 0.2, rttMs: 150 },
  poorRttMs: 320,
  poorLoss: 0.012,
  poorJitterMs: 12,
};

/** Whether a report describes a poor call (Via's thresholds). */
export function isPoorCall(r: Omit<CallReport, 'path'>, o: CallChoiceOptions = DEFAULT_CALL_CHOICE): boolean {
  return r.rttMs > o.poorRttMs || r.loss > o.poorLoss || r.jitterMs > o.poorJitterMs;
}

/** A report is usable when every number is finite and in range; anything else is ignored. */
export function validCallReport(r: Partial<CallReport> | undefined): r is CallReport {
  return (
    !!r &&
    (r.path === 'direct' || r.path === 'relay') &&
    typeof r.rttMs === 'number' &&
    Number.isFinite(r.rttMs) &&
    r.rttMs >= 0 &&
    r.rttMs <= 60_000 &&
    typeof r.loss === 'number' &&
    r.loss >= 0 &&
    r.loss <= 1 &&
    typeof r.jitterMs === 'number' &&
    Number.isFinite(r.jitterMs) &&
    r.jitterMs >= 0 &&
    r.jitterMs <= 60_000
  );
}

function decay(q: PathQuality, now: number, o: CallChoiceOptions): number {
  return 0.5 ** (Math.max(0, now - q.updatedAt) / o.halfLifeMs);
}

/** Fold one report into a path's quality at one level. */
export function recordCall(
  prev: PathQuality | undefined,
  r: CallReport,
  now: number,
  o: CallChoiceOptions = DEFAULT_CALL_CHOICE,
): PathQuality {
  const poor = isPoorCall(r, o) ? 1 : 0;
  if (!prev) return { calls: 1, poor, rttMs: r.rttMs, updatedAt: now };
  const d = decay(prev, now, o);
  const calls = prev.calls * d;
  // Cap the weight so a busy pair still follows change.
  const keep = Math.min(1, (o.maxWeight - 1) / Math.max(calls, 1e-9));
  const w = calls * keep;
  return {
    calls: w + 1,
    poor: prev.poor * d * keep + poor,
    rttMs: (prev.rttMs * w + r.rttMs) / (w + 1),
    updatedAt: now,
  };
}

export interface Expected {
  readonly poor: number;
  /** Calls behind the finest level that had any. */
  readonly calls: number;
  readonly rttMs: number;
}

/** Expected quality of a path from its levels, coarsest first (each shrunk towards the one before). */
export function expectedQuality(
  levels: readonly (PathQuality | undefined)[],
  now: number,
  o: CallChoiceOptions = DEFAULT_CALL_CHOICE,
): Expected {
  let poor = o.initial.poor;
  let rttMs = o.initial.rttMs;
  let calls = 0;
  for (const q of levels) {
    if (!q) continue;
    const d = decay(q, now, o);
    const n = q.calls * d;
    if (!(n > 0)) continue;
    poor = (q.poor * d + poor * o.priorWeight) / (n + o.priorWeight);
    rttMs = (q.rttMs * n + rttMs * o.priorWeight) / (n + o.priorWeight);
    calls = n;
  }
  return { poor, calls, rttMs };
}

export interface CallChoice {
  readonly path: CallPath;
  readonly reason: 'expected' | 'explore';
  readonly direct: Expected;
  readonly relay: Expected;
}

export function chooseCallPath(
  levels: {
    readonly direct: readonly (PathQuality | undefined)[];
    readonly relay: readonly (PathQuality | undefined)[];
  },
  now: number,
  random: () => number,
  o: CallChoiceOptions = DEFAULT_CALL_CHOICE,
): CallChoice {
  const direct = expectedQuality(levels.direct, now, o);
  const relay = expectedQuality(levels.relay, now, o);
  const cost = (e: Expected) => e.poor + (e.rttMs / 1000) * o.rttCostPerSecond;
  const best: CallPath = cost(relay) + o.relayMargin < cost(direct) ? 'relay' : 'direct';
  if (random() < o.exploreShare) {
    return { path: best === 'relay' ? 'direct' : 'relay', reason: 'explore', direct, relay };
  }
  return { path: best, reason: 'expected', direct, relay };
}

/** The level keys of a call between two prefixes in two countries, coarsest first. */
export function callLevelKeys(
  prefixA: string,
  countryA: string,
  prefixB: string,
  countryB: string,
): string[] {
  const [ca, cb] = countryA <= countryB ? [countryA, countryB] : [countryB, countryA];
  const [pa, pb] = prefixA <= prefixB ? [prefixA, prefixB] : [prefixB, prefixA];
  return ['all', `country:${ca}|${cb}`, `prefix:${pa}|${pb}`];
}
