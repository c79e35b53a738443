/**
 * The edge: one Hono app, built from injected dependencies so the same code runs on Node
 * (workers/node.ts: directory and learned map from Redis) and on Cloudflare Workers (directory
 * from a snapshot endpoint). Versioned under /v1:
 *   POST /v1/allocate       standard WebRTC iceServers for the chosen relay (more when asked),
 *                           alternates for a reconnect
 *   POST /v1/measurements   clients report RTTs; they feed the learned per-prefix map
 *   POST /v1/calls/choice, /v1/calls/report   per-call direct or relay (routes/calls.ts)
 *   POST /v1/credentials/revoke, GET /v1/internal/directory   (admin and snapshot tokens)
 *   GET  /healthz, /readyz, /metrics, /v1/openapi.json, /docs (the API reference page)
 *   GET  /dashboard, /v1/admin/topology[/events]   (admin token; workers/dashboard.ts)
 * With a tenant store, /v1/allocate and /v1/measurements need an API key (Authorization: Bearer
 * or X-API-Key) and each key has its tenant's rate limit; failed key attempts are limited per
 * client address. Without one, each client address has a rate limit (workers/abuse-limits.ts).
 * Every error is problem JSON (RFC 9457). Must not import relay/.
 */

import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { cors } from 'hono/cors';
import { offersAny, relayIceUrls, relayStunUrl, splitPicks, TRANSPORTS } from '../src/allocation/answer.ts';
import type { CallQualityStore } from '../src/allocation/call-store.ts';
import {
  areaKey,
  areaSamples,
  INITIAL_INFLATION,
  inflationEvidence,
  networkPrefix,
  onePerRelay,
  pathModelOf,
  sourceOf,
} from '../src/allocation/learned.ts';
import type { LearnedStore } from '../src/allocation/learned-store.ts';
import { ProbeTickets } from '../src/allocation/probe-ticket.ts';
import { DEFAULT_RANK, linkRtts, type Ranked, type RankOptions, rankRelays } from '../src/allocation/rank.ts';
import type { RoomStore } from '../src/allocation/rooms.ts';
import { type RevocationTarget, revocationFields } from '../src/credentials/revocation.ts';
import {
  createTurnCredential,
  MAX_TTL_SECONDS,
  parseTurnRestUsername,
} from '../src/credentials/turn-rest.ts';
import { type EdgeCrypto, WEB_EDGE_CRYPTO } from '../src/crypto/edge-crypto.ts';
import { timingSafeEqual, toHex, utf8Encode } from '../src/crypto/encoding.ts';
import { greatCircleKm } from '../src/directory/geo.ts';
import type { LinkRecord, RelayRecord } from '../src/directory/types.ts';
import { sourceKey } from '../src/limits/connection-limiter.ts';
import { type SourceLimit, SourceLimiter } from '../src/limits/source-limiter.ts';
import type { Principal, RateLimit, TenantStore } from '../src/tenants/api-keys.ts';
import { authenticateCaller, tokenKey } from '../src/tenants/client-token.ts';
import { MemoryRateLimiter, type RateLimiter } from '../src/tenants/rate-limit.ts';
import { resolveTtl, ttlBounds } from '../src/tenants/ttl.ts';
import { DEFAULT_ADDRESS_LIMIT, DEFAULT_FAILED_KEY_LIMIT } from './abuse-limits.ts';
import type { AllocateAnswer, Answer, MeasurementsAnswer, RevokeAnswer } from './answers.ts';
import { renderApiDocs } from './api-docs.ts';
import {
  allocateRoute,
  callChoiceRoute,
  callReportRoute,
  healthRoute,
  measurementsRoute,
  readyRoute,
  revokeRoute,
  tokensRoute,
} from './api-routes.ts';
import {
  BODY_READER,
  type BodyReader,
  type BoundBodyReader,
  declaredTooLarge,
  webBodyReader,
} from './body.ts';
import { type DashboardAssets, mountDashboard } from './dashboard.ts';
import type { DirectoryView } from './directory-cache.ts';
import { EdgeMetrics } from './edge-metrics.ts';
import { type ClientPlace, locateClient } from './geo.ts';
import { openApiDocument, registerDocumentation } from './openapi.ts';
import { bodyTooLarge, errorResponse, problem, unavailable } from './problems.ts';
import { registerCallRoutes } from './routes/calls.ts';
import {
  type AllocateBody,
  AllocateRequest,
  MeasurementsRequest,
  type RevokeBody,
  RevokeRequest,
} from './schemas.ts';
import { mountTokens } from './tokens.ts';
import type { TopologyWatcher } from './topology-watcher.ts';
import { invalidRequest, validJson } from './validation.ts';

