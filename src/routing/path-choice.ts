/**
 * Hysteresis over path computation, so routes do not flap. Every switch moves a call's media onto
 * a path with another delay, a step its jitter buffer has to absorb, so a relay keeps its current
 * path unless the new best is clearly better: by `switchGainMs` in absolute terms AND by
 * `switchGainRatio` of the current cost (5 ms on a 20 ms path is worth it, on a 300 ms path it is
 * noise). It leaves the current path at once, whatever the alternative costs, when it breaks: a
 * link missing or broken, a transit relay down or gone, or more links than `maxHops` allows.
 *
 * A switch for a gain must also hold with each link's loss reduced by `lossDeadband` (default
 * 2 %, one probe in the relay's 50-probe window). At 30 ms per % one lost probe adds 60 ms to a
 * link's cost for the 5 s it stays in the window, so without the deadband a link losing 0.1 %
 * of its probes moves every path through it now and then: the world simulation counted 5.5
 * such switches per flow per hour on a 200-relay backbone, each gaining nothing once the probe
 * left the window (docs/SIMULATION.md). Real loss above the deadband still counts in full, and a
 * broken path is left at once whatever the deadband.
 *
 * `routeAll` applies this to every destination of one relay and lists each change with its reason,
 * for logs and per-change metrics. Pure: snapshot and previous table in, table and changes out.
 */
import { type CostParams, DEFAULT_COST, linkCost } from './link-cost.ts';
import { bestPathsFrom, type OverlaySnapshot, type Path, type PathOptions, pathCost } from './paths.ts';

export interface ChoiceOptions extends PathOptions {
  /** Least absolute gain (ms of cost) worth a switch. */
  readonly switchGainMs: number;
  /** Least gain as a fraction of the current path's cost worth a switch (0.15 = 15 %). */
  readonly switchGainRatio: number;
  /** Loss per link treated as measurement noise when weighing a switch for a gain; default 0.02. */
  readonly lossDeadband?: number;
  /**
   * A switch for a gain must also gain this many ms per ms of the links' jitter, root-sum-square
   * over the links the two paths do not share (their estimates' own noise); default 0.
   */
  readonly jitterMargin?: number;
}

/** One lost probe in the relay's 50-probe loss window (relay/backbone.ts, src/measure). */
export const DEFAULT_LOSS_DEADBAND = 0.02;

/**
 * 5 ms is above the noise of smoothed RTT and below what a listener notices; 15 % keeps a
 * long-haul path from moving for a few ms. Both must be met.
 */
export const DEFAULT_HYSTERESIS: Pick<ChoiceOptions, 'switchGainMs' | 'switchGainRatio'> = Object.freeze({
  switchGainMs: 5,
  switchGainRatio: 0.15,
});

/**
 * initial: no current path, took the best. kept: stayed on the current path (refreshed cost).
 * better: switched for a clear gain. broken: the current path broke, switched to the best.
 * unreachable: no path at all within the hop limit.
 */
export type ChoiceReason = 'initial' | 'kept' | 'better' | 'broken' | 'unreachable';

export interface Choice {
  readonly path: Path | undefined;
  readonly reason: ChoiceReason;
}

const sameHops = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((h, i) => h === b[i]);

/** Whether a path costing `bestCost` is clearly better than the current one costing `currentCost`. */
function clearGain(currentCost: number, bestCost: number, o: ChoiceOptions, noiseMs = 0): boolean {
  const gain = currentCost - bestCost;
  return gain >= o.switchGainMs && gain >= o.switchGainRatio * currentCost && gain >= noiseMs;
}

/**
 * The noise of the difference between two paths' estimated costs, in ms: root-sum-square of the
 * jitter of the links that are on one path and not the other (shared links cancel). A link's
 * cost is half its smoothed RTT plus twice its RFC 3550 jitter, and both estimates move by a
 * fraction of the jitter from one recompute to the next; `jitterMargin` scales this.
 */
export function pathNoiseMs(s: OverlaySnapshot, a: readonly string[], b: readonly string[]): number {
  const links = (hops: readonly string[]) => {
    const m = new Map<string, readonly [string, string]>();
    for (let i = 1; i < hops.length; i++) m.set(`${hops[i - 1]}\u0000${hops[i]}`, [hops[i - 1]!, hops[i]!]);
    return m;
  };
  const la = links(a);
  const lb = links(b);
  let sum = 0;
  for (const [mine, other] of [
    [la, lb],
    [lb, la],
  ] as const) {
    for (const [key, [from, to]] of mine) {
      if (other.has(key)) continue;
      const j = s.links.get(from)?.get(to)?.jitterMs ?? 0;
      if (Number.isFinite(j) && j > 0) sum += j * j;
    }
  }
  return Math.sqrt(sum);
}

