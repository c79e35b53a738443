/**
 * Path computation time (src/routing) on synthetic overlays of 100 and 1,000 relays: seeded
 * random places on the globe, full-mesh link measurements with RTT from great-circle distance
 * (1 ms per 100 km of fiber, times a random 1.2-2.5 inflation) and a little jitter and loss.
 * Times computePaths for one pair (best + disjoint alternate) and routeAll for one source (the
 * whole routing table a relay recomputes every 250 ms).
 *
 *   node --import tsx bench/path-compute.ts [--out bench/results/path-compute.json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { greatCircleKm } from '../src/directory/geo.ts';
import type { LinkStats } from '../src/routing/link-cost.ts';
import { routeAll } from '../src/routing/path-choice.ts';
import { computePaths, type OverlaySnapshot } from '../src/routing/paths.ts';
import { rng } from '../test/support/fuzz.ts';

function overlay(n: number, seed: number): OverlaySnapshot {
  const r = rng(seed);
  const places = Array.from({ length: n }, () => ({
    lat: Math.asin(2 * r() - 1) * (180 / Math.PI),
    lon: 360 * r() - 180,
  }));
  const ids = places.map((_, i) => `r${i}`);
  const links = new Map<string, Map<string, LinkStats>>();
  for (let i = 0; i < n; i++) {
    const row = new Map<string, LinkStats>();
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const km = greatCircleKm(places[i]!.lat, places[i]!.lon, places[j]!.lat, places[j]!.lon);
      row.set(ids[j]!, {
        rttMs: (km / 100) * (1.2 + 1.3 * r()),
        jitterMs: r() * 2,
        lossRate: r() < 0.05 ? r() * 0.02 : 0,
      });
    }
    links.set(ids[i]!, row);
  }
  return { relays: ids, links, load: new Map(ids.map((id) => [id, r() * 0.8])) };
}

function time(runs: number, f: () => void): number {
  f(); // warm up
  const t = performance.now();
  for (let i = 0; i < runs; i++) f();
  return (performance.now() - t) / runs;
}

const { values } = parseArgs({
  options: { out: { type: 'string', default: 'bench/results/path-compute.json' } },
});
const opts = { maxHops: 3, switchGainMs: 5, switchGainRatio: 0.15 };
const rows = [];
for (const n of [100, 1000]) {
  process.stderr.write(`building a ${n}-relay overlay...\n`);
  const s = overlay(n, n);
  const pairMs = time(n === 100 ? 50 : 5, () => computePaths(s, 'r0', `r${n - 1}`, opts));
  process.stderr.write(`  computePaths: ${pairMs.toFixed(2)} ms per pair\n`);
  const tableMs = time(n === 100 ? 50 : 5, () => routeAll(s, 'r0', new Map(), opts));
  // A relay recomputes on a fresh snapshot each time: include turning it into the cost graph.
  const freshMs = time(n === 100 ? 50 : 5, () => routeAll({ ...s }, 'r0', new Map(), opts));
  process.stderr.write(
    `  routeAll: ${tableMs.toFixed(1)} ms per table, ${freshMs.toFixed(1)} ms on a fresh snapshot\n`,
  );
  rows.push({
    relays: n,
    links: n * (n - 1),
    maxHops: opts.maxHops,
    pairMs,
    routeAllMs: tableMs,
    routeAllFreshMs: freshMs,
  });
}
const table = [
  '| relays | links | max hops | computePaths, one pair (ms) | routeAll, one source (ms) | routeAll on a fresh snapshot (ms) |',
  '|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.relays} | ${r.links} | ${r.maxHops} | ${r.pairMs.toFixed(2)} | ${r.routeAllMs.toFixed(1)} | ${r.routeAllFreshMs.toFixed(1)} |`,
  ),
].join('\n');
process.stdout.write(`${table}\n`);
mkdirSync(dirname(values.out), { recursive: true });
writeFileSync(
  values.out,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, rows }, null, 2)}\n`,
);
