/**
 * The Node edge through a Redis outage, with its own redis-server (persisting to a temp dir so it
 * can come back with its data): while Redis is away the edge answers from its last directory copy
 * and says so, keys it has seen keep working; once the copy is older than EDGE_STALE_SECONDS it
 * answers 503 with Retry-After; it never hangs; and it recovers by itself when Redis returns.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRelay, stopTestRelays, type TestRelay, until } from '../support/backbone-relays.ts';
import { keysCli, type NodeEdge, startNodeEdge } from '../support/node-edge.ts';
import { freePort } from '../support/ports.ts';

const SECRET = 'outage-secret';
const prefix = 'outage:';
let dir: string;
let port: number;
let redis: ChildProcess | undefined;
let relay: TestRelay | undefined;
let edge: NodeEdge | undefined;
let apiKey: string;

async function startRedis(): Promise<void> {
  redis = spawn(
    'redis-server',
    [
      ...['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', ''],
      ...['--appendonly', 'yes', '--appendfsync', 'always'],
    ],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  await until(
    async () =>
      await keysCli(['tenant', 'list'], url, prefix).then(
        () => true,
        () => false,
      ),
    10_000,
    'redis-server to answer',
  );
}

async function stopRedis(): Promise<void> {
  const r = redis;
  redis = undefined;
  if (!r || r.exitCode !== null) return;
  await new Promise((resolve) => {
    r.once('exit', resolve);
    r.kill('SIGKILL');
  });
}

interface Timed {
  status: number;
  ms: number;
  body: { directory?: { stale: boolean; ageMs: number }; relay?: { id: string } };
  retryAfter: string | null;
}

async function allocate(): Promise<Timed> {
  const start = performance.now();
  const res = await fetch(`${edge!.base}/v1/allocate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: '{}',
    signal: AbortSignal.timeout(5000),
  });
  const body = (await res.json()) as Timed['body'];
  return {
    status: res.status,
    ms: performance.now() - start,
    body,
    retryAfter: res.headers.get('retry-after'),
  };
}

describe('the Node edge when Redis goes away', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edge-outage-'));
    port = await freePort('tcp');
    await startRedis();
    const url = `redis://127.0.0.1:${port}`;
    await keysCli(['tenant', 'add', 'acme'], url, prefix);
    apiKey = (await keysCli(['key', 'add', 'acme'], url, prefix))[0]!.key as string;
    relay = await startTestRelay({
      id: 'eu-1',
      host: '127.0.0.51',
      redis: { url, prefix },
      extra: ['--secret', SECRET, '--lat', '48.86', '--lon', '2.35'],
    });
    edge = await startNodeEdge({
      REDIS_URL: url,
      EDGE_REDIS_PREFIX: prefix,
      EDGE_SECRETS: SECRET,
      EDGE_STALE_SECONDS: '3',
    });
    await until(async () => (await allocate()).status === 200, 10_000, 'the relay in the directory');
  });

  afterAll(async () => {
    await edge?.stop();
    if (relay) await stopTestRelays([relay]);
    await stopRedis();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers stale, then 503 with Retry-After, never hangs, and recovers when Redis is back', async () => {
    const fresh = await allocate();
    expect(fresh.body.directory).toEqual({ stale: false, ageMs: expect.any(Number) });

    await stopRedis();
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 1200)); // past the edge's one-second fresh period
    // Answers from its copy, every time, until the copy is older than EDGE_STALE_SECONDS (3 s):
    // sampled every 150 ms up to 2.5 s into the outage.
    const stale: Timed[] = [];
    while (Date.now() - downAt < 2500) {
      stale.push(await allocate());
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(stale.length).toBeGreaterThanOrEqual(3);
    for (const a of stale) {
      expect(a.status).toBe(200);
      expect(a.body.relay?.id).toBe('eu-1');
      expect(a.body.directory?.stale).toBe(true);
      expect(a.body.directory!.ageMs).toBeGreaterThanOrEqual(1000);
    }

    await new Promise((r) => setTimeout(r, Math.max(0, downAt + 3500 - Date.now())));
    // Then 503 with Retry-After, every time, for as long as Redis stays away (2 s more here).
    const gone: Timed[] = [];
    while (Date.now() - downAt < 5500) {
      gone.push(await allocate());
      await new Promise((r) => setTimeout(r, 150));
    }
    expect(gone.length).toBeGreaterThanOrEqual(3);
    for (const a of gone) {
      expect(a.status).toBe(503);
      expect(a.retryAfter).toBe('5');
    }
    // It never hangs: no answer, stale or 503, takes anywhere near the client's 5 s patience.
    const times = [...stale, ...gone].map((a) => a.ms).sort((a, b) => a - b);
    console.log(
      `outage answers: ${times.length}, p50 ${times[Math.floor(times.length / 2)]!.toFixed(0)} ms, ` +
        `max ${times.at(-1)!.toFixed(0)} ms`,
    );
    expect(times.at(-1)!).toBeLessThan(2500);
    expect(edge!.output()).toContain('directory unreachable');

    await startRedis();
    await until(
      async () => {
        const a = await allocate();
        return a.status === 200 && a.body.directory?.stale === false;
      },
      15_000,
      'the edge to answer fresh again',
    );
    expect(edge!.child.exitCode).toBeNull();
  });
});
