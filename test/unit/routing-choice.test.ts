import { describe, expect, it } from 'vitest';
import type { LinkStats } from '../../src/routing/link-cost.ts';
import {
  type ChoiceOptions,
  choosePath,
  DEFAULT_HYSTERESIS,
  DEFAULT_LOSS_DEADBAND,
  pathNoiseMs,
  routeAll,
} from '../../src/routing/path-choice.ts';
import { computePaths, type OverlaySnapshot, type Path } from '../../src/routing/paths.ts';

const L = (rttMs: number, lossRate = 0): LinkStats => ({ rttMs, jitterMs: 0, lossRate });

/** Symmetric links from entries like ['A-B', L(20)]. */
function snapshot(edges: [string, LinkStats][], down: string[] = []): OverlaySnapshot {
  const links = new Map<string, Map<string, LinkStats>>();
  const relays = new Set<string>();
  for (const [pair, stats] of edges) {
    const [a, b] = pair.split('-') as [string, string];
    relays.add(a).add(b);
    links.set(a, (links.get(a) ?? new Map()).set(b, stats));
    links.set(b, (links.get(b) ?? new Map()).set(a, stats));
  }
  return { relays: [...relays], links, load: new Map(), down: new Set(down) };
}

const OPTS: ChoiceOptions = { maxHops: 3, ...DEFAULT_HYSTERESIS };
const path = (h: string, cost = 0): Path => ({ hops: h.split('-'), cost });
const hops = (p: Path | undefined) => p?.hops.join('-');

/** A triangle: direct A-B against the detour through C (RTTs in ms; each link costs rtt/2 + 1). */
const triangle = (ab: LinkStats, ac: LinkStats, cb: LinkStats, down: string[] = []) =>
  snapshot(
    [
      ['A-B', ab],
      ['A-C', ac],
      ['C-B', cb],
    ],
    down,
  );

function choose(current: Path | undefined, s: OverlaySnapshot, o: ChoiceOptions = OPTS) {
  const r = choosePath(current, computePaths(s, 'A', 'B', o), s, o);
  return [r.reason, hops(r.path)];
}

