/**
 * Probing from an HTTPS page (issue 10 §1). Three real relays on loopback register in Redis: one,
 * under a DNS name, serves a public HTTPS /ping with its certificate (--ping-tls-port), two a
 * public http:// ping (--ping-port), which an HTTPS page may not fetch (shown: Chromium blocks it
 * as mixed content). Headless Chromium loads an HTTPS page
 * (self-signed certificate made here, accepted with --ignore-certificate-errors) that is served,
 * with the SDK bundle, by the same HTTPS server as the edge. The SDK on the page probes all three:
 * the first over HTTPS, the other two with STUN through Chromium's own ICE agent, and the edge's
 * next answer ranks all three on those probes (basis `probe`); the edge counts the reported
 * measurements per method and learns one sample per relay for the page's network.
 */
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { build } from 'esbuild';
import { Redis } from 'ioredis';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { RedisDirectory } from '../../src/redis/redis-directory.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { startTestRelay, stopTestRelays, type TestRelay, until } from '../support/backbone-relays.ts';
import { launchChromium } from '../support/chromium.ts';
import { freePort } from '../support/ports.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { startStunResponder } from '../support/stun-responder.ts';
import { makeSelfSignedCert } from '../support/tls-cert.ts';

const SECRET = 'probe-https-secret';
/**
 * `secure` publishes a DNS name (--public-host), which the browser resolves to its loopback address
 * (--host-resolver-rules), and serves HTTPS /ping with a certificate for it. The others publish IP
 * literals and a public http:// ping (--ping-port), which an HTTPS page may not fetch. (Chromium's
 * ICE looks STUN names up without the resolver rules, "701 STUN host lookup received error", so
 * the relays probed through ICE keep IP literals here.)
 */
const RELAYS = {
  secure: { host: '127.0.0.81', name: 'secure.relays.test' },
  'plain-b': { host: '127.0.0.82', name: 'plain-b.relays.test' },
  'plain-c': { host: '127.0.0.83', name: 'plain-c.relays.test' },
} as const;
type Id = keyof typeof RELAYS;
const IDS = Object.keys(RELAYS) as Id[];
const RESOLVER_RULES = `--host-resolver-rules=${IDS.map((id) => `MAP ${RELAYS[id].name} ${RELAYS[id].host}`).join(' , ')} , MAP * ~NOTFOUND , EXCLUDE 127.* , EXCLUDE [::1]`;

type Sdk = typeof import('../../sdk/index.ts');
type Result = Awaited<ReturnType<Sdk['getRtcConfiguration']>>;

const relays = {} as Record<Id, TestRelay>;
let browser: Browser;
let page: Page;
let server: ReturnType<typeof serve>;
let origin: string;
let prefix: string;
let directory: RedisDirectory;
let certDir: string;
let learned: MemoryLearnedStore;
let edgeMetrics: () => Promise<string>;

beforeAll(async () => {
  const redis = { url: await redisUrl(), prefix: uniquePrefix('probe-https') };
  prefix = redis.prefix;
  certDir = mkdtempSync(join(tmpdir(), 'probe-https-'));
  const cert = await makeSelfSignedCert(certDir, {
    ips: ['127.0.0.1'],
    dnsNames: IDS.map((id) => RELAYS[id].name),
  });
  for (const id of IDS) {
    const { host, name } = RELAYS[id];
    const publish =
      id === 'secure'
        ? [
            '--public-host',
            name,
            '--tls-port',
            String(await freePort('tcp', host)),
            '--tls-cert',
            cert.cert,
            '--tls-key',
            cert.key,
            '--ping-tls-port',
            '0',
          ]
        : ['--ping-port', '0'];
    relays[id] = await startTestRelay({
      id,
      host,
      redis,
      extra: ['--secret', SECRET, ...publish],
    });
  }
  const client = () => new Redis(redis.url).on('error', () => {});
  directory = new RedisDirectory({ client: client(), subscriber: client(), prefix: redis.prefix });
  await until(
    async () => (await directory.list(Date.now())).length === IDS.length,
    10_000,
    'three relays registered',
  );
  learned = new MemoryLearnedStore();
  const app = createEdgeApp({
    relays: (now) => directory.list(now),
    learned,
    secrets: () => [SECRET],
    credentialTtlSeconds: 600,
    clientIp: (c) => getConnInfo(c).remote.address,
    // Every relay sits at the same spot: only probes (or what they taught) can tell them apart.
    defaultPlace: { lat: 0, lon: 0 },
  });
  // The SDK as a page loads it: one script defining window.RelaySdk.
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
  // Page, SDK and edge share one HTTPS origin: an http:// edge would be mixed content too.
  const fetchAll = (req: Request, env: unknown): Response | Promise<Response> => {
    const path = new URL(req.url).pathname;
    if (path === '/sdk.js')
      return new Response(sdk.outputFiles[0]!.text, { headers: { 'content-type': 'text/javascript' } });
    if (path === '/')
      return new Response('<!doctype html><title>probe</title><p>probe</p>', {
        headers: { 'content-type': 'text/html' },
      });
    return app.fetch(req, env);
  };
  origin = await new Promise<string>((resolve) => {
    server = serve(
      {
        fetch: fetchAll,
        hostname: '127.0.0.1',
        port: 0,
        createServer: https.createServer,
        serverOptions: { cert: readFileSync(cert.cert), key: readFileSync(cert.key) },
      },
      (info) => resolve(`https://127.0.0.1:${info.port}/`),
    );
  });
  edgeMetrics = async () => (await app.request('/metrics')).text();
  // The certificate is self-signed: the browser is told to accept it, as a test may.
  browser = await launchChromium(['--ignore-certificate-errors', RESOLVER_RULES]);
  page = await (await browser.newContext()).newPage();
  await page.goto(origin);
  await page.addScriptTag({ url: `${origin}sdk.js` });
});

