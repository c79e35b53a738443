/**
 * The limits in front of the public ping ports (issue 12), with real sockets on loopback: a
 * per-source connection cap that closes the excess at once while another source still gets /ping;
 * the global cap; a slowloris header trickle closed by the headers timeout (408); an idle
 * keep-alive connection and a TLS connection that never starts its handshake closed soon; a burst
 * of requests answered 429 with Retry-After, then served again. Each refusal is counted in
 * relay_ping_refused_total{reason}.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../relay/logger.ts';
import {
  PING_TIMEOUTS,
  type PingLimits,
  type PingListeners,
  startPingListeners,
} from '../../relay/ping-listener.ts';
import { TlsCertificates } from '../../relay/tls-certificates.ts';
import { until } from '../support/backbone-relays.ts';
import { makeSelfSignedCert } from '../support/tls-cert.ts';

const HOST = '127.0.0.72';
const logger = createLogger('silent');
/** Smaller than the defaults, so that each cap is reached quickly. */
const LIMITS: PingLimits = { maxConnections: 1000, maxConnectionsPerIp: 8, ratePerSecond: 10, burst: 20 };

let dir: string;
let certificates: TlsCertificates;
let open: PingListeners | undefined;
let registry: Registry;
const sockets: net.Socket[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ping-limits-'));
  mkdirSync(join(dir, 'c'));
  const files = await makeSelfSignedCert(join(dir, 'c'), { ips: [HOST] });
  certificates = new TlsCertificates({ certFile: files.cert, keyFile: files.key }, logger);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await open?.close();
  open = undefined;
});

async function listen(limits: PingLimits = LIMITS): Promise<PingListeners> {
  registry = new Registry();
  open = await startPingListeners(
    { host: HOST, httpPort: 0, httpsPort: 0, certificates, limits, registry },
    logger,
  );
  return open;
}

async function refusals(): Promise<Record<string, number>> {
  const metric = registry.getSingleMetric('relay_ping_refused_total');
  const out: Record<string, number> = {};
  for (const v of (await metric!.get()).values) out[String(v.labels.reason)] = v.value;
  return out;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(port: number, from: string, agent?: http.Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: HOST, port, path: '/ping', localAddress: from, agent: agent ?? false, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('ping timed out')));
    req.on('error', reject);
  });
}

/** A raw TCP connection from `from`; resolves once connected, tracks its close and what it read. */
function connect(
  port: number,
  from: string,
): Promise<{ socket: net.Socket; closed: Promise<number>; data: () => string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: HOST, port, localAddress: from });
    sockets.push(socket);
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      data += c;
    });
    const closed = new Promise<number>((r) => socket.once('close', () => r(Date.now())));
    socket.on('error', () => {});
    socket.once('connect', () => resolve({ socket, closed, data: () => data }));
    socket.once('close', () => reject(new Error('closed before connecting')));
  });
}

