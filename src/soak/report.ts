/**
 * The soak run's report, pure: the tolerances it is judged by, the verdict over every sampled
 * series and steady call, and one SVG page of six line charts (steady-call loss, resident memory,
 * heap, file descriptors, sockets, Redis keys) with the disruptions listed under them.
 * Imports only the SVG helpers of the simulation report.
 */
import { escapeXml, lineChart, PALETTE, type Series } from '../sim/svg.ts';
import {
  type GrowthResult,
  type GrowthRule,
  type LossInterval,
  type LossResult,
  lossVerdict,
  type Sample,
  secondHalfGrowth,
} from './verdict.ts';

export type SoakMetric = 'rss' | 'heap' | 'fds' | 'udp' | 'tcp' | 'keys';

const MiB = 1024 * 1024;

/**
 * Growth allowed across the second half of the run (the fitted line's rise), per quantity:
 * memory may settle upward a little while a process warms up (resident memory is judged per
 * process life, and only lives spanning 5 minutes or more of the window: V8 sizes a young
 * process's heap for minutes); descriptors, sockets and keys are counts that churn moves up and
 * down around a level, so a few either way.
 */
/**
 * The churn's pool of live allocations (scripts/soak/churn.ts keeps it full): each UDP one holds a
 * relayed UDP socket on its relay, each TCP one that and its TCP connection.
 */
export const CHURN_POOL = Object.freeze({ udp: 12, tcp: 4 });

/**
 * What the pool alone can move one relay's counts by: the edge spreads its allocations over the
 * relays, and in a short window they may gather on one (CI's one-minute run once saw relay B's
 * descriptors rise 8.1 in its last 30 s, 5.9 of them UDP sockets, while the pool stayed 14-16).
 */
const POOL_FDS = CHURN_POOL.udp + 2 * CHURN_POOL.tcp;
const POOL_UDP = CHURN_POOL.udp + CHURN_POOL.tcp;

export const GROWTH_RULES: Readonly<Record<SoakMetric, GrowthRule>> = {
  // A 1-minute run saw a young process's RSS rise 18.7 MiB in its last 30 s (its heap did not), and
  // a 30-minute run's edge, restarted every 5 minutes, rose 1-3 MiB a minute in each life.
  rss: { absolute: 16 * MiB, relative: 0.1, minLifeS: 300 },
  heap: { absolute: 8 * MiB, relative: 0.15 },
  fds: { absolute: 8 + POOL_FDS, relative: 0 },
  udp: { absolute: 6 + POOL_UDP, relative: 0 },
  tcp: { absolute: 6 + CHURN_POOL.tcp, relative: 0 },
  keys: { absolute: 10, relative: 0.1 },
};

/** Steady calls may lose at most this share of their packets outside their relay's kill windows. */
export const LOSS_BOUND = 0.005;

export interface SoakSeries {
  readonly process: string;
  readonly metric: SoakMetric;
  readonly samples: readonly Sample[];
}

export interface SoakCall {
  readonly name: string;
  readonly intervals: readonly LossInterval[];
}

export interface SoakEvent {
  readonly t: number;
  readonly what: string;
}

export interface SoakVerdict {
  readonly growth: readonly (GrowthResult & { readonly process: string; readonly metric: SoakMetric })[];
  readonly loss: readonly (LossResult & { readonly call: string })[];
  readonly ok: boolean;
}

export function judgeSoak(
  series: readonly SoakSeries[],
  calls: readonly SoakCall[],
  durationS: number,
): SoakVerdict {
  const growth = series.map((s) => ({
    process: s.process,
    metric: s.metric,
    ...secondHalfGrowth(s.samples, durationS, GROWTH_RULES[s.metric]),
  }));
  const loss = calls.map((c) => ({ call: c.name, ...lossVerdict(c.intervals, LOSS_BOUND) }));
  return { growth, loss, ok: growth.every((g) => g.ok) && loss.every((l) => l.ok) };
}

