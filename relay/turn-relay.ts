/**
 * The TURN relay process shell: owns the sockets (UDP, TCP and TLS listeners, relayed UDP
 * sockets), the clock and the timers, and executes what the pure engine in src/turn decides.
 * Everything an allocation sends to a peer goes through one PeerEgress, and everything that
 * arrives for an allocation from elsewhere (the backbone) comes in through deliverFromPeer, so the
 * backbone can divert packets without touching the engine.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { RevocationSet, type Revocations } from '../src/credentials/revocation.ts';
import { ConnectionLimiter, sourceKey } from '../src/limits/connection-limiter.ts';
import { addressKey, type IpFamily, type TransportAddress } from '../src/net/address.ts';
import { parseIp } from '../src/net/ip.ts';
import { createPeerPolicy } from '../src/net/peer-policy.ts';
import { MAX_STREAM_FRAME, StreamFramer } from '../src/stun/stream-framer.ts';
import type {
  Allocation,
  ClientContext,
  ClientTransport,
  EndReason,
  TrafficCounters,
} from '../src/turn/allocation.ts';
import { createAuthenticator } from '../src/turn/auth.ts';
import { TurnEngine } from '../src/turn/engine.ts';
import type { TurnAction } from '../src/turn/engine-actions.ts';
import { createNonceManager } from '../src/turn/nonce.ts';
import type { RelayConfig } from './config.ts';
import { type Logger, rateLimitedLog } from './logger.ts';
import { createRelayMetrics, createTlsMetrics, type RelayMetrics } from './metrics.ts';
import { stunCrypto } from './platform-crypto.ts';
import { bindPair, RelaySocketPool } from './relay-sockets.ts';
import { closeServer, listenStream, methodName } from './socket-util.ts';
import { type ReloadResult, TlsCertificates } from './tls-certificates.ts';
import { type UdpIo, type UdpPort, udpIo } from './udp-io.ts';

/** How the relay reaches one client; created per 5-tuple by the listener that saw it. */
export interface ClientLink {
  send(bytes: Uint8Array): void;
}

/** The relay's per-allocation state: the relayed socket. */
export interface RelayedSocket {
  readonly socket: UdpPort;
  readonly key: string;
}

/** An allocation as the relay's engine holds it: a ClientLink per client, a RelayedSocket each. */
export type RelayAllocation = Allocation<ClientLink, RelayedSocket>;

/** The one way out from an allocation to a peer. The backbone replaces it to divert packets. */
export interface PeerEgress {
  send(alloc: RelayAllocation, peerIp: string, peerPort: number, data: Uint8Array): void;
}

/** Plain UDP from the allocation's relayed socket. */
export const directEgress: PeerEgress = {
  send(alloc, peerIp, peerPort, data) {
    alloc.shell?.socket.send(data, peerPort, peerIp);
  },
};

export interface TurnRelayDeps {
  readonly logger: Logger;
  /**
   * The way out to peers, made once the relay exists (the backbone delivers into it and registers
   * its metrics with it) and fixed from then on; plain UDP without one.
   */
  readonly egress?: (relay: TurnRelay) => PeerEgress;
  /** Collect Node's default process metrics too (off in tests that run several relays). */
  readonly processMetrics?: boolean;
  /**
   * Bind the TURN listeners with SO_REUSEPORT, beside other workers on the same ports
   * (--workers, relay/workers.ts); each worker has its own slice of the relayed port range.
   */
  readonly sharedPorts?: boolean;
}

export interface ListeningAddresses {
  readonly udp: TransportAddress[];
  readonly tcp: TransportAddress[];
  readonly tls: TransportAddress[];
}

type RelayAction = TurnAction<ClientLink, RelayedSocket>;

/** Stream clients may not buffer more than this before packets to them are dropped. */
const MAX_STREAM_BUFFER = 1 << 20;
/** Sources the per-source limit on unauthenticated answers remembers at once. */
const UNAUTH_SOURCES = 65_536;

/** What the shell refused before the engine saw it (turn_refused_total, with the engine's own). */
interface ShellRefusals {
  connection_limit_global: number;
  connection_limit_source: number;
  preauth_timeout: number;
  tls_handshake_timeout: number;
  frame_too_large: number;
  not_turn_stream: number;
}

