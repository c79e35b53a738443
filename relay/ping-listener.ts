/**
 * The relay's public ping listeners: GET /ping and nothing else, over plain HTTP (--ping-port)
 * and over HTTPS with the relay's TLS certificate (--ping-tls-port), so that a web page, HTTPS
 * included, can time its round trip to this relay. Everything else there is 404: /metrics,
 * /healthz, /readyz and PUT /faults stay on the private port (relay/http.ts). This module owns the
 * /ping answer both ports give; relay/tls-certificates.ts owns the certificate and its reloads.
 */
import http from 'node:http';
import type net from 'node:net';
import type { Logger } from './logger.ts';
import type { TlsCertificates } from './tls-certificates.ts';

/** A problem JSON answer (RFC 9457), never cached. */
export function sendProblem(
  res: http.ServerResponse,
  status: number,
  title: string,
  detail?: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': 'application/problem+json',
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(JSON.stringify({ type: 'about:blank', title, status, ...(detail ? { detail } : {}) }));
}

/**
 * Answers GET/HEAD/OPTIONS /ping: CORS open (a simple GET from any origin, no preflight needed),
 * never cached, and `timing-allow-origin` so that Resource Timing may show the page the phases.
 */
export function answerPing(req: http.IncomingMessage, res: http.ServerResponse): void {
  res.writeHead(req.method === 'OPTIONS' ? 204 : 200, {
    'access-control-allow-origin': '*',
    'access-control-allow-methods': 'GET, HEAD, OPTIONS',
    'access-control-max-age': '600',
    'cache-control': 'no-store',
    'timing-allow-origin': '*',
    'content-type': 'text/plain',
  });
  res.end(req.method === 'GET' ? 'pong' : undefined);
}

/** The public handler: /ping, else 404 (405 for other methods on /ping). */
function publicHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/ping') {
    sendProblem(res, 404, 'Not Found', `no route ${path} on the public port; only /ping`);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS') {
    sendProblem(res, 405, 'Method Not Allowed', undefined, { allow: 'GET, HEAD, OPTIONS' });
    return;
  }
  answerPing(req, res);
}

/** Listens on host:port (0 picks one) and resolves with the port bound. */
export async function listenHttp(server: net.Server, host: string, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as net.AddressInfo).port;
}

/** Stops listening and ends every connection, keep-alive ones included. */
export function closeHttp(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export interface PingListeners {
  /** Bound ports; undefined for a listener not asked for. */
  readonly http: number | undefined;
  readonly https: number | undefined;
  close(): Promise<void>;
}

export async function startPingListeners(
  o: {
    readonly host: string;
    readonly httpPort: number | undefined;
    readonly httpsPort: number | undefined;
    /** Needed with httpsPort: the relay's certificate, whose reloads reach this listener too. */
    readonly certificates: TlsCertificates | undefined;
  },
  logger: Logger,
): Promise<PingListeners> {
  const log = logger.child({ part: 'ping' });
  const servers: http.Server[] = [];
  const close = () => Promise.all(servers.map(closeHttp)).then(() => undefined);
  const start = async (server: http.Server, port: number): Promise<number> => {
    // A ping is one small request; a slow client gets no more than a few seconds of a socket.
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 10_000;
    server.requestTimeout = 10_000;
    servers.push(server);
    return listenHttp(server, o.host, port);
  };
  try {
    const httpPort =
      o.httpPort === undefined ? undefined : await start(http.createServer(publicHandler), o.httpPort);
    let httpsPort: number | undefined;
    if (o.httpsPort !== undefined) {
      if (!o.certificates) throw new Error('--ping-tls-port: the relay has no TLS certificate');
      httpsPort = await start(o.certificates.createHttpsServer(publicHandler), o.httpsPort);
    }
    if (httpPort !== undefined || httpsPort !== undefined)
      log.info({ host: o.host, http: httpPort, https: httpsPort }, 'public ping up: /ping only');
    return { http: httpPort, https: httpsPort, close };
  } catch (err) {
    await close();
    throw err;
  }
}
