/**
 * The TURN relay process shell: owns the clock, the timers and the UDP listeners, and executes
 * what the pure engine in src/turn decides. Its parts: stream-listeners.ts (TCP and TLS),
 * relayed-sockets.ts (the engine's actions, relayed sockets and reservations), engine-hooks.ts
 * (metrics and logs of the engine's events), udp-clients.ts (UDP clients' allocations by source).
 * Everything an allocation sends to a peer goes through one PeerEgress (relay-allocation.ts), and
 * everything that arrives for an allocation from elsewhere (the backbone) comes in through
 * deliverFromPeer, so the backbone can divert packets without touching the engine.
 */
import { randomBytes } from 'node:crypto';
import { RevocationSet, type Revocations } from '../src/credentials/revocation.ts';
import { addressKey, type IpFamily, type TransportAddress } from '../src/net/address.ts';
import { parseIp } from '../src/net/ip.ts';
import { createPeerPolicy } from '../src/net/peer-policy.ts';
import type { ClientContext, ClientTransport, EndReason, TrafficCounters } from '../src/turn/allocation.ts';
import { createAuthenticator } from '../src/turn/auth.ts';
import { TurnEngine } from '../src/turn/engine.ts';
import { createNonceManager } from '../src/turn/nonce.ts';
import type { RelayConfig } from './config.ts';
import { engineHooks } from './engine-hooks.ts';
import { type Logger, rateLimitedWarn, type WarnOnce } from './logger.ts';
import { createRelayMetrics, createTlsMetrics, type RelayMetrics } from './metrics.ts';
import { stunCrypto } from './platform-crypto.ts';
import {
  type ClientLink,
  directEgress,
  type PeerEgress,
  type RelayAllocation,
  type RelayedSocket,
} from './relay-allocation.ts';
import { RelayedSockets, relayAddresses, relayFamilies } from './relayed-sockets.ts';
import { StreamListeners } from './stream-listeners.ts';
import { type ReloadResult, TlsCertificates } from './tls-certificates.ts';
import { UdpClientIndex } from './udp-clients.ts';
import { type UdpIo, type UdpPort, udpIo } from './udp-io.ts';

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

/** Sources the per-source limit on unauthenticated answers remembers at once. */
const UNAUTH_SOURCES = 65_536;

