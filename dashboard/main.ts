/**
 * The dashboard page: the map, the selected pair's paths, the relays and links, the timeline of
 * changes and the edge's recent allocation decisions. Data comes from GET /v1/admin/topology
 * once, then from the server-sent events of /v1/admin/topology/events (the session cookie
 * authenticates both). Pick two relays on the map, or open /dashboard#from=A&to=B.
 */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { drawMap, HEALTH_COLOUR, type LinkMeasure } from './map.ts';
import type { TopologyBody, TopologyChange, TopologyRoute } from './types.ts';

const app = document.getElementById('app')!;
app.innerHTML = `
<header><h1>Relay backbone</h1><span id="status" class="status">connecting…</span>
  <label>links by <select id="measure"><option value="health">health</option><option value="rtt">RTT</option>
  <option value="jitter">jitter</option><option value="loss">loss</option></select></label></header>
<main>
  <section class="map"><svg id="map" role="img" aria-label="Relays and backbone links on a world map"></svg>
    <div id="route" class="route">Pick two relays on the map to see the path between them.</div>
    <div class="legend"><span style="--c:${HEALTH_COLOUR.up}">up</span><span style="--c:${HEALTH_COLOUR.degraded}">degraded (loss &gt; 1.2 % or jitter &gt; 12 ms)</span><span style="--c:${HEALTH_COLOUR.dead}">dead</span><span class="best">best path</span><span class="alternate">alternate</span></div>
  </section>
  <section><h2>Relays</h2><table id="relays"></table></section>
  <section><h2>Links</h2><table id="links"></table></section>
  <section><h2>Allocation decisions (last 10 minutes)</h2><div id="decisions"></div></section>
  <section><h2>Recent changes</h2><ol id="timeline" class="timeline"></ol></section>
</main>`;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const svg = document.getElementById('map') as unknown as SVGSVGElement;
const hash = new URLSearchParams(location.hash.slice(1));
const state = {
  topology: undefined as TopologyBody | undefined,
  measure: 'health' as LinkMeasure,
  from: hash.get('from') ?? undefined,
  to: hash.get('to') ?? undefined,
};
let chart: uPlot | undefined;

const esc = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
const time = (at: number) => new Date(at).toLocaleTimeString();
const hops = (h: readonly string[] | null) => (h ? h.map(esc).join(' → ') : 'none');

function pick(id: string): void {
  if (state.from === undefined || (state.from !== undefined && state.to !== undefined)) {
    state.from = id;
    state.to = undefined;
  } else if (id !== state.from) state.to = id;
  history.replaceState(null, '', state.to ? `#from=${state.from}&to=${state.to}` : `#from=${state.from}`);
  render();
}

function route(t: TopologyBody): TopologyRoute | undefined {
  return t.routes.find((r) => r.from === state.from && r.to === state.to);
}

function renderRoute(t: TopologyBody): void {
  const box = $('route');
  const r = route(t);
  if (!state.from || !state.to || !r) {
    box.textContent = state.from
      ? `From ${state.from}: pick a second relay.`
      : 'Pick two relays on the map to see the path between them.';
    box.removeAttribute('data-best');
    return;
  }
  box.dataset.best = r.best ? r.best.hops.join(',') : '';
  box.dataset.alternate = r.alternate ? r.alternate.hops.join(',') : '';
  box.innerHTML = `<strong>${esc(r.from)} → ${esc(r.to)}</strong>
    best <span id="best-path" class="best">${hops(r.best?.hops ?? null)}</span>${r.best ? ` (${r.best.cost} ms)` : ''};
    alternate <span class="alternate">${hops(r.alternate?.hops ?? null)}</span>${r.alternate ? ` (${r.alternate.cost} ms)` : ''}`;
}

