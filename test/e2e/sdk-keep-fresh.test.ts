/**
 * keepFresh on Chromium's own RTCPeerConnection, with the built SDK (sdk/dist) imported by a page:
 * two relay-only connections in one page call each other through two real relays, the edge hands
 * out 10-second credentials, and keepFresh renews the caller's before they expire. When the edge
 * has moved to the other relay the renewal applies the new iceServers and restarts ICE, and the call
 * continues on the new relay; a renewal on the same relay changes the credential without a restart;
 * a failed renewal (the edge's directory away: 503, Retry-After 5) reaches onError as an EdgeError
 * and is retried no sooner than Retry-After.
 */
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { serve } from '@hono/node-server';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveExampleFile } from '../../scripts/example-files.ts';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import type { RelayRecord } from '../../src/directory/types.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { startTestRelay, stopTestRelays, type TestRelay } from '../support/backbone-relays.ts';
import { launchChromium } from '../support/chromium.ts';
import { relayRecord } from '../support/relay-record.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const SECRET = 'keep-fresh-secret';
const HOSTS = ['127.0.0.91', '127.0.0.92'];

/** The page: both connections, in-page signalling after full gathering, keepFresh on the caller. */
const PAGE = `<!doctype html><title>keepFresh</title><script type="module">
import { EdgeError, getRtcConfiguration, keepFresh } from '/sdk/index.js';
const t = { renewals: [], errors: [], received: [] };
window.t = t;
const gathered = async (pc) => {
  for (let i = 0; i < 200; i++) {
    if (pc.iceGatheringState === 'complete' && pc.localDescription.sdp.includes('a=candidate')) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('gathering did not complete');
};
t.start = async (edgeUrl) => {
  const opts = { edgeUrl, relayOnly: true, budgetMs: 3000, transports: ['udp'] };
  const a = await getRtcConfiguration({ ...opts, user: 'alice' });
  const b = await getRtcConfiguration({ ...opts, user: 'bob' });
  const pa = new RTCPeerConnection(a.configuration);
  const pb = new RTCPeerConnection(b.configuration);
  t.pa = pa;
  pa.onnegotiationneeded = async () => {
    try {
      await pa.setLocalDescription();
      await gathered(pa);
      await pb.setRemoteDescription(pa.localDescription);
      await pb.setLocalDescription();
      await gathered(pb);
      await pa.setRemoteDescription(pb.localDescription);
    } catch (err) {
      t.errors.push({ negotiation: String(err) });
    }
  };
  const da = pa.createDataChannel('c', { negotiated: true, id: 0 });
  const db = pb.createDataChannel('c', { negotiated: true, id: 0 });
  db.onmessage = (e) => t.received.push(String(e.data));
  t.send = (m) => da.send(m);
  t.stop = keepFresh(pa, {
    ...opts,
    user: 'alice',
    current: a,
    marginSeconds: 2,
    onRenewed: (r) => t.renewals.push({
      relay: r.result.relay.id, relayChanged: r.relayChanged, restarted: r.restarted, reason: r.reason,
      username: pa.getConfiguration().iceServers[0].username, at: Date.now(),
    }),
    onError: (e) => t.errors.push({
      edgeError: e instanceof EdgeError, code: e.code, status: e.status, retryAfter: e.retryAfter, at: Date.now(),
    }),
  });
  return { relay: a.relay.id, username: a.configuration.iceServers[0].username };
};
t.path = async () => {
  const stats = await t.pa.getStats();
  for (const s of stats.values()) {
    if (s.type !== 'transport' || !s.selectedCandidatePairId) continue;
    const pair = stats.get(s.selectedCandidatePairId);
    const local = stats.get(pair.localCandidateId);
    return { state: t.pa.iceConnectionState, type: local.candidateType, url: local.url };
  }
  return { state: t.pa.iceConnectionState };
};
</script>`;

interface Renewed {
  relay: string;
  relayChanged: boolean;
  restarted: boolean;
  reason: string;
  username: string;
  at: number;
}
interface Failed {
  edgeError?: boolean;
  code?: string;
  status?: number;
  retryAfter?: number;
  negotiation?: string;
  at: number;
}
interface PageT {
  renewals: Renewed[];
  errors: Failed[];
  received: string[];
  start(edgeUrl: string): Promise<{ relay: string; username: string }>;
  send(m: string): void;
  stop(): void;
  path(): Promise<{ state: string; type?: string; url?: string }>;
}

let relays: TestRelay[] = [];
let directory: () => Promise<RelayRecord[]>;
let records: RelayRecord[];
let edge: ReturnType<typeof serve>;
let site: ReturnType<typeof serve>;
let edgeUrl: string;
let origin: string;
let browser: Browser;

