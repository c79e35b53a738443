/**
 * The dashboard against a real stack: three relay processes with a backbone on 127.0.0.81-83
 * registered in a real Redis, the Node edge (workers/node.ts) as operators run it with an admin
 * token, and headless Chromium opening the page. The page must show every relay and link; when
 * the A-B link is blackholed with the relays' fault injection it must show the link dead and the
 * A-B path on the detour through C within seconds, and both back after the link heals. The page
 * and the topology refuse without the token. DASHBOARD_SCREENSHOTS=docs refreshes the
 * screenshots in docs/ (dashboard-before.png, dashboard-failover.png); otherwise they go to a
 * temporary folder.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  relayRoute,
  relayUdpIo,
  setRelayFaults,
  startTestRelay,
  stopTestRelays,
  type TestRelay,
  until,
} from '../support/backbone-relays.ts';
import { launchChromium } from '../support/chromium.ts';
import { type NodeEdge, startNodeEdge } from '../support/node-edge.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';

const ADMIN = 'dashboard-admin-token-0123';
const SITES = {
  A: { host: '127.0.0.81', region: 'eu-west', lat: 48.86, lon: 2.35 },
  B: { host: '127.0.0.82', region: 'us-east', lat: 40.71, lon: -74.0 },
  C: { host: '127.0.0.83', region: 'ap-northeast', lat: 35.68, lon: 139.69 },
} as const;
type Id = keyof typeof SITES;
/** Where the screenshots go: a temporary folder, or docs/ to refresh the README's pictures. */
const SHOTS = process.env.DASHBOARD_SCREENSHOTS ?? mkdtempSync(join(tmpdir(), 'dashboard-'));

