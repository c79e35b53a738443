/**
 * The TURN shell's stream side (TCP and TLS, RFC 8656 §3.1): the servers, the connection caps
 * checked before anything is spent on a connection, and each connection's framing (RFC 8656
 * §12.5, RFC 8489 §6.2.2; src/stun/stream-framer.ts), its timer for connections without an
 * allocation, and its writes (a bounded send buffer; over TLS one TURN message per record).
 * Requests go to the engine and its actions to the relayed side (relayed-sockets.ts); ChannelData
 * goes straight to the egress. Never imports turn-relay.ts, which owns it.
 */
import net from 'node:net';
import { ConnectionLimiter, sourceKey } from '../src/limits/connection-limiter.ts';
import { addressKey, type TransportAddress } from '../src/net/address.ts';
import { MAX_STREAM_FRAME, StreamFramer } from '../src/stun/stream-framer.ts';
import type { ClientContext, ClientTransport } from '../src/turn/allocation.ts';
import type { TurnEngine } from '../src/turn/engine.ts';
import type { RelayConfig } from './config.ts';
import type { WarnOnce } from './logger.ts';
import type { ClientLink, PeerEgress, RelayedSocket } from './relay-allocation.ts';
import type { RelayedSockets } from './relayed-sockets.ts';
import { closeServer, listenStream } from './socket-util.ts';
import type { TlsCertificates } from './tls-certificates.ts';

/** Stream clients may not buffer more than this before packets to them are dropped. */
const MAX_STREAM_BUFFER = 1 << 20;

/** What the stream side refused before the engine saw it (turn_refused_total, by reason). */
export interface StreamRefusals {
  connection_limit_global: number;
  connection_limit_source: number;
  preauth_timeout: number;
  tls_handshake_timeout: number;
  frame_too_large: number;
  not_turn_stream: number;
}

export interface StreamListenersDeps {
  readonly engine: TurnEngine<ClientLink, RelayedSocket>;
  readonly relayed: RelayedSockets;
  readonly egress: PeerEgress;
  readonly config: Pick<
    RelayConfig,
    'maxConnections' | 'maxConnectionsPerIp' | 'maxRequestBytes' | 'preauthTimeout' | 'tlsHandshakeTimeout'
  >;
  /** Client messages handed to the engine, by transport; this side counts tcp and tls. */
  readonly parsed: Record<ClientTransport, number>;
  readonly warnOnce: WarnOnce;
}

