/**
 * The report of a run: SVG plots, the JSON behind each, an HTML page with the tables and the plots
 * inline, and a plain-text summary table for the terminal. Pure string building: the CLI writes
 * the files.
 */
import { STRATEGIES } from './allocations.ts';
import { FAILURE_KINDS, type FailureKind } from './backbone.ts';
import { CALL_OPTIONS } from './calls.ts';
import type { BackboneFigures, SimFigures } from './run.ts';
import { escapeXml, lineChart, type MapDot, type MapLine, PALETTE, worldMap } from './svg.ts';

export interface Report {
  /** File name (without extension) to SVG. */
  readonly svg: Record<string, string>;
  /** File name (without extension) to the data of that figure. */
  readonly json: Record<string, unknown>;
  readonly html: string;
}

const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)} %` : '-');
const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : '-');
const num = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '-');

/** Rows of cells as a fixed-width text table. */
export function textTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r, i) => {
      const line = r
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
        .join('  ');
      return i === 0 ? `${line}\n${widths.map((w) => '-'.repeat(w)).join('  ')}` : line;
    })
    .join('\n');
}

export function allocationRows(f: SimFigures): string[][] {
  const rows = [['relay assignment', 'median regret', 'p95 regret', 'mean regret', '> 5 ms worse']];
  for (const s of [...STRATEGIES, 'probes, uncalibrated'] as const) {
    const r = f.allocations.summary[s];
    rows.push([s, ms(r.medianMs), ms(r.p95Ms), ms(r.meanMs), pct(r.missShare)]);
  }
  return rows;
}

export function callRows(f: SimFigures): string[][] {
  const rows = [
    ['call path', 'median RTT', 'p95 RTT', 'median loss', 'median jitter', 'poor', 'poor fixed', 'RTT/fiber'],
  ];
  for (const o of CALL_OPTIONS) {
    const c = f.calls.summary[o];
    rows.push([
      o,
      ms(c.rttMedianMs),
      ms(c.rttP95Ms),
      pct(c.lossMedian),
      ms(c.jitterMedianMs),
      pct(c.poorShare),
      o === 'direct' ? '-' : pct(c.fixedShare),
      num(c.stretchMedian),
    ]);
  }
  return rows;
}

const FAILURE_NAMES: Record<FailureKind, string> = {
  blackhole: 'blackholed link',
  partial: 'partly lossy link (answers most probes)',
  gray: 'gray link (drops data, answers probes)',
  site: 'failed relay (transit)',
  'gray-relay': 'gray relay (answers probes, forwards nothing; transit)',
};

export function backboneRows(b: BackboneFigures): string[][] {
  const fo = b.failover;
  return [
    ['backbone', 'value'],
    ['time to a working path after a link failure, median', ms(fo.workingMedianMs)],
    ['  p95 / max', `${ms(fo.workingP95Ms)} / ${ms(fo.workingMaxMs)}`],
    ['time until the source reroutes, median / p95', `${ms(fo.sourceMedianMs)} / ${ms(fo.sourceP95Ms)}`],
    ['failover trials (share on the source own link)', `${fo.trials} (${pct(fo.firstLinkShare)})`],
    ['path cost after failover / before, median', num(fo.stretchMedian)],
    [
      'flaps per flow per hour: now / before the damping / without the loss deadband',
      `${num(b.current.flapsPerFlowHour, 2)} / ${num(b.before.flapsPerFlowHour, 2)} / ${num(b.withoutDeadband.flapsPerFlowHour, 2)}`,
    ],
    [
      'flows with a flap: now / before / without deadband',
      `${pct(b.current.flowsWithFlapShare)} / ${pct(b.before.flowsWithFlapShare)} / ${pct(b.withoutDeadband.flowsWithFlapShare)}`,
    ],
    [
      'detour gain taken at the end: now / before / without deadband',
      `${pct(b.current.gainTaken)} / ${pct(b.before.gainTaken)} / ${pct(b.withoutDeadband.gainTaken)}`,
    ],
    ['steady state: flows x simulated seconds', `${b.flows} x ${b.seconds} s`],
    ['link failures injected in the steady state', `${b.failuresInjected}`],
    ['probes sent per relay per second', num(b.probesPerRelaySecond, 1)],
    [
      'end-to-end check: losses found, transit relays avoided for a destination (innocent: no failure of theirs on the path)',
      `${b.endToEnd.losses}, ${b.endToEnd.avoided} (${b.endToEnd.innocent} innocent: ${pct(b.endToEnd.innocentFlowShare)} of flow-time)`,
    ],
    [
      'detour gain missed at the end by flows avoiding relays: an innocent one / only guilty ones',
      `${pct(b.endToEnd.gainLostInnocent)} / ${pct(b.endToEnd.gainLostFailing)}`,
    ],
    ...FAILURE_KINDS.map((kind) => {
      const s = b.stays[kind];
      return [
        `flows on a ${FAILURE_NAMES[kind]}: count, time to leave median / p95, still on it at its end, packets lost median / p95`,
        s.flows > 0
          ? `${s.flows}, ${ms(s.medianMs)} / ${ms(s.p95Ms)}, ${pct(s.stayedShare)}, ${num(s.lostPacketsMedian, 0)} / ${num(s.lostPacketsP95, 0)}`
          : '0',
      ];
    }),
  ];
}

export function learnedRows(f: SimFigures): string[][] {
  const a = f.allocations;
  return [
    ['prediction', 'value'],
    ['median relative error, learned basis', pct(a.learnedRelErrMedian)],
    ['median relative error, distance basis', pct(a.distanceRelErrMedian)],
    ['answers on a learned basis (no probes)', pct(a.learnedBasisShare)],
    ['best relay among those probed', pct(a.oracleProbedShare)],
    ['probes misses whose best relay was probed (noise)', pct(a.missesWithBestProbedShare)],
    ['probes answer on an unprobed relay', pct(a.unprobedChoiceShare)],
    ['probes per allocation, both rounds: mean / p95', `${num(a.probesMean, 1)} / ${num(a.probesP95, 0)}`],
    ['allocations with a second probing round', pct(a.secondRoundShare)],
    ['learned inflation at the end', num(a.finalInflation)],
    ['median RTT to the best relay', ms(a.bestRttMedianMs)],
  ];
}

/** What the terminal shows at the end of a run. */
export function summaryText(f: SimFigures): string {
  return [
    textTable(allocationRows(f)),
    '',
    textTable(learnedRows(f)),
    '',
    textTable(callRows(f)),
    `per call: ${pct(f.calls.perCallRelayedShare)} of calls relayed, ${pct(f.calls.perCallExploreShare)} explored the other path`,
    '',
    textTable(backboneRows(f.backbone)),
  ].join('\n');
}

function htmlTable(rows: readonly (readonly string[])[]): string {
  const [head, ...body] = rows;
  const th = head!.map((h) => `<th>${escapeXml(h)}</th>`).join('');
  const tr = body.map((r) => `<tr>${r.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${tr}\n</tbody></table>`;
}

export function buildReport(f: SimFigures, meta: { command: string; seconds: number }): Report {
  const a = f.allocations;
  const c = f.calls;
  // The oracle's regret is 0 by definition: its curve would lie on the axes, so it is left out.
  const strategies = STRATEGIES.filter((s) => s !== 'oracle');
  const regret = lineChart({
    title: 'Regret against the oracle (CDF; the oracle itself is 0)',
    xLabel: 'RTT to the chosen relay minus RTT to the best relay (ms)',
    yLabel: 'share of allocations',
    xMin: 0,
    xMax: 40,
    yMin: 0,
    yMax: 1,
    yFormat: 'percent',
    series: strategies.map((s, i) => ({ name: s, points: a.regretCdf[s], color: PALETTE[i]! })),
  });
  const callRtt = lineChart({
    title: 'Call RTT (CDF)',
    xLabel: 'round-trip time between the two clients (ms)',
    yLabel: 'share of calls',
    xMin: 0,
    xMax: 600,
    yMin: 0,
    yMax: 1,
    yFormat: 'percent',
    series: [
      // The product's curve is dashed: it lies on the backbone's, which would be hidden under it.
      ...CALL_OPTIONS.map((o, i) => ({
        name: o,
        points: c.rttCdf[o],
        color: PALETTE[i]!,
        dashed: o === 'product',
      })),
      { name: 'fiber bound', points: c.fiberBoundCdf, color: '#000', dashed: true },
    ],
  });
  const stretch = lineChart({
    title: 'Call RTT over the fiber bound, calls over 1,000 km (CDF)',
    xLabel: 'RTT / (great-circle distance at fiber speed)',
    yLabel: 'share of calls',
    xMin: 1,
    xMax: 6,
    yMin: 0,
    yMax: 1,
    yFormat: 'percent',
    series: CALL_OPTIONS.map((o, i) => ({
      name: o,
      points: c.stretchCdf[o],
      color: PALETTE[i]!,
      dashed: o === 'product',
    })),
  });
  const warmupPeaks = a.warmup
    .flatMap((w) => [
      w.regret.geolocation.missShare,
      w.regret.learned.missShare,
      w.regret.probes.missShare,
      w.learnedBasisShare,
      w.learnedRelErr,
    ])
    .filter(Number.isFinite);
  const warmupMiss = lineChart({
    title: 'Warm-up: misses (> 5 ms from the best relay) and the learned map',
    xLabel: 'simulated day',
    yLabel: 'share of allocations (dashed: see legend)',
    xMin: 0,
    yMin: 0,
    // Twice the highest curve, so the legend in the top right stays clear of the curves.
    yMax: Math.min(1, Math.ceil(Math.max(0.05, ...warmupPeaks) * 20) / 10),
    yFormat: 'percent',
    legend: 'top-right',
    series: [
      ...(['geolocation', 'learned', 'probes'] as const).map((s, i) => ({
        name: s,
        points: a.warmup.map((w) => [w.day, w.regret[s].missShare] as [number, number]),
        color: PALETTE[i]!,
      })),
      {
        name: 'answers on learned basis',
        points: a.warmup.map((w) => [w.day, w.learnedBasisShare] as [number, number]),
        color: PALETTE[4]!,
        dashed: true,
      },
      {
        name: 'learned rel. error (median)',
        points: a.warmup.map((w) => [w.day, w.learnedRelErr] as [number, number]),
        color: PALETTE[5]!,
        dashed: true,
      },
    ],
  });
  const failover = lineChart({
    title: 'Backbone failover after a link blackholes (CDF)',
    xLabel: 'time from the failure (ms)',
    yLabel: 'share of failures',
    xMin: 0,
    yMin: 0,
    yMax: 1,
    yFormat: 'percent',
    series: [
      { name: 'flow works again', points: f.backbone.failover.workingCdf, color: PALETTE[2]! },
      { name: 'source rerouted', points: f.backbone.failover.sourceCdf, color: PALETTE[3]! },
    ],
  });
  const maxPop = Math.max(...f.world.relays.map((r) => r.population));
  const dots: MapDot[] = [
    ...c.samplePaths.flatMap((p) => [
      { lat: p.a[0], lon: p.a[1], r: 2, color: '#2ca02c' },
      { lat: p.b[0], lon: p.b[1], r: 2, color: '#2ca02c' },
    ]),
    ...f.world.relays.map((r) => ({
      lat: r.lat,
      lon: r.lon,
      r: 2 + 3 * Math.sqrt(r.population / maxPop),
      color: '#d62728',
      title: r.id,
    })),
  ];
  const lines: MapLine[] = c.samplePaths.map((p) => ({ points: [p.a, ...p.hops, p.b], color: '#1f77b4' }));
  const map = worldMap(
    `Relays (red, by metro size), clients (green) and backbone paths of ${c.samplePaths.length} calls (blue)`,
    dots,
    lines,
  );
  const svg = {
    'regret-cdf': regret,
    'call-rtt-cdf': callRtt,
    'call-stretch-cdf': stretch,
    warmup: warmupMiss,
    'failover-cdf': failover,
    'world-map': map,
  };
  const json = {
    'regret-cdf': a.regretCdf,
    'call-rtt-cdf': { ...c.rttCdf, 'fiber bound': c.fiberBoundCdf },
    'call-stretch-cdf': c.stretchCdf,
    warmup: a.warmup,
    'failover-cdf': { working: f.backbone.failover.workingCdf, source: f.backbone.failover.sourceCdf },
    'world-map': { relays: f.world.relays, paths: c.samplePaths },
    figures: f,
  };
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>World simulation report</title>
<style>
body{font-family:sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td{white-space:nowrap}td:first-child{white-space:normal}
td:first-child,th:first-child{text-align:left}code{background:#f4f4f4;padding:1px 4px}
figure{margin:1.5em 0}svg{max-width:100%;height:auto}
</style></head><body>
<h1>World simulation</h1>
<p>Command: <code>${escapeXml(meta.command)}</code>, ${meta.seconds.toFixed(0)} s. Seed ${f.seed};
${f.world.relays.length} relays, ${f.scale.prefixes} prefixes in ${f.world.countries} countries (${f.world.carriers} carriers),
${a.count} allocations over ${f.scale.days} simulated days, ${c.count} calls. The model and its sources: docs/SIMULATION.md.
JSON of every figure sits beside this page.</p>
<h2>Relay assignment</h2>
${htmlTable(allocationRows(f))}
${htmlTable(learnedRows(f))}
<figure>${regret}</figure>
<figure>${warmupMiss}</figure>
<h2>Calls</h2>
<p>${pct(c.productTwoRelaysShare)} of the product's calls used two relays and the backbone; the rest one relay (room affinity).</p>
${htmlTable(callRows(f))}
<figure>${callRtt}</figure>
<figure>${stretch}</figure>
<figure>${map}</figure>
<h2>Backbone</h2>
${htmlTable(backboneRows(f.backbone))}
<figure>${failover}</figure>
</body></html>
`;
  return { svg, json, html };
}
