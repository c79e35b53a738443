import { beforeAll, describe, expect, it } from 'vitest';
import { loadCities } from '../../scripts/sim-cities.ts';
import { fiberRttMs } from '../../src/allocation/learned.ts';
import { greatCircleKm } from '../../src/directory/geo.ts';
import { parseSimArgs } from '../../src/sim/args.ts';
import { simConfig } from '../../src/sim/config.ts';
import { Internet } from '../../src/sim/internet.ts';
import { createRng, hashUnit, weightedSampler } from '../../src/sim/random.ts';
import { quantile, share } from '../../src/sim/stats.ts';
import { buildWorld, offsetPoint, pickRelaySites, type World } from '../../src/sim/world.ts';

const cities = loadCities();
const config = simConfig({ seed: 7, scale: { relays: 30, prefixes: 2000 } });
let world: World;
let net: Internet;
const DAY = 86_400_000;

beforeAll(() => {
  world = buildWorld(cities, config);
  net = new Internet(world, config);
});

describe('the random numbers', () => {
  it('repeat for the same seed and differ for another', () => {
    const a = createRng(42);
    const b = createRng(42);
    const c = createRng(43);
    const xs = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(xs);
    expect(createRng(42).fork('x').next()).not.toBe(createRng(42).fork('y').next());
  });

  it('are uniform and normal in the large', () => {
    const r = createRng(1);
    const u = Array.from({ length: 100_000 }, () => r.next());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(quantile(u, 0.5)).toBeCloseTo(0.5, 2);
    const z = Array.from({ length: 100_000 }, () => r.normal());
    expect(quantile(z, 0.5)).toBeCloseTo(0, 1);
    expect(quantile(z, 0.8413)).toBeCloseTo(1, 1);
  });

  it('hash to the same number for the same keys', () => {
    expect(hashUnit(1, 2, 3, 4)).toBe(hashUnit(1, 2, 3, 4));
    expect(hashUnit(1, 2, 3, 4)).not.toBe(hashUnit(1, 2, 3, 5));
    expect(hashUnit(1, 2, 3, 4)).not.toBe(hashUnit(2, 2, 3, 4));
  });

  it('sample by weight', () => {
    const pick = weightedSampler([1, 0, 3]);
    const r = createRng(3);
    const counts = [0, 0, 0];
    for (let i = 0; i < 40_000; i++) counts[pick(r.next())]!++;
    expect(counts[1]).toBe(0);
    expect(counts[2]! / counts[0]!).toBeCloseTo(3, 0);
  });
});

describe('the world', () => {
  it('puts relays at the largest metros, none two within 50 km', () => {
    const sites = pickRelaySites(cities, 40, 50);
    expect(sites).toHaveLength(40);
    const biggest = [...cities].sort((a, b) => b.population - a.population)[0]!;
    expect(sites[0]!.city).toBe(biggest.name);
    for (const a of sites)
      for (const b of sites)
        if (a !== b) expect(greatCircleKm(a.lat, a.lon, b.lat, b.lon)).toBeGreaterThanOrEqual(50);
    expect(new Set(sites.map((s) => s.id)).size).toBe(40);
  });

  it('keeps distances as the haversine gives them and orders relays by distance', () => {
    const R = world.relays.length;
    for (const p of [0, 17, 1999]) {
      for (let r = 0; r < R; r++) {
        const want = greatCircleKm(
          world.prefixes.lat[p]!,
          world.prefixes.lon[p]!,
          world.relays[r]!.lat,
          world.relays[r]!.lon,
        );
        expect(world.km[p * R + r]).toBeCloseTo(want, 0);
      }
      const order = Array.from(world.order.subarray(p * R, (p + 1) * R));
      expect(new Set(order).size).toBe(R);
      for (let k = 1; k < R; k++)
        expect(world.km[p * R + order[k]!]! + 0.1).toBeGreaterThanOrEqual(world.km[p * R + order[k - 1]!]!);
    }
  });

  it('moves a point by the distance asked, in any direction', () => {
    for (const bearing of [0, 1, 2, 3, 4, 5, 6]) {
      const [lat, lon] = offsetPoint(48.86, 2.35, 300, bearing);
      expect(greatCircleKm(48.86, 2.35, lat, lon)).toBeCloseTo(300, 0);
    }
  });

  it('places prefixes where people live and gives each an access network', () => {
    const pf = world.prefixes;
    expect(share(pf.accessRttMs, (v) => v > 0)).toBe(1);
    expect(quantile(pf.accessRttMs, 0.5)).toBeGreaterThan(5);
    expect(quantile(pf.accessRttMs, 0.5)).toBeLessThan(40);
    const pops = Array.from(pf.city, (c) => world.cities[c]!.population);
    expect(quantile(pops, 0.5)).toBeGreaterThan(100_000);
  });
});

