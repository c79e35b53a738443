import { describe, expect, it } from 'vitest';
import { DEFAULT_COST, type LinkStats, linkCost } from '../../src/routing/link-cost.ts';
import { choosePath, routeAll } from '../../src/routing/path-choice.ts';
import { computePaths, type OverlaySnapshot } from '../../src/routing/paths.ts';

const L = (rttMs: number, lossRate = 0, jitterMs = 0): LinkStats => ({ rttMs, jitterMs, lossRate });

/** Symmetric links from a list like ['A-B', 20] (RTT in ms). */
function snapshot(
  edges: [string, LinkStats][],
  down: string[] = [],
  load: [string, number][] = [],
): OverlaySnapshot {
  const links = new Map<string, Map<string, LinkStats>>();
  const relays = new Set<string>();
  for (const [pair, stats] of edges) {
    const [a, b] = pair.split('-') as [string, string];
    relays.add(a).add(b);
    if (!links.has(a)) links.set(a, new Map());
    if (!links.has(b)) links.set(b, new Map());
    links.get(a)!.set(b, stats);
    links.get(b)!.set(a, stats);
  }
  return { relays: [...relays].sort(), links, load: new Map(load), down: new Set(down) };
}

const OPTS = { maxHops: 3, switchGainMs: 5, switchGainRatio: 0.15 };
const hops = (p: { hops: readonly string[] } | undefined) => p?.hops.join('-');

