import { describe, expect, it } from 'vitest';
import { BACKBONE_DEFAULTS } from '../../src/backbone/defaults.ts';
import { type MeshLink, meshFromNothing } from '../../src/sim/mesh-start.ts';
import { createRng } from '../../src/sim/random.ts';

/** The switch rule alone, as before issue 11: no settling, no sustained gain. */
const SWITCH_RULE_ONLY = { ...BACKBONE_DEFAULTS, settleMs: 0, sustainMs: Number.POSITIVE_INFINITY };

/** 12 relays on a plane, RTT = 5 ms + distance x an inflation of 1-1.6 per pair: many small detours. */
function plane(noise: (d: number) => Omit<MeshLink, 'rttMs'>): (MeshLink | undefined)[][] {
  const rng = createRng(4);
  const pts = Array.from({ length: 12 }, () => [rng.next() * 100, rng.next() * 100] as const);
  return pts.map((a, i) =>
    pts.map((b, j) => {
      if (i === j) return undefined;
      const d = Math.hypot(a[0] - b[0], a[1] - b[1]);
      return { rttMs: 5 + d * (1 + ((i * 7 + j * 7 + i * j) % 10) / 15), ...noise(d) };
    }),
  );
}

const run = (links: (MeshLink | undefined)[][], seconds: number) =>
  meshFromNothing({
    links,
    sources: links.map((_, i) => i),
    seconds,
    denseSeconds: 10,
    cadence: BACKBONE_DEFAULTS,
    rules: [SWITCH_RULE_ONLY, BACKBONE_DEFAULTS],
    seed: 1,
  });

describe('a mesh started from nothing', () => {
  it('locks in about half the detour gain under the switch rule alone, and nearly all of it now', () => {
    const r = run(
      plane(() => ({ jitterMs: 0.3, loss: 0 })),
      60,
    );
    expect(r.detourPairs).toBeGreaterThan(20);
    const [before, now] = r.rules;
    expect(before!.freshGainTaken).toBeGreaterThan(0.95);
    expect(before!.gainTaken).toBeLessThan(0.6);
    expect(now!.gainTaken).toBeGreaterThan(0.95);
    expect(now!.convergedAfterS).toBeLessThan(BACKBONE_DEFAULTS.settleMs / 1000 + 2);
  }, 30_000);

  it('flaps no more than the switch rule alone when jitter and loss grow with distance', () => {
    const r = run(
      plane((d) => ({ jitterMs: 0.3 + d / 40, loss: 0.0001 + d / 100_000 })),
      300,
    );
    const [before, now] = r.rules;
    expect(now!.gainTaken).toBeGreaterThan(before!.gainTaken);
    expect(now!.flapsPerFlowHour).toBeLessThanOrEqual(before!.flapsPerFlowHour);
  }, 30_000);
});