describe('the latency model', () => {
  it('never beats the fiber bound, for relays and for direct paths', () => {
    const R = world.relays.length;
    const rng = createRng(5);
    for (let n = 0; n < 5000; n++) {
      const p = rng.int(world.prefixes.count);
      const r = rng.int(R);
      const t = rng.next() * 30 * DAY;
      const s = net.clientRelay(p, r, t);
      expect(s.rttMs).toBeGreaterThanOrEqual(fiberRttMs(world.km[p * R + r]!));
      expect(s.rttMs).toBeGreaterThanOrEqual(net.lowerBound(p, r));
      expect(s.loss).toBeGreaterThanOrEqual(0);
      expect(s.loss).toBeLessThan(1);
      const q = rng.int(world.prefixes.count);
      const km = greatCircleKm(
        world.prefixes.lat[p]!,
        world.prefixes.lon[p]!,
        world.prefixes.lat[q]!,
        world.prefixes.lon[q]!,
      );
      expect(net.direct(p, q, km, t).rttMs).toBeGreaterThanOrEqual(fiberRttMs(km));
      expect(net.probe(p, r, t, rng, 2, 1.5)).toBeGreaterThanOrEqual(s.rttMs);
    }
    for (let i = 0; i < R; i++)
      for (let j = 0; j < R; j++)
        if (i !== j)
          expect(net.bbRtt[i * R + j]).toBeGreaterThanOrEqual(fiberRttMs(world.relayKm[i * R + j]!));
  });

  it('routes transit carriers through their nearest hub, and only a share of them', () => {
    const R = world.relays.length;
    const pf = world.prefixes;
    expect(net.hubs.length).toBeGreaterThan(1);
    for (const a of net.hubs)
      for (const b of net.hubs) if (a !== b) expect(world.relayKm[a * R + b]).toBeGreaterThanOrEqual(3000);
    let transit = 0;
    for (let p = 0; p < pf.count; p++) {
      if (!net.viaTransit(p)) {
        expect(net.routeKm(p, 0)).toBe(world.km[p * R]);
        continue;
      }
      transit++;
      const viaHub = net.hubs.map((h) => world.km[p * R + h]! + world.relayKm[h * R + 3]!);
      const nearest = net.hubs.reduce((b, h) => (world.km[p * R + h]! < world.km[p * R + b]! ? h : b));
      expect(net.routeKm(p, 3)).toBeCloseTo(world.km[p * R + nearest]! + world.relayKm[nearest * R + 3]!, 3);
      expect(net.routeKm(p, 3)).toBeGreaterThanOrEqual(Math.min(...viaHub) - 1e-3);
      expect(net.routeKm(p, 3)).toBeGreaterThanOrEqual(world.km[p * R + 3]! - 1e-3);
    }
    expect(transit / pf.count).toBeGreaterThan(0.05);
    expect(transit / pf.count).toBeLessThan(0.5);
  });

  it("puts a share of a mixed prefix's clients on its second access network", () => {
    const pf = world.prefixes;
    const mixed = Array.from({ length: pf.count }, (_, p) => p).filter((p) => pf.altShare[p]! > 0);
    expect(mixed.length / pf.count).toBeGreaterThan(0.2);
    expect(mixed.length / pf.count).toBeLessThan(0.4);
    const p = mixed[0]!;
    const out = { rttMs: 0, jitterMs: 0, loss: 0 };
    let alt = 0;
    for (let k = 0; k < 4000; k++) {
      net.client(p, k);
      if (net.accessOf(p, out).rttMs === pf.altAccessRttMs[p]) alt++;
    }
    expect(alt / 4000).toBeCloseTo(pf.altShare[p]!, 1);
    net.client(p, 0);
  });

  it('draws path inflation around 2.1x with a heavy right tail, never below 1', () => {
    const xs: number[] = [];
    for (let c = 0; c < 300; c++)
      for (let d = 0; d < 100; d++) xs.push(net.inflation(c, d, c * 7 + d, d % 5));
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(1);
    expect(quantile(xs, 0.5)).toBeGreaterThan(2.0);
    expect(quantile(xs, 0.5)).toBeLessThan(2.2);
    expect(quantile(xs, 0.99)).toBeGreaterThan(4);
    // Heavy right tail: the 99th percentile is much farther above the median than the 1st below it.
    expect(quantile(xs, 0.99) - quantile(xs, 0.5)).toBeGreaterThan(
      3 * (quantile(xs, 0.5) - quantile(xs, 0.01)),
    );
  });

  it('sends a few routes through a far exchange (the triangle-inequality violations)', () => {
    let trombones = 0;
    const n = 50_000;
    for (let k = 0; k < n; k++) if (net.tromboneKm(k % 500, Math.floor(k / 500), 0) > 0) trombones++;
    expect(trombones / n).toBeCloseTo(config.internet.trombone.share, 2);
  });

  it('finds the same best relay as trying them all', () => {
    const R = world.relays.length;
    for (let p = 0; p < 300; p++) {
      const t = p * 3_600_000;
      let best = Number.POSITIVE_INFINITY;
      for (let r = 0; r < R; r++) best = Math.min(best, net.clientRelayRtt(p, r, t));
      expect(net.bestRelay(p, t).rttMs).toBe(best);
    }
  });

  it('lets routes drift: the best relay of many prefixes changes within two days', () => {
    let changed = 0;
    const n = world.prefixes.count;
    for (let p = 0; p < n; p++) if (net.bestRelay(p, 0).relay !== net.bestRelay(p, 2 * DAY).relay) changed++;
    expect(changed / n).toBeGreaterThan(0.1);
    expect(changed / n).toBeLessThan(0.9);
  });
});

