/**
 * How many TURN allocations a relay-only browser makes per peer connection with the edge's answer
 * (issue 9 §3). Three real relays (Paris, New York, Tokyo by their coordinates) on loopback with
 * UDP, TCP and TLS; the edge over the same Redis directory; two headless Chromium pages that each
 * take `iceServers` from POST /v1/allocate and open a relay-only data channel. Each relay's
 * turn_allocations_created_total, read before and after each page gathers, counts the allocations
 * that page's peer connection made: with the old shape of the answer (asked for here with
 * "relays": 3) and with the new default (the chosen relay alone).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Redis } from 'ioredis';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { RedisDirectory } from '../../src/redis/redis-directory.ts';
import { hashSecret, MemoryTenantStore, newApiKey } from '../../src/tenants/api-keys.ts';
import { createEdgeApp } from '../../workers/app.ts';
import {
  relayMetric,
  startTestRelay,
  stopTestRelays,
  type TestRelay,
  until,
} from '../support/backbone-relays.ts';
import { launchChromium } from '../support/chromium.ts';
import { type PageCallCore, pageCallScript } from '../support/page-call.ts';
import { freePort } from '../support/ports.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { makeSelfSignedCert } from '../support/tls-cert.ts';

const SECRET = 'allocation-count-secret';
const KEY = newApiKey(new Uint8Array(40).map((_, i) => (i * 31 + 7) & 255));
const RELAYS = {
  paris: { host: '127.0.0.21', lat: 48.86, lon: 2.35 },
  newyork: { host: '127.0.0.22', lat: 40.71, lon: -74.0 },
  tokyo: { host: '127.0.0.23', lat: 35.68, lon: 139.69 },
} as const;
type Id = keyof typeof RELAYS;
const IDS = Object.keys(RELAYS) as Id[];
/** A client in Brussels: Paris is its relay, New York and Tokyo come next. */
const BRUSSELS = { lat: 50.85, lon: 4.35 };

/** What `call()` returns on the page (PAGE_SCRIPT). */
interface PageCall extends PageCallCore {
  configure(edge: string, apiKey: string, body: unknown): Promise<{ iceServers: { urls: string[] }[] }>;
  /** The TURN URL each local relay candidate came from (getStats), sorted. */
  relayCandidateUrls(): Promise<string[]>;
  close(): void;
}
const call = (): PageCall => (globalThis as unknown as { call: () => PageCall }).call();

const PAGE_SCRIPT = pageCallScript(`
  async configure(edge, apiKey, body) {
    const res = await fetch(edge + '/v1/allocate', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer ' + apiKey },
      body: JSON.stringify(body),
    });
    const answer = await res.json();
    if (!res.ok) throw new Error('edge answered ' + res.status + ': ' + answer.detail);
    this.pc = new RTCPeerConnection({ iceServers: answer.iceServers, iceTransportPolicy: 'relay' });
    this.pc.ondatachannel = (e) => this.wire(e.channel);
    return answer;
  },
  async relayCandidateUrls() {
    const stats = await this.pc.getStats();
    return [...stats.values()]
      .filter((s) => s.type === 'local-candidate' && s.candidateType === 'relay')
      .map((s) => s.url)
      .sort();
  },
  close() { this.pc.close(); },`);

const relays = {} as Record<Id, TestRelay>;
let browser: Browser;
let page: http.Server;
let origin: string;
let edge: ReturnType<typeof serve>;
let edgeUrl: string;
let prefix: string;
let directory: RedisDirectory;
let certDir: string;

async function allocations(): Promise<Record<Id, number>> {
  const n = await Promise.all(IDS.map((id) => relayMetric(relays[id], 'turn_allocations_created_total')));
  return Object.fromEntries(IDS.map((id, i) => [id, n[i]!])) as Record<Id, number>;
}
const delta = (after: Record<Id, number>, before: Record<Id, number>) =>
  Object.fromEntries(IDS.map((id) => [id, after[id] - before[id]])) as Record<Id, number>;

/** One relay-only call between two pages configured by the edge with `body`; allocations per peer connection. */
async function measuredCall(body: Record<string, unknown>) {
  const pages: Page[] = [];
  const turnUrls: string[][] = [];
  for (let i = 0; i < 2; i++) {
    const p = await (await browser.newContext()).newPage();
    await p.addInitScript({ content: PAGE_SCRIPT });
    await p.goto(origin);
    const answer = await p.evaluate(({ url, key, b }) => call().configure(url, key, b), {
      url: edgeUrl,
      key: KEY.key,
      b: body,
    });
    turnUrls.push(answer.iceServers.flatMap((s) => s.urls.filter((u) => u.startsWith('turn'))).sort());
    pages.push(p);
  }
  const [caller, callee] = pages as [Page, Page];
  try {
    const t0 = await allocations();
    const offer = await caller.evaluate(() => call().offer());
    const t1 = await allocations();
    const answer = await callee.evaluate((o) => call().answer(o), offer);
    const t2 = await allocations();
    await caller.evaluate((a) => call().accept(a), answer);
    await Promise.all(
      pages.map((p) => p.waitForFunction(() => call().isOpen(), undefined, { timeout: 20_000 })),
    );
    await caller.evaluate(() => call().send('counted'));
    await callee.waitForFunction(() => call().received.length > 0, undefined, { timeout: 10_000 });
    return {
      turnUrls,
      perPeerConnection: [delta(t1, t0), delta(t2, t1)],
      candidateUrls: await Promise.all(pages.map((p) => p.evaluate(() => call().relayCandidateUrls()))),
      received: await callee.evaluate(() => call().received),
    };
  } finally {
    for (const p of pages) {
      await p.evaluate(() => call().close()).catch(() => undefined);
      await p.context().close();
    }
  }
}

