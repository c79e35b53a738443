/**
 * A real browser call through the backbone: two headless Chromium pages (Debian's chromium,
 * driven by playwright-core), each given a different relay, with iceTransportPolicy 'relay',
 * open a data channel and exchange messages; the relays' backbone counters show the packets
 * crossed between them. Launch switches: test/support/chromium.ts.
 */
import http from 'node:http';
import type net from 'node:net';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { build } from 'esbuild';
import { Redis } from 'ioredis';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { RedisDirectory } from '../../src/redis/redis-directory.ts';
import { hashSecret, MemoryTenantStore, newApiKey } from '../../src/tenants/api-keys.ts';
import { createEdgeApp } from '../../workers/app.ts';
import {
  relayMetric,
  relayRoute,
  startTestRelay,
  stopTestRelays,
  type TestRelay,
  until,
} from '../support/backbone-relays.ts';
import { launchChromium } from '../support/chromium.ts';
import { INIT_MEMBER, type PageCallCore, pageCallScript } from '../support/page-call.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';

/** What `call()` returns on the page (PAGE_SCRIPT). */
interface PageCall extends PageCallCore {
  init(iceServers: { urls: string | string[]; username: string; credential: string }[]): void;
  selectedPair(): Promise<{ local: string; remote: string; remoteAddress: string }>;
}

/**
 * Typing only: inside page.evaluate, `call` is the page's own global from PAGE_SCRIPT (functions
 * passed to evaluate are serialized and run there).
 */
const call = (): PageCall => (globalThis as unknown as { call: () => PageCall }).call();

/** The in-page side of the call, plain browser JavaScript (no signalling server: the test carries it). */
const PAGE_SCRIPT = pageCallScript(`${INIT_MEMBER}
  async selectedPair() {
    // Stats can lag the open data channel by a moment: poll until the transport names its pair.
    for (let i = 0; i < 60; i++) {
      const stats = await this.pc.getStats();
      const all = [...stats.values()];
      const transport = all.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
      const pair = transport
        ? stats.get(transport.selectedCandidatePairId)
        : all.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
      if (pair) {
        const local = stats.get(pair.localCandidateId);
        const remote = stats.get(pair.remoteCandidateId);
        return { local: local.candidateType, remote: remote.candidateType, remoteAddress: remote.address };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('no selected candidate pair after 3 s');
  },`);
const HOSTS = { A: '127.0.0.12', B: '127.0.0.13' } as const;
type Id = keyof typeof HOSTS;

const relays = {} as Record<Id, TestRelay>;
let browser: Browser;
let server: http.Server;
let origin: string;
let prefix: string;
let directory: RedisDirectory;
let edge: ReturnType<typeof serve>;
const SDK_KEY = newApiKey(new Uint8Array(40).map((_, i) => (i * 29 + 11) & 255));
let edgeUrl: string;
const SDK_SECRET = 'browser-sdk-secret';

const metric = (id: Id, sample: string) => relayMetric(relays[id], sample);

