/**
 * The edge on Node (@hono/node-server): relays from the Redis directory (cached for a second),
 * the learned map in Redis, the client address from the socket (X-Forwarded-For and CDN geo
 * headers only from trusted proxies). Configuration from the environment:
 *   EDGE_HOST (127.0.0.1), EDGE_PORT (8787), EDGE_REDIS_PREFIX (rb:), REDIS_URL (required:
 *   redis://, rediss://, redis-sentinel:// or redis-cluster://, as for the relays),
 *   EDGE_SECRETS (comma-separated TURN REST secrets shared with the relays; required),
 *   EDGE_CREDENTIAL_TTL (600 s), EDGE_TRUSTED_PROXIES (CIDRs), EDGE_DEFAULT_LAT/LON (0, 0),
 *   EDGE_SNAPSHOT_TOKEN (serves the directory snapshot to Workers edges when set),
 *   EDGE_ADMIN_TOKEN (enables POST /v1/credentials/revoke with that bearer token),
 *   EDGE_CORS_ORIGINS (comma-separated browser origins allowed to call /v1, or *),
 *   EDGE_EXPLORE_SHARE (0.05: share of answers that add one relay outside the top picks to the
 *   probe targets, so the learned map keeps exploring),
 *   EDGE_STALE_SECONDS (30: how long a directory copy answers, marked stale, while Redis is away),
 *   EDGE_API_KEYS (required | off; default required: clients send an API key made with
 *   `npm run keys`, limited per key at its tenant's rate, shared by every edge through Redis),
 *   EDGE_GEOIP_DB (a GeoIP2/GeoLite2 City or DB-IP city .mmdb file: locates clients by address
 *   after the platform's geo and before their own hint; unreadable or invalid exits with 2).
 */

import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Context } from 'hono';
import { MemoryCallQualityStore } from '../src/allocation/call-store.ts';
import { type Cidr, cidrContains, parseCidr } from '../src/net/cidr.ts';
import { parseIp } from '../src/net/ip.ts';
import { redisClient } from '../src/redis/redis-client.ts';
import { RedisDirectory } from '../src/redis/redis-directory.ts';
import { RedisLearnedStore } from '../src/redis/redis-learned.ts';
import { RedisRoomStore } from '../src/redis/redis-rooms.ts';
import { parseRedisTarget } from '../src/redis/redis-target.ts';
import { RedisRateLimiter, RedisTenantStore } from '../src/redis/redis-tenants.ts';
import { createEdgeApp } from './app.ts';
import { DirectoryCache } from './directory-cache.ts';
import { placeFromHeaders } from './geo.ts';
import { type GeoIpDatabase, openGeoIp } from './geoip.ts';
import { CachedTenantStore } from './tenant-cache.ts';

function fail(message: string): never {
  process.stderr.write(`edge: ${message}\n`);
  process.exit(2);
}

const env = process.env;
const redisUrl = env.REDIS_URL ?? fail('REDIS_URL: required (the relays register there)');
const secrets = (env.EDGE_SECRETS ?? '').split(',').filter(Boolean);
if (secrets.length === 0) fail('EDGE_SECRETS: required, the TURN REST secret(s) the relays accept');
const port = Number(env.EDGE_PORT ?? 8787);
if (!Number.isInteger(port) || port < 0 || port > 65535)
  fail(`EDGE_PORT: expected 0-65535, got "${env.EDGE_PORT}"`);
const ttl = Number(env.EDGE_CREDENTIAL_TTL ?? 600);
if (!Number.isInteger(ttl) || ttl < 60 || ttl > 86_400)
  fail('EDGE_CREDENTIAL_TTL: expected 60-86400 seconds');
const trusted: Cidr[] = (env.EDGE_TRUSTED_PROXIES ?? '')
  .split(',')
  .filter(Boolean)
  .map((s) => {
    const r = parseCidr(s.trim());
    return r.ok ? r.value : fail(`EDGE_TRUSTED_PROXIES: ${r.error}`);
  });
const prefix = env.EDGE_REDIS_PREFIX ?? 'rb:';
const staleSeconds = Number(env.EDGE_STALE_SECONDS ?? 30);
if (!Number.isFinite(staleSeconds) || staleSeconds < 0 || staleSeconds > 3600)
  fail(`EDGE_STALE_SECONDS: expected 0-3600 seconds, got "${env.EDGE_STALE_SECONDS}"`);