/** A path's cost with link loss up to the deadband forgiven (no cache, so no graph rebuilt). */
function forgivingCost(s: OverlaySnapshot, hops: readonly string[], params: CostParams): number {
  let cost = 0;
  for (let i = 1; i < hops.length; i++) {
    const to = hops[i]!;
    const link = s.links.get(hops[i - 1]!)?.get(to);
    if (!link) return Number.POSITIVE_INFINITY;
    cost += linkCost(link, s.load.get(to) ?? 0, params);
  }
  return cost;
}

/**
 * The path to use now, given the one in use (if any) and what `computePaths` (or `bestPathsFrom`)
 * found on snapshot `s`. `alternate` is accepted so a caller can pass `computePaths`'s result as is.
 */
export function choosePath(
  current: Path | undefined,
  computed: { readonly best: Path | undefined; readonly alternate?: Path | undefined },
  s: OverlaySnapshot,
  o: ChoiceOptions,
): Choice {
  const { best } = computed;
  if (!current) return best ? { path: best, reason: 'initial' } : { path: undefined, reason: 'unreachable' };
  const cost =
    current.hops.length - 1 > o.maxHops
      ? Number.POSITIVE_INFINITY
      : pathCost(s, current.hops, o.params ?? DEFAULT_COST);
  if (!Number.isFinite(cost)) {
    return best ? { path: best, reason: 'broken' } : { path: undefined, reason: 'unreachable' };
  }
  const refreshed: Path = { hops: current.hops, cost };
  if (!best || sameHops(best.hops, current.hops) || !clearGain(cost, best.cost, o)) {
    return { path: refreshed, reason: 'kept' };
  }
  const margin = o.jitterMargin ?? 0;
  if (margin > 0 && !clearGain(cost, best.cost, o, margin * pathNoiseMs(s, current.hops, best.hops))) {
    return { path: refreshed, reason: 'kept' };
  }
  const params = o.params ?? DEFAULT_COST;
  const deadband = o.lossDeadband ?? DEFAULT_LOSS_DEADBAND;
  if (deadband > 0) {
    const forgiving: CostParams = { ...params, lossDeadband: Math.max(params.lossDeadband ?? 0, deadband) };
    const gainHolds = clearGain(
      forgivingCost(s, current.hops, forgiving),
      forgivingCost(s, best.hops, forgiving),
      o,
      margin > 0 ? margin * pathNoiseMs(s, current.hops, best.hops) : 0,
    );
    if (!gainHolds) return { path: refreshed, reason: 'kept' };
  }
  return { path: best, reason: 'better' };
}

export interface RouteChange {
  /** Destination relay. */
  readonly to: string;
  /** The path now in use; undefined when unreachable. */
  readonly path: Path | undefined;
  /** The path in use before; undefined for 'initial'. */
  readonly previous: Path | undefined;
  readonly reason: Exclude<ChoiceReason, 'kept'>;
}

/**
 * The routing table of `from` to every other relay of the snapshot, given the previous table.
 * Changes come in destination order (lexicographic). A destination that stays unreachable is no
 * change; one that left the snapshot is dropped from the table without a change, since leaving
 * the directory is not a routing decision (the directory reports it).
 */
export function routeAll(
  s: OverlaySnapshot,
  from: string,
  previous: ReadonlyMap<string, Path>,
  o: ChoiceOptions,
): { routes: Map<string, Path>; changes: RouteChange[] } {
  const routes = new Map<string, Path>();
  const changes: RouteChange[] = [];
  const best = bestPathsFrom(s, from, o);
  const destinations = [...new Set(s.relays)].filter((id) => id !== from).sort();
  for (const to of destinations) {
    const before = previous.get(to);
    const { path, reason } = choosePath(before, { best: best.get(to) }, s, o);
    if (path) routes.set(to, path);
    if (reason === 'kept' || (reason === 'unreachable' && !before)) continue;
    changes.push({ to, path, previous: before, reason });
  }
  return { routes, changes };
}
