/**
 * Edge benchmark: POST /v1/allocate on the Node edge, beside a bare Hono route on the same
 * machine in the same run (the ratio is the figure), a floor route that only reads and parses the
 * body and answers a fixed JSON of the edge's answer's size (what HTTP, the body and the answer
 * cost alone), the same edge signing with Web Crypto (EDGE_CRYPTO=web) instead of node:crypto
 * (the default on Node), the Node edge with API keys and the per-key rate
 * limit, the Workers build in workerd (Miniflare, keys required, reading the directory and key
 * hashes from the keyed Node edge) and, with --baseline DIR, the edge of another checkout (an
 * older commit) for a before/after in one run. All are driven by the same undici load script
 * (bench/load.ts) in interleaved rounds, so that a machine whose load drifts during the run
 * treats every target alike; the ratio to the bare route is the median of the rounds' ratios.
 *
 *   npm run bench:edge -- [--duration 10] [--rounds 5] [--connections 10] [--baseline DIR]
 *                         [--out bench/results/edge-load.json]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { freePort } from '../test/support/ports.ts';
import { ALLOCATE_BODY, BENCH_KEY, BENCH_SECRET, SNAPSHOT_TOKEN } from './lib/edge-apps.ts';
import { type LoadReport, reportTable, runHttpLoad } from './load.ts';

const ROOT = new URL('..', import.meta.url).pathname;

type Kind = 'edge' | 'edge-keys' | 'bare' | 'floor';

async function server(
  kind: Kind,
  o: { root?: string; env?: Record<string, string> } = {},
): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort('tcp');
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/edge-server.ts', kind, String(port)], {
    cwd: o.root ?? ROOT,
    env: { ...process.env, ...o.env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return { url: `http://127.0.0.1:${port}`, child };
}

/**
 * CPU time a process has used, ms (Linux /proc/PID/stat utime + stime, at the kernel's usual 100
 * ticks per second): on a machine shared with other work, CPU per request is the figure that
 * scheduling does not blur.
 */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2;
};

