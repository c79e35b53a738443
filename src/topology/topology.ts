/**
 * The backbone as an operator sees it: relays (where, what state, how loaded), links (RTT, jitter,
 * loss and a health verdict) and the best and alternate overlay path between every pair of relays,
 * built from one directory snapshot. The dashboard and `GET /v1/admin/topology` serve this.
 *
 * Paths are computed fresh with src/routing (same cost, same hop limit as the relays), without
 * the relays' hysteresis: they show where the media would go now, which is where the relays' own
 * choices converge. Nothing here is secret: relay records carry public addresses and URLs only.
 *
 * Pure: relays, links and `now` in; no clock, no I/O. Must not import relay/ or workers/.
 */
import type { LinkRecord, RelayRecord, RelayState } from '../directory/types.ts';
import { type CostParams, computePaths, DEFAULT_COST, type LinkStats, linkCost } from '../routing/index.ts';

export type LinkHealth = 'up' | 'degraded' | 'dead';

/**
 * A link is degraded where a call over it alone would already count as poor in the simulation's
 * terms (docs/SIMULATION.md: loss above 1.2 %, jitter above 12 ms), and dead where src/routing
 * will not use it (loss at or above `brokenLoss`, or a measurement older than `maxAgeMs`).
 */
export const DEGRADED_LOSS = 0.012;
export const DEGRADED_JITTER_MS = 12;

export interface TopologyRelay {
  readonly id: string;
  readonly region: string;
  readonly lat: number;
  readonly lon: number;
  readonly state: RelayState;
  readonly version: string;
  readonly startedAt: number;
  readonly capacity: number;
  readonly allocations: number;
  readonly pps: number;
  readonly bps: number;
  /** allocations / capacity, 0..1 (1 when capacity is 0). */
  readonly utilization: number;
}

export interface TopologyLink {
  readonly from: string;
  readonly to: string;
  readonly rttMs: number;
  readonly jitterMs: number;
  readonly lossRate: number;
  readonly health: LinkHealth;
  readonly ageMs: number;
  /** The routing cost in effective ms (src/routing/link-cost.ts); null when the link is unusable. */
  readonly cost: number | null;
}

export interface TopologyPath {
  readonly hops: readonly string[];
  readonly cost: number;
}

export interface TopologyRoute {
  readonly from: string;
  readonly to: string;
  readonly best: TopologyPath | null;
  readonly alternate: TopologyPath | null;
}

export interface Topology {
  readonly at: number;
  readonly relays: readonly TopologyRelay[];
  readonly links: readonly TopologyLink[];
  /** Every ordered pair of relays, unless there are more than `maxRoutedRelays`. */
  readonly routes: readonly TopologyRoute[];
}

export interface TopologyOptions {
  /** Hop limit of overlay paths; the relays use 3. */
  readonly maxHops: number;
  readonly params: CostParams;
  /** Past this many relays the all-pairs routes are left out (n² paths); ask per pair instead. */
  readonly maxRoutedRelays: number;
}

export const DEFAULT_TOPOLOGY: TopologyOptions = Object.freeze({
  maxHops: 3,
  params: DEFAULT_COST,
  maxRoutedRelays: 40,
});

const round = (x: number, digits = 2) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export function linkHealth(link: LinkStats, params: CostParams = DEFAULT_COST): LinkHealth {
  if (!Number.isFinite(linkCost(link, 0, params))) return 'dead';
  if (link.lossRate > DEGRADED_LOSS || link.jitterMs > DEGRADED_JITTER_MS) return 'degraded';
  return 'up';
}

function utilization(r: RelayRecord): number {
  return r.capacity > 0 ? Math.min(1, Math.max(0, r.load.allocations / r.capacity)) : 1;
}

/** The snapshot src/routing computes on: links by source, load per relay, draining relays down. */
function overlayOf(relays: readonly RelayRecord[], links: readonly TopologyLink[]) {
  const byFrom = new Map<string, Map<string, LinkStats>>();
  for (const l of links) {
    const m = byFrom.get(l.from) ?? new Map<string, LinkStats>();
    m.set(l.to, { rttMs: l.rttMs, jitterMs: l.jitterMs, lossRate: l.lossRate, ageMs: l.ageMs });
    byFrom.set(l.from, m);
  }
  return {
    relays: relays.map((r) => r.id),
    links: byFrom,
    load: new Map(relays.map((r) => [r.id, utilization(r)])),
    down: new Set(relays.filter((r) => r.state === 'draining').map((r) => r.id)),
  };
}

const pathOf = (p: { hops: readonly string[]; cost: number } | undefined): TopologyPath | null =>
  p ? { hops: [...p.hops], cost: round(p.cost) } : null;

export function buildTopology(
  relays: readonly RelayRecord[],
  records: readonly LinkRecord[],
  now: number,
  o: TopologyOptions = DEFAULT_TOPOLOGY,
): Topology {
  const sorted = [...relays].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const known = new Set(sorted.map((r) => r.id));
  const links: TopologyLink[] = records
    .filter((l) => known.has(l.from) && known.has(l.to) && l.from !== l.to)
    .map((l) => {
      const ageMs = Math.max(0, now - l.updatedAt);
      const stats = { rttMs: l.rttMs, jitterMs: l.jitterMs, lossRate: l.lossRate, ageMs };
      const cost = linkCost(stats, 0, o.params);
      return {
        from: l.from,
        to: l.to,
        rttMs: round(l.rttMs),
        jitterMs: round(l.jitterMs),
        lossRate: round(l.lossRate, 4),
        health: linkHealth(stats, o.params),
        ageMs,
        cost: Number.isFinite(cost) ? round(cost) : null,
      };
    })
    .sort((a, b) => (`${a.from}\0${a.to}` < `${b.from}\0${b.to}` ? -1 : 1));
  const routes: TopologyRoute[] = [];
  if (sorted.length <= o.maxRoutedRelays) {
    const overlay = overlayOf(sorted, links);
    for (const a of sorted) {
      for (const b of sorted) {
        if (a.id === b.id) continue;
        const { best, alternate } = computePaths(overlay, a.id, b.id, {
          maxHops: o.maxHops,
          params: o.params,
        });
        routes.push({ from: a.id, to: b.id, best: pathOf(best), alternate: pathOf(alternate) });
      }
    }
  }
  return {
    at: now,
    relays: sorted.map((r) => ({
      id: r.id,
      region: r.region,
      lat: r.lat,
      lon: r.lon,
      state: r.state,
      version: r.version,
      startedAt: r.startedAt,
      capacity: r.capacity,
      allocations: r.load.allocations,
      pps: r.load.pps,
      bps: r.load.bps,
      utilization: round(utilization(r), 4),
    })),
    links,
    routes,
  };
}
