/**
 * What earlier clients measured, aggregated so no one can poison it: per (network prefix, relay),
 * a window of the latest samples, one per source (a client address: IPv4 /32, IPv6 /64, see
 * `sourceOf`), at most `maxPerSlot` new ones per `slotMs` (more in a burst replace rather than
 * add), and the estimate is the window's median. The weight is the window's sample count decayed
 * with age (each sample at most 1), so one source never reaches the ranking's trust threshold
 * alone, stale knowledge fades back towards the distance estimate, and a lone liar is outvoted.
 * Network prefixes are IPv4 /24 and IPv6 /48 (the granularity at which routing, and so latency,
 * is usually shared). Also the fiber model: great-circle distance at the speed of light in fiber
 * (about 200,000 km/s, so 1 ms of RTT per 100 km) times an inflation factor, plus an access delay,
 * both the median of a window of evidence, one per source prefix and bounded per time, beside a
 * fixed prior. Pure: time comes in.
 */
import { formatIp, parseIp, unmapIpv4 } from '../net/ip.ts';

export interface LearnedSample {
  readonly rttMs: number;
  readonly at: number;
  /** Who reported it (sourceOf); absent: counts as its own source (the simulation). */
  readonly source?: string;
}

export interface LearnedRtt {
  /** The median of the window. */
  readonly rttMs: number;
  /** Effective number of samples after decay (stored for the record; read it with decayedWeight). */
  readonly weight: number;
  readonly updatedAt: number;
  /** The window, oldest first; absent in entries written before windows (they count as one sample). */
  readonly samples?: readonly LearnedSample[];
}

export interface LearnOptions {
  /** A sample's weight halves every `halfLifeMs`. */
  readonly halfLifeMs: number;
  /** Weight is capped so one long-lived entry still follows change. */
  readonly maxWeight: number;
  /** The window: the latest sample of at most this many sources. */
  readonly maxSamples: number;
  /** Samples older than this leave the window. */
  readonly maxAgeMs: number;
  /** At most `maxPerSlot` samples of one entry fall within any `slotMs`; later ones replace the newest. */
  readonly slotMs: number;
  readonly maxPerSlot: number;
}

export const DEFAULT_LEARN: LearnOptions = {
  halfLifeMs: 24 * 3_600_000,
  maxWeight: 20,
  maxSamples: 15,
  maxAgeMs: 7 * 24 * 3_600_000,
  slotMs: 60_000,
  maxPerSlot: 3,
};

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

/**
 * One source inside a prefix: the IPv4 address, or the IPv6 /64 (one subscriber's LAN; a host
 * picks new addresses inside it at will, RFC 8981 §3). Undefined if not an IP.
 */
export function sourceOf(ip: string): string | undefined {
  const parsed = parseIp(ip);
  if (!parsed) return undefined;
  const b = unmapIpv4(parsed);
  if (b.length === 4) return formatIp(b);
  const masked = new Uint8Array(16);
  masked.set(b.subarray(0, 8));
  return `${formatIp(masked)}/64`;
}

const decay = (age: number, o: LearnOptions) => 0.5 ** (Math.max(0, age) / o.halfLifeMs);

/**
 * Weight left of an entry at `now`: its window's samples, each decayed, at most maxWeight (`o`:
 * the options `learn` wrote it with). When the window at `now` is the one `learn` weighed at
 * `updatedAt` (no sample newer than that, none aged out since, the stored weight under the cap),
 * that weight decays as a whole: one power per entry instead of one per sample, equal up to
 * rounding (2^-a 2^-b against 2^-(a+b)). Otherwise each sample is decayed.
 */
