/**
 * What changed between two topology snapshots, as the dashboard's timeline shows it: relays that
 * came, went or started draining; links that died, degraded or recovered; best paths that moved.
 * A best path that moved because a link on it died is a failover; one that moved while its old
 * path still works is a reroute (something better appeared, or a load or loss change tipped it).
 *
 * Pure: two snapshots in, a list of changes out, stamped with the newer snapshot's time.
 */
import type { LinkHealth, Topology, TopologyLink } from './topology.ts';

export type TopologyChange =
  | {
      readonly type: 'relay-up' | 'relay-down' | 'relay-draining' | 'relay-active';
      readonly at: number;
      readonly relay: string;
    }
  | {
      readonly type: 'link';
      readonly at: number;
      readonly from: string;
      readonly to: string;
      readonly before: LinkHealth | null;
      readonly after: LinkHealth | null;
    }
  | {
      readonly type: 'path';
      readonly at: number;
      readonly from: string;
      readonly to: string;
      readonly kind: 'failover' | 'reroute' | 'lost' | 'found';
      readonly before: readonly string[] | null;
      readonly after: readonly string[] | null;
    };

const linkKey = (l: { from: string; to: string }) => `${l.from}\0${l.to}`;

function usesDeadLink(hops: readonly string[], links: ReadonlyMap<string, TopologyLink>): boolean {
  for (let i = 0; i + 1 < hops.length; i++) {
    const l = links.get(linkKey({ from: hops[i]!, to: hops[i + 1]! }));
    if (l === undefined || l.health === 'dead') return true;
  }
  return false;
}

export function diffTopology(prev: Topology | undefined, next: Topology): TopologyChange[] {
  if (prev === undefined) return [];
  const at = next.at;
  const changes: TopologyChange[] = [];
  const before = new Map(prev.relays.map((r) => [r.id, r]));
  const after = new Map(next.relays.map((r) => [r.id, r]));
  for (const r of next.relays) {
    const old = before.get(r.id);
    if (old === undefined) changes.push({ type: 'relay-up', at, relay: r.id });
    else if (old.state !== r.state) {
      changes.push({ type: r.state === 'draining' ? 'relay-draining' : 'relay-active', at, relay: r.id });
    }
  }
  for (const r of prev.relays) {
    if (!after.has(r.id)) changes.push({ type: 'relay-down', at, relay: r.id });
  }

  const oldLinks = new Map(prev.links.map((l) => [linkKey(l), l]));
  const newLinks = new Map(next.links.map((l) => [linkKey(l), l]));
  for (const [k, l] of newLinks) {
    const old = oldLinks.get(k);
    if (old?.health !== l.health) {
      changes.push({
        type: 'link',
        at,
        from: l.from,
        to: l.to,
        before: old?.health ?? null,
        after: l.health,
      });
    }
  }
  for (const [k, l] of oldLinks) {
    // A link of a relay that left goes with the relay; only report links lost between live relays.
    if (!newLinks.has(k) && after.has(l.from) && after.has(l.to)) {
      changes.push({ type: 'link', at, from: l.from, to: l.to, before: l.health, after: null });
    }
  }

  const oldRoutes = new Map(prev.routes.map((r) => [linkKey(r), r]));
  for (const r of next.routes) {
    const old = oldRoutes.get(linkKey(r));
    if (old === undefined) continue; // a new relay: its paths are news through relay-up
    const was = old.best?.hops ?? null;
    const now = r.best?.hops ?? null;
    if ((was ?? []).join('\0') === (now ?? []).join('\0')) continue;
    const kind =
      now === null ? 'lost' : was === null ? 'found' : usesDeadLink(was, newLinks) ? 'failover' : 'reroute';
    changes.push({ type: 'path', at, from: r.from, to: r.to, kind, before: was, after: now });
  }
  return changes;
}