describe('TURN allocations per browser peer connection', () => {
  beforeAll(async () => {
    const redis = { url: await redisUrl(), prefix: uniquePrefix('allocs') };
    prefix = redis.prefix;
    certDir = mkdtempSync(join(tmpdir(), 'allocs-'));
    const cert = await makeSelfSignedCert(certDir, { ips: IDS.map((id) => RELAYS[id].host) });
    for (const id of IDS) {
      const r = RELAYS[id];
      relays[id] = await startTestRelay({
        id,
        host: r.host,
        redis,
        extra: [
          '--secret',
          SECRET,
          '--lat',
          String(r.lat),
          '--lon',
          String(r.lon),
          '--tls-port',
          String(await freePort('tcp', r.host)),
          '--tls-cert',
          cert.cert,
          '--tls-key',
          cert.key,
        ],
      });
    }
    const client = () => new Redis(redis.url).on('error', () => {});
    directory = new RedisDirectory({ client: client(), subscriber: client(), prefix: redis.prefix });
    await until(
      async () => (await directory.list(Date.now())).length === 3,
      10_000,
      'three relays registered',
    );
    const app = createEdgeApp({
      relays: (now) => directory.list(now),
      learned: new MemoryLearnedStore(),
      secrets: () => [SECRET],
      credentialTtlSeconds: 600,
      clientIp: (c) => getConnInfo(c).remote.address,
      defaultPlace: BRUSSELS,
      corsOrigins: '*',
      tenants: new MemoryTenantStore({
        tenants: [{ id: 'web', name: 'Web', ratePerSecond: 50, burst: 50, createdAt: 0 }],
        keys: [
          {
            id: KEY.id,
            tenant: 'web',
            hash: await hashSecret(KEY.secret),
            label: 'allocation count',
            createdAt: 0,
            disabled: false,
          },
        ],
      }),
    });
    edgeUrl = await new Promise<string>((resolve) => {
      edge = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) =>
        resolve(`http://127.0.0.1:${info.port}`),
      );
    });
    page = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>allocations</title><p>allocations</p>');
    });
    await new Promise<void>((r) => page.listen(0, '127.0.0.1', r));
    origin = `http://127.0.0.1:${(page.address() as net.AddressInfo).port}/`;
    // Chromium checks a turns: server's certificate like a web page's: this one is self-signed.
    browser = await launchChromium(['--ignore-certificate-errors']);
  });

  afterAll(async () => {
    await browser?.close();
    page?.close();
    edge?.close();
    await directory?.close();
    await stopTestRelays(Object.values(relays));
    await deleteKeys(await redisUrl(), prefix);
    if (certDir) rmSync(certDir, { recursive: true, force: true });
  });

  it('makes one allocation per TURN URL on each of three relays when the answer holds three (the old default)', async () => {
    const old = await measuredCall({ location: BRUSSELS, relays: 3 });
    expect(old.turnUrls[0]).toHaveLength(9); // UDP, TCP and TLS on each relay
    for (const [i, counts] of old.perPeerConnection.entries()) {
      expect(counts).toEqual({ paris: 3, newyork: 3, tokyo: 3 });
      // Each relay candidate the browser gathered came from one of the answer's TURN URLs, each once.
      expect(old.candidateUrls[i]).toEqual(old.turnUrls[i]);
    }
    expect(old.received).toEqual(['counted']);
  });

  it('makes allocations only on the chosen relay, one per transport, with the default answer', async () => {
    const now = await measuredCall({ location: BRUSSELS });
    expect(now.turnUrls[0]).toEqual([
      expect.stringMatching(/^turn:127\.0\.0\.21:\d+\?transport=tcp$/),
      expect.stringMatching(/^turn:127\.0\.0\.21:\d+\?transport=udp$/),
      expect.stringMatching(/^turns:127\.0\.0\.21:\d+\?transport=tcp$/),
    ]);
    for (const [i, counts] of now.perPeerConnection.entries()) {
      expect(counts).toEqual({ paris: 3, newyork: 0, tokyo: 0 });
      expect(now.candidateUrls[i]).toEqual(now.turnUrls[i]);
    }
    expect(now.received).toEqual(['counted']);
  });

  it('makes a single allocation when the request asks for UDP alone', async () => {
    const udp = await measuredCall({ location: BRUSSELS, transports: ['udp'] });
    for (const counts of udp.perPeerConnection) expect(counts).toEqual({ paris: 1, newyork: 0, tokyo: 0 });
    expect(udp.received).toEqual(['counted']);
  });
});