describe('connection caps on the ping ports', () => {
  it('closes most of 500 idle connections from one source at once and still serves another source', async () => {
    const { http: port } = await listen();
    const from = '127.0.0.73';
    const conns = await Promise.all(
      Array.from({ length: 500 }, () => connect(port!, from).catch(() => undefined)),
    );
    let closedCount = 0;
    for (const c of conns) void c?.closed.then(() => closedCount++);
    const refusedAtOnce = conns.filter((c) => c === undefined).length;
    // The caps close the excess on accept; only the per-source cap's worth stays open.
    await until(
      async () => closedCount + refusedAtOnce >= 500 - LIMITS.maxConnectionsPerIp,
      5000,
      'the excess connections closed',
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(500 - refusedAtOnce - closedCount).toBe(LIMITS.maxConnectionsPerIp);
    const fresh = await get(port!, '127.0.0.74');
    expect(fresh.status).toBe(200);
    expect(fresh.body).toBe('pong');
    expect((await refusals()).connection_limit_source).toBe(500 - LIMITS.maxConnectionsPerIp);
  });

  it("closes connections past the global cap whatever their source, HTTPS's raw socket included", async () => {
    const { http: port, https: tlsPort } = await listen({ ...LIMITS, maxConnections: 4 });
    const held = await Promise.all([1, 2, 3].map(() => connect(port!, '127.0.0.73')));
    held.push(await connect(tlsPort!, '127.0.0.74'));
    const over = await connect(port!, '127.0.0.75').catch(() => undefined);
    if (over) await over.closed;
    for (const h of held) expect(h.socket.destroyed).toBe(false);
    expect((await refusals()).connection_limit_global).toBe(1);
    held[0]!.socket.destroy();
    await until(
      async () => (await get(port!, '127.0.0.75').catch(() => undefined))?.status === 200,
      3000,
      'a ping once a connection is free',
    );
  });
});

describe('timeouts on the ping ports', () => {
  it('closes a slowloris header trickle with 408 once the headers timeout passes', async () => {
    const { http: port } = await listen();
    const c = await connect(port!, '127.0.0.76');
    const started = Date.now();
    c.socket.write('GET /ping HTTP/1.1\r\nhost: x\r\n');
    let closed = false;
    void c.closed.then(() => {
      closed = true;
    });
    // One header line every 200 ms, for at most 10 s: never a complete request.
    for (let i = 0; i < 50 && !closed; i++) {
      c.socket.write(`x-${i}: y\r\n`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const at = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(0), 100))]);
    expect(at, 'the trickle was never closed').toBeGreaterThan(0);
    expect(at - started).toBeLessThan(PING_TIMEOUTS.headers + PING_TIMEOUTS.check + 2000);
    expect(c.data()).toMatch(/^HTTP\/1\.1 408/);
    expect((await refusals()).request_timeout).toBe(1);
  });

  it('closes an idle keep-alive connection after its ping', async () => {
    const { http: port } = await listen();
    const c = await connect(port!, '127.0.0.77');
    c.socket.write('GET /ping HTTP/1.1\r\nhost: x\r\nconnection: keep-alive\r\n\r\n');
    await until(async () => c.data().includes('pong'), 3000, 'the pong');
    const answered = Date.now();
    const at = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(0), 8000))]);
    expect(at, 'the idle connection was never closed').toBeGreaterThan(0);
    expect(at - answered).toBeLessThan(PING_TIMEOUTS.keepAlive + 2000);
  });

  it('closes a TLS connection that never starts its handshake', async () => {
    const { https: port } = await listen();
    const c = await connect(port!, '127.0.0.78');
    const started = Date.now();
    const at = await Promise.race([c.closed, new Promise<number>((r) => setTimeout(() => r(0), 10_000))]);
    expect(at, 'the silent TLS connection was never closed').toBeGreaterThan(0);
    expect(at - started).toBeLessThan(PING_TIMEOUTS.tlsHandshake + 2000);
    await until(async () => (await refusals()).tls_handshake_timeout === 1, 2000, 'the count');
  });
});

describe('request rate on the ping ports', () => {
  it('answers a burst past the limit with 429 and Retry-After, then serves the source again', async () => {
    const limits = { ...LIMITS, ratePerSecond: 5, burst: 10 };
    const { http: port } = await listen(limits);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const answers: Answer[] = [];
      const started = Date.now();
      for (let i = 0; i < 16; i++) answers.push(await get(port!, '127.0.0.79', agent));
      const refilled = Math.ceil(((Date.now() - started) / 1000) * limits.ratePerSecond);
      const ok = answers.filter((a) => a.status === 200).length;
      const limited = answers.filter((a) => a.status === 429);
      // The burst, plus the requests the rate allowed while the burst ran (a slow machine's share).
      expect(ok).toBeGreaterThanOrEqual(limits.burst);
      expect(ok).toBeLessThanOrEqual(limits.burst + refilled);
      expect(limited.length).toBeGreaterThan(0);
      expect(limited.length).toBe(16 - ok);
      expect(answers.slice(0, limits.burst).every((a) => a.status === 200)).toBe(true);
      const first = limited[0]!;
      expect(first.headers['content-type']).toBe('application/problem+json');
      expect(Number(first.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // A page on any origin may read it (else the browser shows it a network error).
      expect(first.headers['access-control-allow-origin']).toBe('*');
      expect(first.headers['access-control-expose-headers']).toBe('Retry-After');
      expect(Buffer.byteLength(first.body)).toBeLessThan(120);
      expect(JSON.parse(first.body)).toMatchObject({ status: 429, title: 'Too Many Requests' });
      // Another source is not held back.
      expect((await get(port!, '127.0.0.80')).status).toBe(200);
      expect((await refusals()).rate_limited).toBe(limited.length);
      await new Promise((r) => setTimeout(r, Number(first.headers['retry-after']) * 1000));
      expect((await get(port!, '127.0.0.79', agent)).status).toBe(200);
    } finally {
      agent.destroy();
    }
  });
});

describe('bad requests on the ping ports', () => {
  it('answers a request head over 4 KiB with 431 and closes it', async () => {
    const { http: port } = await listen();
    const c = await connect(port!, '127.0.0.81');
    c.socket.write(`GET /ping HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(5000)}\r\n\r\n`);
    await c.closed;
    expect(c.data()).toMatch(/^HTTP\/1\.1 431/);
    expect((await refusals()).bad_request).toBe(1);
  });
});
