import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DATA_DIR, loadWonderProxy } from '../../scripts/sim-data.ts';
import { fiberRttMs } from '../../src/allocation/learned.ts';
import { greatCircleKm } from '../../src/directory/geo.ts';
import { runAllocations } from '../../src/sim/allocations.ts';
import { parseTraceArgs } from '../../src/sim/args.ts';
import { runBackbone } from '../../src/sim/backbone.ts';
import { runCalls } from '../../src/sim/calls.ts';
import { DEFAULT_SIM_CONFIG, type SimConfig, simConfig } from '../../src/sim/config.ts';
import { type CompleteSites, completeSites, parseSlices } from '../../src/sim/measured.ts';
import { backboneFigures } from '../../src/sim/run.ts';
import {
  buildTraceWorld,
  DEFAULT_TRACE_CONFIG,
  driftTable,
  splitSites,
  type TraceWorld,
} from '../../src/sim/trace.ts';
import { runTrace, type TraceFigures, traceBackbone } from '../../src/sim/trace-run.ts';

// A made-up measured world: 14 sites on a ring of latitudes, RTT = 2 x fiber + 5 ms, except that
// sites 0 and 7 are joined by a bad route (4 x fiber + 40 ms) that a third site beats, and site 3
// reaches every other at exactly the fiber bound (no room to spare for the model's terms).
const N = 14;
const coords = Array.from({ length: N }, (_, i) => ({ lat: 40 + (i % 4) * 3, lon: -10 + i * 4 }));
function madeUpSites(): CompleteSites {
  const rtt = new Float64Array(N * N);
  const excess = new Float64Array(N * N);
  for (let a = 0; a < N; a++)
    for (let b = 0; b < N; b++) {
      if (a === b) continue;
      const km = greatCircleKm(coords[a]!.lat, coords[a]!.lon, coords[b]!.lat, coords[b]!.lon);
      const bad = (a === 0 && b === 7) || (a === 7 && b === 0);
      const atBound = a === 3 || b === 3;
      rtt[a * N + b] = bad ? 4 * fiberRttMs(km) + 40 : atBound ? fiberRttMs(km) : 2 * fiberRttMs(km) + 5;
      excess[a * N + b] = 0.5;
    }
  return {
    kept: coords.map((_, i) => i),
    sites: coords.map((c, i) => ({ name: `S${i}`, city: `S${i}`, country: i < 7 ? 'AA' : 'BB', ...c })),
    rtt,
    excess,
    dropped: [],
  };
}

// Made-up slices for the drift: 2 nodes, 10 slices, the pair's RTT doubling in slice 5 only.
function madeUpSlices() {
  const slices = 10;
  const bytes = new Uint8Array(slices * 4 * 2);
  const view = new DataView(bytes.buffer);
  for (let s = 0; s < slices; s++) {
    view.setUint16((s * 4 + 1) * 2, s === 5 ? 200 : 100, true);
    view.setUint16((s * 4 + 2) * 2, s === 5 ? 200 : 100, true);
  }
  return parseSlices(bytes, 2, slices);
}

const config: SimConfig = {
  ...simConfig({ seed: 3, scale: { relays: 4, prefixes: 400, allocations: 3000, calls: 300, days: 4 } }),
  backbone: { ...DEFAULT_SIM_CONFIG.backbone, steadySeconds: 10, failoverTrials: 20 },
};
const sites = madeUpSites();
const DAY = 86_400_000;
let tw: TraceWorld;
beforeAll(() => {
  tw = buildTraceWorld(
    sites,
    config,
    DEFAULT_TRACE_CONFIG,
    driftTable(madeUpSlices(), DEFAULT_TRACE_CONFIG.drift),
  );
});

