/**
 * The edge: one Hono app, built from injected dependencies so the same code runs on Node
 * (workers/node.ts: directory and learned map from Redis) and on Cloudflare Workers (directory
 * from a snapshot endpoint). Versioned under /v1:
 *   POST /v1/allocate       standard WebRTC iceServers for the best relay and alternates
 *   POST /v1/measurements   clients report RTTs; they feed the learned per-prefix map
 *   POST /v1/calls/choice, /v1/calls/report   per-call direct or relay (routes/calls.ts)
 *   POST /v1/credentials/revoke, GET /v1/internal/directory   (admin and snapshot tokens)
 *   GET  /healthz, /readyz, /metrics, /v1/openapi.json
 * With a tenant store, /v1/allocate and /v1/measurements need an API key (Authorization: Bearer
 * or X-API-Key) and each key has its tenant's rate limit. Every error is problem JSON (RFC 9457).
 * Must not import relay/.
 */

import type { Context } from 'hono';
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import type { CallQualityStore } from '../src/allocation/call-store.ts';
import {
  INITIAL_INFLATION,
  inflationEvidence,
  networkPrefix,
  pathModelOf,
} from '../src/allocation/learned.ts';
import type { LearnedStore } from '../src/allocation/learned-store.ts';
import { DEFAULT_RANK, type Ranked, type RankOptions, rankRelays } from '../src/allocation/rank.ts';
import type { RoomStore } from '../src/allocation/rooms.ts';
import {
  createTurnCredential,
  MAX_TTL_SECONDS,
  parseTurnRestUsername,
} from '../src/credentials/turn-rest.ts';
import { timingSafeEqual, utf8Encode } from '../src/crypto/encoding.ts';
import { greatCircleKm } from '../src/directory/geo.ts';
import type { RelayRecord } from '../src/directory/types.ts';
import { authenticate, type Principal, type TenantStore } from '../src/tenants/api-keys.ts';
import { MemoryRateLimiter, type RateLimiter } from '../src/tenants/rate-limit.ts';
import type { DirectoryView } from './directory-cache.ts';
import { EdgeMetrics } from './edge-metrics.ts';
import { type ClientPlace, locateClient } from './geo.ts';
import { openApiDocument } from './openapi.ts';
import { registerCallRoutes } from './routes/calls.ts';
import {
  type AllocateBody,
  type MeasurementsBody,
  parseAllocate,
  parseMeasurements,
  parseRevoke,
} from './schemas.ts';

export interface EdgeDeps {
  /** Live relays (a plain list counts as fresh); may throw when the coordinator is away. */
  readonly relays: (now: number) => Promise<readonly RelayRecord[] | DirectoryView>;
  /** Learned per-prefix RTTs and the path inflation factor. */
  readonly learned: LearnedStore;
  /** Room affinity; without it every participant is ranked alone. */
  readonly rooms?: RoomStore | undefined;
  /** TURN REST secrets shared with the relays; the first signs. */
  readonly secrets: () => readonly string[];
  readonly credentialTtlSeconds: number;
  /** The client's IP as the edge sees it (socket address, or a header from a trusted proxy). */
  readonly clientIp: (c: Context) => string | undefined;
  /** Geo from the platform (Cloudflare's request.cf) or trusted CDN headers, if any. */
  readonly platformPlace?: (c: Context) => ClientPlace | undefined;
  /** Geo from a GeoIP database by client IP (Node: workers/geoip.ts); after the platform, before the hint. */
  readonly geoip?: ((ip: string) => { readonly lat: number; readonly lon: number } | undefined) | undefined;
  readonly defaultPlace: { readonly lat: number; readonly lon: number };
  readonly now?: () => number;
  readonly random?: () => number;
  /** Largest request body accepted, bytes. */
  readonly maxBodyBytes?: number;
  /** Serves GET /v1/internal/directory to Workers edges holding this bearer token. */
  readonly snapshotToken?: string | undefined;
  /** With an admin token: POST /v1/credentials/revoke records revocations here. */
  readonly revoke?: ((username: string, until: number) => Promise<void>) | undefined;
  readonly adminToken?: string | undefined;
  /** Browser origins allowed to call /v1 (CORS); none by default, '*' for any. */
  readonly corsOrigins?: readonly string[] | '*' | undefined;
  /** Tenants and API keys: with a store, /v1/allocate and /v1/measurements need a key. */
  readonly tenants?: TenantStore | undefined;
  /** Per-key rate limit state; in memory per process when not given. */
  readonly rateLimiter?: RateLimiter | undefined;
  /** Ranking knobs (exploration share, load knee, room slack...); DEFAULT_RANK otherwise. */
  readonly rank?: Partial<RankOptions> | undefined;
  /** Metrics for GET /metrics; one is made when not given. */
  readonly metrics?: EdgeMetrics | undefined;
  /** Per-call choice between direct and relay (routes/calls.ts); the routes exist only with it. */
  readonly calls?: CallQualityStore | undefined;
  /** The client's country for the per-call choice, if the platform or GeoIP says. */
  readonly clientCountry?: ((c: Context) => string | undefined) | undefined;
}