describe('choosePath', () => {
  it.each<[string, Path | undefined, OverlaySnapshot, ChoiceOptions, (string | undefined)[]]>([
    // direct 41 against 19 + 19 + 2 = 40
    [
      'keeps the current path for a 1 ms gain',
      path('A-B'),
      triangle(L(80), L(38), L(38)),
      OPTS,
      ['kept', 'A-B'],
    ],
    // direct 71 against 19 + 20 + 2 = 41
    ['switches for a 30 ms gain', path('A-B'), triangle(L(140), L(38), L(40)), OPTS, ['better', 'A-C-B']],
    // direct 301 against 281: 20 ms is under 15 % of 301
    [
      'keeps a long path when the gain is large in ms but small in ratio',
      path('A-B'),
      triangle(L(600), L(278), L(280)),
      OPTS,
      ['kept', 'A-B'],
    ],
    // direct 11 against 8: 3 ms is 27 % but under 5 ms
    [
      'keeps a short path when the gain is large in ratio but small in ms',
      path('A-B'),
      triangle(L(20), L(6), L(6)),
      OPTS,
      ['kept', 'A-B'],
    ],
    [
      'leaves a path whose link lost every probe at once, even for a worse one',
      path('A-B'),
      triangle(L(40, 1), L(60), L(60)),
      OPTS,
      ['broken', 'A-C-B'],
    ],
    [
      'leaves a path whose link vanished',
      path('A-B'),
      snapshot([
        ['A-C', L(60)],
        ['C-B', L(60)],
      ]),
      OPTS,
      ['broken', 'A-C-B'],
    ],
    [
      'leaves a path through a relay that went down',
      path('A-C-B'),
      triangle(L(200), L(10), L(10), ['C']),
      OPTS,
      ['broken', 'A-B'],
    ],
    [
      'leaves a path longer than the hop limit now allows',
      path('A-C-B'),
      triangle(L(200), L(10), L(10)),
      { ...OPTS, maxHops: 1 },
      ['broken', 'A-B'],
    ],
    [
      'takes the best path when there was none',
      undefined,
      triangle(L(80), L(38), L(38)),
      OPTS,
      ['initial', 'A-C-B'],
    ],
    [
      'reports a destination with no path left',
      path('A-B'),
      snapshot([
        ['A-C', L(10)],
        ['C-D', L(10)],
        ['D-B', L(1, 1)],
      ]),
      OPTS,
      ['unreachable', undefined],
    ],
    [
      'reports a destination never reachable',
      undefined,
      snapshot([
        ['A-C', L(10)],
        ['B-D', L(10)],
      ]),
      OPTS,
      ['unreachable', undefined],
    ],
  ])('%s', (_name, current, s, o, expected) => {
    expect(choose(current, s, o)).toEqual(expected);
  });

  it('keeps the current path with its cost refreshed on the new snapshot', () => {
    const s = triangle(L(80), L(38), L(38));
    expect(choosePath(path('A-B', 5), computePaths(s, 'A', 'B', OPTS), s, OPTS)).toEqual({
      path: { hops: ['A', 'B'], cost: 41 },
      reason: 'kept',
    });
  });

  it('goes back to a recovered direct link only once it is clearly better', () => {
    const steps: [string, OverlaySnapshot, string[]][] = [
      ['direct link fine', triangle(L(40), L(38), L(38)), ['initial', 'A-B']],
      ['direct link blackholed', triangle(L(40, 1), L(38), L(38)), ['broken', 'A-C-B']],
      ['direct link back, 3 ms better', triangle(L(36), L(20), L(20)), ['kept', 'A-C-B']],
      ['direct link back, 4 ms better', triangle(L(34), L(20), L(20)), ['kept', 'A-C-B']],
      ['direct link back, 11 ms better', triangle(L(20), L(20), L(20)), ['better', 'A-B']],
      ['detour slightly better again', triangle(L(40), L(18), L(18)), ['kept', 'A-B']],
    ];
    let current: Path | undefined;
    for (const [step, s, expected] of steps) {
      const r = choosePath(current, computePaths(s, 'A', 'B', OPTS), s, OPTS);
      expect([step, r.reason, hops(r.path)]).toEqual([step, ...expected]);
      current = r.path;
    }
  });

  it('never flaps between two paths whose costs alternate within the margin', () => {
    let current: Path | undefined = path('A-B');
    const reasons = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const s = triangle(L(i % 2 === 0 ? 76 : 84), L(38), L(38));
      const r = choosePath(current, computePaths(s, 'A', 'B', OPTS), s, OPTS);
      reasons.add(r.reason);
      current = r.path;
    }
    expect([...reasons]).toEqual(['kept']);
    expect(hops(current)).toBe('A-B');
  });
});

describe('routeAll', () => {
  const mesh = snapshot([
    ['A-B', L(40)],
    ['A-C', L(20)],
    ['C-B', L(20)],
    ['A-D', L(30)],
    ['A-F', L(50)],
  ]);
  const summary = (changes: { to: string; reason: string; path: Path | undefined }[]) =>
    changes.map((c) => `${c.to}:${c.reason}:${hops(c.path) ?? '-'}`);

  it('routes every destination and reports each as initial on the first run, in destination order', () => {
    const { routes, changes } = routeAll(mesh, 'A', new Map(), OPTS);
    expect(summary(changes)).toEqual(['B:initial:A-B', 'C:initial:A-C', 'D:initial:A-D', 'F:initial:A-F']);
    expect([...routes.keys()].sort()).toEqual(['B', 'C', 'D', 'F']);
  });

  it('reports nothing when nothing changed', () => {
    const first = routeAll(mesh, 'A', new Map(), OPTS);
    expect(routeAll(mesh, 'A', first.routes, OPTS).changes).toEqual([]);
  });

  it('reports better, broken, initial and unreachable routes with the path each replaces', () => {
    const first = routeAll(mesh, 'A', new Map(), OPTS);
    const next = snapshot([
      ['A-B', L(400)],
      ['A-C', L(20, 1)],
      ['C-B', L(20)],
      ['A-E', L(10)],
      ['E-B', L(10)],
      ['F-G', L(10)],
    ]);
    const { routes, changes } = routeAll(next, 'A', first.routes, OPTS);
    // D left the snapshot: dropped without a change; G was never reachable: no change either.
    expect(summary(changes)).toEqual([
      'B:better:A-E-B',
      'C:broken:A-E-B-C',
      'E:initial:A-E',
      'F:unreachable:-',
    ]);
    expect(changes.map((c) => hops(c.previous) ?? '-')).toEqual(['A-B', 'A-C', '-', 'A-F']);
    expect([...routes.keys()].sort()).toEqual(['B', 'C', 'E']);
  });
});