describe('the trace-driven world', () => {
  it('splits the sites into relays, fit and held-out sites, disjoint and reproducible', () => {
    const s = splitSites(N, 4, 0.5, 3);
    const all = [...s.relaySites, ...s.fitSites, ...s.testSites].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(s.relaySites).toHaveLength(4);
    expect(s.fitSites).toHaveLength(5);
    expect(splitSites(N, 4, 0.5, 3)).toEqual(s);
    expect(splitSites(N, 4, 0.5, 4)).not.toEqual(s);
    expect(() => splitSites(N, N - 1, 0.5, 3)).toThrow(/relays must be 2\.\.12/);
  });

  it('puts clients only at fit and held-out sites, and lets held-out ones ask only after the hold-out day', () => {
    const relaySites = new Set(tw.split.relaySites);
    const test = new Set(tw.split.testSites);
    const pf = tw.world.prefixes;
    for (let p = 0; p < pf.count; p++) {
      expect(relaySites.has(pf.city[p]!)).toBe(false);
      expect(tw.heldOut[p]).toBe(test.has(pf.city[p]!) ? 1 : 0);
    }
    let early = 0;
    let late = 0;
    for (let k = 0; k < 2000; k++) {
      const u = (k + 0.5) / 2000;
      early += tw.heldOut[tw.pick(u, tw.holdoutFromMs - 1)]!;
      late += tw.heldOut[tw.pick(u, tw.holdoutFromMs)]!;
    }
    expect(early).toBe(0);
    expect(late).toBeGreaterThan(600);
  });

  it('never beats light in fiber, on client paths or direct, at any time', () => {
    const { world, internet } = tw;
    const pf = world.prefixes;
    const R = world.relays.length;
    for (let p = 0; p < pf.count; p += 7)
      for (let r = 0; r < R; r++)
        for (const t of [0.1, 1.3 * DAY, 2.6 * DAY, 4.9 * DAY]) {
          const s = internet.clientRelay(p, r, t);
          expect(s.rttMs).toBeGreaterThanOrEqual(internet.lowerBound(p, r));
          expect(s.loss).toBeGreaterThan(0);
          const q = (p * 13 + 5) % pf.count;
          const km = greatCircleKm(pf.lat[p]!, pf.lon[p]!, pf.lat[q]!, pf.lon[q]!);
          expect(internet.direct(p, q, km, t).rttMs).toBeGreaterThanOrEqual(fiberRttMs(km));
        }
  });

  it('takes backbone links from the measured matrix between the relay sites', () => {
    const { internet, split } = tw;
    const R = split.relaySites.length;
    for (let i = 0; i < R; i++)
      for (let j = 0; j < R; j++) {
        if (i === j) continue;
        const a = split.relaySites[i]!;
        const b = split.relaySites[j]!;
        expect(internet.bbRtt[i * R + j]).toBeCloseTo(sites.rtt[a * N + b]!, 9);
        expect(internet.bbJitter[i * R + j]).toBe(0.5);
        expect(internet.bbLoss[i * R + j]).toBe(internet.bbLoss[j * R + i]);
      }
  });

  it('replays the slices as drift, damped and clamped, and stays still without it', () => {
    const table = driftTable(madeUpSlices(), DEFAULT_TRACE_CONFIG.drift);
    expect(table.pairs).toBe(2);
    expect(table.logRatio[5]).toBeCloseTo(Math.log(2), 6);
    expect(table.logRatio[4]).toBe(0);
    const slice = (5 * DAY) / 10;
    const d = tw.internet.drift(1, 2, 5.5 * slice);
    expect(d).toBeCloseTo(2 ** DEFAULT_TRACE_CONFIG.drift.damping, 6);
    expect(tw.internet.drift(1, 2, 4.5 * slice)).toBe(1);
    const still = buildTraceWorld(
      sites,
      config,
      { ...DEFAULT_TRACE_CONFIG, drift: { ...DEFAULT_TRACE_CONFIG.drift, damping: 0 } },
      table,
    );
    expect(still.internet.drift(1, 2, 5.5 * slice)).toBe(1);
  });
});

