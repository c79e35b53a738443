/**
 * Links as the backbone core publishes and routes on them: one relay's own estimators turned into
 * link records (a link silent past the dead timer counts as fully lossy, whatever its averages
 * say), and a routing snapshot from its own links, the ones other relays published, and the
 * directory's load and draining states. The world simulation builds its snapshots with the same
 * functions (src/sim/backbone.ts).
 */
import type { LinkRecord, RelayRecord } from '../directory/types.ts';
import type { LinkEstimator } from '../measure/link-estimator.ts';
import type { LinkStats } from '../routing/link-cost.ts';
import type { OverlaySnapshot } from '../routing/paths.ts';

/**
 * What one relay publishes about its link to `to`, from its estimator, at `now`. `data`: the
 * data frames received from `to` so far, and the data loss found on the link toward it
 * (delivery.ts), which counts when it is above the probes' loss; `endIn`, the data frames `to`
 * originated that reached this relay as their final hop (end-to-end.ts).
 */
export function linkRecord(
  from: string,
  to: string,
  estimator: LinkEstimator,
  now: number,
  deadAfterMs: number,
  data?: { readonly received: number; readonly loss: number | undefined; readonly endIn?: number },
): LinkRecord {
  const e = estimator.estimate(now);
  const dead = estimator.quiet(now, deadAfterMs);
  return {
    from,
    to,
    rttMs: e.rttMs,
    rttP50Ms: e.rttP50Ms,
    rttP95Ms: e.rttP95Ms,
    jitterMs: e.jitterMs,
    lossRate: dead ? 1 : Math.max(e.lossRate, data?.loss ?? 0),
    samples: e.samples,
    updatedAt: now,
    ...(data ? { dataIn: data.received } : {}),
    ...(data?.endIn !== undefined ? { endIn: data.endIn } : {}),
  };
}

/**
 * The snapshot `self` routes on: `relays` (itself and its peers), links by source (own first, so
 * a published copy of its own links never overrides fresher ones), load as allocations over
 * capacity, draining relays as down.
 */
export function routingSnapshot(
  relays: readonly string[],
  own: readonly LinkRecord[],
  remote: readonly LinkRecord[],
  records: readonly RelayRecord[],
): OverlaySnapshot {
  const links = new Map<string, Map<string, LinkStats>>();
  const add = (l: LinkRecord) => {
    let row = links.get(l.from);
    if (!row) {
      row = new Map();
      links.set(l.from, row);
    }
    row.set(l.to, { rttMs: l.rttMs, jitterMs: l.jitterMs, lossRate: l.lossRate });
  };
  const self = own[0]?.from;
  for (const l of remote) if (l.from !== self) add(l);
  for (const l of own) add(l);
  const load = new Map(records.map((r) => [r.id, r.capacity > 0 ? r.load.allocations / r.capacity : 1]));
  const down = new Set(records.filter((r) => r.state === 'draining').map((r) => r.id));
  return { relays, links, load, down };
}
