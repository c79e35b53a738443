/**
 * Relay ranking for one client (the allocation endpoint's core): predict the RTT to every usable
 * relay from the best evidence there is, then weigh load, and pick.
 *
 * Prediction, best basis first:
 *   probe     the client's own measurement of that relay (this request)
 *   learned   what earlier clients of the same network prefix measured (decaying with age),
 *             trusted once its decayed weight reaches `minLearnedWeight`
 *   distance  great-circle distance at the speed of light in fiber times the learned inflation,
 *             plus the learned typical access delay, plus this client's offset: the median of
 *             (measured - distance estimate) over the relays it has a probe or trusted learned
 *             RTT for, never taking the estimate below the fiber part (`calibrateDistance`).
 *             Measured RTTs include the client's access network and the distance estimate does
 *             not, so without the offset every unmeasured relay looks better than the measured
 *             ones by about the access delay: the world simulation (docs/SIMULATION.md) found the
 *             answer going to an unprobed relay in about 1 allocation in 8, most of them worse.
 * Then: draining relays are never chosen, full ones are skipped, and relays above
 * `loadKnee` of capacity pay a penalty growing to `loadPenaltyMs` at full load. A client of a
 * room whose relay is within `roomSlackMs` (or `roomSlackRatio`) of its best is sent to the
 * room's relay, so a call's participants share one when they are close to it. A share
 * `exploreShare` of answers adds one relay outside the top picks to the probe targets, so the
 * learned map keeps exploring. Randomness comes in as a parameter. Pure.
 */

import { greatCircleKm } from '../directory/geo.ts';
import type { LinkRecord, RelayRecord } from '../directory/types.ts';
import { fiberRttMs } from './learned.ts';

export type RttBasis = 'probe' | 'learned' | 'distance';

export interface Ranked {
  readonly relay: RelayRecord;
  readonly predictedRttMs: number;
  readonly basis: RttBasis;
  /** predicted RTT plus the load penalty: lower is better. */
  readonly score: number;
}

export interface RankInput {
  readonly relays: readonly RelayRecord[];
  /** Where the client is, if known. */
  readonly location: { readonly lat: number; readonly lon: number } | undefined;
  /** The client's own RTT measurements, by relay id. */
  readonly probes: ReadonlyMap<string, number>;
  /** Learned RTT for this client's prefix, by relay id, with its decayed weight. */
  readonly learned: ReadonlyMap<string, { readonly rttMs: number; readonly weight: number }>;
  readonly inflation: number;
  /** Typical access delay (ms) added to distance predictions; 0 when not known. */
  readonly accessMs?: number | undefined;
  /**
   * What clients near this one (its area: `areaKey` of its location) measured, each RTT less
   * that client's best probe of the same round, by relay id with its decayed weight. Names probe
   * targets only; never a prediction.
   */
  readonly areaLearned?: ReadonlyMap<string, { readonly rttMs: number; readonly weight: number }> | undefined;
  /**
   * Relay-to-relay RTT (ms) the backbone measured (the directory's links), by relay id and peer
   * id. With the client's probes it bounds every other relay's RTT from the client (triangle
   * inequality) and names the second round's targets (`nextProbeTargets`).
   */
  readonly links?: ReadonlyMap<string, ReadonlyMap<string, number>> | undefined;
  /** The relay already serving this client's room, if any. */
  readonly roomRelay?: string | undefined;
  readonly preferredRegion?: string | undefined;
}