export { problem } from './problems.ts';

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
  /**
   * The platform's keyed hashes for credentials, probe tickets and API keys: node:crypto on the
   * Node edge (workers/node-crypto.ts), Web Crypto when absent (Workers).
   */
  readonly crypto?: EdgeCrypto | undefined;
  /** Signs probe tickets; derived from the first TURN secret when absent (EDGE_PROBE_KEY). */
  readonly probeKey?: string | undefined;
  /** Where internal errors go (the operator's log); never to the client. Ignored when absent. */
  readonly report?: ((err: unknown, where: string) => void) | undefined;
  /** Largest request body accepted, bytes: checked from Content-Length and while streaming. */
  readonly maxBodyBytes?: number;
  /**
   * Reads request bodies within that limit: from the socket on the Node edge
   * (workers/node-body.ts), the standard Request stream when absent (Workers).
   */
  readonly readBody?: BodyReader | undefined;
  /** Serves GET /v1/internal/directory to Workers edges holding this bearer token. */
  readonly snapshotToken?: string | undefined;
  /** The backbone's links, served with the snapshot so Workers edges can show the topology. */
  readonly snapshotLinks?: ((now: number) => Promise<readonly LinkRecord[]>) | undefined;
  /**
   * The backbone's links (the directory's, cached by the entry): with them the answer to a
   * client's probes names a second round of probe targets, the relays its probes and the links
   * cannot rule out (src/allocation/rank.ts `nextProbeTargetsOf`). Read only for requests with
   * probes; the same array is turned into a lookup once.
   */
  readonly links?: ((now: number) => Promise<readonly LinkRecord[]>) | undefined;
  /** With an admin token: POST /v1/credentials/revoke records revocations here (until: unix ms). */
  readonly revoke?: ((target: RevocationTarget, until: number) => Promise<void>) | undefined;
  readonly adminToken?: string | undefined;
  /** Browser origins allowed to call /v1 (CORS); none by default, '*' for any. */
  readonly corsOrigins?: readonly string[] | '*' | undefined;
  /** Tenants and API keys: with a store, /v1/allocate and /v1/measurements need a key. */
  readonly tenants?: TenantStore | undefined;
  /** Per-key rate limit state; in memory per process when not given. */
  readonly rateLimiter?: RateLimiter | undefined;
  /** Without a tenant store: the rate limit per client address (IPv6: per /64); 'off' for none. */
  readonly addressLimit?: RateLimit | 'off' | undefined;
  /** Failed API key attempts per client address, counted in this process. */
  readonly failedKeyLimit?: SourceLimit | undefined;
  /** Ranking knobs (exploration share, load knee, room slack...); DEFAULT_RANK otherwise. */
  readonly rank?: Partial<RankOptions> | undefined;
  /** Metrics for GET /metrics; one is made when not given. */
  readonly metrics?: EdgeMetrics | undefined;
  /** With an admin token: the live view of the backbone (GET /dashboard, /v1/admin/topology). */
  readonly dashboard?: {
    readonly watcher: TopologyWatcher;
    readonly assets?: DashboardAssets | (() => Promise<DashboardAssets | undefined>) | undefined;
  };
  /** Per-call choice between direct and relay (routes/calls.ts); the routes exist only with it. */
  readonly calls?: CallQualityStore | undefined;
  /** The client's country for the per-call choice, if the platform or GeoIP says. */
  readonly clientCountry?: ((c: Context) => string | undefined) | undefined;
}

/**
 * 16 hex digits from the platform's CSPRNG (Workers and Node alike), taken from a pool filled 512
 * ids at a time: one getRandomValues call costs far more than the 8 bytes it gives.
 */