export function decayedWeight(e: LearnedRtt, now: number, o: LearnOptions = DEFAULT_LEARN): number {
  if (!e.samples) return e.weight * decay(now - e.updatedAt, o);
  if (now >= e.updatedAt && e.weight >= 0 && e.weight < o.maxWeight) {
    let oldest = Number.POSITIVE_INFINITY;
    let newest = Number.NEGATIVE_INFINITY;
    for (const s of e.samples) {
      if (s.at < oldest) oldest = s.at;
      if (s.at > newest) newest = s.at;
    }
    if (newest <= e.updatedAt && now - oldest <= o.maxAgeMs) return e.weight * decay(now - e.updatedAt, o);
  }
  return windowWeight(e.samples, now, o);
}

function windowWeight(samples: readonly LearnedSample[], now: number, o: LearnOptions): number {
  let w = 0;
  for (const s of samples) if (now - s.at <= o.maxAgeMs) w += decay(now - s.at, o);
  return Math.min(o.maxWeight, w);
}

export function median(xs: readonly number[]): number {
  return medianOfSorted([...xs].sort((a, b) => a - b));
}

/**
 * `value(0)` .. `value(n - 1)` in ascending order, as `[...].sort((a, b) => a - b)` orders them
 * (equal values keep their order), by insertion: windows are short, and this makes one array
 * where a copy and a sort with a comparator made two and a call per comparison.
 */
function sortedCopy(n: number, value: (k: number) => number): number[] {
  const v: number[] = [];
  for (let k = 0; k < n; k++) {
    const x = value(k);
    let j = k;
    for (; j > 0 && v[j - 1]! > x; j--) v[j] = v[j - 1]!;
    v[j] = x;
  }
  return v;
}

