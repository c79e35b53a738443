#!/usr/bin/env node
/**
 * The edge on Node (@hono/node-server): relays from the Redis directory (cached for a second),
 * the learned map in Redis, the client address from the socket, or from X-Forwarded-For walked
 * from the right past EDGE_TRUSTED_PROXIES (src/net/forwarded.ts), and CDN geo headers only of
 * the CDN named in EDGE_GEO_HEADERS and only from a trusted proxy. Configuration comes from the
 * environment through the parser the Workers edge shares (workers/config.ts); `npm run edge --
 * --help` lists every variable, and a bad value stops the edge with one line and exit code 2.
 * With EDGE_API_KEYS=off each client address gets EDGE_ADDRESS_RATE/BURST, shared through Redis.
 * With EDGE_ADMIN_TOKEN the edge serves the dashboard and watches the backbone once a second.
 */

import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import type { LinkRecord } from '../src/directory/types.ts';
import { cidrContains } from '../src/net/cidr.ts';
import { clientAddress } from '../src/net/forwarded.ts';
import { parseIp } from '../src/net/ip.ts';
import { RedisCallQualityStore } from '../src/redis/redis-calls.ts';
import { redisClient } from '../src/redis/redis-client.ts';
import { RedisDirectory } from '../src/redis/redis-directory.ts';
import { RedisLearnedStore } from '../src/redis/redis-learned.ts';
import { RedisRoomStore } from '../src/redis/redis-rooms.ts';
import { parseRedisTarget } from '../src/redis/redis-target.ts';
import { RedisRateLimiter, RedisTenantStore } from '../src/redis/redis-tenants.ts';
import { addressLimitOf } from './abuse-limits.ts';
import { createEdgeApp } from './app.ts';
import { parseEdgeConfig } from './config.ts';
import { loadDashboardAssets } from './dashboard-assets.ts';
import { DirectoryCache } from './directory-cache.ts';
import { EdgeMetrics, type ScrapedGauge } from './edge-metrics.ts';
import { countryCode, countryFromHeaders, placeFromHeaders } from './geo.ts';
import { type GeoIpDatabase, openGeoIp } from './geoip.ts';
import { nodeBodyReader } from './node-body.ts';
import { nodeEdgeCrypto } from './node-crypto.ts';
import { CachedTenantStore } from './tenant-cache.ts';
import { TopologyWatcher } from './topology-watcher.ts';

function fail(message: string): never {
  process.stderr.write(`edge: ${message}\n`);
  process.exit(2);
}

const parsed = parseEdgeConfig('node', process.env, process.argv.slice(2));
if (parsed.ok && 'help' in parsed) {
  process.stdout.write(parsed.help);
  process.exit(0);
}
if (!parsed.ok) fail(parsed.error);
const config = parsed.config;
const redisUrl = config.redisUrl ?? fail('REDIS_URL: required');
const { secrets, trustedProxies: trusted, redisPrefix: prefix } = config;
let geoip: GeoIpDatabase | undefined;
try {
  geoip = config.geoipDb ? openGeoIp(config.geoipDb) : undefined;
} catch (err) {
  fail(`EDGE_GEOIP_DB: ${(err as Error).message.replace(/\s+/g, ' ')}`);
}

const target = parseRedisTarget(redisUrl);
if (!target.ok) fail(`REDIS_URL: ${target.error}`);
// Fail fast when Redis is away or stuck: the edge answers from what it has, never hangs.
const quiet = () => redisClient(target.value, { commandTimeoutMs: 1000 }).on('error', () => {});
const client = quiet();
const invalidSeen = new Set<string>();
const directory = new RedisDirectory({
  client,
  subscriber: quiet(),
  prefix,
  // Logged once per key and error: a bad record is skipped on every read until it expires.
  onInvalid: (key, error) => {
    if (invalidSeen.has(`${key} ${error}`) || invalidSeen.size > 1000) return;
    invalidSeen.add(`${key} ${error}`);
    process.stderr.write(`edge: skipped an invalid directory record ${key}: ${error}\n`);
  },
});
const learned = new RedisLearnedStore(client, prefix);
const rooms = new RedisRoomStore(client, prefix);

// The directory changes slowly: read it at most once a second. When Redis is briefly away,
// answer from the last copy for up to EDGE_STALE_SECONDS, marked stale; then 503 with Retry-After.
const cache = new DirectoryCache((now) => directory.list(now), {
  freshMs: 1000,
  maxStaleMs: config.staleSeconds * 1000,
  onStale: (age, err) =>
    process.stderr.write(
      `edge: directory unreachable (${(err as Error).message}), answering from a ${age} ms old copy\n`,
    ),
});

