/**
 * The edge on Cloudflare Workers. Workers cannot speak Redis over TCP, so the relay directory
 * comes from the Node side's snapshot endpoint (GET /v1/internal/directory, bearer token), cached
 * for a few seconds per isolate; the learned map lives per isolate too (a Workers KV or Durable
 * Object store is the next step). Credentials are made with Web Crypto. Bindings (wrangler.toml
 * vars and secrets): EDGE_SECRETS, SNAPSHOT_URL, SNAPSHOT_TOKEN, EDGE_CREDENTIAL_TTL,
 * EDGE_DEFAULT_LAT, EDGE_DEFAULT_LON.
 */

import { INITIAL_INFLATION, inflationFactor } from '../src/allocation/learned.ts';
import { MemoryLearnedStore } from '../src/allocation/learned-store.ts';
import { MemoryRoomStore } from '../src/allocation/rooms.ts';
import type { RelayRecord } from '../src/directory/types.ts';
import { createEdgeApp } from './app.ts';

export interface Env {
  readonly EDGE_SECRETS: string;
  readonly SNAPSHOT_URL: string;
  readonly SNAPSHOT_TOKEN: string;
  readonly EDGE_CREDENTIAL_TTL?: string;
  readonly EDGE_DEFAULT_LAT?: string;
  readonly EDGE_DEFAULT_LON?: string;
}

const SNAPSHOT_TTL_MS = 5000;
let snapshot: { at: number; relays: readonly RelayRecord[] } | undefined;
const learned = new MemoryLearnedStore();
const rooms = new MemoryRoomStore();

async function relays(env: Env, now: number): Promise<readonly RelayRecord[]> {
  if (snapshot && now - snapshot.at < SNAPSHOT_TTL_MS) return snapshot.relays;
  try {
    const res = await fetch(env.SNAPSHOT_URL, { headers: { authorization: `Bearer ${env.SNAPSHOT_TOKEN}` } });
    if (!res.ok) throw new Error(`snapshot endpoint answered ${res.status}`);
    const body = (await res.json()) as { relays: RelayRecord[] };
    snapshot = { at: now, relays: body.relays };
  } catch (err) {
    // A stale copy beats no answer for half a minute; after that, say so (503).
    if (!snapshot || now - snapshot.at > 30_000) throw err;
  }
  return snapshot.relays;
}

interface CfProperties {
  readonly latitude?: string;
  readonly longitude?: string;
}

export default {
  fetch(request: Request, env: Env): Response | Promise<Response> {
    const app = createEdgeApp({
      relays: (now) => relays(env, now),
      learned,
      rooms,
      secrets: () => env.EDGE_SECRETS.split(',').filter(Boolean),
      credentialTtlSeconds: Number(env.EDGE_CREDENTIAL_TTL ?? 600),
      inflation: () => inflationFactor(INITIAL_INFLATION),
      // On Workers the platform sets these; nothing upstream can forge them.
      clientIp: (c) => c.req.header('cf-connecting-ip'),
      platformPlace: () => {
        const cf = (request as unknown as { cf?: CfProperties }).cf;
        const lat = Number(cf?.latitude);
        const lon = Number(cf?.longitude);
        return cf?.latitude && cf.longitude && Number.isFinite(lat) && Number.isFinite(lon)
          ? { lat, lon, source: 'platform' as const }
          : undefined;
      },
      defaultPlace: { lat: Number(env.EDGE_DEFAULT_LAT ?? 0), lon: Number(env.EDGE_DEFAULT_LON ?? 0) },
    });
    return app.fetch(request);
  },
};
