/**
 * Path computation over an overlay snapshot: the least-cost path between two relays within a hop
 * limit, and an alternate that shares no link with it where one exists (else the cheapest path
 * that differs). Hop-bounded Bellman-Ford: after round h every relay holds its cheapest path of
 * at most h links; costs are positive, so a walk with a loop never beats the same walk without
 * it, and no path repeats a relay. O(maxHops x links) per source, fine for thousands of relays.
 * Relays in `down` (draining, dead) are never crossed, though they may be the destination.
 * Ties break by cost, then fewer hops, then the lexicographic order of the hops.
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

type Excluded = ReadonlySet<string>;
const linkKey = (a: string, b: string) => `${a}>${b}`;

function better(a: Path, b: Path | undefined): boolean {
  if (!b) return true;
  if (a.cost !== b.cost) return a.cost < b.cost;
  if (a.hops.length !== b.hops.length) return a.hops.length < b.hops.length;
  return a.hops.join('\u0000') < b.hops.join('\u0000');
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

function cheapest(
  s: OverlaySnapshot,
  from: string,
  to: string,
  o: PathOptions,
  excluded: Excluded,
): Path | undefined {
  const params = o.params ?? DEFAULT_COST;
  let best = new Map<string, Path>([[from, { hops: [from], cost: 0 }]]);
  for (let round = 0; round < o.maxHops; round++) {
    const next = new Map(best);
    for (const [node, path] of best) {
      if (node === to) continue;
      if (node !== from && s.down?.has(node)) continue;
      for (const [peer, link] of s.links.get(node) ?? []) {
        if (path.hops.includes(peer) || excluded.has(linkKey(node, peer))) continue;
        const cost = path.cost + linkCost(link, s.load.get(peer) ?? 0, params);
        if (!Number.isFinite(cost)) continue;
        const candidate = { hops: [...path.hops, peer], cost };
        if (better(candidate, next.get(peer))) next.set(peer, candidate);
      }
    }
    best = next;
  }
  return from === to ? undefined : best.get(to);
}

export function computePaths(
  s: OverlaySnapshot,
  from: string,
  to: string,
  o: PathOptions,
): { best: Path | undefined; alternate: Path | undefined } {
  const best = cheapest(s, from, to, o, new Set());
  if (!best) return { best: undefined, alternate: undefined };
  const links = best.hops.slice(1).map((h, i) => linkKey(best.hops[i]!, h));
  const disjoint = cheapest(s, from, to, o, new Set(links));
  if (disjoint) return { best, alternate: disjoint };
  // No fully disjoint path: the cheapest one that avoids at least one of best's links.
  let alternate: Path | undefined;
  for (const link of links) {
    const p = cheapest(s, from, to, o, new Set([link]));
    if (p && better(p, alternate)) alternate = p;
  }
  return { best, alternate };
}
