/**
 * Path computation time (src/routing) on synthetic overlays of 100 and 1,000 relays.
 *
 * Each overlay is seeded, so every run measures the same graphs: relays at uniform random places on
 * the globe; a near-full mesh (each pair measured with probability 0.95, both ways); RTT from the
 * great-circle distance at 1 ms per 100 km (light in fiber, there and back) inflated by a random
 * 1.2-2.5 for real routes, plus 1 ms; jitter 0-3 ms; 5 % of links with 0-2 % loss, 1 % blackholed;
 * loads 0-0.9; 2 % of relays draining (never transit).
 *
 * Measured, each with a fixed number of runs and a time budget (bounded):
 *  - graph build: turning a fresh snapshot into the cost graph (once per snapshot, then cached);
 *  - computePaths for one pair (best + alternate), averaged over random pairs, on a built graph;
 *  - routeAll for one source (best path to every destination plus hysteresis), on a built graph.
 *
 *   node --import tsx bench/path-compute.ts [--out bench/results/path-compute.json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { greatCircleKm } from '../src/directory/geo.ts';
import { DEFAULT_HYSTERESIS, type LinkStats, routeAll } from '../src/routing/index.ts';
import { computePaths, type OverlaySnapshot } from '../src/routing/paths.ts';

/** xorshift32 with a splitmix-style seed scramble: deterministic, fast, good enough for test data. */
function seeded(seed: number): () => number {
  let x = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

function overlay(n: number, seed: number): { s: OverlaySnapshot; links: number } {
  const r = seeded(seed);
  const ids = Array.from({ length: n }, (_, i) => `relay-${String(i).padStart(4, '0')}`);
  const places = ids.map(() => ({ lat: (Math.asin(2 * r() - 1) * 180) / Math.PI, lon: 360 * r() - 180 }));
  const links = new Map<string, Map<string, LinkStats>>(ids.map((id) => [id, new Map()]));
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (i % 100 === 0) process.stderr.write(`\r  building ${n} relays: ${i}/${n}`);
    for (let j = i + 1; j < n; j++) {
      if (r() >= 0.95) continue;
      const a = places[i]!;
      const b = places[j]!;
      const rtt = 1 + (greatCircleKm(a.lat, a.lon, b.lat, b.lon) / 100) * (1.2 + 1.3 * r());
      const lossy = r();
      const lossRate = lossy < 0.01 ? 1 : lossy < 0.06 ? r() * 0.02 : 0;
      for (const [x, y] of [
        [i, j],
        [j, i],
      ] as const) {
        links.get(ids[x]!)!.set(ids[y]!, { rttMs: rtt * (0.98 + 0.04 * r()), jitterMs: 3 * r(), lossRate });
        count++;
      }
    }
  }
  process.stderr.write(`\r  building ${n} relays: done, ${count} links\n`);
  const load = new Map(ids.map((id) => [id, 0.9 * r()]));
  const down = new Set(ids.filter(() => r() < 0.02));
  return { s: { relays: ids, links, load, down }, links: count };
}

/** Mean ms per call over at most `runs` calls or `budgetMs`, after one warm-up call. */
function time(runs: number, budgetMs: number, f: (i: number) => void): number {
  f(0);
  const start = performance.now();
  let i = 0;
  while (i < runs && performance.now() - start < budgetMs) f(++i);
  return (performance.now() - start) / i;
}

const { values } = parseArgs({
  options: { out: { type: 'string', default: 'bench/results/path-compute.json' } },
});
const opts = { maxHops: 3, ...DEFAULT_HYSTERESIS };
const rows = [];
for (const n of [100, 1000]) {
  process.stderr.write(`overlay of ${n} relays (seed ${n})\n`);
  const { s, links } = overlay(n, n);
  const r = seeded(7);
  const pairs = Array.from({ length: 64 }, () => [
    s.relays[Math.floor(r() * n)]!,
    s.relays[Math.floor(r() * n)]!,
  ]);
  const buildMs = time(n === 100 ? 50 : 5, 20_000, () => computePaths({ ...s }, 'x', 'y', opts));
  process.stderr.write(`  graph build: ${buildMs.toFixed(2)} ms\n`);
  const pairMs = time(n === 100 ? 2000 : 200, 20_000, (i) => {
    const [from, to] = pairs[i % pairs.length]!;
    computePaths(s, from!, to!, opts);
  });
  process.stderr.write(`  computePaths: ${pairMs.toFixed(3)} ms per pair\n`);
  const source = s.relays[0]!;
  const tableMs = time(n === 100 ? 500 : 50, 20_000, () => routeAll(s, source, new Map(), opts));
  const table = routeAll(s, source, new Map(), opts).routes;
  const detours = [...table.values()].filter((p) => p.hops.length > 2).length;
  process.stderr.write(
    `  routeAll: ${tableMs.toFixed(2)} ms, ${table.size} routes, ${detours} via a third relay\n`,
  );
  rows.push({
    relays: n,
    links,
    maxHops: opts.maxHops,
    graphBuildMs: buildMs,
    pairMs,
    routeAllMs: tableMs,
    routes: table.size,
    detourRoutes: detours,
  });
}

const md = [
  '| relays | links | graph build (ms) | computePaths, one pair (ms) | routeAll, one source (ms) | routes via a third relay |',
  '|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.relays} | ${r.links} | ${r.graphBuildMs.toFixed(1)} | ${r.pairMs.toFixed(3)} | ${r.routeAllMs.toFixed(2)} | ${r.detourRoutes}/${r.routes} |`,
  ),
].join('\n');
process.stdout.write(
  `${md}\n\nmax hops ${opts.maxHops}; times are means on an already built graph except graph build.\n`,
);
mkdirSync(dirname(values.out), { recursive: true });
const meta = { date: new Date().toISOString(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown' };
writeFileSync(values.out, `${JSON.stringify({ ...meta, params: opts, rows }, null, 2)}\n`);
process.stderr.write(`wrote ${values.out}\n`);