// The backbone's links, for the second round of probe targets: read at most every 5 s (one
// promise shared by the requests meanwhile); when Redis is away the last copy stands.
let linkCopy: { at: number; links: Promise<readonly LinkRecord[]> } | undefined;
const cachedLinks = (now: number): Promise<readonly LinkRecord[]> => {
  if (!linkCopy || now - linkCopy.at >= 5000) {
    const last = linkCopy?.links;
    linkCopy = { at: now, links: directory.links(now).catch(() => last ?? []) };
  }
  return linkCopy.links;
};

const fromTrustedProxy = (c: Context): boolean => {
  const peer = getConnInfo(c).remote.address;
  const ip = peer ? parseIp(peer) : undefined;
  return ip !== undefined && trusted.some((t) => cidrContains(t, ip));
};
const adminToken = config.adminToken;

// The dashboard's view of the backbone, refreshed every second and at once on directory events.
const watcher = adminToken
  ? new TopologyWatcher(
      {
        relays: async (now) => (await cache.get(now)).relays,
        links: (now) => directory.links(now),
        subscribe: (handler) => directory.subscribe(handler),
      },
      Date.now,
    )
  : undefined;
if (watcher) {
  setInterval(() => void watcher.refresh().catch(() => {}), 1000).unref();
  void watcher.follow().catch(() => {});
}

/** The process's memory, under prom-client's default names, so one dashboard reads relay and edge. */
const processGauges = (): ScrapedGauge[] => {
  const m = process.memoryUsage();
  return [
    { name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', value: m.rss },
    {
      name: 'nodejs_heap_size_used_bytes',
      help: 'Process heap size used from Node.js in bytes.',
      value: m.heapUsed,
    },
    {
      name: 'nodejs_external_memory_bytes',
      help: 'Node.js external memory size in bytes.',
      value: m.external,
    },
  ];
};

const app = createEdgeApp({
  metrics: new EdgeMetrics({ gauges: processGauges }),
  // node:crypto, synchronous (the default), unless EDGE_CRYPTO=web: Web Crypto's round trip to the thread pool.
  crypto: config.crypto === 'node' ? nodeEdgeCrypto : undefined,
  relays: (now) => cache.get(now),
  snapshotLinks: (now) => directory.links(now),
  links: cachedLinks,
  dashboard: watcher ? { watcher, assets: loadDashboardAssets(config.dashboardDir) } : undefined,
  learned,
  rooms,
  report: (err, where) =>
    process.stderr.write(
      `${JSON.stringify({ event: 'error', where, error: err instanceof Error ? err.message : String(err) })}\n`,
    ),
  corsOrigins: config.corsOrigins,
  secrets: () => secrets,
  credentialTtlSeconds: config.credentialTtl,
  maxBodyBytes: config.maxBodyBytes,
  // Bodies straight from the socket, not through a WHATWG Request and its streams.
  readBody: nodeBodyReader,
  probeKey: config.probeKey,
  clientIp: (c) => clientAddress(getConnInfo(c).remote.address, c.req.header('x-forwarded-for'), trusted),
  platformPlace: (c) =>
    fromTrustedProxy(c) ? placeFromHeaders((n) => c.req.header(n), config.geoHeaders) : undefined,
  // For the per-call choice: the configured CDN's country header from a trusted proxy, else GeoIP.
  clientCountry: (c) => {
    const fromCdn = fromTrustedProxy(c)
      ? countryFromHeaders((n) => c.req.header(n), config.geoHeaders)
      : undefined;
    if (fromCdn || !geoip) return fromCdn;
    const ip = clientAddress(getConnInfo(c).remote.address, c.req.header('x-forwarded-for'), trusted);
    return ip ? countryCode(geoip.lookup(ip)?.country) : undefined;
  },
  geoip: geoip ? (ip) => geoip.lookup(ip) : undefined,
  defaultPlace: { lat: config.defaultLat, lon: config.defaultLon },
  snapshotToken: config.snapshotToken,
  tenants:
    config.apiKeys === 'required'
      ? new CachedTenantStore(new RedisTenantStore(client, prefix), Date.now)
      : undefined,
  rateLimiter: new RedisRateLimiter(client, prefix),
  addressLimit: addressLimitOf(config.addressRate, config.addressBurst),
  rank: { exploreShare: config.exploreShare },
  calls: new RedisCallQualityStore(client, prefix),
  adminToken,
  revoke: async (target, until) => {
    await directory.revoke(target, until);
    await directory.publish({ type: 'revoked', id: 'edge', target, at: Date.now() });
  },
});

const server = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) => {
  process.stdout.write(
    `${JSON.stringify({ event: 'ready', edge: `http://${info.address}:${info.port}` })}\n`,
  );
});
const stop = () => {
  server.close();
  void directory.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