export interface RankOptions {
  readonly minLearnedWeight: number;
  readonly loadKnee: number;
  readonly loadPenaltyMs: number;
  readonly roomSlackMs: number;
  readonly roomSlackRatio: number;
  /** Preferred region: its relays win ties within this many ms. */
  readonly regionSlackMs: number;
  readonly alternates: number;
  /**
   * Relays the client is asked to probe before its second request, the chosen one included: the
   * next best by score, with `learnedTargets` of them kept for the prefix's best learned relays.
   * A browser probes them in parallel (ICE or HTTP pings), so a few more cost little time.
   */
  readonly probeTargets: number;
  /**
   * Of the probe targets, up to this many go to the relays with the least learned RTT for the
   * prefix at any weight (below `minLearnedWeight` too): a relay that earlier clients of the
   * network found best stays probed while its weight decays, even when the distance ranking
   * would not offer it.
   */
  readonly learnedTargets: number;
  /** Learned entries lighter than this (decayed weight) are not probe targets. */
  readonly learnedTargetMinWeight: number;
  /**
   * Then up to this many for the relays that came closest to the best of each probing round of
   * clients in the same area (`RankInput.areaLearned`, weight at least `learnedTargetMinWeight`):
   * neighbours share most of the wide-area path, so the relay their probes found best is likely
   * best here too, even where distance says otherwise (a carrier hauling traffic to a far hub).
   */
  readonly areaTargets: number;
  readonly exploreShare: number;
  /**
   * The explorer is drawn from the next this-many relays after the picks, by score (undefined:
   * from all of them). The measured-data simulation tries a few (docs/SIMULATION.md).
   */
  readonly exploreWithin?: number | undefined;
  /** Used when the client's location is unknown: no distance basis is possible. */
  readonly unknownRttMs: number;
  /** Add the client's measured-minus-estimated offset to distance-based predictions. */
  readonly calibrateDistance: boolean;
  /**
   * Once the client has probed, a relay predicted from distance alone must beat the probed ones
   * by this much (ms of score): a measurement is worth more than an estimate. The measured-data
   * simulation found 2.4 % of answers going to unprobed relays with six targets, most of them worse.
   */
  readonly probedPreferenceMs: number;
  /**
   * A second, adaptive probing round: once the client has probed, up to this many relays it has
   * not probed whose RTT from it the probes and the backbone's links cannot rule out as better
   * than its best probe (`nextProbeTargetsOf`). 0: no second round.
   */
  readonly nextTargets: number;
  /**
   * The triangle bound is loosened by this share before it rules a relay out: Internet paths
   * break the triangle inequality (an overlay lives on that), so a bound of 100 ms only rules a
   * relay out at a best probe under 100 x (1 - slack).
   */
  readonly nextBoundSlack: number;
  /**
   * And up to this many of the probed relays within `repingWithinMs` of the best (the best
   * included) are probed again, so two close relays are ordered by more than one round's pings.
   */
  readonly repingTargets: number;
  readonly repingWithinMs: number;
}

export const DEFAULT_RANK: RankOptions = {
  minLearnedWeight: 2,
  loadKnee: 0.8,
  loadPenaltyMs: 50,
  roomSlackMs: 20,
  roomSlackRatio: 0.25,
  regionSlackMs: 10,
  alternates: 2,
  probeTargets: 8,
  learnedTargets: 2,
  learnedTargetMinWeight: 0.05,
  areaTargets: 3,
  exploreShare: 0.05,
  unknownRttMs: 150,
  calibrateDistance: true,
  probedPreferenceMs: 10,
  nextTargets: 6,
  nextBoundSlack: 0.3,
  repingTargets: 2,
  repingWithinMs: 5,
};

export interface RankResult {
  readonly chosen: Ranked | undefined;
  readonly alternates: readonly Ranked[];
  /** Relays the client should probe before its next request: the picks, plus maybe one explorer. */
  readonly probeTargets: readonly RelayRecord[];
  /**
   * Once the client has probed: the relays of a second round (`nextProbeTargetsOf`), empty when
   * its probes leave nothing worth probing; empty before it has probed.
   */
  readonly nextProbeTargets: readonly RelayRecord[];
  readonly reason: 'best' | 'room' | 'none';
}

export function predictRtt(
  relay: RelayRecord,
  input: RankInput,
  o: RankOptions,
): { rttMs: number; basis: RttBasis } {
  const probe = input.probes.get(relay.id);
  if (probe !== undefined && probe >= 0) return { rttMs: probe, basis: 'probe' };
  const learned = input.learned.get(relay.id);
  if (learned && learned.weight >= o.minLearnedWeight) return { rttMs: learned.rttMs, basis: 'learned' };
  if (!input.location) return { rttMs: o.unknownRttMs, basis: 'distance' };
  const km = greatCircleKm(input.location.lat, input.location.lon, relay.lat, relay.lon);
  return { rttMs: fiberRttMs(km) * input.inflation + (input.accessMs ?? 0), basis: 'distance' };
}

/**
 * How much this client's measured RTTs (probes, trusted learned) exceed the distance estimates of
 * the same relays: the median difference, at least minus the typical access delay (a client can
 * be closer to its router than most, never faster than light); 0 without a location or
 * measurements.
 */
