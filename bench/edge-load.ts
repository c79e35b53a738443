/**
 * Edge benchmark: POST /v1/allocate on the Node edge, beside a bare Hono route on the same
 * machine in the same run (the ratio is the figure), the Node edge with API keys and the per-key
 * rate limit, and the Workers build in workerd (Miniflare, keys required, reading the directory
 * and key hashes from the keyed Node edge), all driven by the same undici load script
 * (bench/load.ts).
 *
 *   npm run bench:edge -- [--duration 5] [--connections 10] [--out bench/results/edge-load.json]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import { freePort } from '../test/support/ports.ts';
import { BENCH_KEY, BENCH_SECRET, SNAPSHOT_TOKEN } from './lib/edge-server.ts';
import { type LoadReport, reportTable, runHttpLoad } from './load.ts';

const ROOT = new URL('..', import.meta.url).pathname;

async function server(kind: 'edge' | 'edge-keys' | 'bare'): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort('tcp');
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/edge-server.ts', kind, String(port)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return { url: `http://127.0.0.1:${port}`, child };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      connections: { type: 'string', default: '10' },
      out: { type: 'string', default: 'bench/results/edge-load.json' },
    },
  });
  const durationMs = Number(values.duration) * 1000;
  const connections = Number(values.connections);
  const body = JSON.stringify({
    location: { lat: 51.5, lon: -0.12 },
    probes: [{ relay: 'relay-3', rttMs: 40 }],
  });
  const edge = await server('edge');
  const keyed = await server('edge-keys');
  const bare = await server('bare');
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
  const rows: (LoadReport & { name: string })[] = [];
  try {
    for (const [name, url, apiKey] of [
      ['bare Hono route (Node)', `${bare.url}/v1/allocate`, undefined],
      ['edge /v1/allocate (Node)', `${edge.url}/v1/allocate`, undefined],
      ['edge /v1/allocate (Node, API key + rate limit)', `${keyed.url}/v1/allocate`, BENCH_KEY.key],
      [
        'edge /v1/allocate (Workers build in workerd, API key)',
        `http://127.0.0.1:${workerdPort}/v1/allocate`,
        BENCH_KEY.key,
      ],
    ] as const) {
      process.stderr.write(`${name}...\n`);
      const report = await runHttpLoad({
        url,
        connections,
        durationMs,
        method: 'POST',
        body,
        apiKey,
        progress: (line) => process.stderr.write(`  ${line}\n`),
      });
      rows.push({ ...report, name });
    }
  } finally {
    await mf.dispose();
    edge.child.kill();
    keyed.child.kill();
    bare.child.kill();
  }
  process.stdout.write(`${reportTable(rows)}\n`);
  const ratio = rows[1]!.rps / rows[0]!.rps;
  process.stdout.write(
    `\nNode edge / bare Hono route: ${(ratio * 100).toFixed(0)} % of the requests per second\n`,
  );
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(
    values.out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, rows, ratio }, null, 2)}\n`,
  );
  process.exit(0);
}

void main();