export function problem(
  c: Context,
  status: 400 | 401 | 404 | 413 | 415 | 422 | 429 | 500 | 503,
  title: string,
  detail: string,
  headers: Record<string, string> = {},
) {
  return c.body(JSON.stringify({ type: 'about:blank', title, status, detail }), status, {
    'content-type': 'application/problem+json',
    ...headers,
  });
}

/** STUN and TURN URLs of one relay: stun on its UDP address, then turn/turns as registered. */
function relayUrls(r: RelayRecord): string[] {
  const udp = r.turnUrls.find((u) => u.startsWith('turn:') && u.endsWith('?transport=udp'));
  const stun = udp ? [`stun:${udp.slice('turn:'.length, -'?transport=udp'.length)}`] : [];
  return [...stun, ...r.turnUrls];
}

const describeRanked = (r: Ranked) => ({
  id: r.relay.id,
  region: r.relay.region,
  predictedRttMs: Math.round(r.predictedRttMs * 10) / 10,
  basis: r.basis,
});

async function readJson(
  c: Context,
  limit: number,
): Promise<{ ok: true; value: unknown } | { ok: false; response: Response }> {
  const type = c.req.header('content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/json')) {
    return {
      ok: false,
      response: problem(c, 415, 'Unsupported media type', 'send the body as application/json'),
    };
  }
  const text = await c.req.text();
  if (new TextEncoder().encode(text).length > limit) {
    return {
      ok: false,
      response: problem(c, 413, 'Body too large', `the body may be at most ${limit} bytes`),
    };
  }
  if (text.trim() === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, response: problem(c, 400, 'Malformed JSON', (err as Error).message) };
  }
}

const asView = (r: readonly RelayRecord[] | DirectoryView, now: number): DirectoryView =>
  'relays' in r ? r : { relays: r, at: now, stale: false };

