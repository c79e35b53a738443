/**
 * A mesh started from nothing, on a matrix of true link properties: does the backbone core's
 * routing converge to what a fresh routing table would take, and how often does it flap?
 *
 * Every directed link is probed every `probeIntervalMs` (replies after the RTT plus exponential
 * jitter, or lost), into the same LinkEstimator the relay uses, from time 0 with nothing measured.
 * Each relay publishes its links once per `syncMs` (own phase) and reads everyone's once per
 * `syncMs` (own phase), so a source knows its own links first and the rest up to two syncs later,
 * as in the relay. Sources recompute every `recomputeMs` for the first `denseSeconds`, then once
 * a second, with the core's link records and route table (src/backbone/links.ts,
 * src/routing/route-table.ts), once per rule given.
 *
 * Gain is measured on the true link costs: Σ (direct - chosen) / Σ (direct - best within the hop
 * limit), over the pairs from the sources to every other relay with a direct link. Flaps: route
 * changes for reason 'better' after `denseSeconds`, per flow per hour (no failures are injected).
 * Pure and deterministic for a seed; the matrix comes in as a parameter.
 */
import { linkRecord } from '../backbone/links.ts';
import { LinkEstimator } from '../measure/link-estimator.ts';
import type { LinkStats } from '../routing/link-cost.ts';
import { bestPathsFrom, type OverlaySnapshot, pathCost } from '../routing/paths.ts';
import { RouteTable, type RouteTableOptions } from '../routing/route-table.ts';
import { createRng } from './random.ts';

export interface MeshLink {
  readonly rttMs: number;
  /** Mean of the exponential extra delay on a reply, ms. */
  readonly jitterMs: number;
  readonly loss: number;
}

export interface MeshStartOptions {
  /** links[i][j]: the directed link i -> j; undefined where there is none. */
  readonly links: readonly (readonly (MeshLink | undefined)[])[];
  readonly sources: readonly number[];
  readonly seconds: number;
  readonly denseSeconds: number;
  readonly cadence: {
    readonly probeIntervalMs: number;
    readonly recomputeMs: number;
    readonly syncMs: number;
    readonly estimatorWindow: number;
    readonly lossTimeoutMs: number;
    readonly deadAfterMs: number;
  };
  /** The rules to compare, each run on the same probes. */
  readonly rules: readonly RouteTableOptions[];
  readonly seed: number;
}

export interface MeshStartRule {
  /** Share of the available detour gain the table kept from the start takes at the end. */
  readonly gainTaken: number;
  /** The same for a table computed fresh on the last snapshot (no history). */
  readonly freshGainTaken: number;
  readonly flapsPerFlowHour: number;
  /** Seconds after which the gain stays within 1 % of its final value. */
  readonly convergedAfterS: number;
}

export interface MeshStartResult {
  readonly flows: number;
  /** Pairs whose best path within the hop limit is not the direct link (true costs). */
  readonly detourPairs: number;
  readonly rules: readonly MeshStartRule[];
}

