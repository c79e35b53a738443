/**
 * The edge on Cloudflare Workers. Workers cannot speak Redis over TCP, so the relay directory,
 * the tenants and the API key hashes come from the Node side's snapshot endpoint
 * (GET /v1/internal/directory, bearer token), cached for a few seconds per isolate and served
 * stale (and said so) for half a minute when that endpoint is away. The learned map and room
 * affinity live in Workers KV when the EDGE_KV binding is set, per isolate otherwise. The per-key
 * rate limit is counted per isolate (an approximation: Cloudflare's Rate Limiting binding is the
 * exact one). Revocations are forwarded to the Node side, which tells the relays through Redis.
 * Credentials are made with Web Crypto. Bindings (wrangler.toml vars, secrets, KV):
 * EDGE_SECRETS, SNAPSHOT_URL, SNAPSHOT_TOKEN, ADMIN_TOKEN, EDGE_API_KEYS (required | off),
 * EDGE_CREDENTIAL_TTL, EDGE_DEFAULT_LAT, EDGE_DEFAULT_LON, EDGE_CORS_ORIGINS, EDGE_EXPLORE_SHARE, EDGE_KV,
 * EDGE_ADDRESS_RATE, EDGE_ADDRESS_BURST (per-address limit with keys off, counted per isolate).
 */

import { type LearnedStore, MemoryLearnedStore } from '../src/allocation/learned-store.ts';
import { MemoryRoomStore, type RoomStore } from '../src/allocation/rooms.ts';
import { revocationFields } from '../src/credentials/revocation.ts';
import { MAX_TTL_SECONDS } from '../src/credentials/turn-rest.ts';
import type { RelayRecord } from '../src/directory/types.ts';
import { type ApiKeyRecord, MemoryTenantStore, type Tenant } from '../src/tenants/api-keys.ts';
import { parseAddressLimit } from './abuse-limits.ts';
import { createEdgeApp } from './app.ts';
import { DirectoryCache } from './directory-cache.ts';
import { KvLearnedStore, type KvNamespace, KvRoomStore } from './kv-stores.ts';

export interface Env {
  readonly EDGE_SECRETS: string;
  readonly SNAPSHOT_URL: string;
  readonly SNAPSHOT_TOKEN: string;
  readonly ADMIN_TOKEN?: string;
  readonly EDGE_API_KEYS?: string;
  readonly EDGE_CREDENTIAL_TTL?: string;
  readonly EDGE_DEFAULT_LAT?: string;
  readonly EDGE_DEFAULT_LON?: string;
  readonly EDGE_CORS_ORIGINS?: string;
  readonly EDGE_EXPLORE_SHARE?: string;
  readonly EDGE_KV?: KvNamespace;
  readonly EDGE_ADDRESS_RATE?: string;
  readonly EDGE_ADDRESS_BURST?: string;
}

interface Snapshot {
  readonly relays: RelayRecord[];
  readonly tenants?: Tenant[];
  readonly apiKeys?: ApiKeyRecord[];
}

interface CfProperties {
  readonly latitude?: string;
  readonly longitude?: string;
}

/** One edge per isolate: the app, its caches and its stores live as long as the isolate. */
function makeEdge(env: Env) {
  let tenants = new MemoryTenantStore();
  const snapshotUrl = new URL(env.SNAPSHOT_URL);
  const directory = new DirectoryCache(
    async () => {
      const res = await fetch(snapshotUrl, {
        headers: { authorization: `Bearer ${env.SNAPSHOT_TOKEN}` },
        signal: AbortSignal.timeout(2000),
      });
      if (!res.ok) throw new Error(`snapshot endpoint answered ${res.status}`);
      const body = (await res.json()) as Snapshot;
      tenants = new MemoryTenantStore({ tenants: body.tenants ?? [], keys: body.apiKeys ?? [] });
      return body.relays;
    },
    { freshMs: 5000, maxStaleMs: 30_000 },
  );
  const learned: LearnedStore = env.EDGE_KV ? new KvLearnedStore(env.EDGE_KV) : new MemoryLearnedStore();
  const rooms: RoomStore = env.EDGE_KV ? new KvRoomStore(env.EDGE_KV) : new MemoryRoomStore();
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
  const cors = env.EDGE_CORS_ORIGINS;
  const addressLimit = parseAddressLimit(env.EDGE_ADDRESS_RATE, env.EDGE_ADDRESS_BURST);
  const explore = Number(env.EDGE_EXPLORE_SHARE ?? 0.05);
  const app = createEdgeApp({
    relays: (now) => directory.get(now),
    learned,
    rooms,
    secrets: () => env.EDGE_SECRETS.split(',').filter(Boolean),
    credentialTtlSeconds: Number(env.EDGE_CREDENTIAL_TTL ?? 600),
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
    defaultPlace: { lat: Number(env.EDGE_DEFAULT_LAT ?? 0), lon: Number(env.EDGE_DEFAULT_LON ?? 0) },
    corsOrigins: cors === '*' ? '*' : cors ? cors.split(',').filter(Boolean) : undefined,
    rank: { exploreShare: explore >= 0 && explore <= 1 ? explore : 0.05 },
    tenants: (env.EDGE_API_KEYS ?? 'required') === 'required' ? keyStore : undefined,
    // A bad value keeps the default rather than failing every request of the isolate.
    addressLimit: addressLimit.ok ? addressLimit.value : undefined,
    adminToken: env.ADMIN_TOKEN,
    revoke: env.ADMIN_TOKEN
      ? async (target, until) => {
          const res = await fetch(new URL('/v1/credentials/revoke', snapshotUrl), {
            method: 'POST',
            headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' },
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

const edges = new WeakMap<Env, ReturnType<typeof makeEdge>>();

export default {
  fetch(request: Request, env: Env): Response | Promise<Response> {
    let edge = edges.get(env);
    if (!edge) {
      edge = makeEdge(env);
      edges.set(env, edge);
    }
    return edge.fetch(request);
  },
};