/** The API key a request carries, if any. */
function presentedKey(c: Context): string | undefined {
  const auth = c.req.header('authorization');
  if (auth?.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  return c.req.header('x-api-key')?.trim() || undefined;
}

/** Whether the request carries `Authorization: Bearer <token>`, compared in constant time. */
function bearerIs(c: Context, token: string): boolean {
  const sent = utf8Encode(c.req.header('authorization') ?? '');
  const want = utf8Encode(`Bearer ${token}`);
  return timingSafeEqual(sent, want);
}

type Env = { Variables: { principal: Principal | undefined } };

export function createEdgeApp(deps: EdgeDeps): Hono<Env> {
  const app = new Hono<Env>();
  const now = deps.now ?? (() => Date.now());
  const random = deps.random ?? Math.random;
  const limit = deps.maxBodyBytes ?? 16_384;
  const metrics = deps.metrics ?? new EdgeMetrics();
  const rankOptions: RankOptions = { ...DEFAULT_RANK, ...deps.rank };
  const limiter = deps.rateLimiter ?? new MemoryRateLimiter();
  const directory = async (t: number) => asView(await deps.relays(t), t);

  app.use('*', async (c, next) => {
    const start = performance.now();
    await next();
    const route = c.req.routePath === '/*' ? 'unmatched' : c.req.routePath;
    metrics.requests.inc({ route, status: String(c.res.status) });
    metrics.duration.observe({ route }, (performance.now() - start) / 1000);
  });

  if (deps.corsOrigins) {
    const origins = deps.corsOrigins;
    app.use(
      '/v1/*',
      cors({
        origin: origins === '*' ? '*' : [...origins],
        allowMethods: ['GET', 'POST', 'OPTIONS'],
        allowHeaders: ['content-type', 'authorization', 'x-api-key'],
        exposeHeaders: ['retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'],
        maxAge: 600,
      }),
    );
  }
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/metrics', (c) =>
    c.body(metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }),
  );

  // API keys and the per-key rate limit, on the routes clients call.
  const tenants = deps.tenants;
  const guard = async (c: Context<Env>, next: () => Promise<void>) => {
    if (!tenants) return next();
    let auth: Awaited<ReturnType<typeof authenticate>>;
    try {
      auth = await authenticate(tenants, presentedKey(c));
    } catch (err) {
      return problem(c, 503, 'Key store unavailable', (err as Error).message, { 'retry-after': '5' });
    }
    if (!auth.ok) {
      const detail =
        auth.reason === 'missing'
          ? 'send your API key as "Authorization: Bearer rbk_..." or "X-API-Key: rbk_..."'
          : `${auth.detail}; check the key, or ask the operator for a new one`;
      return problem(c, 401, 'Invalid API key', detail, { 'www-authenticate': 'Bearer' });
    }
    const { principal } = auth;
    const { tenant } = principal;
    const t = now();
    // A limiter that cannot answer lets the request through: refusing every client because the
    // coordinator blinked would be worse than a short unmetered spell.
    const d = await limiter.take(principal.keyId, tenant, t).catch(() => undefined);
    if (d) {
      c.header('ratelimit-limit', String(tenant.burst));
      c.header('ratelimit-remaining', String(d.remaining));
      c.header('ratelimit-reset', String(Math.ceil(Math.max(d.retryAfterMs, d.tat - t) / 1000)));
      if (!d.allowed) {
        metrics.rateLimited.inc();
        const wait = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
        return problem(
          c,
          429,
          'Rate limit exceeded',
          `key ${principal.keyId} may make ${tenant.ratePerSecond} requests per second (bursts of ${tenant.burst}); retry in ${wait} s`,
          { 'retry-after': String(wait) },
        );
      }
    }
    c.set('principal', principal);
    return next();
  };
  app.use('/v1/allocate', guard);
  app.use('/v1/measurements', guard);
  app.use('/v1/calls/*', guard);

  const document = openApiDocument();
  app.get('/v1/openapi.json', (c) => c.json(document));
  app.get('/readyz', async (c) => {
    try {
      const view = await directory(now());
      return c.json({ ready: true, relays: view.relays.length, stale: view.stale });
    } catch (err) {
      return problem(c, 503, 'Directory unavailable', (err as Error).message, { 'retry-after': '5' });
    }
  });

  if (deps.snapshotToken) {
    const token = deps.snapshotToken;
    app.get('/v1/internal/directory', async (c) => {
      if (!bearerIs(c, token)) {
        return problem(c, 401, 'Unauthorized', 'send Authorization: Bearer <snapshot token>');
      }
      try {
        const view = await directory(now());
        const keys = tenants
          ? { tenants: await tenants.listTenants(), apiKeys: await tenants.listKeys() }
          : undefined;
        return c.json({ at: view.at, stale: view.stale, relays: view.relays, ...keys }, 200, {
          'cache-control': 'no-store',
        });
      } catch (err) {
        return problem(c, 503, 'Directory unavailable', (err as Error).message, { 'retry-after': '5' });
      }
    });
  }

  if (deps.revoke && deps.adminToken) {
    const { revoke, adminToken } = deps;
    app.post('/v1/credentials/revoke', async (c) => {
      if (!bearerIs(c, adminToken)) {
        return problem(c, 401, 'Unauthorized', 'send Authorization: Bearer <admin token>');
      }
      const body = await readJson(c, limit);
      if (!body.ok) return body.response;
      const r = parseRevoke(body.value);
      if (!r.ok) return problem(c, 422, 'Invalid request', r.error);
      const v = r.value;
      const parsed = parseTurnRestUsername(v.username);
      // A REST username says when it expires; keep other revocations as long as the longest credential.
      const until = parsed.ok ? parsed.expiry * 1000 : now() + MAX_TTL_SECONDS * 1000;
      try {
        await revoke(v.username, until);
      } catch (err) {
        return problem(c, 503, 'Directory unavailable', (err as Error).message, { 'retry-after': '5' });
      }
      return c.json({ revoked: v.username, until });
    });
  }

  app.post('/v1/allocate', async (c) => {
    const body = await readJson(c, limit);
    if (!body.ok) return body.response;
    const parsed = parseAllocate(body.value);
    if (!parsed.ok) return problem(c, 422, 'Invalid request', parsed.error);
    const req: AllocateBody = parsed.value;
    const t = now();
    let view: DirectoryView;
    try {
      view = await directory(t);
    } catch (err) {
      return problem(c, 503, 'Directory unavailable', (err as Error).message, { 'retry-after': '5' });
    }
    const ip = deps.clientIp(c);
    const prefix = ip ? networkPrefix(ip) : undefined;
    const geo = ip ? deps.geoip?.(ip) : undefined;
    const place = locateClient(deps.platformPlace?.(c), geo, req.location, deps.defaultPlace);
    // The learned map and rooms share the coordinator: without them, rank on what is left.
    const learned = prefix ? await deps.learned.get(prefix, t).catch(() => new Map()) : new Map();
    const model = await deps.learned.pathModel(t).catch(() => pathModelOf(INITIAL_INFLATION));
    const roomRelay =
      req.room && deps.rooms ? await deps.rooms.get(req.room, t).catch(() => undefined) : undefined;
    const ranked = rankRelays(
      {
        relays: view.relays,
        location: place,
        probes: new Map(req.probes.map((p) => [p.relay, p.rttMs])),
        learned,
        inflation: model.inflation,
        accessMs: model.accessMs,
        preferredRegion: req.region,
        roomRelay,
      },
      random,
      rankOptions,
    );
    if (!ranked.chosen)
      return problem(c, 503, 'No relay available', 'every relay is draining, full or unknown', {
        'retry-after': '5',
      });
    if (req.room && deps.rooms && ranked.chosen.relay.id !== roomRelay) {
      await deps.rooms.set(req.room, ranked.chosen.relay.id, t).catch(() => undefined);
    }
    const secret = deps.secrets()[0];
    if (!secret) return problem(c, 500, 'Edge misconfigured', 'no TURN secret configured');
    const cred = await createTurnCredential({
      secret,
      nowSeconds: Math.floor(t / 1000),
      ttlSeconds: deps.credentialTtlSeconds,
      tenant: c.get('principal')?.tenant.id ?? 'default',
      userId: req.room ?? undefined,
    });
    metrics.allocations.inc({ basis: ranked.chosen.basis, source: place.source });
    if (view.stale) metrics.staleAnswers.inc();
    const picks = [ranked.chosen, ...ranked.alternates];
    return c.json({
      iceServers: picks.map((r) => ({
        urls: relayUrls(r.relay),
        username: cred.username,
        credential: cred.credential,
      })),
      relay: { ...describeRanked(ranked.chosen), reason: ranked.reason },
      alternates: ranked.alternates.map(describeRanked),
      ttl: deps.credentialTtlSeconds,
      expiresAt: cred.expiresAt,
      location: { source: place.source, lat: place.lat, lon: place.lon },
      prefix,
      directory: { stale: view.stale, ageMs: Math.max(0, t - view.at) },
      probeTargets: ranked.probeTargets.map((r) => ({
        id: r.id,
        stun: relayUrls(r).find((u) => u.startsWith('stun:')),
        ping: r.pingUrl,
      })),
    });
  });

  app.post('/v1/measurements', async (c) => {
    const body = await readJson(c, limit);
    if (!body.ok) return body.response;
    const parsed = parseMeasurements(body.value);
    if (!parsed.ok) return problem(c, 422, 'Invalid request', parsed.error);
    const m: MeasurementsBody = parsed.value;
    const t = now();
    const ip = deps.clientIp(c);
    const prefix = ip ? networkPrefix(ip) : undefined;
    if (!prefix)
      return problem(c, 400, 'Unknown client address', 'the edge could not tell the client network');
    let known: Map<string, RelayRecord>;
    try {
      known = new Map((await directory(t)).relays.map((r) => [r.id, r]));
    } catch (err) {
      return problem(c, 503, 'Directory unavailable', (err as Error).message, { 'retry-after': '5' });
    }
    const unknown = m.probes.filter((p) => !known.has(p.relay)).map((p) => p.relay);
    if (unknown.length > 0)
      return problem(
        c,
        422,
        'Unknown relay',
        `no relay named ${unknown.join(', ')}; report only relays from probeTargets`,
      );
    // Only a place the platform or a GeoIP database vouches for says how far the packets went.
    const place = deps.platformPlace?.(c) ?? (ip ? deps.geoip?.(ip) : undefined);
    try {
      for (const p of m.probes) await deps.learned.record(prefix, p.relay, p.rttMs, t);
      const evidence = place
        ? inflationEvidence(
            m.probes.map((p) => {
              const r = known.get(p.relay)!;
              return { rttMs: p.rttMs, km: greatCircleKm(place.lat, place.lon, r.lat, r.lon) };
            }),
          )
        : undefined;
      if (evidence) await deps.learned.recordPathEvidence(evidence, t);
    } catch (err) {
      return problem(c, 503, 'Learned map unavailable', (err as Error).message, { 'retry-after': '5' });
    }
    metrics.measurements.inc({}, m.probes.length);
    return c.json({ accepted: m.probes.length, prefix });
  });

  if (deps.calls)
    registerCallRoutes(app, {
      store: deps.calls,
      clientIp: deps.clientIp,
      country: deps.clientCountry,
      now,
      random,
      limit,
    });

  app.notFound((c) => problem(c, 404, 'Not found', `no route ${c.req.method} ${c.req.path}`));
  app.onError((err, c) => problem(c, 500, 'Internal error', err.message));
  return app;
}