function renderTables(t: TopologyBody): void {
  $('relays').innerHTML =
    `<thead><tr><th>relay</th><th>region</th><th>state</th><th>allocations</th><th>load</th><th>version</th></tr></thead><tbody>${t.relays
      .map(
        (r) =>
          `<tr data-relay="${esc(r.id)}"><td>${esc(r.id)}</td><td>${esc(r.region)}</td><td class="${r.state}">${r.state}</td><td>${r.allocations} / ${r.capacity}</td><td><meter min="0" max="1" high="0.8" value="${r.utilization}"></meter> ${(r.utilization * 100).toFixed(0)} %</td><td>${esc(r.version)}</td></tr>`,
      )
      .join('')}</tbody>`;
  $('links').innerHTML =
    `<thead><tr><th>link</th><th>RTT</th><th>jitter</th><th>loss</th><th>health</th><th>cost</th></tr></thead><tbody>${t.links
      .map(
        (l) =>
          `<tr data-link="${esc(l.from)}>${esc(l.to)}" data-health="${l.health}"><td>${esc(l.from)} → ${esc(l.to)}</td><td>${l.rttMs} ms</td><td>${l.jitterMs} ms</td><td>${(l.lossRate * 100).toFixed(1)} %</td><td class="${l.health}">${l.health}</td><td>${l.cost ?? '∞'}</td></tr>`,
      )
      .join('')}</tbody>`;
}

function describe(c: TopologyChange): string {
  switch (c.type) {
    case 'relay-up':
      return `relay ${esc(c.relay)} joined`;
    case 'relay-down':
      return `relay ${esc(c.relay)} left`;
    case 'relay-draining':
      return `relay ${esc(c.relay)} is draining`;
    case 'relay-active':
      return `relay ${esc(c.relay)} is active again`;
    case 'link':
      return `link ${esc(c.from)} → ${esc(c.to)}: ${c.before ?? 'none'} → ${c.after ?? 'gone'}`;
    case 'path':
      return `${c.kind} ${esc(c.from)} → ${esc(c.to)}: ${hops(c.before)} ⇒ ${hops(c.after)}`;
  }
}

function renderTimeline(t: TopologyBody): void {
  const items = [...t.changes].reverse().slice(0, 60);
  $('timeline').innerHTML =
    items.length === 0
      ? '<li class="quiet">No changes since the edge started watching.</li>'
      : items
          .map(
            (c) =>
              `<li class="${c.type}${c.type === 'path' ? ` ${c.kind}` : ''}"><time>${time(c.at)}</time> ${describe(c)}</li>`,
          )
          .join('');
}

function renderDecisions(t: TopologyBody): void {
  const d = t.decisions;
  const xs = d.counts.probe.map((_, i) => (d.start + i * d.bucketMs) / 1000);
  const data: uPlot.AlignedData = [xs, [...d.counts.probe], [...d.counts.learned], [...d.counts.distance]];
  if (chart) {
    chart.setData(data);
    return;
  }
  const box = $('decisions');
  chart = new uPlot(
    {
      width: Math.max(320, box.clientWidth || 600),
      height: 180,
      series: [
        {},
        { label: 'probe', stroke: '#2e7dd1', width: 2 },
        { label: 'learned', stroke: '#8a4fd1', width: 2 },
        { label: 'distance', stroke: '#c77d1a', width: 2 },
      ],
      axes: [{}, { label: 'answers per 10 s' }],
    },
    data,
    box,
  );
}

function render(): void {
  const t = state.topology;
  if (!t) return;
  const r = route(t);
  drawMap(
    svg,
    t,
    {
      measure: state.measure,
      from: state.from,
      to: state.to,
      best: r?.best ?? null,
      alternate: r?.alternate ?? null,
    },
    pick,
  );
  renderRoute(t);
  renderTables(t);
  renderTimeline(t);
  renderDecisions(t);
  $('status').textContent = `live · ${t.relays.length} relays · ${t.links.length} links · ${time(t.at)}`;
}

function update(t: TopologyBody): void {
  state.topology = t;
  document.body.dataset.updatedAt = String(t.at);
  render();
}

$<HTMLSelectElement>('measure').addEventListener('change', (e) => {
  state.measure = (e.target as HTMLSelectElement).value as LinkMeasure;
  render();
});

async function start(): Promise<void> {
  const res = await fetch('/v1/admin/topology', { credentials: 'same-origin' });
  if (res.status === 401) {
    location.href = '/dashboard';
    return;
  }
  if (res.ok) update((await res.json()) as TopologyBody);
  const events = new EventSource('/v1/admin/topology/events');
  events.addEventListener('topology', (e) =>
    update(JSON.parse((e as MessageEvent<string>).data) as TopologyBody),
  );
  events.addEventListener('open', () => $('status').classList.remove('down'));
  events.addEventListener('error', () => {
    $('status').textContent = 'reconnecting…';
    $('status').classList.add('down');
  });
}

void start();