export class StreamListeners {
  readonly #engine: TurnEngine<ClientLink, RelayedSocket>;
  readonly #relayed: RelayedSockets;
  readonly #egress: PeerEgress;
  readonly #config: StreamListenersDeps['config'];
  readonly #parsed: Record<ClientTransport, number>;
  readonly #warnOnce: WarnOnce;
  readonly #admission: ConnectionLimiter;
  readonly #servers: net.Server[] = [];
  readonly #connections = new Set<net.Socket>();
  readonly #refused: StreamRefusals = {
    connection_limit_global: 0,
    connection_limit_source: 0,
    preauth_timeout: 0,
    tls_handshake_timeout: 0,
    frame_too_large: 0,
    not_turn_stream: 0,
  };
  /** Packets to stream clients dropped because their send buffer was full. */
  #backpressureDrops = 0;
  #closed = false;

  constructor(deps: StreamListenersDeps) {
    this.#engine = deps.engine;
    this.#relayed = deps.relayed;
    this.#egress = deps.egress;
    this.#config = deps.config;
    this.#parsed = deps.parsed;
    this.#warnOnce = deps.warnOnce;
    this.#admission = new ConnectionLimiter(deps.config.maxConnections, deps.config.maxConnectionsPerIp);
  }

  /** TCP and TLS connections currently open. */
  get connections(): number {
    return this.#connections.size;
  }

  get refusals(): Readonly<StreamRefusals> {
    return this.#refused;
  }

  get backpressureDrops(): number {
    return this.#backpressureDrops;
  }

  /** A TURN server over TCP on `host:port`, with SO_REUSEPORT when `shared`. */
  async listenTcp(host: string, port: number, shared: boolean): Promise<TransportAddress> {
    const server = net.createServer();
    this.#admit(server);
    server.on('connection', (s: net.Socket) => this.#serve(s, 'tcp'));
    const address = await listenStream(server, host, port, shared);
    this.#servers.push(server);
    return address;
  }

  /** A TURN server over TLS on `host:port` with the pair in `certs`, SO_REUSEPORT when `shared`. */
  async listenTls(
    certs: TlsCertificates,
    host: string,
    port: number,
    shared: boolean,
  ): Promise<TransportAddress> {
    const server = certs.createServer((s) => this.#serve(s, 'tls'), {
      handshakeTimeout: this.#config.tlsHandshakeTimeout * 1000,
    });
    this.#admit(server);
    server.on('tlsClientError', (err, socket) => {
      // Node reports a failed or timed-out handshake here but leaves the socket open.
      socket.destroy();
      if ('code' in err && err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.#refused.tls_handshake_timeout++;
      else this.#warnOnce('tls-handshake', 'TLS handshake failed', err);
    });
    const address = await listenStream(server, host, port, shared);
    this.#servers.push(server);
    return address;
  }

  /** Takes no more connections, closes the open ones, and resolves once the servers are closed. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const c of this.#connections) c.destroy();
    await Promise.all(this.#servers.map((s) => closeServer(s)));
  }

  /**
   * Connection caps, relay-wide and per source (issue 12), checked on the raw TCP socket before
   * anything else is spent on it: for TLS that is before the handshake.
   */
  #admit(server: net.Server): void {
    server.on('connection', (raw: net.Socket) => {
      const address = raw.remoteAddress;
      if (!address || this.#closed) {
        raw.destroy();
        return;
      }
      const source = sourceKey(address);
      const verdict = this.#admission.admit(source);
      if (verdict !== 'ok') {
        if (verdict === 'global') this.#refused.connection_limit_global++;
        else this.#refused.connection_limit_source++;
        this.#warnOnce('connection-cap', `refusing stream connections: ${verdict} cap reached`);
        raw.destroy();
        return;
      }
      raw.once('close', () => this.#admission.release(source));
    });
  }

  #serve(sock: net.Socket, transport: ClientTransport): void {
    if (this.#closed || sock.destroyed || !sock.remoteAddress || sock.remotePort === undefined) {
      sock.destroy();
      return;
    }
    sock.setNoDelay(true);
    this.#connections.add(sock);
    const engine = this.#engine;
    const relayed = this.#relayed;
    const egress = this.#egress;
    // Until the connection has an allocation it may send requests only, of bounded size.
    const preauthLimit = this.#config.maxRequestBytes;
    const framer = new StreamFramer(preauthLimit);
    const parsed = this.#parsed;
    const client: TransportAddress = {
      family: sock.remoteFamily === 'IPv6' ? 6 : 4,
      address: sock.remoteAddress,
      port: sock.remotePort,
    };
    const server: TransportAddress = {
      family: client.family,
      address: sock.localAddress ?? '',
      port: sock.localPort ?? 0,
    };
    const ctx: ClientContext<ClientLink> = {
      key: `${transport}|${addressKey(server)}|${addressKey(client)}`,
      transport,
      client,
      server,
      handle: {
        send:
          transport === 'tls'
            ? recordWriter(sock, () => this.#backpressureDrops++)
            : (bytes) => {
                if (sock.writableLength > MAX_STREAM_BUFFER) this.#backpressureDrops++;
                else sock.write(bytes);
              },
      },
    };
    // A connection without an allocation (none yet, or it ended) is closed one period later; the
    // check re-arms while an allocation lives, so a connection outliving its allocation goes too.
    const period = this.#config.preauthTimeout * 1000;
    let idle: NodeJS.Timeout;
    const check = () => {
      if (engine.allocationFor(ctx.key)) {
        idle = setTimeout(check, period).unref();
        return;
      }
      this.#refused.preauth_timeout++;
      sock.destroy();
    };
    idle = setTimeout(check, period).unref();
    sock.on('data', (chunk) => {
      const now = Date.now();
      framer.limit = engine.allocationFor(ctx.key) ? MAX_STREAM_FRAME : preauthLimit;
      for (const frame of framer.push(chunk)) {
        parsed[transport]++;
        if (frame.kind === 'stun') {
          relayed.run(engine.handleStun(ctx, frame.bytes, now));
          continue;
        }
        const binding = engine.channelFromClient(ctx.key, frame.bytes, now);
        if (binding) {
          const { allocation, peer } = binding;
          egress.send(allocation, peer.address, peer.port, frame.bytes.subarray(4));
        }
      }
      if (framer.error) {
        if (framer.error === 'ERR_FRAME_TOO_LARGE') this.#refused.frame_too_large++;
        else this.#refused.not_turn_stream++;
        this.#warnOnce('stream-garbage', `closing ${transport} connection: ${framer.error}`);
        sock.destroy();
      }
    });
    sock.on('error', (err) => this.#warnOnce(`${transport}-conn`, `${transport} connection error`, err));
    sock.on('close', () => {
      clearTimeout(idle);
      this.#connections.delete(sock);
      relayed.run(engine.clientClosed(ctx.key, Date.now()));
    });
  }
}

/**
 * Writes one TURN message per TLS record. Writes queued behind a busy TLS socket are handed to
 * Node's writev, which seals them together in one record (one SSL_write). Stream-framing clients
 * do not mind, but some read one message per record: coturn's turnutils_uclient takes each
 * SSL_read as one message and loses the rest, and coturn itself writes a record per message. So
 * the next message is written only once the last has gone out; up to MAX_STREAM_BUFFER bytes
 * wait, and past that messages are dropped (`onDrop`) as on a plain TCP connection.
 */
function recordWriter(sock: net.Socket, onDrop: () => void): (bytes: Uint8Array) => void {
  const queue: Uint8Array[] = [];
  let queued = 0;
  let busy = false;
  const next = (): void => {
    const bytes = queue.shift();
    if (bytes === undefined || sock.destroyed) {
      busy = false;
      queue.length = 0;
      queued = 0;
      return;
    }
    queued -= bytes.length;
    sock.write(bytes, next);
  };
  return (bytes) => {
    if (!busy) {
      busy = true;
      sock.write(bytes, next);
    } else if (queued + bytes.length > MAX_STREAM_BUFFER) onDrop();
    else {
      queue.push(bytes);
      queued += bytes.length;
    }
  };
}
