import { describe, expect, it } from 'vitest';
import { DEFAULT_RANK, type RankOptions, rankRelays } from '../../src/allocation/rank.ts';
import type { RelayRecord } from '../../src/directory/types.ts';
import { skipRankDraws } from '../../src/sim/allocations.ts';
import { createRng } from '../../src/sim/random.ts';
import { relayRecord } from '../support/relay-record.ts';

const relays = (n: number): RelayRecord[] =>
  Array.from({ length: n }, (_, i) => relayRecord(`r${i}`, '192.0.2.1', 40 + (i % 7), -10 + i * 3));

/** A random source that counts its draws. */
function counted(seed: number): { next: () => number; draws: () => number } {
  const rng = createRng(seed);
  let n = 0;
  return {
    next: () => {
      n++;
      return rng.next();
    },
    draws: () => n,
  };
}

describe('a skipped diagnostic ranking', () => {
  const cases: [string, number, Partial<RankOptions>][] = [
    ['the default options, 60 relays', 60, {}],
    ['no relay left after the probe targets', 8, {}],
    ['one relay left', 9, {}],
    ['fewer relays than targets', 3, {}],
    ['one relay', 1, {}],
    ['always exploring', 60, { exploreShare: 1 }],
    ['never exploring', 60, { exploreShare: 0 }],
    ['an explorer from the next 5', 60, { exploreWithin: 5, exploreShare: 0.5 }],
    ['an explorer from none', 60, { exploreWithin: 0, exploreShare: 1 }],
    ['no probe targets asked for', 60, { probeTargets: 0, exploreShare: 0.5 }],
  ];
  for (const [name, n, over] of cases)
    it(`draws what rankRelays draws: ${name}`, () => {
      const o = { ...DEFAULT_RANK, calibrateDistance: false, nextTargets: 0, repingTargets: 0, ...over };
      for (let seed = 1; seed <= 200; seed++) {
        const ranked = counted(seed);
        rankRelays(
          {
            relays: relays(n),
            location: { lat: 45, lon: 5 },
            probes: new Map(),
            learned: new Map(),
            inflation: 2.1,
          },
          ranked.next,
          o,
        );
        const skipped = counted(seed);
        skipRankDraws(skipped.next, n, o);
        expect(skipped.draws()).toBe(ranked.draws());
      }
    });
});