export class TurnRelay {
  readonly engine: TurnEngine<ClientLink, RelayedSocket>;
  readonly metrics: RelayMetrics;
  readonly egress: PeerEgress;
  readonly #log: Logger;
  readonly #pool: RelaySocketPool;
  readonly #relayAddress: Partial<Record<IpFamily, { bind: string; advertise: string }>> = {};
  readonly #byRelayed = new Map<string, RelayAllocation>();
  /**
   * Live allocations of UDP clients, per listener (addressKey), then client port, then client IP:
   * a ChannelData datagram finds its allocation from what the socket reported, with no key string
   * built per packet. Entries come and go with the allocations (allocationCreated/Ended hooks).
   */
  readonly #udpClients = new Map<string, Map<number, Map<string, RelayAllocation>>>();
  readonly #udp: UdpPort[] = [];
  /** dgram or the native addon (--udp-io), for the UDP listeners and the relayed sockets. */
  readonly #io: UdpIo;
  readonly #streams: net.Server[] = [];
  readonly #connections = new Set<net.Socket>();
  readonly #ended: TrafficCounters = {
    packetsToPeer: 0,
    bytesToPeer: 0,
    packetsToClient: 0,
    bytesToClient: 0,
  };
  /** Client messages handed to the engine, by transport (turn_messages_parsed_total). */
  readonly #parsed: Record<ClientTransport, number> = { udp: 0, tcp: 0, tls: 0 };
  readonly #warn = rateLimitedLog();
  readonly #reservations = new Map<string, UdpPort>();
  readonly #admission: ConnectionLimiter;
  readonly #refused: ShellRefusals = {
    connection_limit_global: 0,
    connection_limit_source: 0,
    preauth_timeout: 0,
    tls_handshake_timeout: 0,
    frame_too_large: 0,
    not_turn_stream: 0,
  };
  #revoked = new RevocationSet();
  #tick: NodeJS.Timeout | undefined;
  #certs: TlsCertificates | undefined;
  #listening: ListeningAddresses = { udp: [], tcp: [], tls: [] };
  #stopped = false;
  /** Packets to stream clients dropped because their send buffer was full (the shell's own count). */
  #backpressureDrops = 0;
  readonly #sharedPorts: boolean;
  /** The relay's logger, for parts of their own (a child of `#log` would repeat `part`). */
  readonly #baseLog: Logger;

  constructor(
    readonly config: RelayConfig,
    deps: TurnRelayDeps,
  ) {
    this.#baseLog = deps.logger;
    this.#log = deps.logger.child({ part: 'turn' });
    this.#sharedPorts = deps.sharedPorts ?? false;
    const io = udpIo(config.udpIo, (why) => this.#log.warn(`--udp-io native: ${why}; using dgram`));
    this.#io = io;
    this.#pool = new RelaySocketPool({ min: config.minPort, max: config.maxPort }, io);
    this.#admission = new ConnectionLimiter(config.maxConnections, config.maxConnectionsPerIp);
    for (const host of config.listen) {
      const family: IpFamily = host.includes(':') ? 6 : 4;
      if (this.#relayAddress[family]) continue;
      this.#relayAddress[family] = { bind: host, advertise: config.externalIps[family] ?? host };
    }
    const own = [...config.listen, ...Object.values(config.externalIps)]
      .map((a) => parseIp(a))
      .filter((b): b is Uint8Array => b?.some((x: number) => x !== 0) === true);
    const secrets = config.secrets;
    this.engine = new TurnEngine<ClientLink, RelayedSocket>({
      realm: config.realm,
      software: config.software,
      auth: createAuthenticator({
        users: config.users,
        secrets: () => secrets,
        isRevoked: (u) => this.#revoked.isRevoked(u),
        crypto: stunCrypto,
      }),
      nonces: createNonceManager(randomBytes(32), config.nonceLifetime * 1000, stunCrypto),
      crypto: stunCrypto,
      peerPolicy: createPeerPolicy({ allow: config.allowPeers, deny: config.denyPeers, ownAddresses: own }),
      relayFamilies: Object.keys(this.#relayAddress).map((f) => Number(f) as IpFamily),
      lifetimes: {
        defaultAllocation: config.defaultLifetime,
        maxAllocation: config.maxLifetime,
        permission: config.permissionLifetime,
        channel: config.channelLifetime,
        maxAllocationAge: config.maxAllocationAge,
      },
      limits: {
        maxAllocations: config.maxAllocations,
        userQuota: config.userQuota,
        tenantQuota: config.tenantQuota,
        allocPps: config.maxAllocPps,
        allocBps: config.maxAllocBps,
        maxPeersPerAllocation: 1000,
        maxChannelsPerAllocation: config.maxChannels,
        maxRequestBytes: config.maxRequestBytes,
      },
      unauthenticatedLimit: {
        ratePerSecond: config.unauthRate,
        burst: config.unauthBurst,
        capacity: UNAUTH_SOURCES,
      },
      transactionSeed: randomBytes(12),
      hooks: this.#hooks(),
    });
    this.metrics = createRelayMetrics(
      {
        allocationsActive: () => this.engine.allocationCount,
        // Packets to stream clients dropped for a full send buffer count as rate-limited.
        drops: () => ({
          ...this.engine.drops,
          rateLimited: this.engine.drops.rateLimited + this.#backpressureDrops,
        }),
        relaySocketsOpen: () => this.#pool.open,
        draining: () => this.engine.draining,
        traffic: () => this.traffic(),
        refusals: () => ({
          ...this.#refused,
          request_too_large: this.engine.refusals.requestTooLarge,
          unauthenticated_rate_limited: this.engine.refusals.unauthenticatedRateLimited,
        }),
        streamConnections: () => this.#connections.size,
        reservations: () => this.engine.reservationCount,
        parsed: () => ({ ...this.#parsed }),
        ...(io.stats ? { nativeUdp: io.stats } : {}),
      },
      deps.processMetrics ?? false,
    );
    this.egress = deps.egress?.(this) ?? directEgress;
  }

  get listening(): ListeningAddresses {
    return this.#listening;
  }

  /** The UDP I/O in use: `native` when asked for (or auto) and the addon loaded. */
  get udpIo(): UdpIo['mode'] {
    return this.#io.mode;
  }

  /** Relayed UDP sockets currently open (each allocation has one). */
  get openRelaySockets(): number {
    return this.#pool.open;
  }

  get ready(): boolean {
    return (
      !this.#stopped && !this.engine.draining && this.#listening.udp.length + this.#listening.tcp.length > 0
    );
  }

  /** Packets and bytes relayed since start, both directions. */
  traffic(): TrafficCounters {
    const t = { ...this.#ended };
    for (const a of this.engine.allocations()) {
      t.packetsToPeer += a.traffic.packetsToPeer;
      t.bytesToPeer += a.traffic.bytesToPeer;
      t.packetsToClient += a.traffic.packetsToClient;
      t.bytesToClient += a.traffic.bytesToClient;
    }
    return t;
  }

  async start(): Promise<ListeningAddresses> {
    const c = this.config;
    const result: ListeningAddresses = { udp: [], tcp: [], tls: [] };
    const certs = c.tls && new TlsCertificates(c.tls, this.#baseLog);
    this.#certs = certs;
    if (certs) {
      const tlsMetrics = createTlsMetrics(this.metrics.registry, () => certs.notAfter);
      certs.onReload = (result) => tlsMetrics.reloads.inc({ result });
    }
    for (const host of c.listen) {
      if (c.udp) {
        const family: IpFamily = host.includes(':') ? 6 : 4;
        const socket = await this.#io.bind(host, family, c.turnPort, {
          shared: this.#sharedPorts,
          bigBuffers: true,
        });
        this.#serveUdp(socket);
        result.udp.push({ family, address: socket.address, port: socket.port });
      }
      for (const port of c.tcpPorts) {
        const server = net.createServer();
        this.#admit(server);
        server.on('connection', (s: net.Socket) => this.#serveStream(s, 'tcp'));
        result.tcp.push(await listenStream(server, host, port, this.#sharedPorts));
        this.#streams.push(server);
      }
      for (const port of certs ? c.tls!.ports : []) {
        const server = certs!.createServer((s) => this.#serveStream(s, 'tls'), {
          handshakeTimeout: c.tlsHandshakeTimeout * 1000,
        });
        this.#admit(server);
        server.on('tlsClientError', (err, socket) => {
          // Node reports a failed or timed-out handshake here but leaves the socket open.
          socket.destroy();
          if ((err as NodeJS.ErrnoException).code === 'ERR_TLS_HANDSHAKE_TIMEOUT')
            this.#refused.tls_handshake_timeout++;
          else this.#warnOnce('tls-handshake', 'TLS handshake failed', err);
        });
        result.tls.push(await listenStream(server, host, port, this.#sharedPorts));
        this.#streams.push(server);
      }
    }
    if (c.tls?.watch) certs?.watch();
    this.#listening = result;
    this.#tick = setInterval(() => this.#run(this.engine.tick(Date.now())), 1000);
    this.#tick.unref();
    this.#log.info({ listening: describe(result) }, 'TURN listeners up');
    return result;
  }

  /**
   * Re-read the TLS certificate and key (SIGHUP): new TLS connections get the new pair, live ones
   * keep theirs; a bad pair is refused and the one in use stays. Undefined without TLS.
   */
  /** The TLS certificate and key in use (and their reloads), once started; undefined without TLS. */
  get certificates(): TlsCertificates | undefined {
    return this.#certs;
  }

  reloadCertificates(): ReloadResult | undefined {
    return this.#certs?.reload('SIGHUP');
  }

  /**
   * Backbone ingress: a datagram from `peerIp:peerPort` for the allocation whose relayed address is
   * `relayedKey` (addressKey of the advertised relayed address). It is delivered as if it had arrived
   * on the relayed socket, subject to the allocation's permissions. False when nothing took it.
   */
  deliverFromPeer(relayedKey: string, peerIp: string, peerPort: number, data: Uint8Array): boolean {
    const alloc = this.#byRelayed.get(relayedKey);
    if (!alloc) return false;
    const out = this.engine.fromPeer(alloc, peerIp, peerPort, data, Date.now());
    if (!out) return false;
    alloc.client.handle.send(out);
    return true;
  }

  /**
   * Revoked usernames, clients and tenants (the edge's POST /v1/credentials/revoke, through the
   * directory): they can no longer allocate or refresh, and their live allocations end now.
   * Replaces the whole set.
   */
  setRevoked(revocations: Revocations): void {
    const next = new RevocationSet(revocations);
    const grew = this.#revoked.addsTo(next);
    this.#revoked = next;
    if (grew) this.#run(this.engine.endRevoked((u) => next.isRevoked(u), Date.now()));
  }

  /** Whether `relayedKey` is one of this relay's live relayed addresses. */
  hasRelayedAddress(relayedKey: string): boolean {
    return this.#byRelayed.has(relayedKey);
  }

  /**
   * Stop taking allocations (300 to the alternate server when configured, else 508) and wait
   * until the existing ones end or `timeoutMs` passes; what is left then is ended.
   */
  async drain(timeoutMs = this.config.drainTimeout * 1000): Promise<void> {
    const alt = this.config.alternateServer;
    this.engine.drain(alt ? { family: alt.family, address: alt.address, port: alt.port } : undefined);
    this.#log.info({ allocations: this.engine.allocationCount, timeoutMs }, 'draining');
    const deadline = Date.now() + timeoutMs;
    while (this.engine.allocationCount > 0 && Date.now() < deadline && !this.#stopped) {
      await new Promise((r) => setTimeout(r, Math.min(250, Math.max(1, deadline - Date.now()))));
    }
    this.#endAll('drain-timeout');
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#tick);
    this.#certs?.close();
    this.#endAll('shutdown');
    for (const socket of this.#reservations.values()) void socket.close();
    this.#reservations.clear();
    for (const c of this.#connections) c.destroy();
    await Promise.all([...this.#udp.map((s) => s.close()), ...this.#streams.map((s) => closeServer(s))]);
    this.#log.info('TURN listeners closed');
  }

  #endAll(reason: EndReason): void {
    const now = Date.now();
    for (const alloc of [...this.engine.allocations()]) this.#run(this.engine.end(alloc, reason, now));
  }

  #serveUdp(socket: UdpPort): void {
    this.#udp.push(socket);
    const local: TransportAddress = { family: socket.family, address: socket.address, port: socket.port };
    const prefix = `udp|${addressKey(local)}|`;
    const engine = this.engine;
    const clients = new Map<number, Map<string, RelayAllocation>>();
    this.#udpClients.set(addressKey(local), clients);
    socket.onError((err) => this.#warnOnce('udp-listener', 'UDP listener error', err));
    const parsed = this.#parsed;
    socket.onMessage((msg, address, port, family) => {
      parsed.udp++;
      const now = Date.now();
      if ((msg[0]! & 0xc0) === 0x40) {
        // RFC 8656 §12.5 fast path: ChannelData, a few map lookups and one send.
        const alloc = clients.get(port)?.get(address);
        const binding =
          alloc === undefined
            ? engine.channelFromClient(`${prefix + address}:${port}`, msg, now)
            : engine.channelFromAllocation(alloc, msg, now);
        if (binding) {
          const len = (msg[2]! << 8) | msg[3]!;
          this.egress.send(
            binding.allocation,
            binding.peer.address,
            binding.peer.port,
            msg.subarray(4, 4 + len),
          );
        }
        return;
      }
      if (msg[0] === 0x00 && msg[1] === 0x16) {
        // RFC 8656 §11.1 fast path: a Send indication from a client with an allocation goes to
        // the engine with the allocation found as for ChannelData, no context built per packet.
        const alloc = clients.get(port)?.get(address);
        if (alloc !== undefined) {
          const target = engine.sendFromAllocation(alloc, msg, now);
          if (target) this.egress.send(alloc, target.peer.address, target.peer.port, target.data);
          return;
        }
      }
      const ctx: ClientContext<ClientLink> = {
        key: `${prefix + address}:${port}`,
        transport: 'udp',
        client: { family, address, port },
        server: local,
        handle: { send: (bytes) => socket.send(bytes, port, address) },
      };
      this.#run(engine.handleStun(ctx, msg, now));
    });
  }

  /**
   * Connection caps, relay-wide and per source (issue 12), checked on the raw TCP socket before
   * anything else is spent on it: for TLS that is before the handshake.
   */
  #admit(server: net.Server): void {
    server.on('connection', (raw: net.Socket) => {
      const address = raw.remoteAddress;
      if (!address || this.#stopped) {
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

  #serveStream(sock: net.Socket, transport: ClientTransport): void {
    if (this.#stopped || sock.destroyed || !sock.remoteAddress || sock.remotePort === undefined) {
      sock.destroy();
      return;
    }
    sock.setNoDelay(true);
    this.#connections.add(sock);
    const engine = this.engine;
    // Until the connection has an allocation it may send requests only, of bounded size.
    const preauthLimit = this.config.maxRequestBytes;
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
    const period = this.config.preauthTimeout * 1000;
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
          this.#run(engine.handleStun(ctx, frame.bytes, now));
          continue;
        }
        const binding = engine.channelFromClient(ctx.key, frame.bytes, now);
        if (binding) {
          const { allocation, peer } = binding;
          this.egress.send(allocation, peer.address, peer.port, frame.bytes.subarray(4));
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
      this.#run(engine.clientClosed(ctx.key, Date.now()));
    });
  }

  #run(actions: readonly RelayAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'reply':
          a.client.handle.send(a.bytes);
          break;
        case 'to-peer':
          this.egress.send(a.allocation, a.peer.address, a.peer.port, a.data);
          break;
        case 'bind-relay':
          void this.#bindRelay(a);
          break;
        case 'release-relay':
          this.#release(a.allocation, a.shell);
          break;
        case 'release-reservation':
          this.#releaseReservation(a.token);
          break;
      }
    }
  }

  /** Binds (or takes from a reservation) the relayed socket of a pending allocation. */
  async #bindRelay(a: Extract<RelayAction, { type: 'bind-relay' }>): Promise<void> {
    const alloc = a.allocation;
    const where = this.#relayAddress[alloc.family];
    let socket: UdpPort | undefined;
    let token: Uint8Array | undefined;
    if (where && !this.#stopped) {
      if (a.reservationToken) {
        socket = this.#takeReservation(a.reservationToken);
      } else if (a.reserveNext) {
        const pair = await bindPair(this.#pool, where.bind, alloc.family);
        if (pair) {
          socket = pair[0];
          token = new Uint8Array(randomBytes(8));
          this.#reservations.set(Buffer.from(token).toString('hex'), pair[1]);
        }
      } else {
        socket = await this.#pool.bind(where.bind, alloc.family, a.evenPort);
      }
    }
    if (!socket || !where) {
      this.#log.warn(
        { family: alloc.family, reservation: a.reservationToken !== undefined },
        'no relayed port available',
      );
      this.#run(this.engine.relayBindFailed(alloc, Date.now()));
      return;
    }
    const port = socket.port;
    const relayed: TransportAddress = { family: alloc.family, address: where.bind, port };
    const advertised: TransportAddress = { family: alloc.family, address: where.advertise, port };
    const key = addressKey(advertised);
    const engine = this.engine;
    socket.onError((err) => this.#warnOnce('relayed-socket', 'relayed socket error', err));
    socket.onMessage((msg, peerIp, peerPort) => {
      const out = engine.fromPeer(alloc, peerIp, peerPort, msg, Date.now());
      if (out) alloc.client.handle.send(out);
    });
    const shell: RelayedSocket = { socket, key };
    const actions = this.engine.relayBound(
      alloc,
      { relayed, advertised, shell, reservationToken: token },
      Date.now(),
    );
    if (alloc.state === 'active') this.#byRelayed.set(key, alloc);
    this.#run(actions);
  }

  /** RFC 8656 §7.2: the socket held under a token, for the Allocate that claims it. */
  #takeReservation(token: Uint8Array): UdpPort | undefined {
    const key = Buffer.from(token).toString('hex');
    const socket = this.#reservations.get(key);
    this.#reservations.delete(key);
    return socket;
  }

  /** The engine's book says the reservation expired (30 s, RFC 8656 §7.2): close its socket. */
  #releaseReservation(token: Uint8Array): void {
    void this.#takeReservation(token)?.close();
  }

  #release(alloc: RelayAllocation, shell: RelayedSocket): void {
    if (this.#byRelayed.get(shell.key) === alloc) this.#byRelayed.delete(shell.key);
    void shell.socket.close();
  }

  /** Adds or removes a UDP client's allocation in #udpClients. */
  #indexUdpClient(alloc: RelayAllocation, live: boolean): void {
    const { transport, server, client } = alloc.client;
    const clients = transport === 'udp' ? this.#udpClients.get(addressKey(server)) : undefined;
    if (!clients) return;
    const byIp = clients.get(client.port);
    if (live) {
      if (byIp) byIp.set(client.address, alloc);
      else clients.set(client.port, new Map([[client.address, alloc]]));
    } else if (byIp?.get(client.address) === alloc) {
      byIp.delete(client.address);
      if (byIp.size === 0) clients.delete(client.port);
    }
  }

  #hooks() {
    return {
      allocationCreated: (alloc: RelayAllocation) => {
        this.metrics.allocationsCreated.inc();
        this.#indexUdpClient(alloc, true);
        this.#log.debug(
          { id: alloc.id, user: alloc.username, client: addressKey(alloc.client.client) },
          'allocated',
        );
      },
      allocationEnded: (alloc: RelayAllocation, reason: EndReason) => {
        this.metrics.allocationsEnded.inc({ reason });
        this.#indexUdpClient(alloc, false);
        this.#ended.packetsToPeer += alloc.traffic.packetsToPeer;
        this.#ended.bytesToPeer += alloc.traffic.bytesToPeer;
        this.#ended.packetsToClient += alloc.traffic.packetsToClient;
        this.#ended.bytesToClient += alloc.traffic.bytesToClient;
        this.#log.debug({ id: alloc.id, reason, traffic: alloc.traffic }, 'allocation ended');
      },
      requestSucceeded: (method: number, credentialExpired: boolean) => {
        this.metrics.requestsSucceeded.inc({
          method: methodName(method),
          credential: credentialExpired ? 'expired' : 'current',
        });
      },
      requestFailed: (method: number, code: number, reason?: string) => {
        this.metrics.requestErrors.inc({ method: methodName(method), code: String(code) });
        this.#log.debug({ method: methodName(method), code, reason }, 'request refused');
        // 401 with a challenge is the normal first step of every client, not a failure.
        if (method === 0x003 && code !== 401 && code !== 438)
          this.metrics.allocationsFailed.inc({ reason: String(code) });
      },
      authFailed: (reason: string) => {
        if (reason !== 'no-credentials') this.metrics.authFailures.inc({ reason });
      },
    };
  }

  #warnOnce(key: string, message: string, err?: unknown): void {
    this.#warn(key, Date.now(), (suppressed) => this.#log.warn({ err, suppressed }, message));
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

function toAddress(a: net.AddressInfo): TransportAddress {
  return { family: a.family === 'IPv6' ? 6 : 4, address: a.address, port: a.port };
}

function describe(l: ListeningAddresses): Record<string, string[]> {
  return {
    udp: l.udp.map(addressKey),
    tcp: l.tcp.map(addressKey),
    tls: l.tls.map(addressKey),
  };
}

export { toAddress };
