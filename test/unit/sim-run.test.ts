import { beforeAll, describe, expect, it } from 'vitest';
import { loadCities } from '../../scripts/sim-cities.ts';
import { CALL_OPTIONS } from '../../src/sim/calls.ts';
import { DEFAULT_SIM_CONFIG, type SimConfig, simConfig } from '../../src/sim/config.ts';
import { buildReport, summaryText } from '../../src/sim/report.ts';
import { runSimulation, type SimFigures } from '../../src/sim/run.ts';

const cities = loadCities();
const small = (seed: number): SimConfig => {
  const c = simConfig({ seed, scale: { relays: 20, prefixes: 500, allocations: 5000, calls: 500 } });
  return { ...c, backbone: { ...DEFAULT_SIM_CONFIG.backbone, steadySeconds: 30, failoverTrials: 60 } };
};

let run: SimFigures;
// Six probe targets and the area map doubled the allocation phase's work: a loaded machine needs more than 10 s.
beforeAll(() => {
  run = runSimulation(cities, small(1));
}, 60_000);

describe('a small simulation run', () => {
  it('gives the oracle no regret and every other strategy some', () => {
    const s = run.allocations.summary;
    expect(s.oracle).toEqual({ medianMs: 0, p95Ms: 0, meanMs: 0, missShare: 0 });
    for (const k of ['geolocation', 'learned', 'probes'] as const) expect(s[k].meanMs).toBeGreaterThan(0);
  });

  it('does better with probes than with geolocation alone', () => {
    const s = run.allocations.summary;
    expect(s.probes.medianMs).toBeLessThanOrEqual(s.geolocation.medianMs);
    expect(s.probes.p95Ms).toBeLessThan(s.geolocation.p95Ms);
    expect(s.probes.missShare).toBeLessThan(s.geolocation.missShare);
    expect(s.probes.missShare).toBeLessThan(s['probes, uncalibrated'].missShare);
  });

  it('learns: later answers rest on learned RTTs more often and miss less than at the start', () => {
    const w = run.allocations.warmup;
    const early = w.slice(0, 3);
    const late = w.slice(-5);
    const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(avg(late.map((p) => p.learnedBasisShare))).toBeGreaterThan(
      avg(early.map((p) => p.learnedBasisShare)),
    );
    expect(avg(late.map((p) => p.regret.learned.missShare))).toBeLessThan(
      avg(early.map((p) => p.regret.learned.missShare)),
    );
    expect(run.allocations.learnedRelErrMedian).toBeLessThan(run.allocations.distanceRelErrMedian);
  });

  it('keeps every call at or above the fiber bound and none better than the oracle', () => {
    const c = run.calls.summary;
    for (const o of CALL_OPTIONS) {
      expect(c[o].stretchMedian).toBeGreaterThanOrEqual(1);
      expect(run.calls.stretchCdf[o][0]?.[0] ?? 1).toBeGreaterThanOrEqual(1);
      expect(c.oracle.poorShare).toBeLessThanOrEqual(c[o].poorShare);
      expect(c[o].fixedShare).toBeLessThanOrEqual(c.oracle.fixedShare);
    }
    expect(c.direct.fixedShare).toBe(0);
    expect(c.oracle.fixedShare).toBeGreaterThan(0);
  });

  it('fails over within about a second and hardly flaps in steady state', () => {
    const b = run.backbone;
    expect(b.failover.trials).toBeGreaterThan(0);
    // 400 ms of silence, a 250 ms recompute tick and the probe phase: at most ~750 ms.
    expect(b.failover.workingMedianMs).toBeGreaterThan(400);
    expect(b.failover.workingMaxMs).toBeLessThan(800);
    expect(b.failover.sourceMedianMs).toBeGreaterThanOrEqual(b.failover.workingMedianMs);
    expect(b.current.flapsPerFlowHour).toBeLessThanOrEqual(b.withoutDeadband.flapsPerFlowHour);
  });

  // Two more runs: about 1 s each on an idle machine; the limit leaves room for a loaded one.
  it('reproduces the same figures from the same seed, and others from another seed', {
    timeout: 60_000,
  }, () => {
    expect(runSimulation(cities, small(1))).toEqual(run);
    const other = runSimulation(cities, small(2));
    expect(other.allocations.summary).not.toEqual(run.allocations.summary);
    expect(other.calls.summary).not.toEqual(run.calls.summary);
  });

  it('reports with inline SVG and nothing from the network', () => {
    const report = buildReport(run, { command: 'npm run sim', seconds: 1 });
    expect(Object.keys(report.svg)).toEqual(
      expect.arrayContaining(['regret-cdf', 'call-rtt-cdf', 'world-map', 'warmup', 'failover-cdf']),
    );
    for (const [name, svg] of Object.entries(report.svg)) {
      expect(report.json[name]).toBeDefined();
      expect(svg).toMatch(/^<svg [^>]*>\n<title>[^<]+<\/title>/);
    }
    expect(report.html).toContain('<svg');
    const urls = report.html.match(/(?:src|href)=["'][^"']*/g) ?? [];
    expect(urls).toEqual([]);
    expect(report.html.replaceAll('http://www.w3.org/2000/svg', '')).not.toMatch(/https?:\/\//);
    expect(summaryText(run)).toContain('probes');
  });

  it('draws every curve where it can be seen', () => {
    const { svg } = buildReport(run, { command: 'npm run sim', seconds: 1 });
    const legend = (name: string) => new RegExp(`>${name}</text>`);
    // The oracle's regret is 0: its curve would lie on the axes.
    expect(svg['regret-cdf']).not.toMatch(legend('oracle'));
    expect(svg['regret-cdf']).toMatch(legend('probes'));
    // The product's curve lies on the backbone's: dashed, so both show.
    for (const chart of ['call-rtt-cdf', 'call-stretch-cdf'])
      expect(svg[chart]).toMatch(
        /<polyline [^>]*stroke-dasharray="6 4"\/>\n<line [^>]*\/>\n<text [^>]*>product</,
      );
  });
});