function medianOfSorted(v: readonly number[]): number {
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/**
 * The interquartile mean: the mean of what is left after a quarter is cut from each end; the
 * median for four values or fewer. As robust as the quarter cut (a minority below a quarter
 * cannot move it past the honest values) and steadier than a median on noisy honest samples.
 */
export function trimmedMean(xs: readonly number[]): number {
  return trimmedMeanOfSorted([...xs].sort((a, b) => a - b));
}

/** The same of values sorted ascending, summed in that order (each `learn` calls it: no copies). */
function trimmedMeanOfSorted(v: readonly number[]): number {
  if (v.length <= 4) return medianOfSorted(v);
  const cut = Math.floor(v.length / 4);
  let sum = 0;
  for (let k = cut; k < v.length - cut; k++) sum += v[k]!;
  return sum / (v.length - 2 * cut);
}

/**
 * A window with one more sample: the source's earlier one goes; a sample past the slot's bound
 * replaces the newest in the slot instead of adding; only the latest `max` stay.
 */
function admit<T extends { readonly at: number; readonly source?: string }>(
  window: readonly T[],
  sample: T,
  o: { readonly slotMs: number; readonly maxPerSlot: number },
  max: number,
  oldest: number,
): T[] {
  // One pass over the window (every `learn` runs this): what stays, and the newest in the slot.
  const w: T[] = [];
  let inSlot = 0;
  let newest = -1;
  for (const s of window) {
    if (!(s.at >= oldest) || (sample.source !== undefined && s.source === sample.source)) continue;
    if (sample.at - s.at < o.slotMs) {
      inSlot++;
      if (newest < 0 || s.at >= w[newest]!.at) newest = w.length;
    }
    w.push(s);
  }
  if (inSlot >= o.maxPerSlot) w.splice(newest, 1);
  w.push(sample);
  if (w.length > max) w.splice(0, w.length - max);
  return w;
}

/**
 * A request's probes, one per relay: the median of what it says for each. One request is one
 * sample per relay however many times it repeats a relay (64 identical probes count once).
 */
export function onePerRelay(
  probes: readonly { readonly relay: string; readonly rttMs: number }[],
): Map<string, number> {
  const by = new Map<string, number[]>();
  for (const p of probes) {
    if (!Number.isFinite(p.rttMs) || p.rttMs < 0) continue;
    const list = by.get(p.relay) ?? [];
    list.push(p.rttMs);
    by.set(p.relay, list);
  }
  return new Map([...by].map(([relay, rtts]) => [relay, median(rtts)]));
}

/** Fold one RTT sample from `source` into an entry (or start one). */
export function learn(
  prev: LearnedRtt | undefined,
  rttMs: number,
  now: number,
  o: LearnOptions = DEFAULT_LEARN,
  source?: string,
): LearnedRtt {
  const before = prev ? (prev.samples ?? [{ rttMs: prev.rttMs, at: prev.updatedAt }]) : [];
  const sample: LearnedSample = source === undefined ? { rttMs, at: now } : { rttMs, at: now, source };
  const samples = admit(before, sample, o, o.maxSamples, now - o.maxAgeMs);
  const rtts = sortedCopy(samples.length, (k) => samples[k]!.rttMs);
  // Nothing left the window: the earlier samples' weight at `now`, plus the new one's (1).
  const weight =
    prev?.samples && samples.length === before.length + 1
      ? Math.min(o.maxWeight, decayedWeight(prev, now, o) + 1)
      : windowWeight(samples, now, o);
  return { rttMs: trimmedMeanOfSorted(rtts), weight, updatedAt: now, samples };
}

/**
 * The area a client location falls in, as a learned-map key: a cell of `cellDeg` degrees of
 * latitude and longitude (1 degree: about 111 km north-south), `area:LAT:LON` of its south-west
 * corner. Clients of one area share most of their wide-area paths to the relays.
 */
export function areaKey(lat: number, lon: number, cellDeg = 1): string {
  const cell = (x: number) => Math.floor(x / cellDeg) * cellDeg;
  return `area:${cell(lat)}:${cell(lon)}`;
}

/**
 * What one probing round adds to its area's map: each probe less the round's best, so clients
 * with different access delays agree on how far each relay is behind the best.
 */
export function areaSamples(probes: ReadonlyMap<string, number>): [string, number][] {
  let best = Number.POSITIVE_INFINITY;
  for (const ms of probes.values()) if (ms >= 0 && ms < best) best = ms;
  if (!Number.isFinite(best)) return [];
  return [...probes].filter(([, ms]) => ms >= 0).map(([id, ms]) => [id, ms - best]);
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
 * A client's typical access delay (home or mobile network to its first router and back), as a
 * running mean clamped to [0, 300] ms: the single-sample step, kept to show (in tests) what the
 * windowed median in `learnPathModel` replaced. Distance predictions add the access delay, so the
 * RTT the edge predicts for an unmeasured relay is comparable with a measured one.
 */
export function learnAccess(i: Inflation, accessMs: number, maxWeight = 1000): Inflation {
  if (!Number.isFinite(accessMs)) return i;
  const sample = Math.min(300, Math.max(0, accessMs));
  const w = Math.min(maxWeight, (i.accessWeight ?? 0) + 1);
  return { ...i, accessMs: (i.accessMs ?? 0) + (sample - (i.accessMs ?? 0)) / w, accessWeight: w };
}

/** One source's latest evidence about the path model. */
export interface PathSample {
  readonly logRatio: number;
  readonly accessMs: number;
  readonly at: number;
  /** The source network (a /24 or /48); absent: its own source (the simulation). */
  readonly source?: string;
}

export interface PathLearnOptions {
  /** The window: the latest evidence of at most this many sources. */
  readonly maxSources: number;
  /** Votes the prior (2.1x, 0 ms) keeps in every median, however much evidence there is. */
  readonly priorVotes: number;
  readonly maxAgeMs: number;
  /** At most `maxPerSlot` new pieces of evidence per `slotMs`; later ones replace the newest. */
  readonly slotMs: number;
  readonly maxPerSlot: number;
}

export const DEFAULT_PATH_LEARN: PathLearnOptions = {
  maxSources: 64,
  priorVotes: 8,
  maxAgeMs: 7 * 24 * 3_600_000,
  slotMs: 60_000,
  maxPerSlot: 8,
};

/**
 * Fold one piece of evidence into the path model: the source's earlier evidence goes, a burst
 * past the slot's bound replaces rather than adds, and inflation and access delay are the
 * medians of the window beside `priorVotes` votes for the prior. 300 forged requests from one
 * network are one vote; to move either median an attacker needs more than half the window's
 * sources, and at most `maxPerSlot` of them count per minute. Without `now` (the simulation)
 * there is no time bound.
 */
export function learnPathModel(
  i: Inflation,
  e: InflationEvidence,
  now?: number,
  source?: string,
  o: PathLearnOptions = DEFAULT_PATH_LEARN,
): Inflation {
  if (e.km < 500 || !(e.rttMs > 0) || !Number.isFinite(e.accessMs)) return i;
  const at = now ?? (i.samples?.at(-1)?.at ?? 0) + o.slotMs;
  const sample: PathSample = {
    logRatio: Math.log(Math.min(10, Math.max(1, e.rttMs / fiberRttMs(e.km)))),
    accessMs: Math.min(300, Math.max(0, e.accessMs)),
    at,
    ...(source === undefined ? {} : { source }),
  };
  const samples = admit(i.samples ?? [], sample, o, o.maxSources, at - o.maxAgeMs);
  // The window's values beside `priorVotes` votes for the prior, sorted.
  const withPrior = (prior: number, value: (s: PathSample) => number) =>
    sortedCopy(o.priorVotes + samples.length, (k) =>
      k < o.priorVotes ? prior : value(samples[k - o.priorVotes]!),
    );
  return {
    logMean: medianOfSorted(withPrior(INITIAL_INFLATION.logMean, (s) => s.logRatio)),
    weight: samples.length,
    accessMs: medianOfSorted(withPrior(0, (s) => s.accessMs)),
    accessWeight: samples.length,
    samples,
  };
}

/**
 * The path inflation factor (measured RTT over fiber RTT), as a log-ratio clamped to [1, 10],
 * and the typical access delay. Starts at the typical 2.1x measured on the Internet (Bozkurt et
 * al., "Dissecting Latency in the Internet's Fiber Infrastructure", 2018) and 0 ms.
 */
export interface Inflation {
  readonly logMean: number;
  readonly weight: number;
  /** The learned typical access delay (ms) and its weight; absent until evidence arrives. */
  readonly accessMs?: number;
  readonly accessWeight?: number;
  /** The window behind both medians; absent in state written before windows. */
  readonly samples?: readonly PathSample[];
}

export const INITIAL_INFLATION: Inflation = { logMean: Math.log(2.1), weight: 1 };

const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** A stored Inflation read back (Redis, KV): anything this code did not write counts as none. */
export function storedInflation(v: unknown): Inflation {
  const i = v as Partial<Inflation> | null | undefined;
  if (!i || !finite(i.logMean) || !finite(i.weight)) return INITIAL_INFLATION;
  if (i.samples === undefined) return i as Inflation;
  const ok = (p: Partial<PathSample> | null) =>
    !!p &&
    finite(p.logRatio) &&
    finite(p.accessMs) &&
    finite(p.at) &&
    (p.source === undefined || typeof p.source === 'string');
  return Array.isArray(i.samples) && i.samples.every(ok) ? (i as Inflation) : INITIAL_INFLATION;
}

/** A stored LearnedRtt read back, or undefined when it is not one. */
export function storedLearnedRtt(v: unknown): LearnedRtt | undefined {
  const e = v as Partial<LearnedRtt> | null | undefined;
  if (!e || !finite(e.rttMs) || !finite(e.weight) || !finite(e.updatedAt)) return undefined;
  if (e.samples === undefined) return e as LearnedRtt;
  const ok = (s: Partial<LearnedSample> | null) =>
    !!s && finite(s.rttMs) && finite(s.at) && (s.source === undefined || typeof s.source === 'string');
  return Array.isArray(e.samples) && e.samples.every(ok) ? (e as LearnedRtt) : undefined;
}

export function inflationFactor(i: Inflation): number {
  return Math.min(10, Math.max(1, Math.exp(i.logMean)));
}

/** The single-sample running mean of log-ratios that `learnPathModel`'s median replaced (tests). */
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