const listen = (fetch: (req: Request) => Response | Promise<Response>) =>
  new Promise<{ server: ReturnType<typeof serve>; url: string }>((resolve) => {
    const server = serve({ fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
      resolve({ server, url: `http://127.0.0.1:${info.port}` }),
    );
  });

describe('keepFresh in Chromium', () => {
  beforeAll(async () => {
    await promisify(execFile)('npm', ['run', 'build:sdk'], { cwd: ROOT, timeout: 120_000 });
    relays = await Promise.all(
      HOSTS.map((host, i) => startTestRelay({ id: `r${i + 1}`, host, extra: ['--secret', SECRET] })),
    );
    records = relays.map((r, i) =>
      relayRecord(r.id, HOSTS[i]!, 48.86, 2.35, {
        turnPort: r.turn.port,
        turnUrls: [`turn:${HOSTS[i]}:${r.turn.port}?transport=udp`],
        pingUrl: `${r.http}/ping`,
      }),
    );
    directory = async () => [records[0]!];
    const app = createEdgeApp({
      relays: () => directory(),
      learned: new MemoryLearnedStore(),
      secrets: () => [SECRET],
      credentialTtlSeconds: 10,
      corsOrigins: '*',
      clientIp: () => '127.0.0.1',
      defaultPlace: { lat: 48.86, lon: 2.35 },
    });
    ({ server: edge, url: edgeUrl } = await listen(app.fetch));
    const mounts = { '/sdk/': join(ROOT, 'sdk', 'dist') };
    ({ server: site, url: origin } = await listen(
      (req) =>
        serveExampleFile(req, mounts) ?? new Response(PAGE, { headers: { 'content-type': 'text/html' } }),
    ));
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
    edge?.close();
    site?.close();
    await stopTestRelays(relays);
  });

  it('renews before expiry, restarts ICE onto a new relay, and retries a failed renewal after Retry-After', async () => {
    const page: Page = await (await browser.newContext()).newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${origin}/`);
    await expect
      .poll(() => page.evaluate(() => typeof (globalThis as unknown as { t?: PageT }).t?.start))
      .toBe('function');
    const first = await page.evaluate((url) => (globalThis as unknown as { t: PageT }).t.start(url), edgeUrl);
    expect(first.relay).toBe('r1');
    const path = () => page.evaluate(() => (globalThis as unknown as { t: PageT }).t.path());
    await expect.poll(path, { timeout: 20_000 }).toMatchObject({ state: 'connected', type: 'relay' });
    expect((await path()).url).toContain(HOSTS[0]);

    // The edge now hands out r2 only: the renewal (2 s before the 10 s credential expires) moves the call.
    directory = async () => [records[1]!];
    const renewals = () => page.evaluate(() => (globalThis as unknown as { t: PageT }).t.renewals);
    await expect.poll(async () => (await renewals()).length, { timeout: 15_000 }).toBe(1);
    const moved = (await renewals())[0]!;
    expect(moved).toMatchObject({ relay: 'r2', relayChanged: true, restarted: true, reason: 'expiry' });
    expect(moved.username).not.toBe(first.username);
    await expect.poll(async () => (await path()).url ?? '', { timeout: 20_000 }).toContain(HOSTS[1]);
    expect((await path()).state).toMatch(/^(connected|completed)$/);
    await page.evaluate(() => (globalThis as unknown as { t: PageT }).t.send('after the restart'));
    await expect
      .poll(() => page.evaluate(() => (globalThis as unknown as { t: PageT }).t.received))
      .toContain('after the restart');

    // Same relay next time: new credential applied, no restart.
    await expect.poll(async () => (await renewals()).length, { timeout: 15_000 }).toBe(2);
    const same = (await renewals())[1]!;
    expect(same).toMatchObject({ relay: 'r2', relayChanged: false, restarted: false });
    expect(same.username).not.toBe(moved.username);

    // The edge loses its directory: the renewal fails with its 503, and is retried after Retry-After.
    directory = async () => {
      throw new Error('directory away');
    };
    const errors = () => page.evaluate(() => (globalThis as unknown as { t: PageT }).t.errors);
    await expect.poll(async () => (await errors()).length, { timeout: 15_000 }).toBeGreaterThan(0);
    const failed = (await errors())[0]!;
    expect(failed).toMatchObject({ edgeError: true, code: 'ERR_EDGE_HTTP', status: 503, retryAfter: 5 });
    directory = async () => [records[1]!];
    await expect.poll(async () => (await renewals()).length, { timeout: 15_000 }).toBe(3);
    const retried = (await renewals())[2]!;
    expect(retried.at - failed.at).toBeGreaterThanOrEqual(5000);
    expect((await path()).state).toMatch(/^(connected|completed)$/);
    await page.evaluate(() => (globalThis as unknown as { t: PageT }).t.send('still here'));
    await expect
      .poll(() => page.evaluate(() => (globalThis as unknown as { t: PageT }).t.received))
      .toContain('still here');
    await page.evaluate(() => (globalThis as unknown as { t: PageT }).t.stop());
    expect(pageErrors).toEqual([]);
  });
});
