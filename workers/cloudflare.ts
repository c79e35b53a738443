/**
 * The edge on Cloudflare Workers. Workers cannot speak Redis over TCP, so the relay directory,
 * the tenants and the API key hashes come from the Node side's snapshot endpoint
 * (GET /v1/internal/directory, bearer token), cached for a few seconds per isolate and served
 * stale (and said so) for half a minute when that endpoint is away. The learned map and room
 * affinity live in Workers KV when the EDGE_KV binding is set, per isolate otherwise. The per-key
 * rate limit is counted per isolate (an approximation: Cloudflare's Rate Limiting binding is the
 * exact one). Revocations are forwarded to the Node side, which tells the relays through Redis.
 * Credentials are made with Web Crypto. Bindings (wrangler.toml vars, secrets) are read by the
 * parser the Node edge uses (workers/config.ts: the same names, defaults and checks; `npm run
 * edge -- --help` lists them); a bad one is logged once and every request answers a 500 problem
 * that says the edge is misconfigured, never which value. EDGE_KV is the KV binding.
 * EDGE_ADDRESS_RATE/BURST (with EDGE_API_KEYS=off) are counted per isolate.
 */

import { type CallQualityStore, MemoryCallQualityStore } from '../src/allocation/call-store.ts';
import { type LearnedStore, MemoryLearnedStore } from '../src/allocation/learned-store.ts';
import { MemoryRoomStore, type RoomStore } from '../src/allocation/rooms.ts';
import { revocationFields } from '../src/credentials/revocation.ts';
import { MAX_TTL_SECONDS } from '../src/credentials/turn-rest.ts';
import type { LinkRecord, RelayRecord } from '../src/directory/types.ts';
import { type ApiKeyRecord, MemoryTenantStore, type Tenant } from '../src/tenants/api-keys.ts';
import { addressLimitOf } from './abuse-limits.ts';
import { createEdgeApp } from './app.ts';
import { type EdgeConfig, parseEdgeConfig } from './config.ts';
import type { DashboardAssets } from './dashboard.ts';
import { DirectoryCache } from './directory-cache.ts';
import { countryCode } from './geo.ts';
import { KvCallQualityStore, KvLearnedStore, type KvNamespace, KvRoomStore } from './kv-stores.ts';
import { TopologyWatcher } from './topology-watcher.ts';

/** String bindings as workers/config-options.ts names them, and the KV namespace. */
export interface Env {
  readonly [binding: string]: unknown;
  readonly EDGE_KV?: KvNamespace;
  readonly EDGE_ADDRESS_RATE?: string;
  readonly EDGE_ADDRESS_BURST?: string;
}

interface Snapshot {
  readonly relays: RelayRecord[];
  /** The backbone's links, for the dashboard's topology (Node edges serve them). */
  readonly links?: LinkRecord[];
  readonly tenants?: Tenant[];
  readonly apiKeys?: ApiKeyRecord[];
}

interface CfProperties {
  readonly latitude?: string;
  readonly longitude?: string;
  /** ISO 3166-1 alpha-2 (`XX` unknown, `T1` Tor). */
  readonly country?: string;
}

