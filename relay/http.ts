/**
 * The relay's HTTP port: Prometheus metrics, liveness and readiness for orchestrators, and the
 * latency ping that clients and the edge use to measure round-trip time to this relay.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.ts';

export interface HttpSources {
  readonly registry: Registry;
  ready(): boolean;
  /** Extra fields for /healthz (allocations, draining...). */
  status(): Record<string, unknown>;
  /** With --fault-api: replace the backbone fault spec; returns an error message or undefined. */
  setFaults?: ((spec: string) => string | undefined) | undefined;
}

export interface RelayHttp {
  readonly port: number;
  close(): Promise<void>;
}

export async function startRelayHttp(
  host: string,
  port: number,
  src: HttpSources,
  logger: Logger,
): Promise<RelayHttp> {
  const log = logger.child({ part: 'http' });
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
      res.end(JSON.stringify(body));
    };
    if (path === '/faults' && req.method === 'PUT' && src.setFaults) {
      readBody(req, 4096).then(
        (body) => {
          const error = src.setFaults!(body);
          if (error) json(400, { type: 'about:blank', title: 'Bad fault spec', status: 400, detail: error });
          else json(200, { ok: true });
        },
        () => json(413, { type: 'about:blank', title: 'Body too large', status: 413 }),
      );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD' && !(req.method === 'OPTIONS' && path === '/ping')) {
      json(405, { type: 'about:blank', title: 'Method Not Allowed', status: 405 }, { allow: 'GET, HEAD' });
      return;
    }
    switch (path) {
      case '/metrics':
        src.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': src.registry.contentType });
            res.end(text);
          },
          (err: unknown) => {
            log.error({ err }, 'metrics collection failed');
            json(500, { type: 'about:blank', title: 'Metrics collection failed', status: 500 });
          },
        );
        return;
      case '/healthz':
        json(200, { status: 'ok', ...src.status() });
        return;
      case '/readyz':
        json(src.ready() ? 200 : 503, { ready: src.ready(), ...src.status() });
        return;
      case '/ping':
        // Browsers measure RTT with fetch(); CORS open, never cached.
        res.writeHead(req.method === 'OPTIONS' ? 204 : 200, {
          'access-control-allow-origin': '*',
          'access-control-allow-methods': 'GET, HEAD, OPTIONS',
          'access-control-max-age': '600',
          'cache-control': 'no-store',
          'timing-allow-origin': '*',
          'content-type': 'text/plain',
        });
        res.end(req.method === 'GET' ? 'pong' : undefined);
        return;
      default:
        json(404, { type: 'about:blank', title: 'Not Found', status: 404, detail: `no route ${path}` });
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as net.AddressInfo).port;
  log.info({ host, port: bound }, 'HTTP up: /metrics /healthz /readyz /ping');
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
      if (body.length > limit) {
        reject(new Error('too large'));
        req.destroy();
      }
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}
