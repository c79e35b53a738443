/**
 * Path computation over an overlay snapshot: the least-cost path from one relay to another (or to
 * every other) within a hop limit, and for one pair an alternate path for failover.
 *
 * Algorithm: Bellman-Ford bounded by hop count, in synchronous rounds over integer indices. After
 * round r every relay holds its cheapest path of at most r+1 links, so the hop limit is exact.
 * Plain Dijkstra cannot bound hops (the path it settles for a relay may be too long, and pruning it
 * loses the cheapest path within the limit) without one node per (relay, hop count). Only relays
 * whose cost improved in the previous round are relaxed. One pass costs O(maxHops x links) and
 * yields the whole routing table of a source: ~6 ms for 1,000 relays in full mesh, after ~130 ms
 * to turn the snapshot into a cost graph once (bench/path-compute.ts).
 *
 * No loops: no link costs less than zero (see link-cost.ts) and a relay's entry changes only on a
 * strict improvement, so a walk that passes through a relay can never replace that relay's own
 * entry; the source is never re-entered.
 *
 * Tie-breaking, deterministic whatever the order of the snapshot: by cost; then fewer hops (a later
 * round only replaces an entry when strictly cheaper); then the lexicographically smaller list of
 * relay ids, compared when two candidates of the same round tie exactly.
 *
 * Alternate: the same search with the lexicographic weight (links shared with the best, cost).
 * It yields the cheapest path sharing no link with the best where one exists within the hop
 * limit, else the cheapest of those sharing the fewest links. A link is shared when the same two
 * relays are adjacent in both paths, in either direction: a cut between two relays usually takes
 * both directions down. Any other simple path shares fewer links than the best itself, so the
 * alternate is undefined only when the best is the only path.
 *
 * Down relays (draining or dead) are never transit hops. They may be the source (a draining relay
 * still forwards for its remaining allocations) or the destination (those allocations stay
 * reachable until they end). `relays` is the authority: links to relays not listed are ignored.
 *
 * A snapshot must not change once it is passed in: its cost graph is cached against it.
 */
import { type CostParams, DEFAULT_COST, type LinkStats, linkCost } from './link-cost.ts';

export interface OverlaySnapshot {
  readonly relays: readonly string[];
  /** links.get(a).get(b): what relay `a` measured on its link towards `b`. */
  readonly links: ReadonlyMap<string, ReadonlyMap<string, LinkStats>>;
  /** Utilisation 0..1 per relay; missing = 0. */
  readonly load: ReadonlyMap<string, number>;
  /** Draining or dead relays: never transit. */
  readonly down?: ReadonlySet<string>;
}

export interface Path {
  /** From the source to the destination, both included; hops.length - 1 links. */
  readonly hops: readonly string[];
  readonly cost: number;
}

export interface PathOptions {
  /** Most links a path may have: 1 = direct only. A positive integer. */
  readonly maxHops: number;
  readonly params?: CostParams;
}

const INF = Number.POSITIVE_INFINITY;

/** The snapshot as arrays: relay indices and, per relay, its usable outgoing (target, cost) links. */
interface Graph {
  readonly ids: readonly string[];
  readonly index: ReadonlyMap<string, number>;
  readonly edgeTo: readonly Int32Array[];
  readonly edgeCost: readonly Float64Array[];
  readonly down: Uint8Array;
}

const graphs = new WeakMap<OverlaySnapshot, { params: CostParams; graph: Graph }>();

function graphOf(s: OverlaySnapshot, params: CostParams): Graph {
  const cached = graphs.get(s);
  if (cached?.params === params) return cached.graph;
  const ids = [...new Set(s.relays)];
  const index = new Map(ids.map((id, i) => [id, i]));
  const edgeTo: Int32Array[] = [];
  const edgeCost: Float64Array[] = [];
  const down = new Uint8Array(ids.length);
  for (const [i, id] of ids.entries()) {
    if (s.down?.has(id)) down[i] = 1;
    const to: number[] = [];
    const cost: number[] = [];
    for (const [peer, link] of s.links.get(id) ?? []) {
      const j = index.get(peer);
      if (j === undefined || j === i) continue;
      const c = linkCost(link, s.load.get(peer) ?? 0, params);
      if (!Number.isFinite(c)) continue;
      to.push(j);
      cost.push(c);
    }
    edgeTo.push(Int32Array.from(to));
    edgeCost.push(Float64Array.from(cost));
  }
  const graph: Graph = { ids, index, edgeTo, edgeCost, down };
  graphs.set(s, { params, graph });
  return graph;
}

/** Result of one search: final costs, and per round who improved through whom (-1 = not improved). */
interface Tree {
  readonly src: number;
  readonly cost: Float64Array;
  readonly prev: readonly Int32Array[];
}

/** Relay indices from `src` to `v` as they stood after round `round`. */
function walk(src: number, prev: readonly Int32Array[], v: number, round: number): number[] {
  const out = [v];
  for (let h = round; h >= 0 && v !== src; h--) {
    const p = prev[h]![v]!;
    if (p < 0) continue; // not improved in round h: its path is round h-1's
    out.push(p);
    v = p;
  }
  return out.reverse();
}

function lexLess(g: Graph, a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = g.ids[a[i]!]!;
    const y = g.ids[b[i]!]!;
    if (x !== y) return x < y;
  }
  return a.length < b.length;
}

/**
 * Hop-bounded Bellman-Ford from `src`. With `onBest` (position of each relay on the best path,
 * -1 = not on it) the weight is (shared links, cost), compared lexicographically.
 */