describe('the command line', () => {
  it.each([
    [['--relays', '20', '--prefixes=500', '--seed', '9'], { relays: 20, prefixes: 500, seed: 9 }],
    [[], { relays: 200, prefixes: 100_000, seed: 1 }],
  ])('reads %j', (argv, want) => {
    const r = parseSimArgs(argv);
    if (!r.ok || r.help) throw new Error('expected a config');
    expect(r.value.config.scale.relays).toBe(want.relays);
    expect(r.value.config.scale.prefixes).toBe(want.prefixes);
    expect(r.value.config.seed).toBe(want.seed);
  });

  it.each([
    [['--relays', '1'], '--relays must be a whole number from 2 to 2000'],
    [['--calls', 'ten'], "--calls must be a whole number from 1 to 10000000, got 'ten'"],
    [['--seed', '-3'], "--seed must be a whole number from 0 to 4294967295, got '-3'"],
    [['--frobnicate', '1'], 'unknown option --frobnicate'],
    [['--relays'], '--relays needs a value'],
    [['relays'], "unexpected argument 'relays'"],
  ])('refuses %j', (argv, error) => {
    const r = parseSimArgs(argv);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toContain(error);
  });

  it('reads the structure shares, and refuses them outside 0..1', () => {
    const r = parseSimArgs(['--transit-share', '0', '--mixed-share=0.5']);
    if (!r.ok || r.help) throw new Error('expected a config');
    expect(r.value.config.internet.transit.share).toBe(0);
    expect(r.value.config.world.mixedAccess.share).toBe(0.5);
    expect(r.value.config.internet.transit.hubs).toBe(6);
    expect(parseSimArgs(['--transit-share', '1.5'])).toEqual({
      ok: false,
      error: "--transit-share must be a number from 0 to 1, got '1.5'",
    });
  });

  it('answers --help', () => {
    expect(parseSimArgs(['--help'])).toEqual({ ok: true, help: true });
  });
});
