/**
 * Hysteresis over path computation, so routes do not flap: keep the current path unless the new
 * best is clearly better (by `switchGainMs` and by `switchGainRatio` of the current cost), but
 * leave it at once when it breaks (a broken or missing link, a transit relay down, or more hops
 * than allowed). `routeAll` applies this to every destination and reports each change with its
 * reason, for logs and metrics.
 */
import { DEFAULT_COST } from './link-cost.ts';
import { bestPathsFrom, type OverlaySnapshot, type Path, type PathOptions, pathCost } from './paths.ts';

export interface ChoiceOptions extends PathOptions {
  readonly switchGainMs: number;
  readonly switchGainRatio: number;
}

export type ChoiceReason = 'initial' | 'kept' | 'better' | 'broken' | 'unreachable';

export function choosePath(
  current: Path | undefined,
  computed: { best: Path | undefined },
  s: OverlaySnapshot,
  o: ChoiceOptions,
): { path: Path | undefined; reason: ChoiceReason } {
  const best = computed.best;
  if (!current) return best ? { path: best, reason: 'initial' } : { path: undefined, reason: 'unreachable' };
  const cost =
    current.hops.length - 1 > o.maxHops
      ? Number.POSITIVE_INFINITY
      : pathCost(s, current.hops, o.params ?? DEFAULT_COST);
  if (!Number.isFinite(cost))
    return best ? { path: best, reason: 'broken' } : { path: undefined, reason: 'unreachable' };
  const refreshed: Path = { hops: current.hops, cost };
  if (!best || best.hops.join() === current.hops.join()) return { path: refreshed, reason: 'kept' };
  const gain = cost - best.cost;
  if (gain >= o.switchGainMs && gain >= o.switchGainRatio * cost) return { path: best, reason: 'better' };
  return { path: refreshed, reason: 'kept' };
}

export interface RouteChange {
  readonly to: string;
  readonly path: Path | undefined;
  readonly reason: ChoiceReason;
}

/** The routing table of `from` to every other relay, given the previous one. */
export function routeAll(
  s: OverlaySnapshot,
  from: string,
  previous: ReadonlyMap<string, Path>,
  o: ChoiceOptions,
): { routes: Map<string, Path>; changes: RouteChange[] } {
  const routes = new Map<string, Path>();
  const changes: RouteChange[] = [];
  const best = bestPathsFrom(s, from, o);
  for (const to of s.relays) {
    if (to === from) continue;
    const before = previous.get(to);
    const { path, reason } = choosePath(before, { best: best.get(to) }, s, o);
    if (path) routes.set(to, path);
    if (reason !== 'kept' && (before !== undefined || path !== undefined)) changes.push({ to, path, reason });
  }
  return { routes, changes };
}