export function distanceOffset(relays: readonly RelayRecord[], input: RankInput, o: RankOptions): number {
  const location = input.location;
  if (!o.calibrateDistance || !location) return 0;
  const residuals: number[] = [];
  for (const relay of relays) {
    const probe = input.probes.get(relay.id);
    const learned = input.learned.get(relay.id);
    const measured =
      probe !== undefined && probe >= 0
        ? probe
        : learned && learned.weight >= o.minLearnedWeight
          ? learned.rttMs
          : undefined;
    if (measured === undefined) continue;
    const km = greatCircleKm(location.lat, location.lon, relay.lat, relay.lon);
    residuals.push(measured - fiberRttMs(km) * input.inflation - (input.accessMs ?? 0));
  }
  if (residuals.length === 0) return 0;
  residuals.sort((a, b) => a - b);
  const mid = residuals.length >> 1;
  const median = residuals.length % 2 ? residuals[mid]! : (residuals[mid - 1]! + residuals[mid]!) / 2;
  // Never below the fiber estimate: a client may be quicker than the typical access, not than light.
  return Math.max(-(input.accessMs ?? 0), median);
}

function loadPenalty(relay: RelayRecord, o: RankOptions): number {
  const u = relay.capacity > 0 ? relay.load.allocations / relay.capacity : 1;
  if (u <= o.loadKnee) return 0;
  return (o.loadPenaltyMs * (u - o.loadKnee)) / (1 - o.loadKnee);
}

/**
 * The relays to probe: the chosen one, then the prefix's best learned relays (at most
 * `learnedTargets`, any weight above `learnedTargetMinWeight`), then the area's (at most
 * `areaTargets`), then the rest by score, until there are `probeTargets` (never fewer than one).
 */
export function probeTargetsOf(
  ranked: readonly Ranked[],
  chosen: Ranked,
  input: RankInput,
  o: RankOptions,
): RelayRecord[] {
  const n = Math.max(1, o.probeTargets);
  const picks: RelayRecord[] = [chosen.relay];
  const taken = new Set<RelayRecord>(picks);
  const add = (r: RelayRecord) => {
    if (picks.length < n && !taken.has(r)) {
      picks.push(r);
      taken.add(r);
    }
  };
  const fromMap = (
    map: ReadonlyMap<string, { readonly rttMs: number; readonly weight: number }> | undefined,
    count: number,
  ) => {
    if (!map || count <= 0) return;
    if (map.size === 0) return;
    const known: { relay: RelayRecord; rttMs: number }[] = [];
    for (const r of ranked) {
      const learned = map.get(r.relay.id);
      if (learned && learned.weight >= o.learnedTargetMinWeight)
        known.push({ relay: r.relay, rttMs: learned.rttMs });
    }
    known.sort((a, b) => a.rttMs - b.rttMs);
    const before = picks.length;
    for (const r of known) if (picks.length - before < count) add(r.relay);
  };
  fromMap(input.learned, o.learnedTargets);
  fromMap(input.areaLearned, o.areaTargets);
  for (const r of ranked) {
    if (picks.length >= n) break;
    add(r.relay);
  }
  return picks;
}

/**
 * The backbone's links as `RankInput.links`: each relay's smoothed RTT to each peer, by relay id;
 * links that lost every probe or carry no finite RTT are left out (they bound nothing).
 */
export function linkRtts(links: readonly LinkRecord[]): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const l of links) {
    if (!(Number.isFinite(l.rttMs) && l.rttMs >= 0) || !(l.lossRate < 1) || l.from === l.to) continue;
    const row = out.get(l.from) ?? new Map<string, number>();
    row.set(l.to, l.rttMs);
    out.set(l.from, row);
  }
  return out;
}

/**
 * The least RTT relay `to` can have from a client whose probes are `probes`, by the triangle
 * inequality over the backbone's links: for every probed relay P with a link to `to`,
 * |probe(P) - link(P, to)|; 0 when no probed relay has a link to it.
 */
export function triangleBound(
  to: string,
  probes: ReadonlyMap<string, number>,
  links: ReadonlyMap<string, ReadonlyMap<string, number>>,
): number {
  return boundOf(to, probedRows(probes, links), links);
}

type ProbedRow = readonly [from: string, ms: number, row: ReadonlyMap<string, number> | undefined];

function probedRows(
  probes: ReadonlyMap<string, number>,
  links: ReadonlyMap<string, ReadonlyMap<string, number>>,
): ProbedRow[] {
  const rows: ProbedRow[] = [];
  for (const [from, ms] of probes) if (ms >= 0) rows.push([from, ms, links.get(from)]);
  return rows;
}

function boundOf(
  to: string,
  rows: readonly ProbedRow[],
  links: ReadonlyMap<string, ReadonlyMap<string, number>>,
): number {
  let bound = 0;
  let back: ReadonlyMap<string, number> | undefined | null = null;
  for (const [from, ms, row] of rows) {
    if (from === to) continue;
    let d = row?.get(to);
    if (d === undefined) {
      back ??= links.get(to);
      d = back?.get(from);
    }
    if (d === undefined || !(d >= 0)) continue;
    const gap = ms > d ? ms - d : d - ms;
    if (gap > bound) bound = gap;
  }
  return bound;
}

