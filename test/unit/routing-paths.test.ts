import { describe, expect, it } from 'vitest';
import { DEFAULT_COST, type LinkStats } from '../../src/routing/link-cost.ts';
import {
  bestPathsFrom,
  computePaths,
  type OverlaySnapshot,
  type Path,
  pathCost,
  sharedLinks,
} from '../../src/routing/paths.ts';
import { rng } from '../support/fuzz.ts';

const L = (rttMs: number, lossRate = 0, ageMs?: number): LinkStats => ({
  rttMs,
  jitterMs: 0,
  lossRate,
  ...(ageMs === undefined ? {} : { ageMs }),
});

/** Symmetric links from entries like ['A-B', L(20)]; relays in the order given unless listed. */
function snapshot(
  edges: [string, LinkStats][],
  o: { down?: string[]; relays?: string[] } = {},
): OverlaySnapshot {
  const links = new Map<string, Map<string, LinkStats>>();
  const relays = new Set<string>(o.relays);
  for (const [pair, stats] of edges) {
    const [a, b] = pair.split('-') as [string, string];
    if (!o.relays) relays.add(a).add(b);
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      const row = links.get(x) ?? new Map<string, LinkStats>();
      row.set(y, stats);
      links.set(x, row);
    }
  }
  return { relays: [...relays], links, load: new Map(), down: new Set(o.down) };
}

const H3 = { maxHops: 3 };
const hops = (p: Path | undefined) => p?.hops.join('-');
const paths = (s: OverlaySnapshot, maxHops = 3) => {
  const r = computePaths(s, 'A', 'B', { maxHops });
  return [hops(r.best), hops(r.alternate)];
};

describe('computePaths', () => {
  it.each<[string, [string, LinkStats][], number, (string | undefined)[]]>([
    [
      'detours through C when A-B is slower than A-C plus C-B',
      [
        ['A-B', L(100)],
        ['A-C', L(20)],
        ['C-B', L(20)],
      ],
      3,
      ['A-C-B', 'A-B'],
    ],
    [
      'keeps the direct link when it ties with a detour, thanks to the hop cost',
      [
        ['A-B', L(40)],
        ['A-C', L(20)],
        ['C-B', L(20)],
      ],
      3,
      ['A-B', 'A-C-B'],
    ],
    [
      'takes a 3-link path when allowed',
      [
        ['A-B', L(500)],
        ['A-C', L(5)],
        ['C-D', L(5)],
        ['D-B', L(5)],
      ],
      3,
      ['A-C-D-B', 'A-B'],
    ],
    [
      'never uses a 3-link path with maxHops 2',
      [
        ['A-B', L(500)],
        ['A-C', L(5)],
        ['C-D', L(5)],
        ['D-B', L(5)],
      ],
      2,
      ['A-B', undefined],
    ],
    [
      'uses only the direct link with maxHops 1',
      [
        ['A-B', L(500)],
        ['A-C', L(5)],
        ['C-B', L(5)],
      ],
      1,
      ['A-B', undefined],
    ],
    [
      'avoids a link losing every probe',
      [
        ['A-B', L(10, 1)],
        ['A-C', L(30)],
        ['C-B', L(30)],
      ],
      3,
      ['A-C-B', undefined],
    ],
    [
      'avoids a link with stale measurements',
      [
        ['A-B', L(10, 0, 60_000)],
        ['A-C', L(30)],
        ['C-B', L(30)],
      ],
      3,
      ['A-C-B', undefined],
    ],
    [
      'finds nothing when the destination is cut off',
      [
        ['A-C', L(10)],
        ['B-D', L(10)],
      ],
      3,
      [undefined, undefined],
    ],
    [
      'finds nothing when the only path is too long',
      [
        ['A-C', L(5)],
        ['C-D', L(5)],
        ['D-B', L(5)],
      ],
      2,
      [undefined, undefined],
    ],
  ])('%s', (_name, edges, maxHops, expected) => {
    expect(paths(snapshot(edges), maxHops)).toEqual(expected);
  });

  it('offers an alternate that shares no link with the best where one exists', () => {
    const s = snapshot([
      ['A-B', L(10)],
      ['A-C', L(10)],
      ['C-B', L(10)],
      ['A-D', L(12)],
      ['D-B', L(12)],
      ['C-D', L(1)],
    ]);
    const { best, alternate } = computePaths(s, 'A', 'B', H3);
    expect([hops(best), hops(alternate)]).toEqual(['A-B', 'A-C-B']);
    expect(sharedLinks(best!.hops, alternate!.hops)).toBe(0);
  });

  it('falls back to the alternate that shares the fewest links, even when dearer, where none is disjoint', () => {
    // A's only way out is A-C, so every path shares it; A-C-D-E-B is cheap but also shares C-D.
    const s = snapshot([
      ['A-C', L(10)],
      ['C-D', L(10)],
      ['D-B', L(10)],
      ['D-E', L(6)],
      ['E-B', L(6)],
      ['C-F', L(40)],
      ['F-B', L(40)],
    ]);
    const { best, alternate } = computePaths(s, 'A', 'B', { maxHops: 4 });
    expect([hops(best), hops(alternate)]).toEqual(['A-C-D-B', 'A-C-F-B']);
    expect(sharedLinks(best!.hops, alternate!.hops)).toBe(1);
  });

  it('counts a link crossed the other way round as shared', () => {
    expect(sharedLinks(['A', 'C', 'D', 'B'], ['A', 'D', 'C', 'B'])).toBe(1);
    expect(sharedLinks(['A', 'C', 'B'], ['A', 'D', 'B'])).toBe(0);
  });

  it('never crosses a relay that is down, but reaches it and starts from it', () => {
    const edges: [string, LinkStats][] = [
      ['A-B', L(100)],
      ['A-D', L(2)],
      ['D-B', L(2)],
    ];
    const s = snapshot(edges, { down: ['D'] });
    expect(paths(s)).toEqual(['A-B', undefined]);
    expect(hops(computePaths(s, 'A', 'D', H3).best)).toBe('A-D');
    expect(hops(computePaths(s, 'D', 'B', H3).best)).toBe('D-B');
    expect(pathCost(s, ['A', 'D', 'B'])).toBe(Number.POSITIVE_INFINITY);
  });

  it('ignores links to relays that are not in the snapshot', () => {
    const s = snapshot(
      [
        ['A-B', L(100)],
        ['A-X', L(1)],
        ['X-B', L(1)],
      ],
      { relays: ['A', 'B'] },
    );
    expect(paths(s)).toEqual(['A-B', undefined]);
    expect(computePaths(s, 'A', 'X', H3)).toEqual({ best: undefined, alternate: undefined });
  });

  it('finds no path from a relay to itself', () => {
    expect(computePaths(snapshot([['A-B', L(10)]]), 'A', 'A', H3)).toEqual({
      best: undefined,
      alternate: undefined,
    });
  });

  it.each([0, -1, 1.5, Number.NaN])('refuses maxHops %s as a programmer error', (maxHops) => {
    expect(() => computePaths(snapshot([['A-B', L(10)]]), 'A', 'B', { maxHops })).toThrow(RangeError);
  });

  it.each<[string, string[]]>([
    ['listed in order', ['A', 'B', 'C', 'D']],
    ['listed in reverse', ['D', 'C', 'B', 'A']],
    ['listed shuffled', ['C', 'A', 'D', 'B']],
  ])('breaks exact ties by the lexicographic path whatever the order of relays (%s)', (_name, relays) => {
    const edges: [string, LinkStats][] = [
      ['A-D', L(10)],
      ['D-B', L(10)],
      ['A-C', L(10)],
      ['C-B', L(10)],
    ];
    expect(paths(snapshot(edges, { relays }))).toEqual(['A-C-B', 'A-D-B']);
  });

  it('breaks a cost tie by fewer hops when there is no hop cost', () => {
    const s = snapshot([
      ['A-B', L(40)],
      ['A-C', L(20)],
      ['C-B', L(20)],
      ['A-D', L(10)],
      ['D-E', L(10)],
      ['E-B', L(20)],
    ]);
    const params = { ...DEFAULT_COST, hopMs: 0 };
    const { best } = computePaths(s, 'A', 'B', { maxHops: 3, params });
    expect(best).toEqual({ hops: ['A', 'B'], cost: 20 });
  });
});

