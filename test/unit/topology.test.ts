import { describe, expect, it } from 'vitest';
import type { LinkRecord } from '../../src/directory/types.ts';
import { diffTopology } from '../../src/topology/changes.ts';
import { ChangeLog, DecisionWindow } from '../../src/topology/recent.ts';
import { buildTopology, DEFAULT_TOPOLOGY, linkHealth } from '../../src/topology/topology.ts';
import { relayRecord } from '../support/relay-record.ts';

const NOW = 1_700_000_000_000;
const relays = [
  relayRecord('a-1', '192.0.2.1', 48.8, 2.3),
  relayRecord('b-1', '192.0.2.2', 40.7, -74),
  relayRecord('c-1', '192.0.2.3', 51.5, -0.1),
];

function link(from: string, to: string, rttMs: number, over: Partial<LinkRecord> = {}): LinkRecord {
  return {
    from,
    to,
    rttMs,
    rttP50Ms: rttMs,
    rttP95Ms: rttMs,
    jitterMs: 1,
    lossRate: 0,
    samples: 100,
    updatedAt: NOW - 500,
    ...over,
  };
}

/** A triangle: a-b direct 80 ms, or a-c-b at 10 + 70 ms (a detour only when a-b breaks). */
function mesh(abLoss = 0): LinkRecord[] {
  return [
    link('a-1', 'b-1', 80, { lossRate: abLoss }),
    link('b-1', 'a-1', 80, { lossRate: abLoss }),
    link('a-1', 'c-1', 10),
    link('c-1', 'a-1', 10),
    link('c-1', 'b-1', 72),
    link('b-1', 'c-1', 72),
  ];
}

const route = (t: ReturnType<typeof buildTopology>, from: string, to: string) =>
  t.routes.find((r) => r.from === from && r.to === to)!;

describe('link health', () => {
  it('calls a link dead where the routing will not use it, degraded past the poor-call thresholds', () => {
    expect(linkHealth({ rttMs: 50, jitterMs: 2, lossRate: 0 })).toBe('up');
    expect(linkHealth({ rttMs: 50, jitterMs: 2, lossRate: 0.02 })).toBe('degraded');
    expect(linkHealth({ rttMs: 50, jitterMs: 15, lossRate: 0 })).toBe('degraded');
    expect(linkHealth({ rttMs: 50, jitterMs: 2, lossRate: 1 })).toBe('dead');
    expect(linkHealth({ rttMs: 50, jitterMs: 2, lossRate: 0, ageMs: 60_000 })).toBe('dead');
    expect(linkHealth({ rttMs: Number.NaN, jitterMs: 2, lossRate: 0 })).toBe('dead');
  });
});

describe('buildTopology', () => {
  it('lists relays by id with their load share, links with health and cost, and every pair routed', () => {
    const loaded = relays.map((r) =>
      r.id === 'b-1' ? { ...r, load: { allocations: 25, pps: 1, bps: 2 } } : r,
    );
    const t = buildTopology([...loaded].reverse(), mesh(), NOW);
    expect(t.relays.map((r) => r.id)).toEqual(['a-1', 'b-1', 'c-1']);
    expect(t.relays[1]).toMatchObject({ allocations: 25, capacity: 100, utilization: 0.25 });
    expect(t.links).toHaveLength(6);
    expect(t.links[0]).toMatchObject({ from: 'a-1', to: 'b-1', health: 'up', ageMs: 500 });
    expect(t.routes).toHaveLength(6);
    expect(route(t, 'a-1', 'b-1').best?.hops).toEqual(['a-1', 'b-1']);
    expect(route(t, 'a-1', 'b-1').alternate?.hops).toEqual(['a-1', 'c-1', 'b-1']);
  });

  it('detours around a dead link, and reports no path where none is left', () => {
    const t = buildTopology(relays, mesh(1), NOW);
    expect(t.links.find((l) => l.from === 'a-1' && l.to === 'b-1')).toMatchObject({
      health: 'dead',
      cost: null,
    });
    expect(route(t, 'a-1', 'b-1').best?.hops).toEqual(['a-1', 'c-1', 'b-1']);
    const cut = buildTopology(
      relays,
      mesh(1).filter((l) => !(l.from === 'c-1' && l.to === 'b-1')),
      NOW,
    );
    expect(route(cut, 'a-1', 'b-1')).toMatchObject({ best: null, alternate: null });
  });

  it('ignores links of relays that are not listed, and never routes through a draining relay', () => {
    const draining = relays.map((r) => (r.id === 'c-1' ? { ...r, state: 'draining' as const } : r));
    const t = buildTopology(draining, [...mesh(1), link('a-1', 'ghost', 1)], NOW);
    expect(t.links.some((l) => l.to === 'ghost')).toBe(false);
    expect(route(t, 'a-1', 'b-1').best).toBeNull();
  });

  it('leaves out the all-pairs routes past maxRoutedRelays', () => {
    const t = buildTopology(relays, mesh(), NOW, { ...DEFAULT_TOPOLOGY, maxRoutedRelays: 2 });
    expect(t.routes).toEqual([]);
  });

  it('carries no secrets: only the public fields of a relay record', () => {
    const t = buildTopology(relays, mesh(), NOW);
    expect(Object.keys(t.relays[0]!).sort()).toEqual(
      [
        'allocations',
        'bps',
        'capacity',
        'id',
        'lat',
        'lon',
        'pps',
        'region',
        'startedAt',
        'state',
        'utilization',
        'version',
      ].sort(),
    );
  });
});

