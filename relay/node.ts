/**
 * One relay, assembled: TURN listeners, the HTTP port, and (with a directory) registration and
 * the backbone. relay/main.ts runs one per process with Redis; the local stack (`npm start`)
 * runs several in one process around a shared in-memory directory.
 */
import { AggregatorRegistry } from 'prom-client';
import type { PeerCounts } from '../src/backbone/core-actions.ts';
import type { Revocations } from '../src/credentials/revocation.ts';
import type { RelayDirectory } from '../src/directory/types.ts';
import { parseLinkFaults } from '../src/faults/link-fault.ts';
import { addressKey } from '../src/net/address.ts';
import type { TrafficCounters } from '../src/turn/allocation.ts';
import { Backbone, type BackboneUpdate, backboneOptions, newBackboneRun } from './backbone.ts';
import { createBackboneMetrics } from './backbone-metrics.ts';
import type { RelayConfig } from './config.ts';
import { type RelayHttp, startRelayHttp } from './http.ts';
import { registerRelayInfo } from './info-metric.ts';
import type { Logger } from './logger.ts';
import { type PingListeners, startPingListeners } from './ping-listener.ts';
import { pingUrl, Registration, turnUrls } from './registration.ts';
import type { ReloadResult } from './tls-certificates.ts';
import { type ListeningAddresses, TurnRelay } from './turn-relay.ts';
import { backboneThreads, workerConfig } from './worker-config.ts';
import type { WorkerMetrics, WorkerStats } from './workers.ts';

/**
 * The other TURN workers of this relay (--workers N, relay/workers.ts), seen from the main thread,
 * which serves as worker 0: their counts join this relay's in /healthz, /metrics and the directory
 * record, and revocations, certificate reloads, drain and stop reach them too.
 */