/** Every simple path from `from` to `to` of at most `maxHops` links, with its cost. */
function allPaths(s: OverlaySnapshot, from: string, to: string, maxHops: number): Path[] {
  const out: Path[] = [];
  const extend = (hops: string[]) => {
    const last = hops[hops.length - 1]!;
    if (last === to) return void out.push({ hops, cost: pathCost(s, hops) });
    if (hops.length > maxHops) return;
    for (const next of s.links.get(last)?.keys() ?? []) if (!hops.includes(next)) extend([...hops, next]);
  };
  extend([from]);
  return out.filter((p) => Number.isFinite(p.cost));
}

const order = (key: (p: Path) => number) => (a: Path, b: Path) =>
  key(a) - key(b) || a.hops.length - b.hops.length || (a.hops.join('\n') < b.hops.join('\n') ? -1 : 1);

describe('computePaths against brute force on random overlays', () => {
  // RTTs are even integers, so path costs are exact and ties are frequent.
  const overlays = Array.from({ length: 40 }, (_, seed) => {
    const r = rng(seed + 1);
    const ids = ['A', 'B', 'C', 'D', 'E', 'F', 'G'];
    const edges: [string, LinkStats][] = [];
    for (let i = 0; i < ids.length; i++)
      for (let j = i + 1; j < ids.length; j++) {
        if (r() < 0.35) continue;
        edges.push([`${ids[i]}-${ids[j]}`, L(2 * Math.floor(1 + r() * 6), r() < 0.1 ? 1 : 0)]);
      }
    return { seed, s: snapshot(edges, { relays: ids, down: r() < 0.3 ? ['D'] : [] }) };
  });

  it.each(overlays)(
    'gives the least-cost, fewest-hop, lexicographically first path (seed $seed)',
    ({ s }) => {
      for (const maxHops of [1, 2, 3, 4]) {
        for (const to of ['B', 'D', 'G']) {
          const all = allPaths(s, 'A', to, maxHops).sort(order((p) => p.cost));
          const { best, alternate } = computePaths(s, 'A', to, { maxHops });
          expect(best).toEqual(all[0]);
          expect(bestPathsFrom(s, 'A', { maxHops }).get(to)).toEqual(all[0]);
          if (!best) continue;
          const rest = all
            .filter((p) => hops(p) !== hops(best))
            .sort(order((p) => sharedLinks(best.hops, p.hops) * 1e6 + p.cost));
          expect(alternate).toEqual(rest[0]);
        }
      }
    },
  );
});
