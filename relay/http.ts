/**
 * The relay's private HTTP port: Prometheus metrics, liveness and readiness for orchestrators,
 * PUT /faults with a bearer token (--fault-api-token), and /ping as well (the public ping
 * listeners of relay/ping-listener.ts serve /ping alone). It listens on loopback by default.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Logger } from './logger.ts';
import { answerPing, closeHttp, listenHttp, sendProblem } from './ping-listener.ts';

export interface HttpSources {
  /** The Prometheus text of /metrics (one registry, or the workers' aggregated), and its type. */
  metrics(): Promise<string>;
  readonly contentType: string;
  ready(): boolean;
  /** Extra fields for /healthz (allocations, draining...). */
  status(): Record<string, unknown>;
  /**
   * With --fault-api-token: PUT /faults with that bearer token replaces the backbone fault spec;
   * setFaults returns an error message or undefined.
   */
  faults?: { readonly token: string; set(spec: string): string | undefined } | undefined;
}

/** Whether `Authorization: Bearer <token>` names the token, compared in constant time (over digests). */
function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+)$/i.exec(header ?? '');
  if (!m) return false;
  const digest = (t: string) => createHash('sha256').update(t).digest();
  return timingSafeEqual(digest(m[1]!), digest(token));
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
    const faults = src.faults;
    if (path === '/faults' && req.method === 'PUT' && faults) {
      // RFC 6750 §3: no credentials is 401 with a challenge, a wrong token 403. The body is not read.
      if (!req.headers.authorization) {
        sendProblem(res, 401, 'Unauthorized', 'PUT /faults needs Authorization: Bearer <--fault-api-token>', {
          'www-authenticate': 'Bearer realm="relay"',
        });
        return;
      }
      if (!bearerMatches(req.headers.authorization, faults.token)) {
        log.warn({ from: req.socket.remoteAddress }, 'PUT /faults with a wrong token refused');
        sendProblem(res, 403, 'Forbidden', "the bearer token is not this relay's --fault-api-token");
        return;
      }
      readBody(req, 4096).then(
        (body) => {
          const error = faults.set(body);
          if (error) sendProblem(res, 400, 'Bad fault spec', error);
          else json(200, { ok: true });
        },
        () => sendProblem(res, 413, 'Body too large'),
      );
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD' && !(req.method === 'OPTIONS' && path === '/ping')) {
      json(405, { type: 'about:blank', title: 'Method Not Allowed', status: 405 }, { allow: 'GET, HEAD' });
      return;
    }
    switch (path) {
      case '/metrics':
        src.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': src.contentType });
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
        answerPing(req, res);
        return;
      default:
        json(404, { type: 'about:blank', title: 'Not Found', status: 404, detail: `no route ${path}` });
    }
  });
  server.keepAliveTimeout = 5000;
  const bound = await listenHttp(server, host, port);
  log.info({ host, port: bound }, 'HTTP up: /metrics /healthz /readyz /ping');
  return { port: bound, close: () => closeHttp(server) };
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