describe('a browser call through the backbone', () => {
  beforeAll(async () => {
    // No silent skip: without Chromium this suite fails and says what to install.
    const redis = { url: await redisUrl(), prefix: uniquePrefix('browser') };
    prefix = redis.prefix;
    for (const id of ['A', 'B'] as const) {
      relays[id] = await startTestRelay({
        id,
        host: HOSTS[id],
        redis,
        user: 'web:rtc',
        extra: ['--secret', SDK_SECRET],
      });
    }
    // The SDK as a browser would load it: one script defining window.RelaySdk.
    const sdk = await build({
      entryPoints: [new URL('../../sdk/index.ts', import.meta.url).pathname],
      bundle: true,
      format: 'iife',
      globalName: 'RelaySdk',
      platform: 'browser',
      target: 'es2022',
      write: false,
      logLevel: 'silent',
    });
    server = http.createServer((req, res) => {
      if (req.url === '/sdk.js') {
        res.writeHead(200, { 'content-type': 'text/javascript' });
        res.end(sdk.outputFiles[0]!.text);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>call</title><p>call</p>');
    });
    // The edge, in process, over the same directory the relays register in; CORS open for the page.
    const client = () => new Redis(redis.url).on('error', () => {});
    directory = new RedisDirectory({ client: client(), subscriber: client(), prefix: redis.prefix });
    const edgeApp = createEdgeApp({
      relays: (now) => directory.list(now),
      learned: new MemoryLearnedStore(),
      secrets: () => [SDK_SECRET],
      credentialTtlSeconds: 600,
      clientIp: (c) => getConnInfo(c).remote.address,
      defaultPlace: { lat: 0, lon: 0 },
      corsOrigins: '*',
      // The page calls with an API key: a bearer header across origins, so CORS preflights it.
      tenants: new MemoryTenantStore({
        tenants: [{ id: 'web', name: 'Web', ratePerSecond: 50, burst: 50, createdAt: 0 }],
        keys: [
          {
            id: SDK_KEY.id,
            tenant: 'web',
            hash: await hashSecret(SDK_KEY.secret),
            label: 'browser test',
            createdAt: 0,
            disabled: false,
          },
        ],
      }),
    });
    edgeUrl = await new Promise<string>((resolve) => {
      edge = serve({ fetch: edgeApp.fetch, hostname: '127.0.0.1', port: 0 }, (info) =>
        resolve(`http://127.0.0.1:${info.port}`),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`;
    browser = await launchChromium();
    await until(async () => (await relayRoute(relays.A, 'B')) === 'A-B', 10_000, 'route A-B');
    await until(async () => (await relayRoute(relays.B, 'A')) === 'B-A', 10_000, 'route B-A');
  });

  afterAll(async () => {
    await browser?.close();
    server?.close();
    edge?.close();
    await directory?.close();
    await stopTestRelays(Object.values(relays));
    await deleteKeys(await redisUrl(), prefix);
  });

  async function peer(id: Id): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    await page.addInitScript({ content: PAGE_SCRIPT });
    await page.goto(origin);
    const iceServers = [
      { urls: `turn:${HOSTS[id]}:${relays[id].turn.port}?transport=udp`, username: 'web', credential: 'rtc' },
    ];
    await page.evaluate((servers) => call().init(servers), iceServers);
    return page;
  }

  it('opens a data channel between two relay-only peers on different relays', async () => {
    const sentBefore = await metric('A', 'backbone_data_frames_total{action="sent"}');
    const deliveredBefore = await metric('B', 'backbone_data_frames_total{action="delivered"}');
    const caller = await peer('A');
    const callee = await peer('B');
    const offer = await caller.evaluate(() => call().offer());
    expect(offer.sdp).toMatch(/typ relay raddr/);
    const answer = await callee.evaluate((o) => call().answer(o), offer);
    await caller.evaluate((a) => call().accept(a), answer);

    const open = (page: Page) => page.waitForFunction(() => call().isOpen(), undefined, { timeout: 20_000 });
    await Promise.all([open(caller), open(callee)]);
    await caller.evaluate(() => call().send('hello from A'));
    await callee.evaluate(() => call().send('hello from B'));
    await callee.waitForFunction(() => call().received.length > 0);
    await caller.waitForFunction(() => call().received.length > 0);
    expect(await callee.evaluate(() => call().received)).toEqual(['hello from A']);
    expect(await caller.evaluate(() => call().received)).toEqual(['hello from B']);

    // The selected pair is relay to relay, each through its own TURN server.
    expect(await caller.evaluate(() => call().selectedPair())).toEqual({
      local: 'relay',
      remote: 'relay',
      remoteAddress: HOSTS.B,
    });
    // And the packets crossed the backbone between the two relays.
    expect((await metric('A', 'backbone_data_frames_total{action="sent"}')) - sentBefore).toBeGreaterThan(5);
    expect(
      (await metric('B', 'backbone_data_frames_total{action="delivered"}')) - deliveredBefore,
    ).toBeGreaterThan(5);
  });

  it('gets iceServers through the SDK (probes, then allocate) and makes a relay-only call', async () => {
    const peers = await Promise.all(
      ['x', 'y'].map(async () => {
        const page = await (await browser.newContext()).newPage();
        await page.addInitScript({ content: PAGE_SCRIPT });
        await page.goto(origin);
        await page.addScriptTag({ url: `${origin}sdk.js` });
        const got = await page.evaluate(
          async ({ url, apiKey }) => {
            const sdk = (globalThis as unknown as { RelaySdk: typeof import('../../sdk/index.ts') }).RelaySdk;
            const r = await sdk.getRtcConfiguration({
              edgeUrl: url,
              apiKey,
              relayOnly: true,
              budgetMs: 4000,
            });
            call().init(r.configuration.iceServers);
            return { relay: r.relay.id, policy: r.configuration.iceTransportPolicy, probes: r.probes.length };
          },
          { url: edgeUrl, apiKey: SDK_KEY.key },
        );
        return { page, got };
      }),
    );
    for (const { got } of peers) {
      expect(['A', 'B']).toContain(got.relay);
      expect(got.policy).toBe('relay');
      expect(got.probes).toBeGreaterThan(0); // the relays' /ping answered the page across origins
    }
    const [caller, callee] = [peers[0]!.page, peers[1]!.page];
    const offer = await caller.evaluate(() => call().offer());
    const answer = await callee.evaluate((o) => call().answer(o), offer);
    await caller.evaluate((a) => call().accept(a), answer);
    await Promise.all(
      [caller, callee].map((p) => p.waitForFunction(() => call().isOpen(), undefined, { timeout: 20_000 })),
    );
    await caller.evaluate(() => call().send('via the SDK'));
    await callee.waitForFunction(() => call().received.length > 0);
    expect(await callee.evaluate(() => call().received)).toEqual(['via the SDK']);
  });
});