describe('the dashboard shows the live backbone', () => {
  const relays = {} as Record<Id, TestRelay>;
  let edge: NodeEdge;
  let browser: Browser;
  let page: Page;
  let prefix: string;

  const topology = async () => {
    const res = await fetch(`${edge.base}/v1/admin/topology`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    if (res.status !== 200) throw new Error(`GET /v1/admin/topology: ${res.status} ${await res.text()}`);
    return (await res.json()) as { relays: unknown[]; links: { health: string }[] };
  };

  beforeAll(async () => {
    await promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/build-dashboard.ts']);
    const url = await redisUrl();
    prefix = uniquePrefix('dashboard');
    for (const [id, s] of Object.entries(SITES) as [Id, (typeof SITES)[Id]][]) {
      relays[id] = await startTestRelay({
        id,
        host: s.host,
        redis: { url, prefix },
        extra: ['--region', s.region, '--lat', String(s.lat), '--lon', String(s.lon)],
      });
    }
    edge = await startNodeEdge({
      REDIS_URL: url,
      EDGE_REDIS_PREFIX: prefix,
      EDGE_SECRETS: 'dashboard-secret',
      EDGE_API_KEYS: 'off',
      EDGE_ADMIN_TOKEN: ADMIN,
    });
    await until(
      async () => {
        // The edge's Redis client may still be connecting: a 503 here means "not yet".
        const t = await topology().catch(() => ({ relays: [], links: [] }));
        return t.relays.length === 3 && t.links.length === 6 && t.links.every((l) => l.health === 'up');
      },
      20_000,
      'three relays and six healthy links in the topology',
    );
    browser = await launchChromium();
    // A few answers, so the decisions chart has something to show.
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${edge.base}/v1/allocate`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ location: { lat: 48.8 + i, lon: 2.3 } }),
      });
      expect(res.status).toBe(200);
    }
  });

  afterAll(async () => {
    await browser?.close();
    await edge?.stop();
    await stopTestRelays(Object.values(relays));
    if (prefix) await deleteKeys(await redisUrl(), prefix);
  });

  it('refuses the page and the topology without the admin token', async () => {
    const anon = await (await browser.newContext()).newPage();
    const res = await anon.goto(`${edge.base}/dashboard`);
    expect(res?.status()).toBe(401);
    expect(await anon.locator('circle[data-relay]').count()).toBe(0);
    await anon.fill('input[name=token]', 'a-guess');
    await anon.click('button[type=submit]');
    await anon.waitForSelector('text=not the admin token');
    const data = await fetch(`${edge.base}/v1/admin/topology`);
    expect(data.status).toBe(401);
    const stream = await fetch(`${edge.base}/v1/admin/topology/events`);
    expect(stream.status).toBe(401);
    await anon.context().close();
  });

  it('signs in and shows every relay and link, all healthy, with the direct path A-B', async () => {
    page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
    await page.goto(`${edge.base}/dashboard`);
    await page.fill('input[name=token]', ADMIN);
    await page.click('button[type=submit]');
    await page.waitForSelector('circle[data-relay="C"]');
    expect(await page.locator('circle[data-relay]').count()).toBe(3);
    // (The page's CSP forbids eval, so no waitForFunction: poll the locator instead.)
    await expect
      .poll(() => page.locator('path[data-link][data-health="up"]').count(), { timeout: 15_000 })
      .toBe(3);
    expect(await page.locator('#links tr[data-link]').count()).toBe(6);
    await page.click('circle[data-relay="A"]');
    await page.click('circle[data-relay="B"]');
    await page.waitForSelector('#route[data-best="A,B"]');
    await page.screenshot({ path: `${SHOTS}/dashboard-before.png` });
  });

  it('shows the link dead and the path on the detour within seconds of a blackhole, and back after it heals', async () => {
    const start = Date.now();
    await Promise.all([setRelayFaults(relays.A, 'B:blackhole'), setRelayFaults(relays.B, 'A:blackhole')]);
    await page.waitForSelector('path[data-link="A|B"][data-health="dead"]', { timeout: 15_000 });
    await page.waitForSelector('#route[data-best="A,C,B"]', { timeout: 15_000 });
    const shown = Date.now() - start;
    // The relays agree: A's own route to B goes through C.
    await until(async () => (await relayRoute(relays.A, 'B')) === 'A-C-B', 5000, 'relay A detours via C');
    await page.waitForSelector('#timeline li.path.failover');
    expect(await page.locator('#timeline li.link').count()).toBeGreaterThan(0);
    await page.screenshot({ path: `${SHOTS}/dashboard-failover.png` });
    // The page shows it within seconds: the relays declare a link dead after ~0.4-1 s of silence.
    expect(shown).toBeLessThan(10_000);

    await Promise.all([setRelayFaults(relays.A, ''), setRelayFaults(relays.B, '')]);
    await page.waitForSelector('path[data-link="A|B"][data-health="up"]', { timeout: 15_000 });
    await page.waitForSelector('#route[data-best="A,B"]', { timeout: 15_000 });
    // (Relay A itself may stay on A-C-B: on loopback the direct link is not 5 ms better, and the
    // relays' hysteresis keeps a working path until a switch gains that much. The page shows the
    // best path now, computed fresh.)
  });

  it('exports relay_info and every metric the shipped Grafana dashboard queries', async () => {
    const relayText = await (await fetch(`${relays.A.http}/metrics`)).text();
    // udp_io: the UDP I/O in use, as /healthz says it.
    expect(relayText).toMatch(
      new RegExp(
        `^relay_info\\{id="A",region="eu-west",version="[^"]+",latitude="48.86",longitude="2.35",udp_io="${await relayUdpIo(relays.A)}"\\} 1$`,
        'm',
      ),
    );
    const edgeText = await (await fetch(`${edge.base}/metrics`)).text();
    const grafana = JSON.parse(readFileSync('deploy/grafana/relay-backbone.json', 'utf8')) as {
      panels: { targets: { expr: string }[] }[];
    };
    const names = new Set(
      grafana.panels.flatMap((p) =>
        p.targets.flatMap((t) => t.expr.match(/\b(?:relay|backbone|turn|edge)_[a-z_]+\b/g) ?? []),
      ),
    );
    expect(names.size).toBeGreaterThan(5);
    // The native addon's counts exist only on a relay that runs it (its drops panel is empty on dgram).
    const native = (await relayUdpIo(relays.A)) === 'native';
    for (const name of names) {
      if (name.startsWith('turn_native_udp_') && !native) continue;
      expect(`${relayText}\n${edgeText}`, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
    }
  });
});