/** One row from a target's rounds: totals, and each latency percentile's median over the rounds. */
function combine(reports: readonly LoadReport[]): LoadReport {
  const statuses: Record<string, number> = {};
  for (const r of reports)
    for (const [k, v] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const requests = reports.reduce((n, r) => n + r.requests, 0);
  const seconds = reports.reduce((n, r) => n + r.seconds, 0);
  const pct = (k: 'p50' | 'p90' | 'p99') => median(reports.map((r) => r.latencyMs[k]));
  return {
    url: reports[0]!.url,
    connections: reports[0]!.connections,
    seconds,
    requests,
    errors: reports.reduce((n, r) => n + r.errors, 0),
    statuses,
    rps: requests / seconds,
    latencyMs: {
      p50: pct('p50'),
      p90: pct('p90'),
      p99: pct('p99'),
      max: Math.max(...reports.map((r) => r.latencyMs.max)),
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      rounds: { type: 'string', default: '5' },
      connections: { type: 'string', default: '10' },
      baseline: { type: 'string' },
      out: { type: 'string', default: 'bench/results/edge-load.json' },
    },
  });
  const rounds = Math.max(1, Number(values.rounds));
  const roundMs = (Number(values.duration) * 1000) / rounds;
  const connections = Number(values.connections);
  const body = ALLOCATE_BODY;
  const loadavgStart = readFileSync('/proc/loadavg', 'utf8').trim();
  const edge = await server('edge');
  const webCrypto = await server('edge', { env: { BENCH_WEB_CRYPTO: '1' } });
  const floor = await server('floor');
  const keyed = await server('edge-keys');
  const bare = await server('bare');
  const baseline = values.baseline ? await server('edge', { root: values.baseline }) : undefined;
  const bundle = await build({
    entryPoints: [`${ROOT}workers/cloudflare.ts`],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const workerdPort = await freePort('tcp');
  const mf = new Miniflare({
    modules: true,
    script: bundle.outputFiles[0]!.text,
    compatibilityDate: '2025-01-01',
    host: '127.0.0.1',
    port: workerdPort,
    bindings: {
      EDGE_SECRETS: BENCH_SECRET,
      SNAPSHOT_URL: `${keyed.url}/v1/internal/directory`,
      SNAPSHOT_TOKEN,
      EDGE_DEFAULT_LAT: '48.85',
      EDGE_DEFAULT_LON: '2.35',
    },
  });
  await mf.ready;
  const targets: { name: string; url: string; apiKey?: string; pid?: number | undefined }[] = [
    { name: 'bare Hono route (Node)', url: `${bare.url}/v1/allocate`, pid: bare.child.pid },
    { name: 'edge /v1/allocate (Node)', url: `${edge.url}/v1/allocate`, pid: edge.child.pid },
    {
      name: 'floor: body parse + fixed answer of the same size (Node)',
      url: `${floor.url}/v1/allocate`,
      pid: floor.child.pid,
    },
    {
      name: 'edge /v1/allocate (Node, EDGE_CRYPTO=web)',
      url: `${webCrypto.url}/v1/allocate`,
      pid: webCrypto.child.pid,
    },
    ...(baseline
      ? [
          {
            name: 'edge /v1/allocate (Node, baseline checkout)',
            url: `${baseline.url}/v1/allocate`,
            pid: baseline.child.pid,
          },
        ]
      : []),
    {
      name: 'edge /v1/allocate (Node, API key + rate limit)',
      url: `${keyed.url}/v1/allocate`,
      apiKey: BENCH_KEY.key,
      pid: keyed.child.pid,
    },
    {
      name: 'edge /v1/allocate (Workers build in workerd, API key)',
      url: `http://127.0.0.1:${workerdPort}/v1/allocate`,
      apiKey: BENCH_KEY.key,
    },
  ];
  const reports: LoadReport[][] = targets.map(() => []);
  const cpu = targets.map(() => ({ ms: 0, requests: 0 }));
  // Each round's server CPU per request, per target: on a shared machine the median of each
  // round's ratio to the bare route's (measured seconds apart) drifts least with the load.
  const roundCpuUs: (number | undefined)[][] = targets.map(() => []);
  try {
    for (let round = 0; round < rounds; round++)
      for (const [i, t] of targets.entries()) {
        process.stderr.write(`round ${round + 1}/${rounds}: ${t.name}...\n`);
        const before = cpuMs(t.pid);
        const report = await runHttpLoad({
          url: t.url,
          connections,
          durationMs: roundMs,
          method: 'POST',
          body,
          apiKey: t.apiKey,
        });
        const after = cpuMs(t.pid);
        if (before !== undefined && after !== undefined) {
          cpu[i]!.ms += after - before;
          cpu[i]!.requests += report.requests;
        }
        roundCpuUs[i]!.push(
          before !== undefined && after !== undefined && report.requests > 0
            ? ((after - before) * 1000) / report.requests
            : undefined,
        );
        reports[i]!.push(report);
      }
  } finally {
    await mf.dispose();
    for (const s of [edge, webCrypto, floor, keyed, bare, baseline]) s?.child.kill();
  }
  const rows = targets.map((t, i) => ({ ...combine(reports[i]!), name: t.name }));
  // Each target's rate against the bare route's in the same round, then the median over rounds.
  const ratios = targets.map((_, i) => median(reports[i]!.map((r, k) => r.rps / reports[0]![k]!.rps)));
  // Server CPU per request (none for workerd, whose process the bench does not own).
  const cpuUs = cpu.map((x) => (x.requests > 0 ? (x.ms * 1000) / x.requests : undefined));
  const bareCpu = cpuUs[0]!;
  // Per round: the bare route's CPU per request over this one's; the median over rounds.
  const cpuRatios = targets.map((_, i) => {
    const r = roundCpuUs[i]!.flatMap((c, k) => {
      const b = roundCpuUs[0]![k];
      return c !== undefined && b !== undefined && c > 0 ? [b / c] : [];
    });
    return r.length > 0 ? median(r) : undefined;
  });
  process.stdout.write(
    `${reportTable(rows)}\n\nAgainst the bare Hono route: requests per second (median of ${rounds} rounds' ratios); server CPU per request (the bare route's over this one's):\n`,
  );
  for (const [i, t] of targets.entries()) {
    const c = cpuUs[i];
    const cr = cpuRatios[i];
    const cpuText =
      c === undefined
        ? 'CPU n/a'
        : `${c.toFixed(0)} µs CPU/request (all rounds), bare/this ${(bareCpu / c).toFixed(2)}x; median of rounds' bare/this ${cr?.toFixed(2)}x`;
    process.stdout.write(`  ${t.name}: ${i === 0 ? '1.00' : ratios[i]!.toFixed(2)}x; ${cpuText}\n`);
  }
  const ratio = ratios[1]!;
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(
    values.out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, rounds, rows, ratios: Object.fromEntries(targets.map((t, i) => [t.name, ratios[i]])), cpuUsPerRequest: Object.fromEntries(targets.map((t, i) => [t.name, cpuUs[i]])), cpuRatioMedian: Object.fromEntries(targets.map((t, i) => [t.name, cpuRatios[i]])), roundCpuUs: Object.fromEntries(targets.map((t, i) => [t.name, roundCpuUs[i]])), loadavg: { start: loadavgStart, end: readFileSync('/proc/loadavg', 'utf8').trim() }, ratio }, null, 2)}\n`,
  );
  process.exit(0);
}

void main();
