/**
 * The edge's Prometheus metrics, without prom-client (which needs Node): a few counters and one
 * latency histogram kept in plain maps and rendered in the text exposition format. Labels are
 * route patterns, status codes, bases and sources: bounded sets, never per-user values. On
 * Workers the numbers are per isolate.
 */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

type Labels = Record<string, string>;
const renderLabels = (l: Labels) => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, '_')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
};
/** Label sets are few (bounded values): each is rendered once, not per request. */
const rendered = new Map<string, string>();
const labelText = (l: Labels) => {
  let key = '';
  for (const k in l) key += `${k}\u0000${l[k]}\u0001`;
  let text = rendered.get(key);
  if (text === undefined) {
    text = renderLabels(l);
    if (rendered.size < 4096) rendered.set(key, text);
  }
  return text;
};

class Counter {
  readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(l: Labels = {}, by = 1): void {
    const k = labelText(l);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`);
    return lines.join('\n');
  }
}

class Histogram {
  readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  observe(l: Labels, seconds: number): void {
    const k = labelText(l);
    let s = this.series.get(k);
    if (!s) {
      s = { labels: l, counts: BUCKETS.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < BUCKETS.length; i++) if (seconds <= BUCKETS[i]!) s.counts[i]!++;
    s.sum += seconds;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.series) {
      BUCKETS.forEach((b, i) => {
        lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`);
      });
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${k} ${s.sum}`, `${this.name}_count${k} ${s.count}`);
    }
    return lines.join('\n');
  }
}

/** A gauge read when /metrics is scraped (the Node edge's process memory, say). */
export interface ScrapedGauge {
  readonly name: string;
  readonly help: string;
  readonly value: number;
}

const renderGauge = (g: ScrapedGauge) =>
  `# HELP ${g.name} ${g.help}\n# TYPE ${g.name} gauge\n${g.name} ${g.value}`;

export class EdgeMetrics {
  /** Gauges the platform reads at scrape time; none on Workers (an isolate has no process). */
  readonly #gauges: () => readonly ScrapedGauge[];
  constructor(o: { gauges?: () => readonly ScrapedGauge[] } = {}) {
    this.#gauges = o.gauges ?? (() => []);
  }

  readonly requests = new Counter('edge_requests_total', 'HTTP requests by route pattern and status.');
  readonly duration = new Histogram('edge_request_duration_seconds', 'Time to answer, by route pattern.');
  readonly allocations = new Counter(
    'edge_allocations_total',
    'Allocations answered, by the basis of the chosen RTT and the location source.',
  );
  readonly staleAnswers = new Counter(
    'edge_stale_directory_answers_total',
    'Allocations answered from a stale directory copy while the coordinator was away.',
  );
  readonly rateLimited = new Counter(
    'edge_rate_limited_total',
    'Requests refused by the per-key rate limit.',
  );
  readonly refused = new Counter(
    'edge_refused_total',
    'Requests refused by the abuse limits, by reason (failed_key_attempts, address_rate_limit).',
  );
  readonly measurements = new Counter(
    'edge_measurements_total',
    'RTT samples accepted into the learned map, by how the client measured them (method: ice-stun, https, http, stun, unspecified).',
  );

  render(): string {
    const all = [
      this.requests,
      this.duration,
      this.allocations,
      this.staleAnswers,
      this.rateLimited,
      this.refused,
      this.measurements,
    ];
    return `${[...all.map((m) => m.render()), ...this.#gauges().map(renderGauge)].join('\n')}\n`;
  }
}
