/**
 * The route table's confirmation of a clear gain (confirmMs): a gain that does not hold on every
 * recompute for that long earns no switch (a loss burst in the 50-probe window), one that holds
 * does, and a broken path is left at once.
 */
import { describe, expect, it } from 'vitest';
import { BACKBONE_DEFAULTS } from '../../src/backbone/defaults.ts';
import type { LinkStats } from '../../src/routing/link-cost.ts';
import type { OverlaySnapshot } from '../../src/routing/paths.ts';
import { RouteTable } from '../../src/routing/route-table.ts';

const L = (rttMs: number, lossRate = 0): LinkStats => ({ rttMs, jitterMs: 0, lossRate });

function triangle(ab: LinkStats, ac: LinkStats, cb: LinkStats): OverlaySnapshot {
  const links = new Map<string, Map<string, LinkStats>>();
  const set = (a: string, b: string, l: LinkStats) => {
    links.set(a, (links.get(a) ?? new Map()).set(b, l));
    links.set(b, (links.get(b) ?? new Map()).set(a, l));
  };
  set('A', 'B', ab);
  set('A', 'C', ac);
  set('C', 'B', cb);
  return { relays: ['A', 'B', 'C'], links, load: new Map() };
}

const quiet = triangle(L(40), L(30), L(30)); // direct 21, detour 32: direct
const burst = triangle(L(40, 0.1), L(30), L(30)); // 5 probes lost in the window: direct 171
const dead = triangle(L(40, 1), L(30), L(30));

function table(confirmMs: number) {
  const t = new RouteTable('A', { ...BACKBONE_DEFAULTS, settleMs: 0, confirmMs });
  t.update(quiet, 0);
  return t;
}
const hopsTo = (t: RouteTable) => t.routes.get('B')?.hops.join('-');

describe('RouteTable: confirming a clear gain', () => {
  it('switches at once without confirmation', () => {
    const t = table(0);
    expect(t.update(burst, 1000).map((c) => c.reason)).toEqual(['better']);
    expect(hopsTo(t)).toBe('A-C-B');
  });

  it('does not switch for a gain that is gone before the confirmation time', () => {
    const t = table(6000);
    for (let now = 1000; now <= 5000; now += 250) expect(t.update(burst, now)).toEqual([]);
    expect(t.update(quiet, 5250)).toEqual([]);
    for (let now = 5500; now <= 20_000; now += 250) expect(t.update(quiet, now)).toEqual([]);
    expect(hopsTo(t)).toBe('A-B');
  });

  it('switches once the gain has held on every recompute for the confirmation time', () => {
    const t = table(6000);
    const reasons: string[] = [];
    let at = 0;
    for (let now = 1000; now <= 8000 && !at; now += 250) {
      const changes = t.update(burst, now);
      reasons.push(...changes.map((c) => c.reason));
      if (changes.length) at = now;
    }
    expect(reasons).toEqual(['better']);
    expect(at).toBe(7000);
    expect(hopsTo(t)).toBe('A-C-B');
  });

  it('starts the confirmation again when the gain lapses once', () => {
    const t = table(6000);
    for (let now = 1000; now <= 6000; now += 250) t.update(now === 4000 ? quiet : burst, now);
    expect(hopsTo(t)).toBe('A-B');
    for (let now = 6250; now < 10_250; now += 250) expect(t.update(burst, now)).toEqual([]);
    expect(t.update(burst, 10_250).map((c) => c.reason)).toEqual(['better']);
  });

  it('leaves a broken path at once whatever the confirmation time', () => {
    const t = table(60_000);
    expect(t.update(dead, 1000).map((c) => c.reason)).toEqual(['broken']);
    expect(hopsTo(t)).toBe('A-C-B');
  });
});

describe('RouteTable: relays avoided per destination (the end-to-end check)', () => {
  // A-B 100 ms, A-C and C-B 20 ms: A reaches B through C, and C directly.
  const detour = triangle(L(100), L(20), L(20));

  it('leaves a path through an avoided relay at once, for that destination only, and comes back after', () => {
    const t = new RouteTable('A', { ...BACKBONE_DEFAULTS, settleMs: 0 });
    t.update(detour, 0);
    expect(hopsTo(t)).toBe('A-C-B');
    const changes = t.update(detour, 1000, new Map([['B', new Set(['C'])]]));
    expect(changes.map((c) => [c.to, c.reason, c.path?.hops.join('-')])).toEqual([['B', 'broken', 'A-B']]);
    // C itself, the destination, is still reached directly.
    expect(t.routes.get('C')?.hops.join('-')).toBe('A-C');
    // Kept while avoided; once the set is gone, the clear gain takes it back (after confirmMs).
    expect(t.update(detour, 2000, new Map([['B', new Set(['C'])]]))).toEqual([]);
    let back = 0;
    for (let now = 3000; now <= 20_000 && !back; now += 250) if (t.update(detour, now).length) back = now;
    expect(hopsTo(t)).toBe('A-C-B');
    expect(back - 3000).toBeGreaterThanOrEqual(BACKBONE_DEFAULTS.confirmMs);
  });

  it('ignores the avoid set when there is no path around it: a lossy path beats none', () => {
    const t = new RouteTable('A', { ...BACKBONE_DEFAULTS, settleMs: 0 });
    const cut = triangle(L(100, 1), L(20), L(20));
    t.update(cut, 0);
    expect(t.update(cut, 1000, new Map([['B', new Set(['C'])]]))).toEqual([]);
    expect(hopsTo(t)).toBe('A-C-B');
  });
});