const exploreShare = Number(env.EDGE_EXPLORE_SHARE ?? 0.05);
if (!Number.isFinite(exploreShare) || exploreShare < 0 || exploreShare > 1)
  fail(`EDGE_EXPLORE_SHARE: expected a share from 0 to 1, got "${env.EDGE_EXPLORE_SHARE}"`);
const apiKeys = env.EDGE_API_KEYS ?? 'required';
if (apiKeys !== 'required' && apiKeys !== 'off')
  fail(`EDGE_API_KEYS: expected required or off, got "${apiKeys}"`);
let geoip: GeoIpDatabase | undefined;
try {
  geoip = env.EDGE_GEOIP_DB ? openGeoIp(env.EDGE_GEOIP_DB) : undefined;
} catch (err) {
  fail(`EDGE_GEOIP_DB: ${(err as Error).message.replace(/\s+/g, ' ')}`);
}

const target = parseRedisTarget(redisUrl);
if (!target.ok) fail(`REDIS_URL: ${target.error}`);
// Fail fast when Redis is away or stuck: the edge answers from what it has, never hangs.
const quiet = () => redisClient(target.value, { commandTimeoutMs: 1000 }).on('error', () => {});
const client = quiet();
const directory = new RedisDirectory({ client, subscriber: quiet(), prefix });
const learned = new RedisLearnedStore(client, prefix);
const rooms = new RedisRoomStore(client, prefix);
const corsOrigins =
  env.EDGE_CORS_ORIGINS === '*' ? '*' : (env.EDGE_CORS_ORIGINS ?? '').split(',').filter(Boolean);

// The directory changes slowly: read it at most once a second. When Redis is briefly away,
// answer from the last copy for up to EDGE_STALE_SECONDS, marked stale; then 503 with Retry-After.
const cache = new DirectoryCache((now) => directory.list(now), {
  freshMs: 1000,
  maxStaleMs: staleSeconds * 1000,
  onStale: (age, err) =>
    process.stderr.write(
      `edge: directory unreachable (${(err as Error).message}), answering from a ${age} ms old copy\n`,
    ),
});

const fromTrustedProxy = (c: Context): boolean => {
  const peer = getConnInfo(c).remote.address;
  const ip = peer ? parseIp(peer) : undefined;
  return ip !== undefined && trusted.some((t) => cidrContains(t, ip));
};

const app = createEdgeApp({
  relays: (now) => cache.get(now),
  learned,
  rooms,
  corsOrigins: corsOrigins === '*' || corsOrigins.length > 0 ? corsOrigins : undefined,
  secrets: () => secrets,
  credentialTtlSeconds: ttl,
  clientIp: (c) => {
    const peer = getConnInfo(c).remote.address;
    if (!fromTrustedProxy(c)) return peer;
    return c.req.header('x-forwarded-for')?.split(',')[0]?.trim() || peer;
  },
  platformPlace: (c) => (fromTrustedProxy(c) ? placeFromHeaders((n) => c.req.header(n)) : undefined),
  geoip: geoip ? (ip) => geoip.lookup(ip) : undefined,
  defaultPlace: { lat: Number(env.EDGE_DEFAULT_LAT ?? 0), lon: Number(env.EDGE_DEFAULT_LON ?? 0) },
  snapshotToken: env.EDGE_SNAPSHOT_TOKEN,
  tenants:
    apiKeys === 'required'
      ? new CachedTenantStore(new RedisTenantStore(client, prefix), Date.now)
      : undefined,
  rateLimiter: new RedisRateLimiter(client, prefix),
  rank: { exploreShare },
  calls: new MemoryCallQualityStore(),
  adminToken: env.EDGE_ADMIN_TOKEN,
  revoke: async (username, until) => {
    await directory.revoke(username, until);
    await directory.publish({ type: 'revoked', id: 'edge', username, at: Date.now() });
  },
});

const server = serve({ fetch: app.fetch, hostname: env.EDGE_HOST ?? '127.0.0.1', port }, (info) => {
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