const CHARTS: readonly { metric: SoakMetric | 'sockets'; title: string; unit: string; scale: number }[] = [
  { metric: 'rss', title: 'Resident memory', unit: 'MiB', scale: 1 / MiB },
  { metric: 'heap', title: 'V8 heap used', unit: 'MiB', scale: 1 / MiB },
  { metric: 'fds', title: 'File descriptors', unit: 'descriptors', scale: 1 },
  { metric: 'sockets', title: 'Sockets (UDP + TCP)', unit: 'sockets', scale: 1 },
  { metric: 'keys', title: 'Redis keys', unit: 'keys', scale: 1 },
];

function processSeries(
  series: readonly SoakSeries[],
  metric: SoakMetric | 'sockets',
  scale: number,
): Series[] {
  const names = [...new Set(series.map((s) => s.process))];
  const out: Series[] = [];
  names.forEach((name, i) => {
    let points: [number, number][];
    if (metric === 'sockets') {
      const udp = series.find((s) => s.process === name && s.metric === 'udp')?.samples ?? [];
      const tcp = new Map(
        (series.find((s) => s.process === name && s.metric === 'tcp')?.samples ?? []).map((s) => [s.t, s.v]),
      );
      points = udp.map((s) => [s.t, s.v + (tcp.get(s.t) ?? 0)]);
    } else
      points = (series.find((s) => s.process === name && s.metric === metric)?.samples ?? []).map((s) => [
        s.t,
        s.v * scale,
      ]);
    if (points.length > 0) out.push({ name, points, color: PALETTE[i % PALETTE.length]! });
  });
  return out;
}

/** One SVG page: steady-call loss and the five resource charts, two columns, events below. */
export function soakSvg(
  series: readonly SoakSeries[],
  calls: readonly SoakCall[],
  events: readonly SoakEvent[],
  durationS: number,
): string {
  const charts: string[] = [
    lineChart({
      title: 'Steady-call loss per sample, outside kill windows',
      xLabel: 'seconds',
      yLabel: 'packets lost',
      yFormat: 'percent',
      xMin: 0,
      xMax: durationS,
      yMin: 0,
      yMax: Math.max(
        0.01,
        ...calls.flatMap((c) =>
          c.intervals.map((iv) => (!iv.excluded && iv.sent > 0 ? iv.lost / iv.sent : 0)),
        ),
      ),
      legend: 'top-right',
      series: calls.map((c, i) => ({
        name: c.name,
        points: c.intervals
          .filter((iv) => !iv.excluded)
          .map((iv) => [iv.t, iv.sent > 0 ? iv.lost / iv.sent : 0] as [number, number]),
        color: PALETTE[i % PALETTE.length]!,
      })),
    }),
    ...CHARTS.map((c) =>
      lineChart({
        title: c.title,
        xLabel: 'seconds',
        yLabel: c.unit,
        xMin: 0,
        xMax: durationS,
        legend: 'top-right',
        series: processSeries(series, c.metric, c.scale),
      }),
    ),
  ];
  const W = 640;
  const H = 380;
  const rows = Math.ceil(charts.length / 2);
  const lines = events.map((e) => `${e.t.toFixed(0)} s  ${e.what}`);
  const perColumn = Math.ceil(lines.length / 3);
  const textH = 30 + perColumn * 15;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${2 * W} ${rows * H + textH}" width="${2 * W}" height="${rows * H + textH}" font-family="sans-serif" font-size="12">`,
    `<title>Soak run of ${durationS.toFixed(0)} s: steady-call loss, memory, descriptors, sockets, Redis keys</title>`,
    `<rect width="${2 * W}" height="${rows * H + textH}" fill="#fff"/>`,
    ...charts.map((svg, i) => svg.replace('<svg ', `<svg x="${(i % 2) * W}" y="${Math.floor(i / 2) * H}" `)),
    `<text x="16" y="${rows * H + 18}" font-weight="bold">Disruptions</text>`,
    ...lines.map(
      (l, i) =>
        `<text x="${16 + Math.floor(i / perColumn) * 420}" y="${rows * H + 36 + (i % perColumn) * 15}">${escapeXml(l)}</text>`,
    ),
    '</svg>',
  ];
  return parts.join('\n');
}
