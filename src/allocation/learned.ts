/**
 * What earlier clients measured: per (network prefix, relay), an exponentially weighted RTT
 * whose weight decays with age, so a fresh measurement counts more than an old one and stale
 * knowledge fades back towards the distance estimate. Network prefixes are IPv4 /24 and IPv6 /48
 * (the granularity at which routing, and so latency, is usually shared). Also the fiber model:
 * great-circle distance at the speed of light in fiber (about 200,000 km/s, so 1 ms of RTT per
 * 100 km) times an inflation factor learned from the same measurements. Pure: time comes in.
 */
import { formatIp, parseIp, unmapIpv4 } from '../net/ip.ts';

export interface LearnedRtt {
  readonly rttMs: number;
  /** Effective number of samples after decay. */
  readonly weight: number;
  readonly updatedAt: number;
}

export interface LearnOptions {
  /** A sample's weight halves every `halfLifeMs`. */
  readonly halfLifeMs: number;
  /** Weight is capped so one long-lived entry still follows change. */
  readonly maxWeight: number;
}

export const DEFAULT_LEARN: LearnOptions = { halfLifeMs: 24 * 3_600_000, maxWeight: 20 };

/** The network prefix a client address belongs to: `a.b.c.0/24` or `x:x:x::/48`; undefined if not an IP. */
export function networkPrefix(ip: string): string | undefined {
  const parsed = parseIp(ip);
  if (!parsed) return undefined;
  const b = unmapIpv4(parsed);
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.0/24`;
  const masked = new Uint8Array(16);
  masked.set(b.subarray(0, 6));
  return `${formatIp(masked)}/48`;
}

/** Weight left of an entry at `now`. */
export function decayedWeight(e: LearnedRtt, now: number, o: LearnOptions = DEFAULT_LEARN): number {
  const age = Math.max(0, now - e.updatedAt);
  return e.weight * 0.5 ** (age / o.halfLifeMs);
}

/** Fold one RTT sample into an entry (or start one). */
export function learn(
  prev: LearnedRtt | undefined,
  rttMs: number,
  now: number,
  o: LearnOptions = DEFAULT_LEARN,
): LearnedRtt {
  if (!prev) return { rttMs, weight: 1, updatedAt: now };
  const w = decayedWeight(prev, now, o);
  const weight = Math.min(o.maxWeight, w + 1);
  return { rttMs: (prev.rttMs * w + rttMs) / (w + 1), weight, updatedAt: now };
}

/** RTT in ms for a great-circle distance, through fiber, before inflation (1 ms per 100 km). */
export function fiberRttMs(km: number): number {
  return km / 100;
}

/**
 * What one client's probes of several relays say about path inflation, with its access network
 * taken out. A measured RTT is access delay plus the wide-area path, and the distance estimate
 * has no access part, so a ratio of one probe overstates inflation by access / fiber: the world
 * simulation saw the learned factor climb from 2.1 to 4.8 that way (docs/SIMULATION.md). The
 * difference between the client's farthest and nearest probes cancels the access delay they
 * share: (rtt far - rtt near) across (km far - km near). Undefined unless the two are at least
 * `minSpanKm` apart in distance from the client and the farther one measured longer.
 */
export function inflationEvidence(
  probes: readonly { readonly rttMs: number; readonly km: number }[],
  minSpanKm = 1000,
): InflationEvidence | undefined {
  let near: { rttMs: number; km: number } | undefined;
  let far: { rttMs: number; km: number } | undefined;
  for (const p of probes) {
    if (!Number.isFinite(p.rttMs) || !Number.isFinite(p.km) || p.rttMs < 0 || p.km < 0) continue;
    if (!near || p.km < near.km) near = p;
    if (!far || p.km > far.km) far = p;
  }
  if (!near || !far || far.km - near.km < minSpanKm || far.rttMs <= near.rttMs) return undefined;
  const rttMs = far.rttMs - near.rttMs;
  const km = far.km - near.km;
  // What is left of the nearest probe once its path is paid for: the client's access delay.
  const ratio = Math.min(10, Math.max(1, rttMs / fiberRttMs(km)));
  return { rttMs, km, accessMs: Math.max(0, near.rttMs - fiberRttMs(near.km) * ratio) };
}

/** An RTT span across a distance span (access delay cancelled), and the access delay it implies. */
export interface InflationEvidence {
  readonly rttMs: number;
  readonly km: number;
  readonly accessMs: number;
}

/**
 * A client's typical access delay (home or mobile network to its first router and back), learned
 * from the same evidence as a running mean clamped to [0, 300] ms. Distance predictions add it, so
 * the RTT the edge predicts for an unmeasured relay is comparable with a measured one.
 */
export function learnAccess(i: Inflation, accessMs: number, maxWeight = 1000): Inflation {
  if (!Number.isFinite(accessMs)) return i;
  const sample = Math.min(300, Math.max(0, accessMs));
  const w = Math.min(maxWeight, (i.accessWeight ?? 0) + 1);
  return { ...i, accessMs: (i.accessMs ?? 0) + (sample - (i.accessMs ?? 0)) / w, accessWeight: w };
}

/** Both learned steps for one piece of evidence. */
export function learnPathModel(i: Inflation, e: InflationEvidence): Inflation {
  return learnAccess(learnInflation(i, e.rttMs, e.km), e.accessMs);
}

/**
 * The path inflation factor (measured RTT over fiber RTT), learned as a weighted mean of
 * log-ratios so one far outlier cannot drag it; clamped to [1, 10]. Starts at the typical 2.1x
 * measured on the Internet (Bozkurt et al., "Dissecting Latency in the Internet's Fiber
 * Infrastructure", 2018).
 */
export interface Inflation {
  readonly logMean: number;
  readonly weight: number;
  /** The learned typical access delay (ms) and its weight; absent until evidence arrives. */
  readonly accessMs?: number;
  readonly accessWeight?: number;
}

export const INITIAL_INFLATION: Inflation = { logMean: Math.log(2.1), weight: 1 };

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** A stored Inflation read back (Redis, KV): anything this code did not write counts as none. */
export function storedInflation(v: unknown): Inflation {
  const i = v as Partial<Inflation> | null | undefined;
  return i && finite(i.logMean) && finite(i.weight) ? (i as Inflation) : INITIAL_INFLATION;
}

/** A stored LearnedRtt read back, or undefined when it is not one. */
export function storedLearnedRtt(v: unknown): LearnedRtt | undefined {
  const e = v as Partial<LearnedRtt> | null | undefined;
  return e && finite(e.rttMs) && finite(e.weight) && finite(e.updatedAt) ? (e as LearnedRtt) : undefined;
}

export function inflationFactor(i: Inflation): number {
  return Math.min(10, Math.max(1, Math.exp(i.logMean)));
}

export function learnInflation(i: Inflation, measuredRttMs: number, km: number, maxWeight = 1000): Inflation {
  const fiber = fiberRttMs(km);
  // Below ~500 km access delay dominates the ratio and says nothing about path inflation.
  if (km < 500 || measuredRttMs <= 0) return i;
  const sample = Math.log(Math.min(10, Math.max(1, measuredRttMs / fiber)));
  const weight = Math.min(maxWeight, i.weight + 1);
  return { ...i, logMean: i.logMean + (sample - i.logMean) / weight, weight };
}

/** What distance predictions use: the inflation factor and the typical access delay. */
export interface PathModel {
  readonly inflation: number;
  readonly accessMs: number;
}

export function pathModelOf(i: Inflation): PathModel {
  return { inflation: inflationFactor(i), accessMs: i.accessMs ?? 0 };
}
