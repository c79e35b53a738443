/**
 * HTTP load script (undici): N connections, each sending the next request as soon as the last
 * answered, for a fixed duration. Shows progress every second; prints requests per second and
 * latency percentiles; writes JSON with --out.
 *
 *   npm run load -- --url http://127.0.0.1:8787/v1/allocate [--connections 10] [--duration 10]
 *                   [--method POST] [--body '{}'] [--api-key rbk_...] [--out bench/results/load.json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

export interface LoadReport {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly requests: number;
  readonly errors: number;
  readonly statuses: Record<string, number>;
  readonly rps: number;
  readonly latencyMs: { p50: number; p90: number; p99: number; max: number };
}

export async function runHttpLoad(o: {
  url: string;
  connections: number;
  durationMs: number;
  method: string;
  body: string | undefined;
  /** Sent as Authorization: Bearer; the edge's default configuration wants one. */
  apiKey?: string | undefined;
  progress?: (line: string) => void;
}): Promise<LoadReport> {
  const url = new URL(o.url);
  const pool = new Pool(url.origin, { connections: o.connections, pipelining: 1 });
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let errors = 0;
  const start = performance.now();
  const end = start + o.durationMs;
  const headers: Record<string, string> = o.body === undefined ? {} : { 'content-type': 'application/json' };
  if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
  const worker = async () => {
    while (performance.now() < end) {
      const t = performance.now();
      try {
        const res = await pool.request({
          path: url.pathname + url.search,
          method: o.method as 'GET',
          headers,
          body: o.body,
        });
        await res.body.dump();
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        latencies.push(performance.now() - t);
      } catch {
        errors++;
      }
    }
  };
  let last = 0;
  const ticker = setInterval(() => {
    const done = latencies.length;
    o.progress?.(
      `${Math.round((performance.now() - start) / 1000)}s ${done} requests (${done - last}/s) errors ${errors}`,
    );
    last = done;
  }, 1000);
  await Promise.all(Array.from({ length: o.connections }, worker));
  clearInterval(ticker);
  const seconds = (performance.now() - start) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const pick = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? Number.NaN;
  return {
    url: o.url,
    connections: o.connections,
    seconds,
    requests: latencies.length,
    errors,
    statuses,
    rps: latencies.length / seconds,
    latencyMs: { p50: pick(0.5), p90: pick(0.9), p99: pick(0.99), max: latencies.at(-1) ?? Number.NaN },
  };
}

export function reportTable(rows: readonly (LoadReport & { name: string })[]): string {
  return [
    '| target | connections | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | errors | statuses |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.connections} | ${r.requests} | ${Math.round(r.rps)} | ${r.latencyMs.p50.toFixed(2)} | ${r.latencyMs.p90.toFixed(2)} | ${r.latencyMs.p99.toFixed(2)} | ${r.latencyMs.max.toFixed(1)} | ${r.errors} | ${JSON.stringify(r.statuses)} |`,
    ),
  ].join('\n');
}

const HELP = `usage: npm run load -- --url URL [options]

The operators' HTTP load script (undici): N connections, each sending its next request as soon
as the last one is answered, for a fixed time. Progress every second on stderr; a table of
requests per second, latency percentiles and statuses on stdout.

  --url URL            what to load, e.g. http://127.0.0.1:8787/v1/allocate (required)
  --connections N      concurrent connections, 1-1000 (10)
  --duration S         seconds, up to 600 (10)
  --method M           HTTP method (POST)
  --body JSON          request body for methods that carry one ('{}')
  --api-key KEY        sent as Authorization: Bearer KEY (an API key or a client token)
  --out FILE           also write the report as JSON
  -h, --help           this text

Bad usage: one line on stderr, exit code 2.
`;

function fail(message: string): never {
  process.stderr.write(`load: ${message} (npm run load -- --help)\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  const parse = () =>
    parseArgs({
      options: {
        url: { type: 'string' },
        connections: { type: 'string', default: '10' },
        duration: { type: 'string', default: '10' },
        method: { type: 'string', default: 'POST' },
        body: { type: 'string', default: '{}' },
        out: { type: 'string' },
        'api-key': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  let values: ReturnType<typeof parse>['values'];
  try {
    ({ values } = parse());
  } catch (err) {
    fail((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (!values.url) fail('--url: required, e.g. --url http://127.0.0.1:8787/v1/allocate');
  try {
    new URL(values.url);
  } catch {
    fail(`--url: not a URL: ${values.url}`);
  }
  const connections = Number(values.connections);
  if (!Number.isInteger(connections) || connections < 1 || connections > 1000)
    fail('--connections: expected 1-1000');
  const duration = Number(values.duration);
  if (!Number.isFinite(duration) || duration <= 0 || duration > 600)
    fail('--duration: expected 0-600 seconds');
  const method = values.method!.toUpperCase();
  const report = await runHttpLoad({
    url: values.url,
    connections,
    durationMs: duration * 1000,
    method,
    body: method === 'GET' || method === 'HEAD' ? undefined : values.body,
    apiKey: values['api-key'],
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${reportTable([{ ...report, name: values.url }])}\n`);
  if (values.out) {
    mkdirSync(dirname(values.out), { recursive: true });
    writeFileSync(values.out, `${JSON.stringify(report, null, 2)}\n`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