describe('a small trace-driven run', () => {
  let f: TraceFigures;
  beforeAll(() => {
    f = runTrace(
      { sites, impossible: [], missing: 0, drift: driftTable(madeUpSlices(), DEFAULT_TRACE_CONFIG.drift) },
      config,
    );
  });

  it('judges fit and held-out sites apart, and the held-out ones only after the hold-out day', () => {
    const [fitEarly, fitLate, held, heldFirst] = f.holdout;
    expect(fitEarly!.allocations + fitLate!.allocations + held!.allocations).toBe(config.scale.allocations);
    expect(held!.allocations).toBeGreaterThan(0);
    expect(heldFirst!.allocations).toBeLessThanOrEqual(held!.allocations);
    expect(f.sim.allocations.summary.oracle.missShare).toBe(0);
  });

  it('gives the backbone the same figures on a world of its own (as the worker runs it)', () => {
    // The order runTrace had before the backbone moved to a worker: on the world the clients used.
    const data = {
      sites,
      impossible: [],
      missing: 0,
      drift: driftTable(madeUpSlices(), DEFAULT_TRACE_CONFIG.drift),
    };
    const tw = buildTraceWorld(data.sites, config, DEFAULT_TRACE_CONFIG, data.drift);
    const allocations = runAllocations(tw.world, tw.internet, config, { pick: tw.pick });
    runCalls(tw.world, tw.internet, config, allocations.learnedState);
    const after = backboneFigures(runBackbone(tw.world, tw.internet, config));
    expect(traceBackbone(data, config)).toEqual(after);
    expect(f.sim.backbone).toEqual(after);
  });

  it('finds the detour the measured matrix offers, and routes no pair worse than its best path by much', () => {
    expect(f.overlay.relayPairs).toBe(12);
    expect(f.overlay.routedOverDirectMedian).toBeLessThanOrEqual(1);
    expect(f.overlay.routedOverBestMedian).toBeGreaterThanOrEqual(1);
    expect(f.data.detourShare).toBeGreaterThan(0);
  });
});

describe('the trace command line', () => {
  it('defaults to 60 relays and the shared data folder, and refuses bad knobs', () => {
    const ok = parseTraceArgs(['--drift', '0.5']);
    expect(ok.ok && !ok.help && ok.value.config.scale.relays).toBe(60);
    expect(ok.ok && !ok.help && ok.value.drift).toBe(0.5);
    expect(ok.ok && !ok.help && ok.value.data).toBe('../shared/data');
    const bad = parseTraceArgs(['--drift', '2']);
    expect(bad).toEqual({ ok: false, error: "--drift must be a number from 0 to 1, got '2'" });
    expect(parseTraceArgs(['--data'])).toEqual({ ok: false, error: '--data needs a value' });
    const more = parseTraceArgs(['--probe-targets', '6', '--explore-share', '0.2']);
    expect(more.ok && !more.help && [more.value.probeTargets, more.value.exploreShare]).toEqual([6, 0.2]);
    expect(parseTraceArgs(['--probe-targets', '11']).ok).toBe(false);
  });
});

// The real data, where it is present beside the checkout (never part of the repository).
const hasData = existsSync(join(DEFAULT_DATA_DIR, 'wonderproxy-2020', 'rtt_ms.json'));
describe.skipIf(!hasData)('the WonderProxy data', () => {
  it('has its known misplaced servers caught by the fiber-bound check', () => {
    const checked = loadWonderProxy();
    const names = new Set(checked.impossible.flatMap((p) => [p.from, p.to]));
    expect(names.has('LaCeiba')).toBe(true);
    expect(names.has('Belfast')).toBe(true);
    // About 0.2 % of pairs beat the bound (the data's README).
    expect(checked.impossible.length / (246 * 245)).toBeGreaterThan(0.001);
    expect(checked.impossible.length / (246 * 245)).toBeLessThan(0.004);
    const c = completeSites(checked.matrix);
    expect(c.dropped.map((d) => d.name)).toContain('LaCeiba');
    expect(c.sites.length).toBeGreaterThan(200);
  });
});