afterAll(async () => {
  await browser?.close();
  (server as net.Server | undefined)?.close();
  await directory?.close();
  await stopTestRelays(Object.values(relays));
  await deleteKeys(await redisUrl(), prefix);
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

const sdkOnPage = (budgetMs: number) =>
  page.evaluate(async (budget) => {
    const sdk = (globalThis as unknown as { RelaySdk: Sdk }).RelaySdk;
    const { location } = globalThis as unknown as { location: { protocol: string; origin: string } };
    return {
      protocol: location.protocol,
      result: await sdk.getRtcConfiguration({ edgeUrl: location.origin, budgetMs: budget }),
    };
  }, budgetMs);

describe('probing from an HTTPS page', () => {
  it('the edge gives each relay its ping URL (https:// where one is served) and its stun: URL', async () => {
    const answer = (await (
      await page.request.post(`${origin}v1/allocate`, { data: {}, ignoreHTTPSErrors: true })
    ).json()) as { probeTargets: { id: Id; stun: string; ping: string }[] };
    const targets = Object.fromEntries(answer.probeTargets.map((t) => [t.id, t]));
    expect(Object.keys(targets).sort()).toEqual([...IDS].sort());
    expect(targets.secure!.ping).toMatch(/^https:\/\/secure\.relays\.test:\d+\/ping$/);
    expect(targets['plain-b']!.ping).toMatch(/^http:\/\/127\.0\.0\.82:\d+\/ping$/);
    expect(targets.secure!.stun).toMatch(/^stun:secure\.relays\.test:\d+$/);
    for (const id of ['plain-b', 'plain-c'] as const)
      expect(targets[id]!.stun).toMatch(new RegExp(`^stun:${RELAYS[id].host.replaceAll('.', '\\.')}:\\d+$`));
  });

  it("cannot fetch a relay's http:// ping from the HTTPS page (mixed content), which is why it probes otherwise", async () => {
    const answer = (await (
      await page.request.post(`${origin}v1/allocate`, { data: {}, ignoreHTTPSErrors: true })
    ).json()) as { probeTargets: { id: Id; ping: string }[] };
    const ping = answer.probeTargets.find((t) => t.id === 'plain-b')!.ping;
    // The relay answers it (here, from Node)...
    expect(await (await fetch(ping)).text()).toBe('pong');
    // ...and the page may not ask, once the URL names a host as it would in production (Chromium
    // lets http://127.x through, loopback being potentially trustworthy: seen here).
    const named = ping.replace(RELAYS['plain-b'].host, RELAYS['plain-b'].name);
    const messages: string[] = [];
    page.on('console', (m) => messages.push(m.text()));
    const fromPage = await page.evaluate(
      (url) =>
        fetch(url).then(
          () => 'fetched',
          (e: Error) => e.name,
        ),
      named,
    );
    expect(fromPage).toBe('TypeError');
    expect(messages.join('\n')).toContain('Mixed Content');
  });

  it('probes every relay (HTTPS ping where served, ICE otherwise) and the next answer rests on the probes', async () => {
    const { protocol, result } = await sdkOnPage(6000);
    expect(protocol).toBe('https:');
    const r: Result = result;
    const methods = Object.fromEntries(r.probes.map((p) => [p.relay, p.method]));
    expect(methods).toEqual({ secure: 'https', 'plain-b': 'ice-stun', 'plain-c': 'ice-stun' });
    for (const p of r.probes) {
      expect(p.rttMs).toBeGreaterThanOrEqual(0);
      expect(p.rttMs).toBeLessThan(2000);
    }
    // The second answer ranks the chosen relay and both alternates on the page's own probes.
    expect(r.relay.basis).toBe('probe');
    expect(r.alternates.map((a) => (a as unknown as { basis: string }).basis)).toEqual(['probe', 'probe']);
    expect(r.configuration.iceServers[0]!.urls[0]).toMatch(/^stun:\S+:\d+$/);
    // The SDK reported them (fire and forget): the edge learned one sample per relay, by method.
    await until(
      async () => /edge_measurements_total\{method="ice-stun"\} 2/.test(await edgeMetrics()),
      5000,
      'measurements reported',
    );
    expect(await edgeMetrics()).toContain('edge_measurements_total{method="https"} 1');
    const map = await learned.get('127.0.0.0/24', Date.now());
    expect([...map.keys()].sort()).toEqual([...IDS].sort());
  });

  it('falls back to ICE when a relay refuses its HTTPS ping', async () => {
    const closed = await freePort('tcp', RELAYS['plain-b'].host); // nothing listens there
    const live = relays['plain-b'].turn;
    const got = await page.evaluate(
      ({ stun, ping }) => {
        const sdk = (globalThis as unknown as { RelaySdk: Sdk }).RelaySdk;
        return sdk.defaultProber()({ id: 'plain-b', stun, ping }, AbortSignal.timeout(3000));
      },
      { stun: `stun:${live.address}:${live.port}`, ping: `https://${RELAYS['plain-b'].host}:${closed}/ping` },
    );
    expect(got.method).toBe('ice-stun');
  });

  it('closes every peer connection it opens, and gives up on a silent relay when its signal aborts', async () => {
    // A UDP socket that swallows the Binding requests: the relay that never answers.
    const silent = dgram.createSocket('udp4');
    let swallowed = 0;
    silent.on('message', () => swallowed++);
    await new Promise<void>((r) => silent.bind(0, '127.0.0.84', r));
    try {
      const live = relays['plain-b'].turn;
      const got = await page.evaluate(
        async ({ liveUrl, silentUrl }) => {
          const sdk = (globalThis as unknown as { RelaySdk: Sdk }).RelaySdk;
          const counts = { opened: 0, closed: 0 };
          const Pc = (globalThis as unknown as { RTCPeerConnection: new (c: unknown) => { close(): void } })
            .RTCPeerConnection;
          // The page's real RTCPeerConnection, counting what the prober opens and closes.
          class Counted extends Pc {
            constructor(c: unknown) {
              super(c);
              counts.opened++;
            }
            override close() {
              counts.closed++;
              super.close();
            }
          }
          const prober = sdk.iceStunProber({ RTCPeerConnection: Counted as never });
          const ok = await prober({ id: 'plain-b', stun: liveUrl }, AbortSignal.timeout(3000));
          const t = performance.now();
          const failed = await prober({ id: 'silent', stun: silentUrl }, AbortSignal.timeout(400)).then(
            () => undefined,
            (e: { code?: string }) => ({ code: e.code, ms: performance.now() - t }),
          );
          return { ok, failed, counts };
        },
        {
          liveUrl: `stun:${live.address}:${live.port}`,
          silentUrl: `stun:127.0.0.84:${(silent.address() as net.AddressInfo).port}`,
        },
      );
      expect(got.ok.method).toBe('ice-stun');
      expect(got.failed?.code).toBe('ERR_ABORTED');
      expect(got.failed!.ms).toBeLessThan(1500);
      expect(swallowed).toBeGreaterThan(0); // the silent relay was asked
      // Two rounds for the live relay, one cut short for the silent one: each closed.
      expect(got.counts).toEqual({ opened: 3, closed: 3 });
    } finally {
      silent.close();
    }
  });

  it('times the round trip to a far STUN server (behind a NAT), never less than it takes', async () => {
    // A server that answers 80 ms late, mapping the page to a documentation address as a NAT would.
    const DELAY = 80;
    const far = await startStunResponder('198.51.100.7', { delayMs: DELAY });
    try {
      const got = await page.evaluate(async (stun) => {
        const sdk = (globalThis as unknown as { RelaySdk: Sdk }).RelaySdk;
        return sdk.iceStunProber()({ id: 'far', stun }, AbortSignal.timeout(3000));
      }, `stun:127.0.0.1:${far.port}`);
      expect(got.method).toBe('ice-stun');
      expect(far.requests.length).toBeGreaterThanOrEqual(2); // two rounds
      expect(got.rttMs).toBeGreaterThanOrEqual(DELAY);
      // Set-up and event delivery add little: well under the 80 ms itself, even on a loaded machine.
      expect(got.rttMs).toBeLessThan(DELAY * 2);
    } finally {
      await far.close();
    }
  });
});
