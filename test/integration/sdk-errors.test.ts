/**
 * The SDK's failures, each as an EdgeError with its own code, against real sockets: a real edge
 * (the Hono app on a real port) refusing a request (problem JSON) and losing its directory (503
 * with Retry-After), a closed port, a server that never answers, and the caller's AbortSignal
 * during the request, during HTTP probes and during STUN probes (which must stop promptly, long
 * before the time budget).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgeError, getRtcConfiguration } from '../../sdk/index.ts';
import { getRtcConfiguration as getWithStun } from '../../sdk/node.ts';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import type { RelayRecord } from '../../src/directory/types.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { freePort } from '../support/ports.ts';
import { relayRecord } from '../support/relay-record.ts';

let directory: () => Promise<RelayRecord[]>;
let edge: ReturnType<typeof serve>;
let edgeUrl: string;
/** Accepts connections and requests, and never answers. */
let silent: http.Server;
let silentUrl: string;
const held: http.ServerResponse[] = [];

const listen = (s: http.Server) =>
  new Promise<string>((r) =>
    s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)),
  );

/** Runs `call`, aborting it after `afterMs`; returns its error and how long it took to reject. */
async function abortAfter(afterMs: number, call: (signal: AbortSignal) => Promise<unknown>) {
  const controller = new AbortController();
  const start = performance.now();
  setTimeout(() => controller.abort(new Error('user left')), afterMs);
  const err = await call(controller.signal).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { err: err as EdgeError, ms: performance.now() - start };
}

beforeAll(async () => {
  const app = createEdgeApp({
    relays: () => directory(),
    learned: new MemoryLearnedStore(),
    secrets: () => ['sdk-errors-secret'],
    credentialTtlSeconds: 600,
    clientIp: () => '127.0.0.1',
    defaultPlace: { lat: 48.86, lon: 2.35 },
  });
  edgeUrl = await new Promise<string>((resolve) => {
    edge = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info: AddressInfo) =>
      resolve(`http://127.0.0.1:${info.port}`),
    );
  });
  silent = http.createServer((_req, res) => void held.push(res));
  silentUrl = await listen(silent);
});

afterAll(async () => {
  for (const res of held) res.destroy();
  silent?.closeAllConnections();
  silent?.close();
  edge?.close();
});

describe('SDK errors', () => {
  it("carries the edge's problem: status, type, title and detail", async () => {
    directory = async () => [relayRecord('solo', '127.0.0.1', 48.86, 2.35)];
    const err = await getRtcConfiguration({ edgeUrl, ttlSeconds: 5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EdgeError);
    const e = err as EdgeError;
    expect(e.code).toBe('ERR_EDGE_HTTP');
    expect(e.status).toBe(422);
    expect(e.type).toBe('about:blank');
    expect(e.title).toBe('Invalid request');
    expect(e.detail).toMatch(/ttl/);
    expect(e.retryAfter).toBeUndefined();
  });

  it('reads Retry-After when the edge cannot reach its directory', async () => {
    directory = async () => {
      throw new Error('redis socket closed');
    };
    const e = (await getRtcConfiguration({ edgeUrl }).catch((x: unknown) => x)) as EdgeError;
    expect(e).toBeInstanceOf(EdgeError);
    expect(e.code).toBe('ERR_EDGE_HTTP');
    expect(e.status).toBe(503);
    expect(e.retryAfter).toBe(5);
    expect(e.message).not.toContain('socket closed');
  });

  it('tells a network failure from a timeout, with the cause', async () => {
    const closed = await freePort('tcp');
    const net = (await getRtcConfiguration({ edgeUrl: `http://127.0.0.1:${closed}` }).catch(
      (x: unknown) => x,
    )) as EdgeError;
    expect(net).toBeInstanceOf(EdgeError);
    expect(net.code).toBe('ERR_EDGE_NETWORK');
    expect(net.cause).toBeInstanceOf(Error);

    const start = performance.now();
    const slow = (await getRtcConfiguration({ edgeUrl: silentUrl, budgetMs: 300 }).catch(
      (x: unknown) => x,
    )) as EdgeError;
    expect(slow.code).toBe('ERR_EDGE_TIMEOUT');
    expect(slow.cause).toBeDefined();
    expect(performance.now() - start).toBeLessThan(3000);
  });

  it('aborts a request to the edge promptly, long before its budget', async () => {
    const { err, ms } = await abortAfter(200, (signal) =>
      getRtcConfiguration({ edgeUrl: silentUrl, budgetMs: 20_000, signal }),
    );
    expect(err).toBeInstanceOf(EdgeError);
    expect(err.code).toBe('ERR_EDGE_ABORTED');
    expect((err.cause as Error).message).toBe('user left');
    expect(ms).toBeLessThan(5000);
    // Already aborted: nothing is sent.
    const before = held.length;
    const pre = (await getRtcConfiguration({
      edgeUrl: silentUrl,
      signal: AbortSignal.abort(),
    }).catch((x: unknown) => x)) as EdgeError;
    expect(pre.code).toBe('ERR_EDGE_ABORTED');
    await new Promise((r) => setTimeout(r, 100));
    expect(held.length).toBe(before);
  });

  it('aborts its HTTP probes promptly', async () => {
    // The edge answers at once; the relay's /ping never does.
    directory = async () => [
      relayRecord('stalled', '127.0.0.1', 48.86, 2.35, { pingUrl: `${silentUrl}/ping` }),
    ];
    const { err, ms } = await abortAfter(300, (signal) =>
      getRtcConfiguration({ edgeUrl, budgetMs: 20_000, signal }),
    );
    expect(err.code).toBe('ERR_EDGE_ABORTED');
    expect(ms).toBeLessThan(5000);
  });

  it('aborts its STUN probes promptly', async () => {
    const quiet = await freePort('udp', '127.0.0.1');
    directory = async () => [relayRecord('quiet', '127.0.0.1', 48.86, 2.35, { turnPort: quiet })];
    const { err, ms } = await abortAfter(300, (signal) => getWithStun({ edgeUrl, budgetMs: 20_000, signal }));
    expect(err).toBeInstanceOf(EdgeError);
    expect(err.code).toBe('ERR_EDGE_ABORTED');
    expect(ms).toBeLessThan(5000);
  });
});
