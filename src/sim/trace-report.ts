/**
 * The trace-driven world's tables: what the loader dropped, the hold-out split, the overlay
 * against the best measured paths, then the tables every run has (report.ts). Pure strings.
 */
import { summaryText, textTable } from './report.ts';
import type { TraceFigures } from './trace-run.ts';

const pct = (v: number) => (Number.isFinite(v) ? `${(v * 100).toFixed(1)} %` : '-');
const ms = (v: number) => (Number.isFinite(v) ? `${v.toFixed(1)} ms` : '-');
const num = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '-');

export function dataRows(f: TraceFigures): string[][] {
  const d = f.data;
  return [
    ['measured data', 'value'],
    ['directed pairs faster than light in fiber, dropped', `${d.impossiblePairs}`],
    [
      '  sites most involved',
      d.impossibleBySite
        .slice(0, 4)
        .map(([s, n]) => `${s} ${n}`)
        .join(', '),
    ],
    ['directed pairs unmeasured in the file', `${d.missingPairs}`],
    [
      'sites left out (pairs without a value)',
      d.droppedSites.map((s) => `${s.name} ${s.missingPairs}`).join(', '),
    ],
    ['sites used: relays / fit / held out', `${d.sites}: ${d.relaySites} / ${d.fitSites} / ${d.testSites}`],
    [
      'pairs with a shorter path through a third site (median gain)',
      `${pct(d.detourShare)} (${pct(d.detourMedianGain)})`,
    ],
    ['Seattle pairs replayed as drift', `${d.driftPairs}`],
  ];
}

export function holdoutRows(f: TraceFigures): string[][] {
  const rows = [
    [
      'who, when',
      'allocations',
      'geolocation',
      'learned',
      'probes',
      'p95 probes',
      'pred. err learned',
      'pred. err distance',
    ],
  ];
  for (const h of f.holdout) {
    rows.push([
      h.group,
      `${h.allocations}`,
      pct(h.regret.geolocation.missShare),
      pct(h.regret.learned.missShare),
      pct(h.regret.probes.missShare),
      ms(h.regret.probes.p95Ms),
      pct(h.learnedRelErr),
      pct(h.distanceRelErr),
    ]);
  }
  return rows;
}

export function overlayRows(f: TraceFigures): string[][] {
  const o = f.overlay;
  return [
    ['overlay between relays (measured links)', 'value'],
    ['relay pairs', `${o.relayPairs}`],
    ['routed RTT / direct measured RTT, median', num(o.routedOverDirectMedian, 3)],
    ['pairs routed through another relay', pct(o.multiHopShare)],
    ['pairs faster than direct (median gain there)', `${pct(o.fasterShare)} (${pct(o.fasterGainMedian)})`],
    [
      'routed RTT / best measured path, median / p95',
      `${num(o.routedOverBestMedian, 3)} / ${num(o.routedOverBestP95, 3)}`,
    ],
    ['pairs within 5 % of the best measured path', pct(o.withinFivePercentShare)],
  ];
}

export function traceSummaryText(f: TraceFigures): string {
  return [
    textTable(dataRows(f)),
    '',
    'Share of allocations more than 5 ms worse than the best relay:',
    textTable(holdoutRows(f)),
    '',
    textTable(overlayRows(f)),
    '',
    summaryText(f.sim),
  ].join('\n');
}