describe('choosePath and loss at the resolution of one probe', () => {
  // Direct A-B: rtt 40 -> 21; the detour A-C-B: 2 x (rtt 40 -> 21) = 42 without loss.
  it('keeps a path whose only new cost is one lost probe in the window (2 %)', () => {
    expect(choose(path('A-B'), triangle(L(40, 0.02), L(20), L(20)))).toEqual(['kept', 'A-B']);
  });

  it('switches for the same blip once the deadband is turned off', () => {
    const o: ChoiceOptions = { ...OPTS, lossDeadband: 0 };
    expect(choose(path('A-B'), triangle(L(40, 0.02), L(20), L(20)), o)).toEqual(['better', 'A-C-B']);
  });

  it('still switches away from real loss above the deadband', () => {
    expect(choose(path('A-B'), triangle(L(40, 0.1), L(20), L(20)))).toEqual(['better', 'A-C-B']);
  });

  it('leaves a broken path at once whatever the deadband', () => {
    const o: ChoiceOptions = { ...OPTS, lossDeadband: 0.6 };
    expect(choose(path('A-B'), triangle(L(40, 1), L(20), L(20)), o)).toEqual(['broken', 'A-C-B']);
  });

  it('does not switch to a detour that looks better only because the current path has a blip of loss', () => {
    // Direct 21 + 60 (2 % loss) = 81 against a detour of 2 x 31 = 62: the gain is all noise.
    expect(choose(path('A-B'), triangle(L(40, 0.02), L(60), L(60)))).toEqual(['kept', 'A-B']);
    expect(DEFAULT_LOSS_DEADBAND).toBe(0.02);
  });
});

describe('choosePath and the estimates’ own noise (jitterMargin)', () => {
  const J = (rttMs: number, jitterMs: number): LinkStats => ({ rttMs, jitterMs, lossRate: 0 });
  it('takes a clear gain on quiet links whatever the margin', () => {
    const s = triangle(J(140, 0.3), J(40, 0.3), J(40, 0.3));
    expect(choose(path('A-B'), s, { ...OPTS, jitterMargin: 2 })).toEqual(['better', 'A-C-B']);
  });

  it('keeps the path when the gain is within the jitter of the links the paths do not share', () => {
    // Direct: 70 + 24 + 1 = 95. Detour: A-C 10 + 2 + 1 = 13, C-B 25 + 24 + 1 = 50: 63. Gain 32 ms, 34 %.
    const s = triangle(J(140, 12), J(20, 1), J(50, 12));
    expect(choose(path('A-B'), s, OPTS)).toEqual(['better', 'A-C-B']);
    // Noise: sqrt(12² + 1² + 12²) = 17 ms; x 2 = 34 ms > 32 ms of gain: not clear enough.
    expect(choose(path('A-B'), s, { ...OPTS, jitterMargin: 2 })).toEqual(['kept', 'A-B']);
    expect(choose(path('A-B'), s, { ...OPTS, jitterMargin: 1.5 })).toEqual(['better', 'A-C-B']);
  });

  it('leaves a broken path at once whatever the margin', () => {
    const s = triangle({ rttMs: 140, jitterMs: 50, lossRate: 1 }, J(20, 50), J(50, 50));
    expect(choose(path('A-B'), s, { ...OPTS, jitterMargin: 10 })).toEqual(['broken', 'A-C-B']);
  });

  it('counts only the links the two paths do not share', () => {
    const s = snapshot([
      ['A-B', J(10, 9)],
      ['B-D', J(10, 3)],
      ['B-C', J(10, 4)],
      ['C-D', J(10, 100)],
    ]);
    expect(pathNoiseMs(s, ['A', 'B', 'D'], ['A', 'B', 'C', 'D'])).toBeCloseTo(Math.sqrt(9 + 16 + 10_000), 6);
    expect(pathNoiseMs(s, ['A', 'B', 'D'], ['A', 'B', 'D'])).toBe(0);
  });
});