/** One edge per isolate: the app, its caches and its stores live as long as the isolate. */
function makeEdge(env: Env, config: EdgeConfig) {
  let tenants = new MemoryTenantStore();
  let links: LinkRecord[] = [];
  const snapshotUrl = new URL(config.snapshotUrl ?? '');
  const directory = new DirectoryCache(
    async () => {
      const res = await fetch(snapshotUrl, {
        headers: { authorization: `Bearer ${config.snapshotToken}` },
        signal: AbortSignal.timeout(2000),
      });
      if (!res.ok) throw new Error(`snapshot endpoint answered ${res.status}`);
      const body = (await res.json()) as Snapshot;
      tenants = new MemoryTenantStore({ tenants: body.tenants ?? [], keys: body.apiKeys ?? [] });
      links = Array.isArray(body.links) ? body.links : [];
      return body.relays;
    },
    { freshMs: 5000, maxStaleMs: 30_000 },
  );
  const learned: LearnedStore = env.EDGE_KV ? new KvLearnedStore(env.EDGE_KV) : new MemoryLearnedStore();
  const rooms: RoomStore = env.EDGE_KV ? new KvRoomStore(env.EDGE_KV) : new MemoryRoomStore();
  const calls: CallQualityStore = env.EDGE_KV
    ? new KvCallQualityStore(env.EDGE_KV)
    : new MemoryCallQualityStore();
  // Keys are checked against the copy that came with the directory; read it first.
  const keyStore = {
    getKey: async (id: string) => {
      await directory.get(Date.now());
      return tenants.getKey(id);
    },
    getTenant: (id: string) => tenants.getTenant(id),
    putTenant: (t: Tenant) => tenants.putTenant(t),
    putKey: (k: ApiKeyRecord) => tenants.putKey(k),
    deleteKey: (id: string) => tenants.deleteKey(id),
    listTenants: () => tenants.listTenants(),
    listKeys: () => tenants.listKeys(),
  };
  // The topology for /v1/admin/topology, from the snapshot's relays and links, refreshed while
  // requests ask (a Worker has no timers of its own between requests).
  const watcher = config.adminToken
    ? new TopologyWatcher(
        {
          relays: async (now) => (await directory.get(now)).relays,
          links: async (now) => {
            await directory.get(now);
            return links;
          },
        },
        Date.now,
      )
    : undefined;
  // The page's bundle (app.js, app.css) is the Node edge's: fetched from it beside the snapshot,
  // kept five minutes, and the last copy served while the Node edge is away.
  let page: { at: number; assets: DashboardAssets } | undefined;
  const pageAssets = async (): Promise<DashboardAssets | undefined> => {
    if (page && Date.now() - page.at < 300_000) return page.assets;
    const get = async (file: string) => {
      const res = await fetch(new URL(`/dashboard/${file}`, snapshotUrl), {
        signal: AbortSignal.timeout(2000),
      });
      if (!res.ok) throw new Error(`the Node edge answered ${res.status} for ${file}`);
      return res.text();
    };
    try {
      const [js, css] = await Promise.all([get('app.js'), get('app.css')]);
      page = { at: Date.now(), assets: { js, css } };
    } catch {
      // Keep what we had (if anything): the dashboard is not worth an error page.
    }
    return page?.assets;
  };
  const app = createEdgeApp({
    relays: (now) => directory.get(now),
    // The snapshot's links (one array per snapshot) name the second round of probe targets.
    links: async (now) => {
      await directory.get(now).catch(() => undefined);
      return links;
    },
    dashboard: watcher ? { watcher, assets: pageAssets } : undefined,
    learned,
    rooms,
    report: (err, where) =>
      console.error(`edge: ${where}: ${err instanceof Error ? err.message : String(err)}`),
    secrets: () => config.secrets,
    credentialTtlSeconds: config.credentialTtl,
    maxBodyBytes: config.maxBodyBytes,
    probeKey: config.probeKey,
    // On Workers the platform sets these; nothing upstream can forge them.
    clientIp: (c) => c.req.header('cf-connecting-ip'),
    platformPlace: (c) => {
      const cf = (c.req.raw as unknown as { cf?: CfProperties }).cf;
      const lat = Number(cf?.latitude);
      const lon = Number(cf?.longitude);
      return cf?.latitude && cf.longitude && Number.isFinite(lat) && Number.isFinite(lon)
        ? { lat, lon, source: 'platform' as const }
        : undefined;
    },
    // request.cf.country, set by the platform: the per-call choice files reports under it.
    clientCountry: (c) => countryCode((c.req.raw as unknown as { cf?: CfProperties }).cf?.country),
    defaultPlace: { lat: config.defaultLat, lon: config.defaultLon },
    corsOrigins: config.corsOrigins,
    rank: { exploreShare: config.exploreShare },
    calls,
    tenants: config.apiKeys === 'required' ? keyStore : undefined,
    addressLimit: addressLimitOf(config.addressRate, config.addressBurst),
    adminToken: config.adminToken,
    revoke: config.adminToken
      ? async (target, until) => {
          const res = await fetch(new URL('/v1/credentials/revoke', snapshotUrl), {
            method: 'POST',
            headers: { authorization: `Bearer ${config.adminToken}`, 'content-type': 'application/json' },
            // The Node edge records it; `seconds` carries the lapse time this edge chose.
            body: JSON.stringify({
              ...revocationFields(target),
              seconds: Math.min(MAX_TTL_SECONDS, Math.max(1, Math.ceil((until - Date.now()) / 1000))),
            }),
            signal: AbortSignal.timeout(5000),
          });
          if (!res.ok) throw new Error(`the Node edge answered ${res.status} to the revocation`);
        }
      : undefined,
  });
  return app;
}

type Edge = { fetch(request: Request): Response | Promise<Response> };
const edges = new WeakMap<Env, Edge>();

/** What a misconfigured edge answers: the operator has the reason in the log. */
const misconfigured: Edge = {
  fetch: () =>
    new Response(
      JSON.stringify({
        type: 'about:blank',
        title: 'Edge misconfigured',
        status: 500,
        detail: 'the edge cannot answer until its operator fixes its configuration',
      }),
      { status: 500, headers: { 'content-type': 'application/problem+json' } },
    ),
};

function edgeFor(env: Env): Edge {
  const parsed = parseEdgeConfig('workers', env);
  if (parsed.ok && 'config' in parsed) return makeEdge(env, parsed.config);
  console.error(`edge: ${parsed.ok ? 'unexpected help request' : parsed.error}`);
  return misconfigured;
}

export default {
  fetch(request: Request, env: Env): Response | Promise<Response> {
    let edge = edges.get(env);
    if (!edge) {
      edge = edgeFor(env);
      edges.set(env, edge);
    }
    return edge.fetch(request);
  },
};
