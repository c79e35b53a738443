/**
 * The apps the edge benchmarks load: `edge`, the real edge app (workers/app.ts) over 20 relays
 * spread over the world with an in-memory learned map and the snapshot endpoint; `edge-keys` the
 * same with API keys required (tenant store in memory, the per-key GCRA limiter in memory, a limit
 * far above the load); `bare`, one Hono route that answers a fixed JSON, as the baseline; `floor`,
 * one Hono route that reads and parses the body as the Node edge does and answers a fixed JSON of
 * the edge's answer's size and shape: what HTTP, the body and the answer cost without the edge's work.
 * bench/lib/edge-server.ts serves one in a process of its own; bench/edge-app.ts calls them in process.
 */
import type { Context } from 'hono';
import { Hono } from 'hono';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import type { RelayRecord } from '../../src/directory/types.ts';
import { hashSecret, MemoryTenantStore, newApiKey } from '../../src/tenants/api-keys.ts';
import { rng } from '../../test/support/fuzz.ts';
import { createEdgeApp, type EdgeDeps } from '../../workers/app.ts';
import { nodeBodyReader } from '../../workers/node-body.ts';
import { nodeEdgeCrypto } from '../../workers/node-crypto.ts';

export const SNAPSHOT_TOKEN = 'bench-snapshot-token';
export const BENCH_SECRET = 'bench-secret';
/** The API key the load carries against `edge-keys` (and the Workers build, which reads its hash from there). */
export const BENCH_KEY = newApiKey(new Uint8Array(40).map((_, i) => (i * 37 + 1) & 255));

export function worldRelays(n: number): RelayRecord[] {
  const r = rng(42);
  return Array.from({ length: n }, (_, i) => {
    const ip = `192.0.2.${i + 1}`;
    return {
      id: `relay-${i}`,
      region: `region-${i % 5}`,
      lat: Math.asin(2 * r() - 1) * (180 / Math.PI),
      lon: 360 * r() - 180,
      turnUrls: [
        `turn:${ip}:3478?transport=udp`,
        `turn:${ip}:3478?transport=tcp`,
        `turns:${ip}:5349?transport=tcp`,
      ],
      backbone: `${ip}:7000`,
      relayedAddress: ip,
      portRange: [49152, 65535],
      capacity: 1000,
      load: { allocations: Math.floor(r() * 900), pps: 0, bps: 0 },
      state: 'active',
      version: 'bench',
      startedAt: 0,
      updatedAt: 0,
      pingUrl: `http://${ip}:9464/ping`,
    };
  });
}

export type BenchKind = 'edge' | 'edge-keys' | 'bare' | 'floor';

/** The allocate body every edge benchmark sends. */
export const ALLOCATE_BODY = JSON.stringify({
  location: { lat: 51.5, lon: -0.12 },
  probes: [{ relay: 'relay-3', rttMs: 40 }],
});

export interface FetchApp {
  fetch: (req: Request) => Response | Promise<Response>;
}

/** The app of one kind; `clientIp` says where a request comes from. */
export async function benchApp(
  kind: BenchKind,
  clientIp: (c: Context) => string | undefined,
  o: { nodeCrypto?: boolean } = { nodeCrypto: process.env.BENCH_WEB_CRYPTO !== '1' },
): Promise<FetchApp> {
  if (kind === 'bare') {
    const bare = new Hono();
    bare.post('/v1/allocate', (c) => c.json({ ok: true }));
    return bare;
  }
  if (kind === 'floor') {
    // The edge's own answer to the benchmark's body, taken once, then served as it is.
    const edge = await benchApp('edge', () => '198.51.100.7', o);
    const res = await edge.fetch(
      new Request('http://edge.test/v1/allocate', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: ALLOCATE_BODY,
      }),
    );
    const answer = (await res.json()) as object;
    const floor = new Hono();
    floor.post('/v1/allocate', async (c) => {
      JSON.parse(await nodeBodyReader(c, 16_384));
      return c.json(answer);
    });
    return floor;
  }
  const relays = worldRelays(20);
  const tenants =
    kind === 'edge-keys'
      ? new MemoryTenantStore({
          tenants: [{ id: 'bench', name: 'bench', ratePerSecond: 1e6, burst: 1e6, createdAt: 0 }],
          keys: [
            {
              id: BENCH_KEY.id,
              tenant: 'bench',
              hash: await hashSecret(BENCH_KEY.secret),
              label: 'bench',
              createdAt: 0,
              disabled: false,
            },
          ],
        })
      : undefined;
  const deps: EdgeDeps = {
    relays: async () => relays,
    learned: new MemoryLearnedStore(),
    secrets: () => [BENCH_SECRET],
    credentialTtlSeconds: 600,
    clientIp,
    defaultPlace: { lat: 48.85, lon: 2.35 },
    snapshotToken: SNAPSHOT_TOKEN,
    tenants,
    // The benchmark loads the edge from one address; measure the edge, not its abuse limit.
    addressLimit: 'off',
    // As workers/node.ts: node:crypto unless asked for Web Crypto (EDGE_CRYPTO=web).
    crypto: o.nodeCrypto ? nodeEdgeCrypto : undefined,
    // As workers/node.ts: bodies from the socket (over HTTP; app.fetch falls back to the Request stream).
    readBody: nodeBodyReader,
  };
  return createEdgeApp(deps);
}