export class TurnRelay {
  readonly engine: TurnEngine<ClientLink, RelayedSocket>;
  readonly metrics: RelayMetrics;
  readonly egress: PeerEgress;
  readonly #log: Logger;
  readonly #warnOnce: WarnOnce;
  readonly #relayed: RelayedSockets;
  /** The relayed side's allocations by relayed address, read by deliverFromPeer per packet. */
  readonly #byRelayed: ReadonlyMap<string, RelayAllocation>;
  readonly #streams: StreamListeners;
  readonly #udpClients = new UdpClientIndex();
  readonly #udp: UdpPort[] = [];
  /** dgram or the native addon (--udp-io), for the UDP listeners and the relayed sockets. */
  readonly #io: UdpIo;
  readonly #ended: TrafficCounters = {
    packetsToPeer: 0,
    bytesToPeer: 0,
    packetsToClient: 0,
    bytesToClient: 0,
  };
  /** Client messages handed to the engine, by transport (turn_messages_parsed_total). */
  readonly #parsed: Record<ClientTransport, number> = { udp: 0, tcp: 0, tls: 0 };
  #revoked = new RevocationSet();
  #tick: NodeJS.Timeout | undefined;
  #certs: TlsCertificates | undefined;
  #listening: ListeningAddresses = { udp: [], tcp: [], tls: [] };
  #stopped = false;
  readonly #sharedPorts: boolean;
  /** The relay's logger, for parts of their own (a child of `#log` would repeat `part`). */
  readonly #baseLog: Logger;

  constructor(
    readonly config: RelayConfig,
    deps: TurnRelayDeps,
  ) {
    this.#baseLog = deps.logger;
    this.#log = deps.logger.child({ part: 'turn' });
    this.#warnOnce = rateLimitedWarn(this.#log);
    this.#sharedPorts = deps.sharedPorts ?? false;
    const io = udpIo(config.udpIo, (why) => this.#log.warn(`--udp-io native: ${why}; using dgram`));
    this.#io = io;
    const addresses = relayAddresses(config);
    // Read at scrape time only, once every part below exists.
    this.metrics = createRelayMetrics(
      {
        allocationsActive: () => this.engine.allocationCount,
        // Packets to stream clients dropped for a full send buffer count as rate-limited.
        drops: () => ({
          ...this.engine.drops,
          rateLimited: this.engine.drops.rateLimited + this.#streams.backpressureDrops,
        }),
        relaySocketsOpen: () => this.#relayed.open,
        draining: () => this.engine.draining,
        traffic: () => this.traffic(),
        refusals: () => ({
          ...this.#streams.refusals,
          request_too_large: this.engine.refusals.requestTooLarge,
          unauthenticated_rate_limited: this.engine.refusals.unauthenticatedRateLimited,
        }),
        streamConnections: () => this.#streams.connections,
        reservations: () => this.engine.reservationCount,
        parsed: () => ({ ...this.#parsed }),
        ...(io.stats ? { nativeUdp: io.stats } : {}),
      },
      deps.processMetrics ?? false,
    );
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
      relayFamilies: relayFamilies(addresses),
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
      hooks: engineHooks({
        metrics: this.metrics,
        log: this.#log,
        udpClients: this.#udpClients,
        ended: this.#ended,
      }),
    });
    this.egress = deps.egress?.(this) ?? directEgress;
    this.#relayed = new RelayedSockets({
      engine: this.engine,
      egress: this.egress,
      io,
      ports: { min: config.minPort, max: config.maxPort },
      addresses,
      log: this.#log,
      warnOnce: this.#warnOnce,
    });
    this.#byRelayed = this.#relayed.byAddress;
    this.#streams = new StreamListeners({
      engine: this.engine,
      relayed: this.#relayed,
      egress: this.egress,
      config,
      parsed: this.#parsed,
      warnOnce: this.#warnOnce,
    });
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
    return this.#relayed.open;
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
        result.tcp.push(await this.#streams.listenTcp(host, port, this.#sharedPorts));
      }
      if (certs && c.tls) {
        for (const port of c.tls.ports) {
          result.tls.push(await this.#streams.listenTls(certs, host, port, this.#sharedPorts));
        }
      }
    }
    if (c.tls?.watch) certs?.watch();
    this.#listening = result;
    this.#tick = setInterval(() => this.#relayed.run(this.engine.tick(Date.now())), 1000);
    this.#tick.unref();
    this.#log.info({ listening: describe(result) }, 'TURN listeners up');
    return result;
  }

  /** The TLS certificate and key in use (and their reloads), once started; undefined without TLS. */
  get certificates(): TlsCertificates | undefined {
    return this.#certs;
  }

  /**
   * Re-read the TLS certificate and key (SIGHUP): new TLS connections get the new pair, live ones
   * keep theirs; a bad pair is refused and the one in use stays. Undefined without TLS.
   */
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
    if (grew) this.#relayed.run(this.engine.endRevoked((u) => next.isRevoked(u), Date.now()));
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
    this.#relayed.close();
    const streamsClosed = this.#streams.close();
    await Promise.all([...this.#udp.map((s) => s.close()), streamsClosed]);
    this.#log.info('TURN listeners closed');
  }

  #endAll(reason: EndReason): void {
    const now = Date.now();
    for (const alloc of [...this.engine.allocations()])
      this.#relayed.run(this.engine.end(alloc, reason, now));
  }

  #serveUdp(socket: UdpPort): void {
    this.#udp.push(socket);
    const local: TransportAddress = { family: socket.family, address: socket.address, port: socket.port };
    const prefix = `udp|${addressKey(local)}|`;
    const engine = this.engine;
    const egress = this.egress;
    const relayed = this.#relayed;
    const clients = this.#udpClients.listener(local);
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
          egress.send(binding.allocation, binding.peer.address, binding.peer.port, msg.subarray(4, 4 + len));
        }
        return;
      }
      if (msg[0] === 0x00 && msg[1] === 0x16) {
        // RFC 8656 §11.1 fast path: a Send indication from a client with an allocation goes to
        // the engine with the allocation found as for ChannelData, no context built per packet.
        const alloc = clients.get(port)?.get(address);
        if (alloc !== undefined) {
          const target = engine.sendFromAllocation(alloc, msg, now);
          if (target) egress.send(alloc, target.peer.address, target.peer.port, target.data);
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
      relayed.run(engine.handleStun(ctx, msg, now));
    });
  }
}

function describe(l: ListeningAddresses): Record<string, string[]> {
  return {
    udp: l.udp.map(addressKey),
    tcp: l.tcp.map(addressKey),
    tls: l.tls.map(addressKey),
  };
}