describe('diffTopology', () => {
  it('says nothing for the first snapshot or an unchanged one', () => {
    const t = buildTopology(relays, mesh(), NOW);
    expect(diffTopology(undefined, t)).toEqual([]);
    expect(diffTopology(t, buildTopology(relays, mesh(), NOW + 1000))).toEqual([]);
  });

  it('reports a dead link and the failover of the paths that used it, then the way back', () => {
    const before = buildTopology(relays, mesh(), NOW);
    const broken = buildTopology(relays, mesh(1), NOW + 1000);
    const changes = diffTopology(before, broken);
    expect(changes).toContainEqual({
      type: 'link',
      at: NOW + 1000,
      from: 'a-1',
      to: 'b-1',
      before: 'up',
      after: 'dead',
    });
    expect(changes).toContainEqual({
      type: 'path',
      at: NOW + 1000,
      from: 'a-1',
      to: 'b-1',
      kind: 'failover',
      before: ['a-1', 'b-1'],
      after: ['a-1', 'c-1', 'b-1'],
    });
    const healed = diffTopology(broken, buildTopology(relays, mesh(), NOW + 2000));
    expect(healed).toContainEqual(
      expect.objectContaining({
        type: 'path',
        from: 'a-1',
        to: 'b-1',
        kind: 'reroute',
        after: ['a-1', 'b-1'],
      }),
    );
  });

  it('reports relays joining, draining and leaving', () => {
    const two = buildTopology(relays.slice(0, 2), [], NOW);
    const three = buildTopology(relays, [], NOW + 1);
    expect(diffTopology(two, three)).toContainEqual({ type: 'relay-up', at: NOW + 1, relay: 'c-1' });
    const draining = relays.map((r) => (r.id === 'a-1' ? { ...r, state: 'draining' as const } : r));
    expect(diffTopology(three, buildTopology(draining, [], NOW + 2))).toContainEqual({
      type: 'relay-draining',
      at: NOW + 2,
      relay: 'a-1',
    });
    expect(diffTopology(three, two)).toContainEqual({ type: 'relay-down', at: NOW, relay: 'c-1' });
  });
});

describe('DecisionWindow', () => {
  it('counts answers per basis per bucket and forgets buckets that left the window', () => {
    const w = new DecisionWindow(10_000, 6);
    w.record('probe', 0);
    w.record('probe', 9_999);
    w.record('learned', 10_000);
    w.record('distance', 55_000);
    const s = w.series(59_000);
    expect(s).toMatchObject({ start: 0, bucketMs: 10_000 });
    expect(s.counts.probe).toEqual([2, 0, 0, 0, 0, 0]);
    expect(s.counts.learned).toEqual([0, 1, 0, 0, 0, 0]);
    expect(s.counts.distance).toEqual([0, 0, 0, 0, 0, 1]);
    const later = w.series(75_000);
    expect(later.start).toBe(20_000);
    expect(later.counts.probe).toEqual([0, 0, 0, 0, 0, 0]);
    expect(later.counts.distance).toEqual([0, 0, 0, 1, 0, 0]);
    expect(w.series(10_000_000).counts.distance).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('refuses a window without buckets', () => {
    expect(() => new DecisionWindow(0, 6)).toThrow(RangeError);
    expect(() => new DecisionWindow(1000, 0)).toThrow(RangeError);
  });
});

describe('ChangeLog', () => {
  it('keeps the newest changes up to its capacity', () => {
    const log = new ChangeLog(3);
    for (let i = 0; i < 5; i++) log.push([{ type: 'relay-up', at: i, relay: `r${i}` }]);
    expect(log.list().map((c) => c.at)).toEqual([2, 3, 4]);
  });
});