export function meshFromNothing(o: MeshStartOptions): MeshStartResult {
  const R = o.links.length;
  const ids = Array.from({ length: R }, (_, i) => `r${i}`);
  const rng = createRng(o.seed);
  const c = o.cadence;
  const est: (LinkEstimator | undefined)[] = [];
  const phase = new Float64Array(R * R);
  const seq = new Uint32Array(R * R);
  for (let i = 0; i < R; i++) {
    for (let j = 0; j < R; j++) {
      const l = o.links[i]![j];
      est.push(
        l && i !== j
          ? new LinkEstimator({ window: c.estimatorWindow, lossTimeoutMs: c.lossTimeoutMs })
          : undefined,
      );
      phase[i * R + j] = rng.next() * c.probeIntervalMs;
    }
  }
  const syncPhase = Array.from({ length: R }, () => rng.next() * c.syncMs);
  const readPhase = Array.from({ length: R }, () => rng.next() * c.syncMs);
  const truth = trueSnapshot(o.links, ids);
  const rowOf = (i: number, now: number): Map<string, LinkStats> => {
    const row = new Map<string, LinkStats>();
    for (let j = 0; j < R; j++) {
      const e = est[i * R + j];
      if (!e) continue;
      const r = linkRecord(ids[i]!, ids[j]!, e, now, c.deadAfterMs);
      row.set(ids[j]!, { rttMs: r.rttMs, jitterMs: r.jitterMs, lossRate: r.lossRate });
    }
    return row;
  };
  const published: (Map<string, LinkStats> | undefined)[] = new Array(R).fill(undefined);
  const views = o.sources.map(() => new Map<string, Map<string, LinkStats>>());
  const tables = o.rules.map((rule) => o.sources.map((s) => new RouteTable(ids[s]!, rule)));
  const flaps = o.rules.map(() => 0);
  const history = o.rules.map(() => [] as number[]);
  const optimum = o.sources.map((s) => bestPathsFrom(truth, ids[s]!, o.rules[0]!));

  let t = 0;
  let lastSnapshots: OverlaySnapshot[] = [];
  const end = o.seconds * 1000;
  while (t < end) {
    const step = t < o.denseSeconds * 1000 ? c.recomputeMs : 1000;
    const next = t + step;
    // Probes sent in [t, next): their replies come back at their own times.
    for (let k = 0; k < R * R; k++) {
      const e = est[k];
      if (!e) continue;
      const l = o.links[Math.floor(k / R)]![k % R]!;
      const first = phase[k]! + Math.ceil((t - phase[k]!) / c.probeIntervalMs) * c.probeIntervalMs;
      for (let at = first; at < next; at += c.probeIntervalMs) {
        const s = seq[k]!;
        seq[k] = s + 1;
        e.sent(s, at);
        if (rng.next() < l.loss) continue;
        e.replied(s, at + l.rttMs - l.jitterMs * Math.log(1 - rng.next()));
      }
    }
    for (let i = 0; i < R; i++) {
      if (crossed(t, next, syncPhase[i]!, c.syncMs)) published[i] = rowOf(i, next);
    }
    lastSnapshots = o.sources.map((src, n) => {
      const view = views[n]!;
      if (crossed(t, next, readPhase[src]!, c.syncMs)) {
        for (let i = 0; i < R; i++) {
          const row = published[i];
          if (row && i !== src) view.set(ids[i]!, row);
        }
      }
      const links = new Map(view);
      links.set(ids[src]!, rowOf(src, next));
      return { relays: ids, links, load: new Map() };
    });
    o.rules.forEach((_rule, r) => {
      o.sources.forEach((_src, n) => {
        const changes = tables[r]![n]!.update(lastSnapshots[n]!, next);
        if (next > o.denseSeconds * 1000) flaps[r]! += changes.filter((ch) => ch.reason === 'better').length;
      });
      history[r]!.push(gainShare(tables[r]!.map((tb) => tb.routes)));
    });
    t = next;
  }

  function gainShare(routes: readonly ReadonlyMap<string, { readonly hops: readonly string[] }>[]): number {
    let taken = 0;
    let available = 0;
    o.sources.forEach((src, n) => {
      for (const [to, best] of optimum[n]!) {
        const direct = pathCost(truth, [ids[src]!, to]);
        if (!Number.isFinite(direct)) continue;
        available += direct - best.cost;
        const chosen = routes[n]!.get(to);
        taken += direct - (chosen ? pathCost(truth, chosen.hops) : direct);
      }
    });
    return available > 0 ? taken / available : 1;
  }

  const fresh = gainShare(
    o.sources.map((src, n) => bestPathsFrom(lastSnapshots[n]!, ids[src]!, o.rules[0]!)),
  );
  let flows = 0;
  let detourPairs = 0;
  for (const table of optimum) {
    for (const p of table.values()) {
      flows++;
      if (p.hops.length > 2) detourPairs++;
    }
  }
  const steadyHours = (o.seconds - o.denseSeconds) / 3600;
  return {
    flows,
    detourPairs,
    rules: o.rules.map((_rule, r) => {
      const h = history[r]!;
      const final = h[h.length - 1] ?? 0;
      let converged = h.length;
      while (converged > 0 && Math.abs(h[converged - 1]! - final) <= 0.01) converged--;
      return {
        gainTaken: final,
        freshGainTaken: fresh,
        flapsPerFlowHour: flows > 0 ? flaps[r]! / flows / steadyHours : 0,
        convergedAfterS: timeOfStep(converged, o.denseSeconds, c.recomputeMs),
      };
    }),
  };
}

/** Whether a periodic event (every `period` from `phase`) falls in [from, to). */
function crossed(from: number, to: number, phase: number, period: number): boolean {
  const first = phase + Math.ceil((from - phase) / period) * period;
  return first < to;
}

/** The time (s) at the end of step `n` (0-based count of steps done). */
function timeOfStep(n: number, denseSeconds: number, recomputeMs: number): number {
  const dense = Math.round((denseSeconds * 1000) / recomputeMs);
  return n <= dense ? (n * recomputeMs) / 1000 : denseSeconds + (n - dense);
}

function trueSnapshot(links: MeshStartOptions['links'], ids: readonly string[]): OverlaySnapshot {
  const map = new Map<string, Map<string, LinkStats>>();
  links.forEach((row, i) => {
    const m = new Map<string, LinkStats>();
    row.forEach((l, j) => {
      // The jitter an estimator converges to on exponential extra delay of mean J is about J.
      if (l && i !== j)
        m.set(ids[j]!, { rttMs: l.rttMs + l.jitterMs, jitterMs: l.jitterMs, lossRate: l.loss });
    });
    map.set(ids[i]!, m);
  });
  return { relays: ids, links: map, load: new Map() };
}
