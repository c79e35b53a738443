import { describe, expect, it } from 'vitest';
import {
  type CallReport,
  callLevelKeys,
  chooseCallPath,
  DEFAULT_CALL_CHOICE,
  expectedQuality,
  isPoorCall,
  type PathQuality,
  recordCall,
  validCallReport,
} from '../../src/allocation/call-choice.ts';
import { createRng, gilbertElliottLost } from '../../src/sim/random.ts';

const DAY = 86_400_000;
const good: CallReport = { path: 'direct', rttMs: 80, loss: 0.001, jitterMs: 3 };
const lossy: CallReport = { path: 'direct', rttMs: 80, loss: 0.03, jitterMs: 3 };
const noExplore = { ...DEFAULT_CALL_CHOICE, exploreShare: 0 };
const fold = (reports: CallReport[], now = 0) =>
  reports.reduce<PathQuality | undefined>((q, r) => recordCall(q, r, now), undefined);

describe('per-call path choice', () => {
  it("calls a call poor by Via's thresholds", () => {
    expect(isPoorCall(good)).toBe(false);
    expect(isPoorCall(lossy)).toBe(true);
    expect(isPoorCall({ ...good, rttMs: 321 })).toBe(true);
    expect(isPoorCall({ ...good, jitterMs: 12.5 })).toBe(true);
  });

  it('ignores reports that are not numbers in range', () => {
    expect(validCallReport(good)).toBe(true);
    for (const bad of [
      { ...good, path: 'tunnel' },
      { ...good, loss: 1.5 },
      { ...good, rttMs: Number.NaN },
      { ...good, jitterMs: -1 },
      { ...good, rttMs: '80' },
      undefined,
    ])
      expect(validCallReport(bad as Partial<CallReport>)).toBe(false);
  });

  it('relays a pair whose direct calls were poor and whose relayed ones were not', () => {
    const direct = fold(Array.from({ length: 10 }, () => lossy));
    const relay = fold(Array.from({ length: 10 }, () => ({ ...good, path: 'relay' as const, rttMs: 95 })));
    const c = chooseCallPath(
      { direct: [undefined, direct], relay: [undefined, relay] },
      0,
      () => 0.5,
      noExplore,
    );
    expect(c.path).toBe('relay');
    expect(c.direct.poor).toBeGreaterThan(0.7);
    expect(c.relay.poor).toBeLessThan(0.1);
  });

  it('stays direct when both paths are alike: relaying has to win by the margin', () => {
    const direct = fold(Array.from({ length: 10 }, () => good));
    const relay = fold(Array.from({ length: 10 }, () => ({ ...good, path: 'relay' as const })));
    expect(chooseCallPath({ direct: [direct], relay: [relay] }, 0, () => 0.5, noExplore).path).toBe('direct');
  });

  it('stays direct when relaying only adds delay', () => {
    const direct = fold(Array.from({ length: 10 }, () => good));
    const relay = fold(Array.from({ length: 10 }, () => ({ ...good, path: 'relay' as const, rttMs: 110 })));
    const c = chooseCallPath({ direct: [direct], relay: [relay] }, 0, () => 0.5, noExplore);
    expect(c.path).toBe('direct');
  });

  it("gives a pair nobody reported on what its coarser level says, and lets a pair's own history win", () => {
    // Between these countries direct calls are often poor; relayed ones are not, 30 ms slower.
    const countryDirect = fold([
      ...Array.from({ length: 20 }, () => lossy),
      ...Array.from({ length: 30 }, () => good),
    ]);
    const countryRelay = fold(
      Array.from({ length: 50 }, () => ({ ...good, path: 'relay' as const, rttMs: 110 })),
    );
    const fresh = chooseCallPath(
      { direct: [countryDirect, undefined], relay: [countryRelay, undefined] },
      0,
      () => 0.5,
      noExplore,
    );
    expect(fresh.path).toBe('relay');
    // This pair's own direct calls were all fine.
    const ownDirect = fold(Array.from({ length: 60 }, () => good));
    const own = chooseCallPath(
      { direct: [countryDirect, ownDirect], relay: [countryRelay, undefined] },
      0,
      () => 0.5,
      noExplore,
    );
    expect(own.path).toBe('direct');
  });

  it('forgets: old reports weigh less than new ones', () => {
    const old = fold(
      Array.from({ length: 20 }, () => lossy),
      0,
    );
    const later = recordCall(old, good, 10 * DAY);
    // 20 calls ten days ago at a 3-day half-life weigh about 2, plus the new one.
    expect(later.calls).toBeCloseTo(20 * 0.5 ** (10 / 3) + 1, 6);
    expect(expectedQuality([later], 10 * DAY).poor).toBeLessThan(expectedQuality([old], 0).poor);
    const capped = fold(Array.from({ length: 1000 }, () => good));
    expect(capped!.calls).toBeLessThanOrEqual(DEFAULT_CALL_CHOICE.maxWeight + 1e-9);
  });

  it('explores the other path in about the share asked, and no more', () => {
    const rng = createRng(9);
    let explored = 0;
    for (let i = 0; i < 20_000; i++)
      if (chooseCallPath({ direct: [], relay: [] }, 0, () => rng.next()).reason === 'explore') explored++;
    expect(explored / 20_000).toBeGreaterThan(0.04);
    expect(explored / 20_000).toBeLessThan(0.06);
  });

  it('keys a call the same whichever party comes first', () => {
    expect(callLevelKeys('1.2.3.0/24', 'DE', '5.6.7.0/24', 'FR')).toEqual(
      callLevelKeys('5.6.7.0/24', 'FR', '1.2.3.0/24', 'DE'),
    );
  });
});

describe('bursty loss (Gilbert-Elliott)', () => {
  it('keeps the mean loss and spreads it far more than independent loss', () => {
    const rng = createRng(4);
    const calls = 4000;
    const packets = 6000;
    const rates = Array.from({ length: calls }, () => gilbertElliottLost(rng, 0.01, packets) / packets);
    const mean = rates.reduce((a, b) => a + b, 0) / calls;
    const sd = Math.sqrt(rates.reduce((a, b) => a + (b - mean) ** 2, 0) / calls);
    expect(mean).toBeGreaterThan(0.009);
    expect(mean).toBeLessThan(0.011);
    // Independent loss would give sqrt(0.01 * 0.99 / 6000) = 0.0013.
    expect(sd).toBeGreaterThan(1.5 * 0.0013);
    expect(gilbertElliottLost(rng, 0, packets)).toBe(0);
  });
});
