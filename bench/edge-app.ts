/**
 * Edge CPU benchmark, in one process and without sockets: POST /v1/allocate through `app.fetch`
 * for the real edge app, the keyed edge app, the floor route and a bare Hono route (bench/lib/edge-apps.ts), in
 * interleaved rounds so that a machine whose load drifts treats each alike; plus the zod parse of
 * the same body alone (what validation costs). Run it under `node --cpu-prof` to profile.
 *
 *   node --import tsx bench/edge-app.ts [--requests 20000] [--rounds 5] [--concurrency 10] [--out FILE]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { AllocateRequest } from '../workers/schemas.ts';
import { ALLOCATE_BODY, BENCH_KEY, type BenchKind, benchApp, type FetchApp } from './lib/edge-apps.ts';

const BODY = ALLOCATE_BODY;

/** Wall ms and CPU µs (process.cpuUsage: this thread and the thread pool) of n requests. */
async function round(
  app: FetchApp,
  n: number,
  concurrency: number,
  apiKey?: string,
): Promise<{ ms: number; cpuUs: number }> {
  // With Content-Length, as a client over HTTP sends it (else bodyLimit re-reads the stream).
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(BODY)),
  };
  if (apiKey) headers.authorization = `Bearer ${apiKey}`;
  let left = n;
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) {
        const res = await app.fetch(
          new Request('http://edge.test/v1/allocate', { method: 'POST', headers, body: BODY }),
        );
        if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
      }
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { ms: performance.now() - start, cpuUs: cpu.user + cpu.system };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '20000' },
      rounds: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '10' },
      out: { type: 'string', default: 'bench/results/edge-app.json' },
    },
  });
  const perRound = Math.ceil(Number(values.requests) / Number(values.rounds));
  const concurrency = Number(values.concurrency);
  const ip = () => '198.51.100.7';
  const targets: { name: string; kind: BenchKind; key?: string; nodeCrypto?: boolean }[] = [
    { name: 'bare Hono route', kind: 'bare' },
    { name: 'edge /v1/allocate (node:crypto, the Node default)', kind: 'edge', nodeCrypto: true },
    { name: 'floor: body parse + fixed answer of the same size', kind: 'floor', nodeCrypto: true },
    { name: 'edge /v1/allocate (EDGE_CRYPTO=web, as on Workers)', kind: 'edge' },
    {
      name: 'edge /v1/allocate (API key + rate limit, node:crypto)',
      kind: 'edge-keys',
      key: BENCH_KEY.key,
      nodeCrypto: true,
    },
    {
      name: 'edge /v1/allocate (API key + rate limit, EDGE_CRYPTO=web)',
      kind: 'edge-keys',
      key: BENCH_KEY.key,
    },
  ];
  const apps = await Promise.all(
    targets.map((t) => benchApp(t.kind, ip, { nodeCrypto: t.nodeCrypto ?? false })),
  );
  for (const [i, t] of targets.entries()) await round(apps[i]!, 2000, concurrency, t.key); // warm up
  const ms = targets.map(() => 0);
  const cpuUs = targets.map(() => 0);
  for (let r = 0; r < Number(values.rounds); r++)
    for (const [i, t] of targets.entries()) {
      const x = await round(apps[i]!, perRound, concurrency, t.key);
      ms[i]! += x.ms;
      cpuUs[i]! += x.cpuUs;
    }
  const total = perRound * Number(values.rounds);
  const parsed = JSON.parse(BODY) as unknown;
  const zodStart = performance.now();
  for (let i = 0; i < total; i++) AllocateRequest.safeParse(parsed);
  const zodUs = ((performance.now() - zodStart) * 1000) / total;
  const rows = targets.map((t, i) => ({
    name: t.name,
    requests: total,
    rps: Math.round((total / ms[i]!) * 1000),
    usPerRequest: Math.round((ms[i]! * 1000) / total),
    cpuUsPerRequest: Math.round(cpuUs[i]! / total),
  }));
  const bareCpu = rows[0]!.cpuUsPerRequest;
  const lines = [
    '| target (in process, app.fetch) | requests | req/s | wall µs/request | CPU µs/request | bare CPU / this CPU |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${r.requests} | ${r.rps} | ${r.usPerRequest} | ${r.cpuUsPerRequest} | ${(bareCpu / r.cpuUsPerRequest).toFixed(2)}x |`,
    ),
  ];
  const ratio = rows[1]!.rps / rows[0]!.rps;
  process.stdout.write(`${lines.join('\n')}\n\nedge / bare route, requests per second: ${ratio.toFixed(2)}x`);
  process.stdout.write(`\nzod parse of the allocate body alone: ${zodUs.toFixed(2)} µs\n`);
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(
    values.out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, rows, ratio, zodUs }, null, 2)}\n`,
  );
}

void main();
