/**
 * Small SVG plots as strings: a line chart with axes and a legend, and an equirectangular world
 * map with a latitude/longitude grid, dots and polylines. No fonts or assets beyond the page's
 * own; everything inline. Pure.
 */

export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  readonly color: string;
  readonly dashed?: boolean;
}

export interface ChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  readonly xMin?: number;
  readonly xMax?: number;
  readonly yMin?: number;
  readonly yMax?: number;
  /** Format of y tick labels: plain numbers or percentages of 1. */
  readonly yFormat?: 'number' | 'percent';
  /** Corner of the plot the legend sits in (default bottom right, where CDFs leave room). */
  readonly legend?: 'top-right' | 'bottom-right';
}

export const PALETTE = ['#d62728', '#ff7f0e', '#2ca02c', '#1f77b4', '#9467bd', '#8c564b', '#7f7f7f'];

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

const fmt = (v: number, f: 'number' | 'percent' = 'number') =>
  f === 'percent' ? `${Number((v * 100).toPrecision(3))}%` : `${Number(v.toPrecision(4))}`;

export function lineChart(o: ChartOptions): string {
  const W = 640;
  const H = 380;
  const m = { left: 64, right: 16, top: 36, bottom: 48 };
  const all = o.series.flatMap((s) => s.points);
  const finite = all.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xMin = o.xMin ?? Math.min(...finite.map((p) => p[0]));
  const xMax = o.xMax ?? Math.max(...finite.map((p) => p[0]));
  const yMin = o.yMin ?? Math.min(0, ...finite.map((p) => p[1]));
  const yMax = o.yMax ?? Math.max(...finite.map((p) => p[1]));
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const sx = (x: number) => m.left + ((Math.min(xMax, Math.max(xMin, x)) - xMin) / (xMax - xMin || 1)) * pw;
  const sy = (y: number) =>
    m.top + ph - ((Math.min(yMax, Math.max(yMin, y)) - yMin) / (yMax - yMin || 1)) * ph;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(o.title)}</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(o.title)}</text>`,
  );
  for (const t of niceTicks(xMin, xMax)) {
    const x = sx(t).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${m.top}" x2="${x}" y2="${m.top + ph}" stroke="#eee"/>`,
      `<text x="${x}" y="${m.top + ph + 16}" text-anchor="middle">${fmt(t)}</text>`,
    );
  }
  for (const t of niceTicks(yMin, yMax)) {
    const y = sy(t).toFixed(1);
    parts.push(
      `<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#eee"/>`,
      `<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t, o.yFormat)}</text>`,
    );
  }
  parts.push(
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${m.left + pw / 2}" y="${H - 10}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`,
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`,
  );
  o.series.forEach((s, i) => {
    const pts = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
      .map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join(' ');
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (pts)
      parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    const ly =
      o.legend === 'top-right' ? m.top + 14 + i * 16 : m.top + ph - 10 - (o.series.length - 1 - i) * 16;
    const lx = m.left + pw - 200;
    parts.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 20}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`,
      `<text x="${lx + 26}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface MapDot {
  readonly lat: number;
  readonly lon: number;
  readonly r: number;
  readonly color: string;
  readonly title?: string;
}

export interface MapLine {
  readonly points: readonly (readonly [number, number])[];
  readonly color: string;
}

/** Equirectangular world map: x = longitude, y = latitude, a 30° grid, lines then dots. */
export function worldMap(title: string, dots: readonly MapDot[], lines: readonly MapLine[]): string {
  const W = 900;
  const H = 470;
  const top = 20;
  const mh = 450;
  const x = (lon: number) => ((lon + 180) / 360) * W;
  const y = (lat: number) => top + ((90 - lat) / 180) * mh;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<rect x="0" y="${top}" width="${W}" height="${mh}" fill="#f3f7fb" stroke="#999"/>`,
    `<text x="${W / 2}" y="14" text-anchor="middle" font-size="13" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  for (let lon = -150; lon <= 150; lon += 30)
    parts.push(`<line x1="${x(lon)}" y1="${top}" x2="${x(lon)}" y2="${top + mh}" stroke="#d5dde6"/>`);
  for (let lat = -60; lat <= 60; lat += 30) {
    const stroke = lat === 0 ? '#b5c0cc' : '#d5dde6';
    parts.push(
      `<line x1="0" y1="${y(lat)}" x2="${W}" y2="${y(lat)}" stroke="${stroke}"/>`,
      `<text x="4" y="${y(lat) - 2}" fill="#889">${lat}°</text>`,
    );
  }
  for (const l of lines) {
    // Split where a segment crosses the antimeridian, so it does not run across the whole map.
    let d = '';
    l.points.forEach(([lat, lon], i) => {
      const prev = l.points[i - 1];
      const jump = prev !== undefined && Math.abs(lon - prev[1]) > 180;
      d += `${i === 0 || jump ? 'M' : 'L'}${x(lon).toFixed(1)},${y(lat).toFixed(1)} `;
    });
    parts.push(
      `<path d="${d.trim()}" fill="none" stroke="${l.color}" stroke-width="1.4" stroke-opacity="0.75"/>`,
    );
  }
  for (const dot of dots) {
    const t = dot.title ? `<title>${escapeXml(dot.title)}</title>` : '';
    parts.push(
      `<circle cx="${x(dot.lon).toFixed(1)}" cy="${y(dot.lat).toFixed(1)}" r="${dot.r}" fill="${dot.color}">${t}</circle>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}