/**
 * The second round's targets, once the client has probed: the relays it has not probed whose
 * triangle bound (loosened by `nextBoundSlack`) is below its best probe, so they might be
 * better, in the ranking's order, at most `nextTargets`; then up to `repingTargets` probed relays
 * within `repingWithinMs` of the best, best first, to be probed again. Without links nothing is
 * ruled out and the next relays by score are named. Empty when nothing is left to probe.
 */
export function nextProbeTargetsOf(
  ranked: readonly Ranked[],
  input: RankInput,
  o: RankOptions,
): RelayRecord[] {
  let best = Number.POSITIVE_INFINITY;
  for (const r of ranked) {
    const ms = input.probes.get(r.relay.id);
    if (ms !== undefined && ms >= 0 && ms < best) best = ms;
  }
  if (!Number.isFinite(best)) return [];
  const picks: RelayRecord[] = [];
  const links = input.links;
  const rows = links && o.nextTargets > 0 ? probedRows(input.probes, links) : [];
  for (const r of ranked) {
    if (picks.length >= o.nextTargets) break;
    const ms = input.probes.get(r.relay.id);
    if (ms !== undefined && ms >= 0) continue;
    const bound = links ? boundOf(r.relay.id, rows, links) : 0;
    if (bound * (1 - o.nextBoundSlack) < best) picks.push(r.relay);
  }
  if (o.repingTargets <= 0) return picks;
  const close = ranked
    .filter((r) => {
      const ms = input.probes.get(r.relay.id);
      return ms !== undefined && ms >= 0 && ms - best <= o.repingWithinMs;
    })
    .sort((a, b) => input.probes.get(a.relay.id)! - input.probes.get(b.relay.id)!);
  // One close relay alone has nothing to be ordered against.
  if (close.length >= 2) for (const r of close.slice(0, o.repingTargets)) picks.push(r.relay);
  return picks;
}

export function rankRelays(
  input: RankInput,
  random: () => number,
  o: RankOptions = DEFAULT_RANK,
): RankResult {
  const usable = input.relays.filter((r) => r.state === 'active' && r.load.allocations < r.capacity);
  const offset = distanceOffset(usable, input, o);
  let probed = false;
  for (const ms of input.probes.values()) if (ms >= 0) probed = true;
  const ranked: Ranked[] = usable
    .map((relay) => {
      const prediction = predictRtt(relay, input, o);
      const basis = prediction.basis;
      const rttMs = basis === 'distance' && input.location ? prediction.rttMs + offset : prediction.rttMs;
      const regionBonus =
        input.preferredRegion && relay.region === input.preferredRegion ? o.regionSlackMs : 0;
      const unmeasured = basis === 'distance' && probed ? o.probedPreferenceMs : 0;
      const score = rttMs + loadPenalty(relay, o) - regionBonus + unmeasured;
      return { relay, predictedRttMs: rttMs, basis, score };
    })
    .sort((a, b) => a.score - b.score || (a.relay.id < b.relay.id ? -1 : 1));
  const best = ranked[0];
  if (!best)
    return { chosen: undefined, alternates: [], probeTargets: [], nextProbeTargets: [], reason: 'none' };

  let chosen = best;
  let reason: RankResult['reason'] = 'best';
  const room = input.roomRelay ? ranked.find((r) => r.relay.id === input.roomRelay) : undefined;
  if (room && room !== best) {
    const slack = Math.max(o.roomSlackMs, best.score * o.roomSlackRatio);
    if (room.score - best.score <= slack) {
      chosen = room;
      reason = 'room';
    }
  } else if (room) reason = 'room';

  const alternates = ranked.filter((r) => r !== chosen).slice(0, o.alternates);
  const picks = probeTargetsOf(ranked, chosen, input, o);
  // The picks are distinct relays of the ranking: the rest is what they leave.
  const restCount = ranked.length - picks.length;
  const pool = o.exploreWithin === undefined ? restCount : Math.min(restCount, o.exploreWithin);
  if (pool > 0 && random() < o.exploreShare) {
    const taken = new Set(picks);
    const rest = ranked.filter((r) => !taken.has(r.relay));
    picks.push(rest[Math.floor(random() * pool)]!.relay);
  }
  const nextProbeTargets = probed ? nextProbeTargetsOf(ranked, input, o) : [];
  return { chosen, alternates, probeTargets: picks, nextProbeTargets, reason };
}
