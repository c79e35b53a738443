/**
 * The relay's public ping listeners: GET /ping and nothing else, over plain HTTP (--ping-port)
 * and over HTTPS with the relay's TLS certificate (--ping-tls-port), so that a web page, HTTPS
 * included, can time its round trip to this relay. Everything else there is 404: /metrics,
 * /healthz, /readyz and PUT /faults stay on the private port (relay/http.ts). This module owns the
 * /ping answer both ports give and the limits in front of it (issue 12): a cap on connections,
 * relay-wide and per source, checked on the raw socket before TLS; small header, request,
 * keep-alive and TLS handshake timeouts; a per-source request rate answered with 429. The limits
 * are the pure ones the TURN listeners use (src/limits/); relay/tls-certificates.ts owns the
 * certificate and its reloads.
 */
import http from 'node:http';
import type net from 'node:net';
import { Counter, type Registry } from 'prom-client';
import { ConnectionLimiter, sourceKey } from '../src/limits/connection-limiter.ts';
import { SourceLimiter } from '../src/limits/source-limiter.ts';
import { type Logger, rateLimitedLog } from './logger.ts';
import type { TlsCertificates } from './tls-certificates.ts';

/**
 * Timeouts of the public ping ports, ms. A ping is one small request: a client that takes longer
 * than this to send its headers or finish its handshake is not timing a round trip.
 */
export const PING_TIMEOUTS = {
  /** Headers of a request must be in by then (a slowloris trickle is closed with 408). */
  headers: 2000,
  /** The whole request, body included (a ping has none; Node needs it no shorter than headers). */
  request: 5000,
  /** An idle keep-alive connection is closed after this. */
  keepAlive: 2000,
  /** The TLS handshake on the HTTPS port. */
  tlsHandshake: 3000,
  /** How often Node checks the header and request timeouts (its default is 30 s). */
  check: 500,
} as const;

/** Largest request head accepted (Node's default is 16 KiB; a ping needs far less). */
const MAX_HEADER_BYTES = 4096;
/** Sources the request rate remembers at once (least recently seen forgotten first). */
const RATE_SOURCES = 65_536;

/** Why a connection or request on a ping port was refused (relay_ping_refused_total{reason}). */
export type PingRefusal =
  | 'connection_limit_global'
  | 'connection_limit_source'
  | 'rate_limited'
  | 'request_timeout'
  | 'tls_handshake_timeout'
  | 'bad_request';

export interface PingLimits {
  readonly maxConnections: number;
  readonly maxConnectionsPerIp: number;
  /** Requests per second per source, and how many may come at once. */
  readonly ratePerSecond: number;
  readonly burst: number;
}

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
    /** Shared by both ports: one source gets these across HTTP and HTTPS together. */
    readonly limits: PingLimits;
    /** Where relay_ping_refused_total goes (the relay's registry). */
    readonly registry: Registry;
  },
  logger: Logger,
): Promise<PingListeners> {
  const log = logger.child({ part: 'ping' });
  const warn = rateLimitedLog();
  const admission = new ConnectionLimiter(o.limits.maxConnections, o.limits.maxConnectionsPerIp);
  const rate = new SourceLimiter({
    ratePerSecond: o.limits.ratePerSecond,
    burst: o.limits.burst,
    capacity: RATE_SOURCES,
  });
  const refused = new Counter({
    name: 'relay_ping_refused_total',
    help: 'Connections closed and requests refused on the public ping ports by their limits, by reason.',
    labelNames: ['reason'],
    registers: [o.registry],
  });
  const refuse = (reason: PingRefusal) => refused.inc({ reason });
  const servers: http.Server[] = [];
  const close = () => Promise.all(servers.map(closeHttp)).then(() => undefined);

  /** Every request from a source over its rate gets 429 with the seconds until it may ask again. */
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const source = sourceKey(req.socket.remoteAddress ?? '');
    const now = Date.now();
    if (!rate.take(source, now)) {
      refuse('rate_limited');
      const seconds = Math.max(1, Math.ceil(rate.retryAfterMs(source, now) / 1000));
      // CORS open like /ping itself, so a page reads the 429 and its Retry-After, not a network error.
      sendProblem(res, 429, 'Too Many Requests', undefined, {
        'retry-after': String(seconds),
        'access-control-allow-origin': '*',
        'access-control-expose-headers': 'Retry-After',
      });
      return;
    }
    publicHandler(req, res);
  };

  const start = async (server: http.Server, port: number): Promise<number> => {
    server.keepAliveTimeout = PING_TIMEOUTS.keepAlive;
    server.headersTimeout = PING_TIMEOUTS.headers;
    server.requestTimeout = PING_TIMEOUTS.request;
    // Connection caps, checked on the raw TCP socket: for HTTPS that is before the handshake.
    server.on('connection', (raw: net.Socket) => {
      const source = sourceKey(raw.remoteAddress ?? '');
      const verdict = raw.remoteAddress ? admission.admit(source) : 'global';
      if (verdict !== 'ok') {
        refuse(verdict === 'global' ? 'connection_limit_global' : 'connection_limit_source');
        warn(`cap-${verdict}`, Date.now(), (suppressed) =>
          log.warn({ cap: verdict, suppressed }, 'refusing ping connections: cap reached'),
        );
        raw.destroy();
        return;
      }
      raw.once('close', () => admission.release(source));
    });
    // Node would answer these itself; listening here lets them be counted. Answers stay tiny.
    server.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
      // A client that hung up mid-request was refused nothing.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') {
        socket.destroy();
        return;
      }
      const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      refuse(timeout ? 'request_timeout' : 'bad_request');
      if (socket.writable && !(socket as { _httpMessage?: unknown })._httpMessage) {
        const status = timeout
          ? '408 Request Timeout'
          : err.code === 'HPE_HEADER_OVERFLOW'
            ? '431 Request Header Fields Too Large'
            : '400 Bad Request';
        socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      }
      socket.destroy();
    });
    servers.push(server);
    return listenHttp(server, o.host, port);
  };
  const serverOptions = {
    maxHeaderSize: MAX_HEADER_BYTES,
    connectionsCheckingInterval: PING_TIMEOUTS.check,
  };
  try {
    const httpPort =
      o.httpPort === undefined
        ? undefined
        : await start(http.createServer(serverOptions, handler), o.httpPort);
    let httpsPort: number | undefined;
    if (o.httpsPort !== undefined) {
      if (!o.certificates) throw new Error('--ping-tls-port: the relay has no TLS certificate');
      const server = o.certificates.createHttpsServer(handler, {
        ...serverOptions,
        handshakeTimeout: PING_TIMEOUTS.tlsHandshake,
      });
      server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
        // A failed or timed-out handshake: close it here rather than trust Node to.
        socket.destroy();
        if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') refuse('tls_handshake_timeout');
      });
      httpsPort = await start(server, o.httpsPort);
    }
    if (httpPort !== undefined || httpsPort !== undefined)
      log.info(
        { host: o.host, http: httpPort, https: httpsPort, limits: o.limits },
        'public ping up: /ping only',
      );
    return { http: httpPort, https: httpsPort, close };
  } catch (err) {
    await close();
    throw err;
  }
}
