/**
 * The simulated backbone's realism (issue 14): bursty probe loss, the core's probe schedule past
 * 32 peers, and partial (gray) link failures, on a small synthetic world.
 */
import { describe, expect, it } from 'vitest';
import { loadCities } from '../../scripts/sim-cities.ts';
import { DEFAULT_END_TO_END } from '../../src/backbone/end-to-end.ts';
import { probeLost, runBackbone } from '../../src/sim/backbone.ts';
import { DEFAULT_SIM_CONFIG, type SimConfig, simConfig } from '../../src/sim/config.ts';
import { Internet } from '../../src/sim/internet.ts';
import { createRng } from '../../src/sim/random.ts';
import { buildWorld } from '../../src/sim/world.ts';

const cities = loadCities();

function runs(lost: (i: number) => boolean, n: number): { mean: number; longest: number } {
  let losses = 0;
  let run = 0;
  let longest = 0;
  for (let i = 0; i < n; i++) {
    if (lost(i)) {
      losses++;
      run++;
      longest = Math.max(longest, run);
    } else run = 0;
  }
  return { mean: losses / n, longest };
}

describe('probe loss on a backbone link', () => {
  it('keeps its mean when bursty and comes in longer runs', () => {
    const rng = createRng(3);
    const bad = new Uint8Array(1);
    const n = 400_000;
    const independent = runs(() => probeLost(bad, 0, 0.01, 1, 0.5, rng), n);
    const bursty = runs(() => probeLost(bad, 0, 0.01, 20, 0.5, rng), n);
    expect(independent.mean).toBeCloseTo(0.01, 2);
    expect(bursty.mean).toBeGreaterThan(0.007);
    expect(bursty.mean).toBeLessThan(0.013);
    expect(independent.longest).toBeLessThanOrEqual(4);
    expect(bursty.longest).toBeGreaterThanOrEqual(8);
  });
});

describe('the backbone phase', () => {
  const base = (relays: number, over: Partial<SimConfig['backbone']> = {}): SimConfig => {
    const c = simConfig({ seed: 5, scale: { relays, prefixes: 200 } });
    return {
      ...c,
      backbone: {
        ...DEFAULT_SIM_CONFIG.backbone,
        steadySeconds: 20,
        flapSources: 4,
        failoverTrials: 20,
        ...over,
      },
    };
  };

  it('probes as the core does past 32 peers, and every link with the schedule off', () => {
    const config = base(48);
    const world = buildWorld(cities, config);
    const net = new Internet(world, config);
    const core = runBackbone(world, net, config);
    const all = runBackbone(world, net, {
      ...config,
      backbone: { ...config.backbone, probeSchedule: 'all' },
    });
    expect(all.probesPerRelaySecond).toBeCloseTo(47 * 10, 6);
    // 16 nearest, the next hops in use, 8 in rotation: fewer than 47, but not many fewer, since
    // every relay reached directly is a next hop in use (docs/SIMULATION.md).
    expect(core.probesPerRelaySecond).toBeGreaterThanOrEqual(24 * 10);
    expect(core.probesPerRelaySecond).toBeLessThan(all.probesPerRelaySecond - 5);
    // Rotated links are still measured: no flow is left without a route.
    expect(core.current.changes.unreachable).toBe(0);
  }, 120_000);

  it('leaves a blackholed link within seconds and stays on a partly lossy one longer', () => {
    const config = base(12, { failuresPerLinkDay: 20_000, partialShare: 0.5, partialLoss: 0.05 });
    const world = buildWorld(cities, config);
    const run = runBackbone(world, new Internet(world, config), config);
    const of = (kind: string) => run.stays.filter((s) => s.kind === kind);
    const blackholes = of('blackhole');
    const partial = of('partial');
    expect(blackholes.length).toBeGreaterThan(5);
    expect(partial.length).toBeGreaterThan(5);
    // A blackhole is left at the first snapshot after detection (one per simulated second here).
    for (const s of blackholes.filter((x) => !x.stayed)) expect(s.ms).toBeLessThanOrEqual(2000);
    expect(blackholes.filter((s) => s.stayed && s.ms > 2000)).toHaveLength(0);
    // A 5 % loss shows only as probes fall out of the window: left later, if at all.
    const mean = (xs: { ms: number }[]) => xs.reduce((a, x) => a + x.ms, 0) / xs.length;
    expect(mean(partial)).toBeGreaterThan(mean(blackholes));
  }, 120_000);
});

