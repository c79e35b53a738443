/**
 * The operators' live view of the backbone, behind the admin token:
 *   GET  /dashboard                   the page (a sign-in form without a session)
 *   POST /dashboard/session           form field `token` = the admin token: sets a session cookie
 *   GET  /dashboard/app.js, app.css   the bundled page (built by `npm run build:dashboard`)
 *   GET  /v1/admin/topology           relays, links, paths, recent changes and decisions (JSON)
 *   GET  /v1/admin/topology/events    the same, pushed as server-sent events while it changes
 * The JSON routes take `Authorization: Bearer <admin token>` (tools) or the session cookie (the
 * page: EventSource cannot send headers). The session is stateless: expiry and an HMAC-SHA-256
 * of it under the admin token (Web Crypto), so it works on Node and Workers alike and a new admin
 * token ends every session. The topology holds relay records' public fields, links and paths:
 * never secrets, key hashes or tenants. Must not import relay/.
 */
import type { Context, Env, Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { timingSafeEqual, toBase64, utf8Encode } from '../src/crypto/encoding.ts';
import type { TopologyChange } from '../src/topology/changes.ts';
import type { Topology } from '../src/topology/topology.ts';
import type { TopologyWatcher } from './topology-watcher.ts';

/** The bundled page; the Node edge reads it from `dist/dashboard/` (see workers/dashboard-assets.ts). */
export interface DashboardAssets {
  readonly js: string;
  readonly css: string;
}

export interface DashboardOptions {
  readonly adminToken: string;
  readonly watcher: TopologyWatcher;
  /** The page, or where to get it (the Workers edge fetches it from the Node edge). */
  readonly assets?: DashboardAssets | (() => Promise<DashboardAssets | undefined>) | undefined;
  readonly now: () => number;
  /** Session lifetime, seconds. */
  readonly sessionSeconds?: number;
  /** Most event streams at once; more get 503. */
  readonly maxStreams?: number;
}

const COOKIE = 'rb_dashboard';
const encoder = new TextEncoder();

/** base64url HMAC-SHA-256 of `message` under `token`. */
async function sign(token: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    encoder.encode(token),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const mac = toBase64(new Uint8Array(await crypto.subtle.sign('HMAC', key, encoder.encode(message))));
  return mac.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function validSession(value: string | undefined, token: string, now: number): Promise<boolean> {
  if (!value) return false;
  const [expiry, mac] = value.split('.');
  if (!expiry || !mac || !/^\d{1,15}$/.test(expiry) || Number(expiry) * 1000 <= now) return false;
  const want = await sign(token, `dashboard:${expiry}`);
  return timingSafeEqual(utf8Encode(mac), utf8Encode(want));
}

/** A complete snapshot for the page and for tools: topology, timeline and decision counts. */
export function topologyBody(w: TopologyWatcher, topology: Topology, now: number) {
  return { ...topology, changes: w.changes.list(), decisions: w.decisions.series(now) };
}

const page = (body: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Relay backbone</title><link rel="stylesheet" href="/dashboard/app.css"></head>
<body>${body}</body></html>`;

const signIn = (message: string) =>
  page(`<main class="signin"><h1>Relay backbone</h1><p>${message}</p>
<form method="post" action="/dashboard/session"><label>Admin token
<input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit">Open the dashboard</button></form></main>`);

export function mountDashboard<E extends Env>(app: Hono<E>, o: DashboardOptions): void {
  const sessionSeconds = o.sessionSeconds ?? 8 * 3600;
  const maxStreams = o.maxStreams ?? 16;
  let streams = 0;
  const assets = async (): Promise<DashboardAssets | undefined> =>
    typeof o.assets === 'function' ? await o.assets().catch(() => undefined) : o.assets;
  const bearer = (c: Context) =>
    timingSafeEqual(utf8Encode(c.req.header('authorization') ?? ''), utf8Encode(`Bearer ${o.adminToken}`));
  const allowed = async (c: Context) =>
    bearer(c) || (await validSession(getCookie(c, COOKIE), o.adminToken, o.now()));
  const refuse = (c: Context) =>
    c.body(
      JSON.stringify({
        type: 'about:blank',
        title: 'Unauthorized',
        status: 401,
        detail: 'send Authorization: Bearer <admin token>, or sign in at /dashboard',
      }),
      401,
      { 'content-type': 'application/problem+json', 'www-authenticate': 'Bearer' },
    );
  const unavailable = (c: Context) =>
    c.body(
      JSON.stringify({
        type: 'about:blank',
        title: 'Directory unavailable',
        status: 503,
        detail: 'the relay directory could not be read; retry shortly',
      }),
      503,
      { 'content-type': 'application/problem+json', 'retry-after': '2' },
    );

  app.get('/dashboard', async (c) => {
    c.header('cache-control', 'no-store');
    c.header('x-frame-options', 'DENY');
    c.header('content-security-policy', "default-src 'self'; style-src 'self' 'unsafe-inline'");
    if (!(await allowed(c))) return c.html(signIn('Sign in with the edge\u2019s admin token.'), 401);
    if (!(await assets())) {
      return c.html(
        page(
          '<p>This edge has no dashboard page: on a Node edge run <code>npm run build:dashboard</code>; a Workers edge takes the page from the Node edge its SNAPSHOT_URL names, which could not serve it.</p>',
        ),
        503,
      );
    }
    return c.html(page('<div id="app"></div><script type="module" src="/dashboard/app.js"></script>'));
  });

  app.post('/dashboard/session', async (c) => {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const token = typeof form.token === 'string' ? form.token : '';
    if (!timingSafeEqual(utf8Encode(token), utf8Encode(o.adminToken))) {
      deleteCookie(c, COOKIE, { path: '/' });
      return c.html(signIn('That token is not the admin token.'), 401);
    }
    const expiry = Math.floor(o.now() / 1000) + sessionSeconds;
    const mac = await sign(o.adminToken, `dashboard:${expiry}`);
    setCookie(c, COOKIE, `${expiry}.${mac}`, {
      path: '/',
      httpOnly: true,
      sameSite: 'Strict',
      secure: new URL(c.req.url).protocol === 'https:',
      maxAge: sessionSeconds,
    });
    return c.redirect('/dashboard', 303);
  });

  app.get('/dashboard/app.js', async (c) => {
    const page = await assets();
    return page ? c.body(page.js, 200, { 'content-type': 'text/javascript; charset=utf-8' }) : c.notFound();
  });
  app.get('/dashboard/app.css', async (c) =>
    c.body((await assets())?.css ?? '', 200, { 'content-type': 'text/css; charset=utf-8' }),
  );

  app.get('/v1/admin/topology', async (c) => {
    if (!(await allowed(c))) return refuse(c);
    try {
      const t = await o.watcher.refresh();
      return c.json(topologyBody(o.watcher, t, o.now()), 200, { 'cache-control': 'no-store' });
    } catch {
      return unavailable(c);
    }
  });

  app.get('/v1/admin/topology/events', async (c) => {
    if (!(await allowed(c))) return refuse(c);
    if (streams >= maxStreams) return unavailable(c);
    streams++;
    return streamSSE(c, async (stream) => {
      let wake: (() => void) | undefined;
      let pending: TopologyChange[] = [];
      let last = '';
      const stop = o.watcher.listen((_t, changes) => {
        pending.push(...changes);
        wake?.();
      });
      stream.onAbort(() => wake?.());
      try {
        let tick = 0;
        while (!stream.aborted) {
          const t = await o.watcher.refresh().catch(() => undefined);
          if (t) {
            const { at: _at, links, ...rest } = t;
            // Link ages move every read; send the topology when something else changed, or every 5 s.
            const shape = JSON.stringify({ ...rest, links: links.map(({ ageMs: _a, ...l }) => l) });
            if (shape !== last || tick % 5 === 0) {
              last = shape;
              await stream.writeSSE({
                event: 'topology',
                data: JSON.stringify(topologyBody(o.watcher, t, o.now())),
              });
            }
          }
          if (pending.length > 0) {
            const out = pending;
            pending = [];
            await stream.writeSSE({ event: 'changes', data: JSON.stringify(out) });
          }
          tick++;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, 1000);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
        }
      } finally {
        stop();
        streams--;
      }
    });
  });
}
