/**
 * The world map: land (Natural Earth 1:110m from world-atlas, bundled), relays as circles sized
 * by load and coloured by state, links as great-circle arcs coloured by the chosen measure, and
 * the selected pair's best path (solid) and alternate (dashed) drawn over them. SVG, redrawn whole
 * on every update: a backbone has tens of relays, not thousands.
 */
import { geoGraticule10, geoNaturalEarth1, geoPath } from 'd3-geo';
import { feature } from 'topojson-client';
import type { GeometryCollection, Topology as TopoJson } from 'topojson-specification';
import land110 from 'world-atlas/land-110m.json';
import type { TopologyBody, TopologyLink, TopologyPath } from './types.ts';

export type LinkMeasure = 'health' | 'rtt' | 'jitter' | 'loss';

const NS = 'http://www.w3.org/2000/svg';
const WIDTH = 960;
const HEIGHT = 500;

const topo = land110 as unknown as TopoJson<{ land: GeometryCollection }>;
const land = feature(topo, topo.objects.land);
const projection = geoNaturalEarth1().fitSize([WIDTH, HEIGHT], { type: 'Sphere' });
const path = geoPath(projection);

export const HEALTH_COLOUR = { up: '#2e9d5b', degraded: '#e0a100', dead: '#d33c3c' } as const;

/** Green to red over [good, bad]: the measure's value mapped onto a traffic-light ramp. */
function ramp(value: number, good: number, bad: number): string {
  const t = Math.min(1, Math.max(0, (value - good) / (bad - good)));
  const hue = 140 * (1 - t);
  return `hsl(${hue.toFixed(0)} 65% 42%)`;
}

export function linkColour(l: TopologyLink, measure: LinkMeasure): string {
  if (l.health === 'dead') return HEALTH_COLOUR.dead;
  switch (measure) {
    case 'health':
      return HEALTH_COLOUR[l.health];
    case 'rtt':
      return ramp(l.rttMs, 20, 300);
    case 'jitter':
      return ramp(l.jitterMs, 1, 20);
    case 'loss':
      return ramp(l.lossRate * 100, 0, 3);
  }
}

function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
  parent: Element,
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent.appendChild(e);
  return e;
}

/** Both directions of a link as one arc, with the worse of the two verdicts. */
function pairs(links: readonly TopologyLink[]): { a: string; b: string; worst: TopologyLink }[] {
  const rank = { up: 0, degraded: 1, dead: 2 };
  const byPair = new Map<string, { a: string; b: string; worst: TopologyLink }>();
  for (const l of links) {
    const [a, b] = l.from < l.to ? [l.from, l.to] : [l.to, l.from];
    const key = `${a}|${b}`;
    const seen = byPair.get(key);
    if (
      !seen ||
      rank[l.health] > rank[seen.worst.health] ||
      (l.health === seen.worst.health && l.rttMs > seen.worst.rttMs)
    ) {
      byPair.set(key, { a, b, worst: l });
    }
  }
  return [...byPair.values()];
}

export interface MapState {
  readonly measure: LinkMeasure;
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly best: TopologyPath | null;
  readonly alternate: TopologyPath | null;
}

export function drawMap(
  svg: SVGSVGElement,
  t: TopologyBody,
  s: MapState,
  onPick: (id: string) => void,
): void {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${WIDTH} ${HEIGHT}`);
  el('path', { d: path({ type: 'Sphere' }) ?? '', class: 'sphere' }, svg);
  el('path', { d: path(geoGraticule10()) ?? '', class: 'graticule' }, svg);
  el('path', { d: path(land) ?? '', class: 'land' }, svg);
  const where = new Map(t.relays.map((r) => [r.id, [r.lon, r.lat] as [number, number]]));
  const arc = (a: string, b: string) =>
    path({ type: 'LineString', coordinates: [where.get(a)!, where.get(b)!] }) ?? '';

  const links = el('g', { class: 'links' }, svg);
  for (const { a, b, worst } of pairs(t.links)) {
    if (!where.has(a) || !where.has(b)) continue;
    const line = el(
      'path',
      {
        d: arc(a, b),
        class: `link ${worst.health}`,
        stroke: linkColour(worst, s.measure),
        'data-link': `${a}|${b}`,
        'data-health': worst.health,
      },
      links,
    );
    const title = el('title', {}, line);
    title.textContent = `${a} \u2194 ${b}: ${worst.rttMs} ms RTT, ${worst.jitterMs} ms jitter, ${(worst.lossRate * 100).toFixed(1)} % loss (${worst.health})`;
  }

  const overlay = el('g', { class: 'paths' }, svg);
  const drawPath = (p: TopologyPath | null, cls: string) => {
    if (!p) return;
    for (let i = 0; i + 1 < p.hops.length; i++) {
      el('path', { d: arc(p.hops[i]!, p.hops[i + 1]!), class: cls }, overlay);
    }
  };
  drawPath(s.alternate, 'route alternate');
  drawPath(s.best, 'route best');

  const nodes = el('g', { class: 'relays' }, svg);
  for (const r of t.relays) {
    const [x, y] = projection([r.lon, r.lat]) ?? [0, 0];
    const selected = r.id === s.from || r.id === s.to;
    const g = el('g', { transform: `translate(${x.toFixed(1)},${y.toFixed(1)})` }, nodes);
    const dot = el(
      'circle',
      {
        r: 6 + 10 * Math.sqrt(r.utilization),
        class: `relay ${r.state}${selected ? ' selected' : ''}`,
        'data-relay': r.id,
        tabindex: 0,
        role: 'button',
      },
      g,
    );
    dot.addEventListener('click', () => onPick(r.id));
    dot.addEventListener('keydown', (e) => {
      if ((e as KeyboardEvent).key === 'Enter') onPick(r.id);
    });
    const title = el('title', {}, dot);
    title.textContent = `${r.id} (${r.region}, ${r.state}): ${r.allocations}/${r.capacity} allocations`;
    const label = el('text', { x: 10, y: -10, class: 'label' }, g);
    label.textContent = r.id;
  }
}
