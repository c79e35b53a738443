/**
 * Path computation over an overlay snapshot: the least-cost path from one relay to every other
 * within a hop limit, and for one pair an alternate that shares no link with the best where one
 * exists (else the cheapest path that avoids at least one of its links).
 *
 * Hop-bounded Bellman-Ford on integer indices: after round h every relay holds its cheapest path
 * of at most h links. Link costs are positive, so a walk with a loop never beats the same walk
 * without it and no path repeats a relay. One pass from a source costs O(maxHops x links) with no
 * allocation per relaxation, and gives the whole routing table. Relays in `down` (draining, dead)
 * are never crossed, though they may be the destination. Ties break by cost, then fewer hops
 * (an earlier round wins), then the lower index of the previous relay (relays in given order).
 */
import { type CostParams, DEFAULT_COST, type LinkStats, linkCost } from './link-cost.ts';

export interface OverlaySnapshot {
  readonly relays: readonly string[];
  /** links.get(from).get(to): what `from` measured towards `to`. */
  readonly links: ReadonlyMap<string, ReadonlyMap<string, LinkStats>>;
  /** Utilisation 0..1 per relay; missing = 0. */
  readonly load: ReadonlyMap<string, number>;
  readonly down?: ReadonlySet<string>;
}

export interface Path {
  /** From the source to the destination, both included. */
  readonly hops: readonly string[];
  readonly cost: number;
}

export interface PathOptions {
  readonly maxHops: number;
  readonly params?: CostParams;
}

/** The snapshot as arrays: relay indices, and per relay its outgoing (target, cost) edges. */
interface Graph {
  readonly ids: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  readonly edgeTo: readonly Int32Array[];
  readonly edgeCost: readonly Float64Array[];
  readonly down: Uint8Array;
}

const graphs = new WeakMap<OverlaySnapshot, Map<CostParams, Graph>>();

function graphOf(s: OverlaySnapshot, params: CostParams): Graph {
  const cached = graphs.get(s)?.get(params);
  if (cached) return cached;
  const ids = [...new Set([...s.relays, ...s.links.keys()])];
  const index = new Map(ids.map((id, i) => [id, i]));
  const edgeTo: Int32Array[] = [];
  const edgeCost: Float64Array[] = [];
  for (const id of ids) {
    const to: number[] = [];
    const cost: number[] = [];
    for (const [peer, link] of s.links.get(id) ?? []) {
      const j = index.get(peer);
      const c = linkCost(link, s.load.get(peer) ?? 0, params);
      if (j === undefined || !Number.isFinite(c)) continue;
      to.push(j);
      cost.push(c);
    }
    edgeTo.push(Int32Array.from(to));
    edgeCost.push(Float64Array.from(cost));
  }
  const down = new Uint8Array(ids.length);
  for (const id of s.down ?? []) {
    const i = index.get(id);
    if (i !== undefined) down[i] = 1;
  }
  const g = { ids, index, edgeTo, edgeCost, down };
  const perParams = graphs.get(s) ?? new Map<CostParams, Graph>();
  perParams.set(params, g);
  graphs.set(s, perParams);
  return g;
}

/** Cheapest paths from `from` to every relay; `excluded` holds edges `u * n + v` not to use. */
function shortestFrom(
  g: Graph,
  from: number,
  maxHops: number,
  excluded?: ReadonlySet<number>,
): (to: number) => Path | undefined {
  const n = g.ids.length;
  let dist = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  dist[from] = 0;
  // prev[h][v]: the relay before v on its best path of at most h+1 links; -1 = unchanged this round.
  const prev: Int32Array[] = [];
  let frontier = [from];
  for (let round = 0; round < maxHops && frontier.length > 0; round++) {
    const next = dist.slice();
    const p = new Int32Array(n).fill(-1);
    const changed = new Set<number>();
    for (const u of frontier) {
      if (u !== from && g.down[u] === 1) continue;
      const to = g.edgeTo[u]!;
      const cost = g.edgeCost[u]!;
      for (let k = 0; k < to.length; k++) {
        const v = to[k]!;
        if (excluded?.has(u * n + v)) continue;
        const c = dist[u]! + cost[k]!;
        if (c < next[v]! || (c === next[v]! && p[v]! >= 0 && u < p[v]!)) {
          next[v] = c;
          p[v] = u;
          changed.add(v);
        }
      }
    }
    prev.push(p);
    dist = next;
    frontier = [...changed];
  }
  return (to) => {
    if (to === from || !Number.isFinite(dist[to]!)) return undefined;
    const hops: string[] = [];
    let v = to;
    for (let h = prev.length - 1; v !== from; h--) {
      const p = prev[h]![v]!;
      if (p < 0) continue; // this round did not change v: its path is the previous round's
      hops.push(g.ids[v]!);
      v = p;
    }
    hops.push(g.ids[from]!);
    return { hops: hops.reverse(), cost: dist[to]! };
  };
}

/** Cost of a given path on this snapshot: Infinity when a link is missing or broken, or a transit relay is down. */
export function pathCost(
  s: OverlaySnapshot,
  hops: readonly string[],
  params: CostParams = DEFAULT_COST,
): number {
  let cost = 0;
  for (let i = 1; i < hops.length; i++) {
    const from = hops[i - 1]!;
    const to = hops[i]!;
    if (i > 1 && s.down?.has(from)) return Number.POSITIVE_INFINITY;
    const link = s.links.get(from)?.get(to);
    if (!link) return Number.POSITIVE_INFINITY;
    cost += linkCost(link, s.load.get(to) ?? 0, params);
  }
  return cost;
}

/** The best path from `from` to every other relay (one pass). */
export function bestPathsFrom(s: OverlaySnapshot, from: string, o: PathOptions): Map<string, Path> {
  const g = graphOf(s, o.params ?? DEFAULT_COST);
  const out = new Map<string, Path>();
  const src = g.index.get(from);
  if (src === undefined) return out;
  const path = shortestFrom(g, src, o.maxHops);
  for (let v = 0; v < g.ids.length; v++) {
    const p = path(v);
    if (p) out.set(g.ids[v]!, p);
  }
  return out;
}

export function computePaths(
  s: OverlaySnapshot,
  from: string,
  to: string,
  o: PathOptions,
): { best: Path | undefined; alternate: Path | undefined } {
  const g = graphOf(s, o.params ?? DEFAULT_COST);
  const src = g.index.get(from);
  const dst = g.index.get(to);
  if (src === undefined || dst === undefined) return { best: undefined, alternate: undefined };
  const best = shortestFrom(g, src, o.maxHops)(dst);
  if (!best) return { best: undefined, alternate: undefined };
  const n = g.ids.length;
  const edges = best.hops.slice(1).map((h, i) => g.index.get(best.hops[i]!)! * n + g.index.get(h)!);
  const disjoint = shortestFrom(g, src, o.maxHops, new Set(edges))(dst);
  if (disjoint) return { best, alternate: disjoint };
  let alternate: Path | undefined;
  for (const edge of edges) {
    const p = shortestFrom(g, src, o.maxHops, new Set([edge]))(dst);
    if (p && (!alternate || p.cost < alternate.cost)) alternate = p;
  }
  return { best, alternate };
}