export interface RelaySiblings {
  readonly size: number;
  /** Each other worker's counts, as last read. */
  stats(): readonly WorkerStats[];
  allocations(): number;
  traffic(): TrafficCounters;
  ready(): boolean;
  metrics(): Promise<WorkerMetrics[]>;
  setRevoked(revocations: Revocations): void;
  reloadCertificates(): void;
  /** Thread 0's backbone to the others' (--backbone-port): directory and routes. */
  backboneUpdate(update: BackboneUpdate): void;
  /** A new backbone fault spec (PUT /faults), already checked. */
  setFaults(spec: string): void;
  drain(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

/** What the other workers tell this one (worker 0). */
export interface SiblingHooks {
  /** This relay process's backbone run (32 hex digits): every thread seals its frames under it. */
  readonly backboneRun: string;
  backboneCounts(worker: number, counts: readonly PeerCounts[]): void;
}

export interface RelayNode {
  readonly relay: TurnRelay;
  readonly listening: ListeningAddresses;
  readonly http: RelayHttp;
  /** The public /ping ports (--ping-port, --ping-tls-port), when asked for. */
  readonly ping: PingListeners;
  readonly backbone: Backbone | undefined;
  /** Re-read the TLS certificate and key (SIGHUP); undefined without TLS. */
  reloadCertificates(): ReloadResult | undefined;
  /** Drain (when asked), then stop everything and deregister. */
  stop(drain: boolean): Promise<void>;
}

/** Each port once, in listening order (the same ports listen on every address). */
const portsOf = (addresses: readonly { port: number }[]): number[] => [
  ...new Set(addresses.map((a) => a.port)),
];

export async function startRelayNode(
  config: RelayConfig,
  deps: {
    logger: Logger;
    directory?: RelayDirectory | undefined;
    processMetrics?: boolean;
    /**
     * With --workers N > 1: binds the TURN ports with SO_REUSEPORT and starts the other N-1
     * workers once this one listens (relay/workers.ts passes its WorkerPool here); their
     * backbones report their data counts through `hooks`.
     */
    siblings?: ((hooks: SiblingHooks) => Promise<RelaySiblings>) | undefined;
  },
): Promise<RelayNode> {
  const { logger, directory } = deps;
  let backbone: Backbone | undefined;
  let siblings: RelaySiblings | undefined;
  // New at every start: the keys this run seals frames with, in its record for the others.
  const backboneRun = newBackboneRun();
  const backboneFor = (r: TurnRelay): Backbone =>
    new Backbone(
      backboneOptions(config, 0, backboneRun),
      r,
      { directory: directory!, followers: (u) => siblings?.backboneUpdate(u) },
      createBackboneMetrics(r.metrics.registry),
      logger,
    );
  // Worker 0's share of the relayed ports and relay-wide caps (the whole of them with one worker).
  const relay = new TurnRelay(workerConfig(config, 0), {
    logger,
    processMetrics: deps.processMetrics ?? false,
    sharedPorts: deps.siblings !== undefined,
    // The backbone is the relay's egress from the start: until it knows other relays, it sends direct.
    ...(directory && config.backbonePort !== undefined
      ? {
          egress: (r: TurnRelay) => {
            backbone = backboneFor(r);
            return backbone;
          },
        }
      : {}),
  });
  registerRelayInfo(relay.metrics.registry, { ...config, version: config.software, udpIo: relay.udpIo });
  const listening = await relay.start().catch(async (err: unknown) => {
    await relay.stop();
    throw err;
  });
  siblings = await deps
    .siblings?.({
      backboneRun,
      backboneCounts: (worker, counts) => backbone?.siblingCounts(worker, counts),
    })
    .catch(async (err: unknown) => {
      await relay.stop();
      throw err;
    });
  const registry = relay.metrics.registry;
  const allocations = () => relay.engine.allocationCount + (siblings?.allocations() ?? 0);
  const traffic = (): TrafficCounters => {
    const t = relay.traffic();
    const s = siblings?.traffic();
    if (!s) return t;
    return {
      packetsToPeer: t.packetsToPeer + s.packetsToPeer,
      bytesToPeer: t.bytesToPeer + s.bytesToPeer,
      packetsToClient: t.packetsToClient + s.packetsToClient,
      bytesToClient: t.bytesToClient + s.bytesToClient,
    };
  };
  const stopSiblings = async () => {
    await siblings?.stop();
  };
  const setFaults = (spec: string): string | undefined => {
    const parsed = parseLinkFaults(spec);
    if (!parsed.ok) return parsed.error;
    if (!backbone) return 'this relay has no backbone (--backbone-port)';
    backbone.setFaults(parsed.value);
    siblings?.setFaults(spec);
    logger.warn({ spec }, 'backbone fault injection changed');
    return undefined;
  };
  const http = await startRelayHttp(
    config.httpHost,
    config.httpPort,
    {
      // With workers, each metric is summed over them unless it says otherwise (its `aggregator`).
      metrics: siblings
        ? async () =>
            AggregatorRegistry.aggregate([
              await registry.getMetricsAsJSON(),
              ...(await siblings.metrics()),
            ]).metrics()
        : () => registry.metrics(),
      contentType: registry.contentType,
      ready: () => relay.ready && (siblings?.ready() ?? true),
      status: () => ({
        allocations: allocations(),
        // The UDP I/O every thread runs on (--udp-io; auto has chosen): native or dgram.
        udpIo: relay.udpIo,
        // Per worker, this thread first: allocations and packets relayed (both ways) since start.
        ...(siblings
          ? {
              workers: [
                { allocations: relay.engine.allocationCount, traffic: relay.traffic() },
                ...siblings.stats(),
              ].map((w) => ({
                allocations: w.allocations,
                relayedPackets: w.traffic.packetsToPeer + w.traffic.packetsToClient,
              })),
            }
          : {}),
        draining: relay.engine.draining,
        backbone: backbone && {
          address: backbone.address,
          io: backbone.io,
          mac: backbone.mac,
          run: backboneRun,
          routes: Object.fromEntries([...backbone.routes()].map(([to, path]) => [to, path.hops])),
        },
      }),
      faults: config.faultApiToken ? { token: config.faultApiToken, set: setFaults } : undefined,
    },
    logger,
  );
  const ping = await startPingListeners(
    {
      host: config.pingHost,
      httpPort: config.pingPort,
      httpsPort: config.pingTlsPort,
      certificates: relay.certificates,
      limits: {
        maxConnections: config.pingMaxConnections,
        maxConnectionsPerIp: config.pingMaxConnectionsPerIp,
        ratePerSecond: config.pingRate,
        burst: config.pingBurst,
      },
      registry: relay.metrics.registry,
    },
    logger,
  ).catch(async (err: unknown) => {
    await relay.stop();
    await stopSiblings();
    await http.close();
    throw err;
  });
  let registration: Registration | undefined;
  let revokedTimer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => Promise<void>) | undefined;
  if (directory) {
    await backbone?.start();
    const family = config.listen[0]!.includes(':') ? 6 : 4;
    const advertised = config.externalIps[family] ?? config.listen[0]!;
    const urls = turnUrls(config, {
      udp: listening.udp[0]?.port,
      tcp: portsOf(listening.tcp),
      tls: portsOf(listening.tls),
    });
    registration = new Registration(
      directory,
      config,
      urls,
      {
        backbone:
          config.backbonePort === undefined
            ? ''
            : addressKey({ family, address: advertised, port: config.backbonePort }),
        backboneThreads:
          config.backbonePort === undefined ? undefined : backboneThreads(config, family, advertised),
        backboneBundles: config.backbonePort !== undefined,
        backboneRun: config.backbonePort === undefined ? undefined : backboneRun,
        pingUrl: pingUrl(config, advertised, { private: http.port, http: ping.http, https: ping.https }),
      },
      {
        allocations,
        traffic,
        draining: () => relay.engine.draining,
      },
      logger,
    );
    await registration.start().catch(async (err: unknown) => {
      await relay.stop();
      await stopSiblings();
      await backbone?.stop();
      await http.close();
      await ping.close();
      throw err;
    });
    // Revocations from the edge: applied on every event, and re-read every few seconds.
    const refresh = async () => {
      try {
        const revoked = await directory.revoked(Date.now());
        relay.setRevoked(revoked);
        siblings?.setRevoked(revoked);
      } catch {
        // Directory away: keep the revocations already known.
      }
    };
    await refresh();
    revokedTimer = setInterval(() => void refresh(), 5000);
    revokedTimer.unref();
    unsubscribe = await directory
      .subscribe((e) => {
        if (e.type === 'revoked') void refresh();
      })
      .catch(() => undefined);
  }
  return {
    relay,
    listening,
    http,
    ping,
    get backbone() {
      return backbone;
    },
    reloadCertificates: () => {
      siblings?.reloadCertificates();
      return relay.reloadCertificates();
    },
    async stop(drain) {
      if (drain) {
        const drained = Promise.all([relay.drain(), siblings?.drain(config.drainTimeout * 1000)]);
        await registration?.draining(); // the directory hears of it at once, not at the next beat
        await drained;
      }
      clearInterval(revokedTimer);
      await unsubscribe?.().catch(() => undefined);
      await relay.stop();
      await stopSiblings();
      await backbone?.stop();
      await registration?.stop();
      await http.close();
      await ping.close();
    },
  };
}
