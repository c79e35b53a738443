/**
 * A browser call that outlives its TURN credentials: two headless Chromium pages, relay-only, each
 * with its own credential from the edge (10 s TTL), keep a data channel open for over four minutes
 * through one relay whose allocations last 20 s. Chromium itself refreshes its allocations (every
 * ~10 s here) and its permissions (libwebrtc: every 4 minutes) with the expired credentials; the
 * relay's metrics count those successes, and every message sent once a second arrives.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { parseTurnRestUsername } from '../../src/credentials/turn-rest.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { launchChromium } from '../support/chromium.ts';
import { INIT_MEMBER, type PageCallCore, pageCallScript } from '../support/page-call.ts';
import { freePort } from '../support/ports.ts';
import { type RelayChild, startRelayProcess } from '../support/relay.ts';
import { relayRecord } from '../support/relay-record.ts';

const HOST = '127.0.0.14';
const SECRET = 'browser-expiry-secret';
const CREDENTIAL_TTL = 10;
const ALLOCATION_LIFETIME = 20;
/** libwebrtc refreshes a permission 60 s before its 5-minute lifetime ends. */
const PERMISSION_REFRESH_S = 240;
/** Upper bound of the call: the permission refresh plus slack. */
const CALL_LIMIT_S = 300;

interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

/** The in-page side (plain browser JavaScript); the test carries the signalling. */
const PAGE_SCRIPT = pageCallScript(`${INIT_MEMBER}
  state() { return this.pc.connectionState; },`);

interface PageCall extends PageCallCore {
  init(iceServers: IceServer[]): void;
  state(): string;
}
const call = (): PageCall => (globalThis as unknown as { call: () => PageCall }).call();