function search(g: Graph, src: number, maxHops: number, onBest?: Int32Array): Tree {
  const n = g.ids.length;
  let cost = new Float64Array(n).fill(INF);
  let shared = new Float64Array(n).fill(INF);
  cost[src] = 0;
  shared[src] = 0;
  const prev: Int32Array[] = [];
  let frontier = [src];
  for (let round = 0; round < Math.min(maxHops, n - 1) && frontier.length > 0; round++) {
    const nextCost = cost.slice();
    const nextShared = shared.slice();
    const p = new Int32Array(n).fill(-1);
    const changed: number[] = [];
    for (const u of frontier) {
      if (u !== src && g.down[u] === 1) continue;
      const to = g.edgeTo[u]!;
      const w = g.edgeCost[u]!;
      const cu = cost[u]!;
      const su = shared[u]!;
      const pu = onBest ? onBest[u]! : -1;
      for (let k = 0; k < to.length; k++) {
        const v = to[k]!;
        if (v === src) continue;
        const pv = pu >= 0 ? onBest![v]! : -1;
        const sv = pv >= 0 && (pv - pu === 1 || pu - pv === 1) ? su + 1 : su;
        const cv = cu + w[k]!;
        const bs = nextShared[v]!;
        const bc = nextCost[v]!;
        if (sv < bs || (sv === bs && cv < bc)) {
          if (p[v]! < 0) changed.push(v);
          nextShared[v] = sv;
          nextCost[v] = cv;
          p[v] = u;
        } else if (
          sv === bs &&
          cv === bc &&
          p[v]! >= 0 &&
          lexLess(g, walk(src, prev, u, round - 1), walk(src, prev, p[v]!, round - 1))
        ) {
          p[v] = u;
        }
      }
    }
    prev.push(p);
    cost = nextCost;
    shared = nextShared;
    frontier = changed;
  }
  return { src, cost, prev };
}

function extract(g: Graph, t: Tree, to: number): Path | undefined {
  const cost = t.cost[to]!;
  if (to === t.src || !Number.isFinite(cost)) return undefined;
  return { hops: walk(t.src, t.prev, to, t.prev.length - 1).map((i) => g.ids[i]!), cost };
}

function checkOptions(o: PathOptions): void {
  if (!Number.isInteger(o.maxHops) || o.maxHops < 1) {
    throw new RangeError(`maxHops must be a positive integer, got ${o.maxHops}`);
  }
}

/** Links (unordered relay pairs adjacent in both) that two paths have in common. */
export function sharedLinks(a: readonly string[], b: readonly string[]): number {
  const pairs = new Set<string>();
  for (let i = 1; i < a.length; i++) pairs.add(JSON.stringify([a[i - 1], a[i]].sort()));
  let n = 0;
  for (let i = 1; i < b.length; i++) if (pairs.has(JSON.stringify([b[i - 1], b[i]].sort()))) n++;
  return n;
}

/**
 * Cost of a given path on this snapshot, as the search would count it. Infinity when a relay is
 * not in the snapshot or repeats, a link is missing or broken, or a transit relay is down.
 */
export function pathCost(
  s: OverlaySnapshot,
  hops: readonly string[],
  params: CostParams = DEFAULT_COST,
): number {
  const g = graphOf(s, params);
  if (hops.length < 2 || new Set(hops).size !== hops.length) return INF;
  if (hops.some((h) => !g.index.has(h))) return INF;
  let cost = 0;
  for (let i = 1; i < hops.length; i++) {
    const from = hops[i - 1]!;
    const to = hops[i]!;
    if (i > 1 && s.down?.has(from)) return INF;
    const link = s.links.get(from)?.get(to);
    if (!link) return INF;
    cost += linkCost(link, s.load.get(to) ?? 0, params);
  }
  return cost;
}

/**
 * The best path from `from` to every relay it can reach, in one pass. `avoid`: relays that may not
 * be transit hops on these paths (as if down), though they may still be the destination.
 */
export function bestPathsFrom(
  s: OverlaySnapshot,
  from: string,
  o: PathOptions,
  avoid?: ReadonlySet<string>,
): Map<string, Path> {
  checkOptions(o);
  let g = graphOf(s, o.params ?? DEFAULT_COST);
  const out = new Map<string, Path>();
  const src = g.index.get(from);
  if (src === undefined) return out;
  if (avoid && avoid.size > 0) {
    // The cached graph with a down mask of its own: no cost graph is rebuilt for it.
    const down = g.down.slice();
    for (const id of avoid) {
      const i = g.index.get(id);
      if (i !== undefined) down[i] = 1;
    }
    g = { ...g, down };
  }
  const tree = search(g, src, o.maxHops);
  for (let v = 0; v < g.ids.length; v++) {
    const p = extract(g, tree, v);
    if (p) out.set(g.ids[v]!, p);
  }
  return out;
}

/** The best path from `from` to `to` and an alternate for failover (see the header). */
export function computePaths(
  s: OverlaySnapshot,
  from: string,
  to: string,
  o: PathOptions,
): { best: Path | undefined; alternate: Path | undefined } {
  checkOptions(o);
  const none = { best: undefined, alternate: undefined };
  const g = graphOf(s, o.params ?? DEFAULT_COST);
  const src = g.index.get(from);
  const dst = g.index.get(to);
  if (src === undefined || dst === undefined) return none;
  const best = extract(g, search(g, src, o.maxHops), dst);
  if (!best) return none;
  const onBest = new Int32Array(g.ids.length).fill(-1);
  best.hops.forEach((id, i) => {
    onBest[g.index.get(id)!] = i;
  });
  const alt = extract(g, search(g, src, o.maxHops, onBest), dst);
  const same = alt !== undefined && alt.hops.join('\n') === best.hops.join('\n');
  return { best, alternate: same ? undefined : alt };
}
