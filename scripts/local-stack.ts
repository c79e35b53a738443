/**
 * `npm start`: the whole product on one machine. Three relays on 127.0.0.2-4 in different
 * regions with a backbone between them, and the edge on 127.0.0.1:8787, sharing Redis when
 * REDIS_URL is set and an in-memory directory otherwise. Prints where each part listens; Ctrl-C
 * stops everything cleanly. Loopback only: peers on 127.0.0.0/8 are allowed for local calls.
 * The edge's origin also serves the two-party call example and the built SDK it imports
 * (scripts/example-files.ts; `npm start` builds the SDK first).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Redis } from 'ioredis';
import { parseRelayConfig } from '../relay/config.ts';
import { createLogger } from '../relay/logger.ts';
import { type RelayNode, startRelayNode } from '../relay/node.ts';
import { openRedisDirectory } from '../relay/redis.ts';
import { udpIoFacts } from '../relay/udp-io.ts';
import { chooseUdpIo } from '../relay/udp-io-choice.ts';
import { MemoryLearnedStore } from '../src/allocation/learned-store.ts';
import { MemoryRoomStore } from '../src/allocation/rooms.ts';
import { MemoryDirectory } from '../src/directory/memory.ts';
import type { RelayDirectory } from '../src/directory/types.ts';
import { RedisLearnedStore } from '../src/redis/redis-learned.ts';
import { createEdgeApp } from '../workers/app.ts';
import { loadDashboardAssets } from '../workers/dashboard-assets.ts';
import { TopologyWatcher } from '../workers/topology-watcher.ts';
import { exampleMounts, serveExampleFile } from './example-files.ts';

const SECRET = process.env.EDGE_SECRETS?.split(',')[0] ?? 'local-dev-secret';
const MESH_KEY = 'local-dev-mesh-key-0123456789';
const EDGE_PORT = Number(process.env.EDGE_PORT ?? 8787);
const RELAYS = [
  { id: 'eu-paris', host: '127.0.0.2', region: 'eu-west', lat: 48.8566, lon: 2.3522 },
  { id: 'us-newyork', host: '127.0.0.3', region: 'us-east', lat: 40.7128, lon: -74.006 },
  { id: 'ap-tokyo', host: '127.0.0.4', region: 'ap-northeast', lat: 35.6762, lon: 139.6503 },
];

async function main(): Promise<void> {
  const logger = createLogger((process.env.LOG_LEVEL as 'info' | undefined) ?? 'warn', 'stack');
  const redisUrl = process.env.REDIS_URL;
  const directory: RelayDirectory = redisUrl
    ? await openRedisDirectory(redisUrl, 'local:', logger)
    : new MemoryDirectory();
  // The relays' UDP I/O, as relay/main.ts chooses it with the default --udp-io auto.
  const io = chooseUdpIo({ udpIo: 'auto', workers: 1, tcp: true, tls: false }, await udpIoFacts('auto', 1));
  if (!io.ok) throw new Error(io.error);
  const nodes: RelayNode[] = [];
  for (const [i, r] of RELAYS.entries()) {
    const parsed = parseRelayConfig(
      [
        '--id',
        r.id,
        '--listen',
        r.host,
        '--region',
        r.region,
        '--lat',
        String(r.lat),
        '--lon',
        String(r.lon),
        '--http-port',
        String(9465 + i),
        '--secret',
        SECRET,
        '--user',
        'demo:demo',
        '--allow-peer',
        '127.0.0.0/8',
        '--log-level',
        'warn',
      ],
      {},
      { fileExists: existsSync },
    );
    if (!parsed.ok || !('config' in parsed)) throw new Error(parsed.ok ? 'help' : parsed.error);
    // The directory is shared in-process, so the backbone needs no --redis here.
    const config = { ...parsed.config, backbonePort: 7000, meshKey: [MESH_KEY], udpIo: io.io };
    nodes.push(await startRelayNode(config, { logger, directory }));
  }
  const learned = redisUrl
    ? new RedisLearnedStore(
        new Redis(redisUrl).on('error', () => {}),
        'local:',
      )
    : new MemoryLearnedStore();
  // The dashboard: the admin token is EDGE_ADMIN_TOKEN, or a new random one printed below.
  const adminToken = process.env.EDGE_ADMIN_TOKEN || randomBytes(12).toString('hex');
  const watcher = new TopologyWatcher(
    {
      relays: (now) => directory.list(now),
      links: (now) => directory.links(now),
      subscribe: (handler) => directory.subscribe(handler),
    },
    Date.now,
  );
  const watching = setInterval(() => void watcher.refresh().catch(() => {}), 1000);
  await watcher.follow();
  const app = createEdgeApp({
    relays: (now) => directory.list(now),
    adminToken,
    dashboard: { watcher, assets: loadDashboardAssets() },
    learned,
    rooms: new MemoryRoomStore(),
    corsOrigins: '*',
    secrets: () => [SECRET],
    credentialTtlSeconds: 600,
    clientIp: (c) => getConnInfo(c).remote.address,
    defaultPlace: { lat: 48.8566, lon: 2.3522 },
  });
  const mounts = exampleMounts(fileURLToPath(new URL('..', import.meta.url)));
  const sdkBuilt = existsSync(`${mounts['/sdk/']}/index.js`);
  const edge = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve(
      {
        fetch: (req, env) => serveExampleFile(req, mounts) ?? app.fetch(req, env),
        hostname: '127.0.0.1',
        port: EDGE_PORT,
      },
      () => resolve(s),
    );
  });

  const lines = [
    `relay-backbone local stack (directory: ${redisUrl ? `Redis ${redisUrl}` : 'in memory'})`,
    `  edge     http://127.0.0.1:${EDGE_PORT}   POST /v1/allocate, POST /v1/measurements (no API key locally)`,
    ...nodes.map(
      (n, i) =>
        `  relay    ${RELAYS[i]!.id.padEnd(11)} turn:${RELAYS[i]!.host}:${n.listening.udp[0]?.port} (udp, tcp)  backbone ${RELAYS[i]!.host}:7000  http://127.0.0.1:${n.http.port}/metrics`,
    ),
    `  UDP I/O  ${io.io} (${io.reason}; --udp-io in README)`,
    `  dashboard http://127.0.0.1:${EDGE_PORT}/dashboard   admin token ${adminToken}`,
    sdkBuilt
      ? `  example  http://127.0.0.1:${EDGE_PORT}/examples/two-party/   (a two-party call: open it in two tabs)`
      : '  example  not served: build the SDK first (npm run build:sdk)',
    `  credentials: user demo/demo, or TURN REST with secret "${SECRET}" (what the edge hands out)`,
    '  try: curl -s -X POST -H "content-type: application/json" -d "{}" http://127.0.0.1:8787/v1/allocate',
    '  Ctrl-C stops everything.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('stopping...\n');
    edge.close();
    clearInterval(watching);
    await watcher.close();
    await Promise.all(nodes.map((n) => n.stop(false)));
    await directory.close();
    process.stdout.write('stopped\n');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err: unknown) => {
  process.stderr.write(`stack: ${(err as Error).message}\n`);
  process.exit(1);
});