describe('link cost', () => {
  it.each([
    ['more RTT', L(20), L(40)],
    ['more jitter', L(20, 0, 1), L(20, 0, 5)],
    ['more loss', L(20, 0.01), L(20, 0.05)],
  ])('grows with %s', (_name, low, high) => {
    expect(linkCost(high, 0)).toBeGreaterThan(linkCost(low, 0));
  });

  it('grows steeply as the entered relay nears capacity', () => {
    expect(linkCost(L(20), 0.9) - linkCost(L(20), 0)).toBeGreaterThan(
      (10 * (linkCost(L(20), 0.5) - linkCost(L(20), 0))) / 2,
    );
  });

  it.each([
    ['half its probes lost', L(10, 0.5)],
    ['a stale measurement', { ...L(10), ageMs: DEFAULT_COST.maxAgeMs + 1 }],
    ['no RTT at all', L(Number.NaN)],
  ])('is infinite for a link with %s', (_name, link) => {
    expect(linkCost(link, 0)).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('path computation', () => {
  it('detours through C when A-B is slower than A-C plus C-B', () => {
    const s = snapshot([
      ['A-B', L(100)],
      ['A-C', L(20)],
      ['C-B', L(20)],
    ]);
    const { best, alternate } = computePaths(s, 'A', 'B', OPTS);
    expect(hops(best)).toBe('A-C-B');
    expect(hops(alternate)).toBe('A-B');
  });

  it('prefers the direct link on a tie, thanks to the per-hop cost', () => {
    const s = snapshot([
      ['A-B', L(40)],
      ['A-C', L(20)],
      ['C-B', L(20)],
    ]);
    expect(hops(computePaths(s, 'A', 'B', OPTS).best)).toBe('A-B');
  });

  it('respects the hop limit', () => {
    const s = snapshot([
      ['A-B', L(500)],
      ['A-C', L(5)],
      ['C-D', L(5)],
      ['D-B', L(5)],
    ]);
    expect(hops(computePaths(s, 'A', 'B', { maxHops: 3 }).best)).toBe('A-C-D-B');
    expect(hops(computePaths(s, 'A', 'B', { maxHops: 2 }).best)).toBe('A-B');
  });

  it('avoids broken links and never crosses a relay that is down', () => {
    const s = snapshot(
      [
        ['A-B', L(10, 1)],
        ['A-C', L(10)],
        ['C-B', L(10)],
        ['A-D', L(1)],
        ['D-B', L(1)],
      ],
      ['D'],
    );
    const { best, alternate } = computePaths(s, 'A', 'B', OPTS);
    expect(hops(best)).toBe('A-C-B');
    expect(alternate).toBeUndefined();
  });

  it('offers an alternate that shares no link with the best where one exists', () => {
    const s = snapshot([
      ['A-B', L(10)],
      ['A-C', L(10)],
      ['C-B', L(10)],
      ['A-D', L(12)],
      ['D-B', L(12)],
    ]);
    const { best, alternate } = computePaths(s, 'A', 'B', OPTS);
    expect(hops(best)).toBe('A-B');
    expect(hops(alternate)).toBe('A-C-B');
  });

  it('breaks exact ties the same way every time', () => {
    const s = snapshot([
      ['A-C', L(10)],
      ['C-B', L(10)],
      ['A-D', L(10)],
      ['D-B', L(10)],
    ]);
    expect(hops(computePaths(s, 'A', 'B', OPTS).best)).toBe('A-C-B');
  });

  it('finds nothing for an unreachable relay', () => {
    const s = snapshot([
      ['A-C', L(10)],
      ['B-D', L(10)],
    ]);
    expect(computePaths(s, 'A', 'B', OPTS)).toEqual({ best: undefined, alternate: undefined });
  });
});

describe('hysteresis', () => {
  const direct = snapshot([
    ['A-B', L(40)],
    ['A-C', L(25)],
    ['C-B', L(25)],
  ]);

  it('keeps the current path for a small gain and switches for a clear one', () => {
    const current = { hops: ['A', 'B'], cost: 0 };
    const small = snapshot([
      ['A-B', L(42)],
      ['A-C', L(19)],
      ['C-B', L(19)],
    ]);
    expect(choosePath(current, computePaths(small, 'A', 'B', OPTS), small, OPTS).reason).toBe('kept');
    const slow = snapshot([
      ['A-B', L(100)],
      ['A-C', L(19)],
      ['C-B', L(19)],
    ]);
    const r = choosePath(current, computePaths(slow, 'A', 'B', OPTS), slow, OPTS);
    expect([r.reason, hops(r.path)]).toEqual(['better', 'A-C-B']);
  });

  it('leaves a broken path at once, even for a worse one', () => {
    const current = { hops: ['A', 'B'], cost: 0 };
    const broken = snapshot([
      ['A-B', L(40, 1)],
      ['A-C', L(60)],
      ['C-B', L(60)],
    ]);
    const r = choosePath(current, computePaths(broken, 'A', 'B', OPTS), broken, OPTS);
    expect([r.reason, hops(r.path)]).toEqual(['broken', 'A-C-B']);
  });

  it('comes back to a recovered direct link only with a clear gain', () => {
    const viaC = { hops: ['A', 'C', 'B'], cost: 0 };
    const slightly = snapshot([
      ['A-B', L(36)],
      ['A-C', L(19)],
      ['C-B', L(19)],
    ]);
    expect(choosePath(viaC, computePaths(slightly, 'A', 'B', OPTS), slightly, OPTS).reason).toBe('kept');
    const fast = snapshot([
      ['A-B', L(10)],
      ['A-C', L(19)],
      ['C-B', L(19)],
    ]);
    expect(choosePath(viaC, computePaths(fast, 'A', 'B', OPTS), fast, OPTS)).toMatchObject({
      reason: 'better',
      path: { hops: ['A', 'B'] },
    });
  });

  it('reports every route change with its reason across the table', () => {
    const first = routeAll(direct, 'A', new Map(), OPTS);
    expect(first.changes.map((c) => `${c.to}:${c.reason}`)).toEqual(['B:initial', 'C:initial']);
    const again = routeAll(direct, 'A', first.routes, OPTS);
    expect(again.changes).toEqual([]);
    const cut = snapshot([['A-B', L(40)]]);
    expect(routeAll(cut, 'A', first.routes, OPTS).changes).toEqual([]);
    const gone = snapshot([
      ['A-B', L(40)],
      ['A-C', L(19, 1)],
      ['C-B', L(19)],
    ]);
    expect(
      routeAll(gone, 'A', first.routes, OPTS).changes.map((c) => `${c.to}:${c.reason}:${hops(c.path)}`),
    ).toEqual(['C:broken:A-B-C']);
  });
});