describe('a browser call past its credentials', () => {
  let relay: RelayChild;
  let browser: Browser;
  let server: http.Server;
  let origin: string;
  let edge: ReturnType<typeof createEdgeApp>;

  const metric = async (sample: string): Promise<number> => {
    const text = await (await fetch(`http://127.0.0.1:${relay.ready.httpPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
    return line ? Number(line.slice(sample.length + 1)) : 0;
  };
  const expired = (method: string) =>
    metric(`turn_requests_succeeded_total{method="${method}",credential="expired"}`);

  beforeAll(async () => {
    const port = await freePort('both', HOST);
    relay = await startRelayProcess([
      '--listen',
      HOST,
      '--turn-port',
      String(port),
      '--http-port',
      '0',
      '--secret',
      SECRET,
      '--allow-peer',
      '127.0.0.0/8',
      '--default-lifetime',
      String(ALLOCATION_LIFETIME),
      '--max-lifetime',
      String(ALLOCATION_LIFETIME),
      '--drain-timeout',
      '0',
      '--log-level',
      'warn',
    ]);
    // The edge hands out 10-second credentials for this one relay (UDP only: one allocation a page).
    edge = createEdgeApp({
      relays: async () => [
        relayRecord('solo', HOST, 0, 0, { turnPort: port, turnUrls: [`turn:${HOST}:${port}?transport=udp`] }),
      ],
      learned: new MemoryLearnedStore(),
      secrets: () => [SECRET],
      credentialTtlSeconds: CREDENTIAL_TTL,
      clientIp: () => '127.0.0.1',
      defaultPlace: { lat: 0, lon: 0 },
    });
    server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>call</title><p>call</p>');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    server?.close();
    relay?.kill();
    await relay?.exited;
  });

  async function peer(): Promise<{ page: Page; server: IceServer; expiresAt: number }> {
    const res = await edge.request('/v1/allocate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const answer = (await res.json()) as { iceServers: IceServer[]; expiresAt: number };
    const page = await (await browser.newContext()).newPage();
    await page.addInitScript({ content: PAGE_SCRIPT });
    await page.goto(origin);
    await page.evaluate((servers) => call().init(servers), answer.iceServers);
    return { page, server: answer.iceServers[0]!, expiresAt: answer.expiresAt };
  }

  it('keeps a relay-only data channel through allocation and permission refreshes after the credentials expired, losing no message', async () => {
    const a = await peer();
    const b = await peer();
    // Per-client credentials: two clients of one tenant in the same second, two usernames.
    expect(a.server.username).not.toBe(b.server.username);
    expect(parseTurnRestUsername(a.server.username)).toMatchObject({ ok: true, tenant: 'default' });

    const offer = await a.page.evaluate(() => call().offer());
    expect(offer.sdp).toMatch(/typ relay raddr/);
    const answer = await b.page.evaluate((o) => call().answer(o), offer);
    await a.page.evaluate((x) => call().accept(x), answer);
    await Promise.all(
      [a.page, b.page].map((p) => p.waitForFunction(() => call().isOpen(), undefined, { timeout: 20_000 })),
    );
    const start = Date.now();
    const expiry = Math.max(a.expiresAt, b.expiresAt) * 1000;

    let sent = 0;
    let baseline: { refresh: number; permission: number } | undefined;
    const deadline = start + CALL_LIMIT_S * 1000;
    // One message each way every second until Chromium has refreshed a permission after expiry.
    for (let tick = 0; Date.now() < deadline; tick++) {
      await a.page.evaluate((n) => call().send(`a${n}`), sent);
      await b.page.evaluate((n) => call().send(`b${n}`), sent);
      sent++;
      await new Promise((r) => setTimeout(r, 1000));
      const [gotA, gotB] = await Promise.all([
        b.page.evaluate(() => call().received.length),
        a.page.evaluate(() => call().received.length),
      ]);
      // Fail fast when the relay path breaks: messages must keep up within a few seconds.
      if (sent - Math.min(gotA, gotB) > 5) {
        const states = await Promise.all([a.page, b.page].map((p) => p.evaluate(() => call().state())));
        throw new Error(
          `after ${sent} s only ${gotA}/${gotB} messages arrived (connection ${states.join('/')})`,
        );
      }
      if (baseline === undefined && Date.now() > expiry + 2000) {
        // Just past the expiry: what Chromium sent with expired credentials so far.
        baseline = { refresh: await expired('Refresh'), permission: await expired('CreatePermission') };
      }
      if (baseline && Date.now() - start > PERMISSION_REFRESH_S * 1000 && tick % 5 === 0) {
        if ((await expired('CreatePermission')) > baseline.permission) break;
      }
    }
    // Let the last messages arrive, then every message must have come, in order.
    await a.page.waitForFunction((n) => call().received.length >= n, sent, { timeout: 10_000 });
    await b.page.waitForFunction((n) => call().received.length >= n, sent, { timeout: 10_000 });
    const want = (p: string) => Array.from({ length: sent }, (_, i) => `${p}${i}`);
    expect(await b.page.evaluate(() => call().received)).toEqual(want('a'));
    expect(await a.page.evaluate(() => call().received)).toEqual(want('b'));

    const elapsed = (Date.now() - start) / 1000;
    expect(elapsed).toBeGreaterThan(PERMISSION_REFRESH_S);
    expect(baseline).toBeDefined();
    // Chromium's own permission refreshes, sent after the credentials expired, were accepted...
    expect(await expired('CreatePermission')).toBeGreaterThan(baseline!.permission);
    // ... and so were its allocation refreshes: two allocations, one refresh each ~10 s.
    const refreshes = await expired('Refresh');
    expect(refreshes - baseline!.refresh).toBeGreaterThanOrEqual(
      2 * Math.floor((elapsed - 30) / ALLOCATION_LIFETIME),
    );
    console.info(
      `call ${Math.round(elapsed)} s, ${sent} messages each way; after expiry: ${refreshes} Refresh, ` +
        `${await expired('CreatePermission')} CreatePermission, ${await expired('ChannelBind')} ChannelBind`,
    );
    expect(await metric('turn_allocations_ended_total{reason="expired"}')).toBe(0);
    expect(await metric('turn_auth_failures_total{reason="expired"}')).toBe(0);
  }, 360_000);
});