const idPool = new Uint8Array(4096);
let idAt = idPool.length;
function randomClientId(): string {
  if (idAt + 8 > idPool.length) {
    crypto.getRandomValues(idPool);
    idAt = 0;
  }
  idAt += 8;
  return toHex(idPool.subarray(idAt - 8, idAt));
}

const describeRanked = (r: Ranked) => ({
  id: r.relay.id,
  region: r.relay.region,
  predictedRttMs: Math.round(r.predictedRttMs * 10) / 10,
  basis: r.basis,
});

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

export type EdgeApp = OpenAPIHono<Env>;

/** The reference page has no script and only its own inline style. */
const API_DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/** The revocation a valid body names (the schema already refused every other shape). */
function revocation(b: RevokeBody): { target: RevocationTarget; seconds: number | undefined } {
  const target: RevocationTarget =
    b.username !== undefined
      ? { kind: 'username', username: b.username }
      : b.client !== undefined
        ? { kind: 'client', tenant: b.tenant!, client: b.client }
        : { kind: 'tenant', tenant: b.tenant! };
  return { target, seconds: b.seconds };
}

export function createEdgeApp(deps: EdgeDeps): EdgeApp {
  // Validation failures answer problem JSON with one sentence (workers/validation.ts).
  const app = new OpenAPIHono<Env>({ defaultHook: invalidRequest });
  const now = deps.now ?? (() => Date.now());
  const random = deps.random ?? Math.random;
  const limit = deps.maxBodyBytes ?? 16_384;
  const metrics = deps.metrics ?? new EdgeMetrics();
  const rankOptions: RankOptions = { ...DEFAULT_RANK, ...deps.rank };
  const limiter = deps.rateLimiter ?? new MemoryRateLimiter();
  const directory = async (t: number) => asView(await deps.relays(t), t);
  // Probe tickets: EDGE_PROBE_KEY, else a key derived from the signing TURN secret.
  const edgeCrypto = deps.crypto ?? WEB_EDGE_CRYPTO;
  const byKey = deps.probeKey ? ProbeTickets.fromKey(deps.probeKey, edgeCrypto) : undefined;
  const bySecret = new Map<string, ProbeTickets>();
  const tickets = (secret: string): ProbeTickets => {
    if (byKey) return byKey;
    let t = bySecret.get(secret);
    if (!t) {
      if (bySecret.size >= 8) bySecret.clear(); // a handful of secrets at most, during rotation
      t = ProbeTickets.fromSecret(secret, edgeCrypto);
      bySecret.set(secret, t);
    }
    return t;
  };
  // The links as a lookup, rebuilt only when the entry hands over another array.
  let linkLookup: { from: readonly LinkRecord[]; map: ReturnType<typeof linkRtts> } | undefined;
  const linksNow = async (t: number) => {
    const list = await deps.links?.(t).catch(() => undefined);
    if (!list) return undefined;
    if (linkLookup?.from !== list) linkLookup = { from: list, map: linkRtts(list) };
    return linkLookup.map;
  };
  /** The ticket when it is valid and for this network; tickets of any current secret count. */
  const checkTicket = async (token: string, prefix: string, t: number) => {
    const signers = byKey ? [byKey] : deps.secrets().map(tickets);
    for (const signer of signers) {
      const ticket = await signer.check(token, t);
      if (ticket) return ticket.prefix === prefix ? ticket : undefined;
    }
    return undefined;
  };

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
  // Before anything reads it: a Content-Length over the limit is refused unread; a body without
  // one is counted while it streams, by the reader validJson calls (workers/body.ts).
  const readBody = deps.readBody ?? webBodyReader;
  app.use('/v1/*', (c, next) => {
    if (declaredTooLarge(c.req.header('content-length'), limit)) throw bodyTooLarge(limit);
    (c.set as (key: string, read: BoundBodyReader) => void)(BODY_READER, () => readBody(c, limit));
    return next();
  });
  app.openapi(healthRoute, (c) => c.json({ status: 'ok' as const }, 200));
  app.get('/metrics', (c) =>
    c.body(metrics.render(), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }),
  );

  // API keys and the per-key rate limit, on the routes clients call.
  const tenants = deps.tenants;
  // Client tokens are signed with keys derived from the TURN secrets (src/tenants/client-token.ts);
  // derive once per secret list, not per request.
  let derived: { from: string; keys: Promise<Uint8Array[]> } | undefined;
  const tokenKeys = (): Promise<Uint8Array[]> => {
    const secrets = deps.secrets();
    const from = secrets.join('\n');
    if (derived?.from !== from) derived = { from, keys: Promise.all(secrets.map(tokenKey)) };
    return derived.keys;
  };
  const addressLimit = deps.addressLimit ?? DEFAULT_ADDRESS_LIMIT;
  const failures = new SourceLimiter(deps.failedKeyLimit ?? DEFAULT_FAILED_KEY_LIMIT);
  const guard = async (c: Context<Env>, next: () => Promise<void>) => {
    const source = sourceKey(deps.clientIp(c) ?? 'unknown');
    if (!tenants) return addressLimit === 'off' ? next() : limitAddress(c, source, addressLimit, next);
    if (failures.blocked(source, now())) {
      metrics.refused.inc({ reason: 'failed_key_attempts' });
      const wait = Math.max(1, Math.ceil(failures.retryAfterMs(source, now()) / 1000));
      return problem(c, 429, 'Too many failed API key attempts', `retry in ${wait} s`, {
        'retry-after': String(wait),
      });
    }
    let auth: Awaited<ReturnType<typeof authenticateCaller>>;
    try {
      auth = await authenticateCaller(tenants, presentedKey(c), {
        now: now(),
        origin: c.req.header('origin'),
        tokenKeys,
        crypto: edgeCrypto,
      });
    } catch (err) {
      throw unavailable('Key store unavailable', err);
    }
    if (!auth.ok) {
      if (auth.reason !== 'missing') failures.take(source, now());
      if (auth.reason === 'origin') return problem(c, 403, 'Origin not allowed', auth.detail);
      const detail =
        auth.reason === 'missing'
          ? 'send your API key as "Authorization: Bearer rbk_..." or "X-API-Key: rbk_...", or a client token from POST /v1/tokens'
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
  const limitAddress = async (
    c: Context<Env>,
    source: string,
    rate: RateLimit,
    next: () => Promise<void>,
  ) => {
    // As for keys: a limiter that cannot answer lets the request through.
    const d = await limiter.take(`addr:${source}`, rate, now()).catch(() => undefined);
    if (d && !d.allowed) {
      metrics.refused.inc({ reason: 'address_rate_limit' });
      const wait = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
      return problem(
        c,
        429,
        'Rate limit exceeded',
        `each address may make ${rate.ratePerSecond} requests per second (bursts of ${rate.burst}); retry in ${wait} s`,
        { 'retry-after': String(wait) },
      );
    }
    return next();
  };
  app.use('/v1/allocate', guard);
  app.use('/v1/measurements', guard);
  if (tenants) {
    app.use('/v1/tokens', guard);
    mountTokens(app, {
      tenants,
      signingKey: async () => (await tokenKeys())[0],
      now,
      newClientId: randomClientId,
    });
  }
  app.use('/v1/calls/*', guard);

  app.openapi(readyRoute, async (c) => {
    try {
      const view = await directory(now());
      return c.json({ ready: true, relays: view.relays.length, stale: view.stale }, 200);
    } catch (err) {
      throw unavailable('Directory unavailable', err);
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
        // Links are for the dashboard only: a snapshot without them still serves allocations.
        const links = await deps.snapshotLinks?.(now()).catch(() => undefined);
        const body = {
          at: view.at,
          stale: view.stale,
          relays: view.relays,
          ...keys,
          ...(links ? { links } : {}),
        };
        return c.json(body, 200, {
          'cache-control': 'no-store',
        });
      } catch (err) {
        throw unavailable('Directory unavailable', err);
      }
    });
  }

  if (deps.dashboard && deps.adminToken) {
    const { watcher, assets } = deps.dashboard;
    mountDashboard(app, { adminToken: deps.adminToken, watcher, assets, now });
  }

  if (deps.revoke && deps.adminToken) {
    const { revoke, adminToken } = deps;
    // The token is checked before the body is read or validated.
    app.use('/v1/credentials/revoke', async (c, next) => {
      if (!bearerIs(c, adminToken)) {
        return problem(c, 401, 'Unauthorized', 'send Authorization: Bearer <admin token>');
      }
      return next();
    });
    app.openAPIRegistry.registerPath(revokeRoute);
    app.post('/v1/credentials/revoke', validJson(RevokeRequest), async (c) => {
      const { target, seconds } = revocation(c.req.valid('json'));
      // By default a revocation stands as long as the longest credential the edge issues (which is
      // also the longest --max-allocation-age a relay accepts), so a relay that was away from the
      // coordinator when it was made still learns it; a username at least until it expires.
      let until = now() + (seconds ?? MAX_TTL_SECONDS) * 1000;
      if (target.kind === 'username') {
        const parsed = parseTurnRestUsername(target.username);
        if (parsed.ok) until = Math.max(until, parsed.expiry * 1000);
      }
      try {
        await revoke(target, until);
      } catch (err) {
        throw unavailable('Directory unavailable', err);
      }
      return c.json({ revoked: revocationFields(target), until } satisfies Answer<typeof RevokeAnswer>, 200);
    });
  }

  app.openAPIRegistry.registerPath(allocateRoute);
  app.post('/v1/allocate', validJson(AllocateRequest), async (c) => {
    let req: AllocateBody = c.req.valid('json');
    // A client token scopes its holder to one room when it names one.
    const scope = c.get('principal')?.token;
    if (scope?.room !== undefined) {
      if (req.room !== undefined && req.room !== scope.room)
        return problem(c, 403, 'Room not allowed', `this client token is for room "${scope.room}" only`);
      req = { ...req, room: scope.room };
    }
    const tenant = c.get('principal')?.tenant;
    const tenantId = tenant?.id ?? 'default';
    const edgeTtl = deps.credentialTtlSeconds;
    const ttl = resolveTtl(req.ttl, ttlBounds(tenant, edgeTtl), edgeTtl, tenantId);
    if (!ttl.ok) return problem(c, 422, 'Invalid request', ttl.error);
    const t = now();
    let view: DirectoryView;
    try {
      view = await directory(t);
    } catch (err) {
      throw unavailable('Directory unavailable', err);
    }
    const ip = deps.clientIp(c);
    const prefix = ip ? networkPrefix(ip) : undefined;
    const geo = ip ? deps.geoip?.(ip) : undefined;
    const place = locateClient(deps.platformPlace?.(c), geo, req.location, deps.defaultPlace);
    // The learned map and rooms share the coordinator: without them, rank on what is left.
    const learned = prefix ? await deps.learned.get(prefix, t).catch(() => new Map()) : new Map();
    // What neighbours' probes found (by a place the platform or GeoIP vouches for): probe targets only.
    const vouched = deps.platformPlace?.(c) ?? geo;
    const areaLearned = vouched
      ? await deps.learned.get(areaKey(vouched.lat, vouched.lon), t).catch(() => new Map())
      : new Map();
    const model = await deps.learned.pathModel(t).catch(() => pathModelOf(INITIAL_INFLATION));
    // Rooms are per tenant: another tenant's room of the same name is another room.
    const roomKey = req.room && deps.rooms ? `${tenantId}:${req.room}` : undefined;
    const pinned = roomKey ? await deps.rooms?.get(roomKey, t).catch(() => undefined) : undefined;
    // Probes rank this answer whether ticketed or not: they move only this client's own choice,
    // and it could pick any relay from its alternates anyway. Only ticketed ones pin a room.
    const probes = onePerRelay(req.probes);
    const ticket = req.probeTicket && prefix ? await checkTicket(req.probeTicket, prefix, t) : undefined;
    // The backbone's links name a second round of probe targets once the client has probed.
    const links = probes.size > 0 ? await linksNow(t) : undefined;
    // Only relays that speak one of the asked transports are ranked.
    const offering = view.relays.filter((r) => offersAny(r, req.transports));
    // The pin holds while its relay is in the directory and not draining (a full one is skipped).
    const roomRelay =
      pinned && view.relays.some((r) => r.id === pinned && r.state === 'active') ? pinned : undefined;
    if (offering.length === 0 && view.relays.length > 0)
      return problem(
        c,
        422,
        'No relay offers these transports',
        `no relay offers ${req.transports.join(' or ')}; ask for other transports (of ${TRANSPORTS.join(', ')})`,
      );
    const ranked = rankRelays(
      {
        relays: offering,
        location: place,
        probes,
        learned,
        areaLearned,
        links,
        inflation: model.inflation,
        accessMs: model.accessMs,
        preferredRegion: req.region,
        roomRelay,
      },
      random,
      // Enough alternates to fill the asked relays and still keep the usual ones for a reconnect.
      { ...rankOptions, alternates: req.relays - 1 + rankOptions.alternates },
    );
    if (!ranked.chosen)
      return problem(c, 503, 'No relay available', 'every relay is draining, full or unknown', {
        'retry-after': '5',
      });
    const secret = deps.secrets()[0];
    if (!secret) return problem(c, 500, 'Edge misconfigured', 'no TURN secret configured');
    // A room is pinned once: a live pin is only kept alive; a room without one (or whose relay
    // left or drains) is pinned to this answer, unless it rests on an unticketed probe.
    const chosenId = ranked.chosen.relay.id;
    const trusted = ranked.chosen.basis !== 'probe' || (ticket?.relays.has(chosenId) ?? false);
    if (roomKey && (roomRelay || trusted))
      await deps.rooms
        ?.pin(roomKey, roomRelay ?? chosenId, t, roomRelay ? undefined : pinned)
        .catch(() => undefined);
    // One client id per call (or the app's name for its user): clients never share a username,
    // its quota or its revocation (`expiry:tenant:client`, draft-uberti-behave-turn-rest-00 §2.2).
    // A client token names its client: the page may not speak for another.
    if (scope && req.user !== undefined && req.user !== scope.client)
      return problem(c, 403, 'User not allowed', `this client token is for client "${scope.client}" only`);
    const client = scope?.client ?? req.user ?? randomClientId();
    // The credential and the probe ticket are signed side by side (with Web Crypto, two calls at once).
    // Before probing: the first round's targets. After: the second round's (none when its probes
    // leave nothing to try), under a ticket that also covers the relays of the ticket it came
    // with, so the client reports both rounds with this one.
    const targets = probes.size > 0 ? ranked.nextProbeTargets : ranked.probeTargets;
    const covered = new Set([...(ticket?.relays ?? []), ...targets.map((r) => r.id)]);
    const [cred, probeTicket] = await Promise.all([
      createTurnCredential(
        {
          secret,
          nowSeconds: Math.floor(t / 1000),
          ttlSeconds: ttl.value,
          tenant: tenantId,
          userId: client,
        },
        edgeCrypto,
      ),
      prefix ? tickets(secret).issue(prefix, [...covered], t) : undefined,
    ]);
    metrics.allocations.inc({ basis: ranked.chosen.basis, source: place.source });
    deps.dashboard?.watcher.decisions.record(ranked.chosen.basis, t);
    if (view.stale) metrics.staleAnswers.inc();
    // One relay per answer unless asked: a relay-only browser allocates on every TURN URL it is
    // given. The next relays travel as alternates, each with a ready RTCIceServer (same credential)
    // for a reconnect while the credential lasts; after expiresAt the client asks again.
    const picks = splitPicks([ranked.chosen, ...ranked.alternates], req.relays, rankOptions.alternates);
    const iceServer = (r: Ranked) => ({
      urls: relayIceUrls(r.relay, req.transports),
      username: cred.username,
      credential: cred.credential,
    });
    return c.json(
      {
        iceServers: picks.served.map(iceServer),
        relay: { ...describeRanked(ranked.chosen), reason: ranked.reason },
        alternates: picks.alternates.map((r) => ({ ...describeRanked(r), iceServer: iceServer(r) })),
        transports: req.transports,
        ttl: ttl.value,
        expiresAt: cred.expiresAt,
        client,
        location: { source: place.source, lat: place.lat, lon: place.lon },
        prefix,
        directory: { stale: view.stale, ageMs: Math.max(0, t - view.at) },
        probeTicket,
        probeTargets: targets.map((r) => ({
          id: r.id,
          stun: relayStunUrl(r),
          ping: r.pingUrl,
        })),
      } satisfies Answer<typeof AllocateAnswer>,
      200,
    );
  });

  app.openAPIRegistry.registerPath(measurementsRoute);
  app.post('/v1/measurements', validJson(MeasurementsRequest), async (c) => {
    const m = c.req.valid('json');
    const t = now();
    const ip = deps.clientIp(c);
    const prefix = ip ? networkPrefix(ip) : undefined;
    if (!prefix)
      return problem(c, 400, 'Unknown client address', 'the edge could not tell the client network');
    let known: Map<string, RelayRecord>;
    try {
      known = new Map((await directory(t)).relays.map((r) => [r.id, r]));
    } catch (err) {
      throw unavailable('Directory unavailable', err);
    }
    const unknown = m.probes.filter((p) => !known.has(p.relay)).map((p) => p.relay);
    if (unknown.length > 0)
      return problem(
        c,
        422,
        'Unknown relay',
        `no relay named ${unknown.join(', ')}; report only relays from probeTargets`,
      );
    // Only RTTs to relays this edge asked this network to probe, recently, are learned.
    if (!m.probeTicket)
      return problem(
        c,
        422,
        'Probe ticket required',
        'send the probeTicket of the /v1/allocate answer whose probeTargets you measured',
      );
    const ticket = await checkTicket(m.probeTicket, prefix, t);
    if (!ticket)
      return problem(
        c,
        422,
        'Invalid probe ticket',
        'the probe ticket is expired, altered or for another network; ask /v1/allocate for a new one',
      );
    // One sample per relay per request, and only for the ticket's relays.
    const rtts = [...onePerRelay(m.probes)];
    const accepted = rtts.filter(([relay]) => ticket.relays.has(relay));
    const ignored = rtts.filter(([relay]) => !ticket.relays.has(relay)).map(([relay]) => relay);
    const source = ip ? sourceOf(ip) : undefined;
    // Only a place the platform or a GeoIP database vouches for says how far the packets went.
    const place = deps.platformPlace?.(c) ?? (ip ? deps.geoip?.(ip) : undefined);
    try {
      for (const [relay, rttMs] of accepted) await deps.learned.record(prefix, relay, rttMs, t, source);
      // The area's map: each RTT less this round's best, one voice per network (the window's sources).
      if (place)
        for (const [relay, behind] of areaSamples(new Map(accepted)))
          await deps.learned.record(areaKey(place.lat, place.lon), relay, behind, t, prefix);
      const evidence = place
        ? inflationEvidence(
            accepted.map(([relay, rttMs]) => {
              const r = known.get(relay)!;
              return { rttMs, km: greatCircleKm(place.lat, place.lon, r.lat, r.lon) };
            }),
          )
        : undefined;
      // Evidence about the whole model counts once per network, whoever in it reports.
      if (evidence) await deps.learned.recordPathEvidence(evidence, t, prefix);
    } catch (err) {
      throw unavailable('Learned map unavailable', err);
    }
    // Per method: the first probe of each accepted relay says how it was measured.
    for (const [relay] of accepted) {
      const method = m.probes.find((p) => p.relay === relay)?.method ?? 'unspecified';
      metrics.measurements.inc({ method });
    }
    return c.json(
      { accepted: accepted.length, ignored, prefix } satisfies Answer<typeof MeasurementsAnswer>,
      200,
    );
  });

  if (deps.calls)
    registerCallRoutes(app, {
      store: deps.calls,
      clientIp: deps.clientIp,
      country: deps.clientCountry,
      now,
      random,
    });

  // The document lists what this edge serves: the routes above, as configured.
  registerDocumentation(app, [
    ...(tenants ? [] : [tokensRoute]),
    ...(deps.revoke && deps.adminToken ? [] : [revokeRoute]),
    ...(deps.calls ? [] : [callChoiceRoute, callReportRoute]),
  ]);
  const document = openApiDocument(app);
  app.get('/v1/openapi.json', (c) => c.json(document()));
  let page: string | undefined;
  app.get('/docs', (c) => {
    page ??= renderApiDocs(document());
    return c.html(page, 200, { 'content-security-policy': API_DOCS_CSP });
  });

  app.notFound((c) => problem(c, 404, 'Not found', `no route ${c.req.method} ${c.req.path}`));
  const report = deps.report ?? (() => {});
  app.onError((err, c) => errorResponse(err, c, report));
  return app;
}