describe('relay-site and gray failures', () => {
  const config = (over: Partial<SimConfig['backbone']>): SimConfig => {
    const c = simConfig({ seed: 5, scale: { relays: 12, prefixes: 200 } });
    return {
      ...c,
      backbone: {
        ...DEFAULT_SIM_CONFIG.backbone,
        steadySeconds: 40,
        flapSources: 4,
        failoverTrials: 5,
        failureMedianS: 60,
        ...over,
      },
    };
  };
  const stays = (c: SimConfig) => {
    const world = buildWorld(cities, c);
    return runBackbone(world, new Internet(world, c), c).stays;
  };

  it('routes transit flows around a failed relay within seconds, and around a gray one on the end-to-end check alone', () => {
    const c = config({ failuresPerLinkDay: 0, siteFailuresPerRelayDay: 1500, grayRelayShare: 0.5 });
    const run = (endToEndCheck: boolean) =>
      stays({
        ...c,
        scale: { ...c.scale, relays: 24 },
        backbone: { ...c.backbone, flapSources: 24, endToEndCheck },
      });
    const all = run(false);
    const site = all.filter((s) => s.kind === 'site');
    const gray = all.filter((s) => s.kind === 'gray-relay');
    expect(site.length).toBeGreaterThan(5);
    expect(gray.length).toBeGreaterThanOrEqual(3);
    for (const s of site) expect(s.ms).toBeLessThanOrEqual(2000);
    // It answers every probe: without the end-to-end check nothing in the routing sees it; flows
    // stay until it ends, or until their route moves for another reason.
    const mean = (xs: { ms: number }[]) => xs.reduce((a, x) => a + x.ms, 0) / xs.length;
    expect(gray.some((s) => s.stayed)).toBe(true);
    expect(mean(gray)).toBeGreaterThan(3 * mean(site));
    // Everything a flow sends while on it is lost.
    for (const s of gray) expect(s.lostPackets).toBeCloseTo((s.ms / 1000) * 50, 6);
    // With it (as the relays run now), every flow leaves within the check's window.
    const checked = run(true).filter((s) => s.kind === 'gray-relay');
    expect(checked.length).toBeGreaterThanOrEqual(3);
    for (const s of checked) {
      expect(s.stayed).toBe(false);
      expect(s.ms).toBeLessThanOrEqual(DEFAULT_END_TO_END.windowMs);
    }
  }, 120_000);

  it('leaves a link that drops data and answers probes once the delivery check sees it, and not without', () => {
    const c = config({ failuresPerLinkDay: 20_000, grayShare: 1 });
    const on = stays(c).filter((s) => s.kind === 'gray');
    const off = stays({ ...c, backbone: { ...c.backbone, deliveryCheck: false } }).filter(
      (s) => s.kind === 'gray',
    );
    expect(on.length).toBeGreaterThan(3);
    const left = on.filter((s) => !s.stayed);
    expect(left.length).toBeGreaterThan(on.length / 2);
    for (const s of left) expect(s.ms).toBeLessThanOrEqual(12_000);
    // Without it a flow leaves only when the failure ends or its route moves for another reason.
    const mean = (xs: { lostPackets: number }[]) => xs.reduce((a, x) => a + x.lostPackets, 0) / xs.length;
    expect(mean(off)).toBeGreaterThan(2 * mean(on));
  }, 120_000);
});

describe('the backbone flags', () => {
  it('set bursts, the schedule, failures and their partial share, and refuse bad values', async () => {
    const { parseSimArgs } = await import('../../src/sim/args.ts');
    const ok = parseSimArgs([
      '--burst-probes',
      '20',
      '--probe-schedule=all',
      '--failures-per-link-day',
      '50',
      '--partial-share',
      '0.5',
    ]);
    expect(ok.ok && !ok.help && ok.value.config.backbone).toMatchObject({
      burstProbes: 20,
      probeSchedule: 'all',
      failuresPerLinkDay: 50,
      partialShare: 0.5,
    });
    expect(parseSimArgs(['--probe-schedule', 'some'])).toEqual({
      ok: false,
      error: "--probe-schedule must be core or all, got 'some'",
    });
    expect(parseSimArgs(['--partial-share', '2']).ok).toBe(false);
    const failures = parseSimArgs([
      '--gray-share',
      '0.5',
      '--site-failures-per-relay-day=30',
      '--gray-relay-share',
      '0.25',
      '--delivery-check',
      'off',
      '--end-to-end-check=off',
    ]);
    expect(failures.ok && !failures.help && failures.value.config.backbone).toMatchObject({
      grayShare: 0.5,
      siteFailuresPerRelayDay: 30,
      grayRelayShare: 0.25,
      deliveryCheck: false,
      endToEndCheck: false,
    });
    expect(parseSimArgs(['--delivery-check', 'maybe'])).toEqual({
      ok: false,
      error: "--delivery-check must be on or off, got 'maybe'",
    });
    expect(parseSimArgs(['--gray-relay-share', '1.5']).ok).toBe(false);
    expect(parseSimArgs(['--site-failures-per-relay-day', '-1']).ok).toBe(false);
    expect(parseSimArgs(['--burst-probes', '0']).ok).toBe(false);
  });
});
