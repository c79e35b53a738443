/**
 * Keeps this relay registered in the directory: a heartbeat every quarter TTL carries the live
 * load (allocations, packets and bits per second), draining is announced at once, and a clean
 * stop deregisters. Redis is the coordinator, not the data plane: when it is unreachable the
 * heartbeat fails, is logged (once per outage, not per beat), and the next beat re-registers by
 * itself once Redis is back. Nothing here can stop the relay from relaying.
 */
import { relayHash } from '../src/backbone/relay-hash.ts';
import type { BackboneThreadRecord, RelayDirectory, RelayRecord } from '../src/directory/types.ts';
import { registrationConflict } from '../src/directory/validate.ts';
import type { TrafficCounters } from '../src/turn/allocation.ts';
import type { RelayConfig } from './config.ts';
import type { Logger } from './logger.ts';

export interface RegistrationSources {
  allocations(): number;
  traffic(): TrafficCounters;
  draining(): boolean;
}

/** The host part of published URLs: --public-host, else each advertised IP literal (IPv6 in brackets, RFC 3986 §3.2.2). */
export function publishedHosts(config: RelayConfig): string[] {
  if (config.publicHost) return [config.publicHost];
  const hosts = config.listen.map((listen) => {
    const family = listen.includes(':') ? 6 : 4;
    const ip = config.externalIps[family] ?? listen;
    return family === 6 ? `[${ip}]` : ip;
  });
  return [...new Set(hosts)];
}

/** TURN URLs as clients use them (RFC 7065), for every host and every listening port. */
export function turnUrls(
  config: RelayConfig,
  ports: { udp?: number | undefined; tcp: readonly number[]; tls: readonly number[] },
): string[] {
  const urls: string[] = [];
  for (const host of publishedHosts(config)) {
    if (ports.udp) urls.push(`turn:${host}:${ports.udp}?transport=udp`);
    for (const port of ports.tcp) urls.push(`turn:${host}:${port}?transport=tcp`);
    for (const port of ports.tls) urls.push(`turns:${host}:${port}?transport=tcp`);
  }
  return urls;
}

/**
 * Where clients time this relay, in order of preference: the public HTTPS ping (any page may fetch
 * it), the public HTTP ping, else the private port's /ping. The host is --public-host when given,
 * else the listening address, or the advertised one when it listens on all.
 */
export function pingUrl(
  config: RelayConfig,
  advertised: string,
  ports: { readonly private: number; readonly http: number | undefined; readonly https: number | undefined },
): string {
  const { publicHost } = config;
  const hostOf = (listening: string) => {
    const host = publicHost ?? (listening === '0.0.0.0' || listening === '::' ? advertised : listening);
    return host.includes(':') ? `[${host}]` : host;
  };
  if (ports.https !== undefined) return `https://${hostOf(config.pingHost)}:${ports.https}/ping`;
  if (ports.http !== undefined) return `http://${hostOf(config.pingHost)}:${ports.http}/ping`;
  return `http://${hostOf(config.httpHost)}:${ports.private}/ping`;
}

/** This relay may not join the directory as configured (its id or its relayed ports clash). */
export class RegistrationConflictError extends Error {
  override readonly name = 'RegistrationConflictError';
  readonly code = 'ERR_REGISTRATION_CONFLICT';
}

export class Registration {
  readonly #log: Logger;
  readonly #ttlMs: number;
  readonly #startedAt = Date.now();
  #timer: NodeJS.Timeout | undefined;
  #last: { at: number; traffic: TrafficCounters } | undefined;
  #healthy = true;
  #stopped = false;

  constructor(
    private readonly directory: RelayDirectory,
    private readonly config: RelayConfig,
    private readonly urls: readonly string[],
    /**
     * Where others reach this relay: its backbone (`ip:port`, '' without one) and each backbone
     * thread (--workers N), and its RTT ping URL.
     */
    private readonly reach: {
      readonly backbone: string;
      readonly backboneThreads?: readonly BackboneThreadRecord[] | undefined;
      /** Its backbone takes bundles (every backbone of this version does). */
      readonly backboneBundles?: boolean;
      /** Its backbone's run (src/backbone/key-ring.ts), with a backbone. */
      readonly backboneRun?: string | undefined;
      readonly pingUrl: string | undefined;
    },
    private readonly sources: RegistrationSources,
    logger: Logger,
  ) {
    this.#log = logger.child({ part: 'registration', id: config.id });
    this.#ttlMs = config.heartbeatTtl * 1000;
  }

  /**
   * Registers now, announces the relay, and heartbeats until stopped. Throws
   * RegistrationConflictError when another live relay has the same backbone hash or overlapping
   * relayed ports on the same address (checked when the directory answers; a relay started while
   * it is away registers unchecked).
   */
  async start(): Promise<void> {
    let others: RelayRecord[] | undefined;
    try {
      others = await this.directory.list(Date.now());
    } catch {
      // Directory away: the first beat logs it.
    }
    const conflict = others && registrationConflict(this.record(), others, relayHash);
    if (conflict) throw new RegistrationConflictError(`refusing to register: ${conflict}`);
    await this.beat();
    await this.directory
      .publish({ type: 'relay-up', id: this.config.id, at: Date.now() })
      .catch(() => undefined);
    this.#timer = setInterval(() => void this.beat(), Math.max(500, this.#ttlMs / 4));
    this.#timer.unref();
  }

  /** One heartbeat; never throws. */
  async beat(): Promise<boolean> {
    if (this.#stopped) return false;
    try {
      await this.directory.register(this.record(), this.#ttlMs, Date.now());
      if (!this.#healthy) this.#log.info('directory reachable again: registered');
      this.#healthy = true;
      return true;
    } catch (err) {
      if (this.#healthy) this.#log.warn({ err }, 'directory unreachable: relaying on, retrying every beat');
      this.#healthy = false;
      return false;
    }
  }

  /** Publish the draining state at once, before allocations start to wind down. */
  async draining(): Promise<void> {
    await this.beat();
    await this.directory
      .publish({ type: 'relay-draining', id: this.config.id, at: Date.now() })
      .catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    try {
      await this.directory.deregister(this.config.id, Date.now());
      await this.directory.publish({ type: 'relay-down', id: this.config.id, at: Date.now() });
    } catch (err) {
      this.#log.warn({ err }, 'could not deregister; the entry expires with its TTL');
    }
  }

  record(): RelayRecord {
    const c = this.config;
    const now = Date.now();
    const traffic = this.sources.traffic();
    let pps = 0;
    let bps = 0;
    if (this.#last && now > this.#last.at) {
      const s = (now - this.#last.at) / 1000;
      const t0 = this.#last.traffic;
      pps = (traffic.packetsToPeer + traffic.packetsToClient - t0.packetsToPeer - t0.packetsToClient) / s;
      bps = (8 * (traffic.bytesToPeer + traffic.bytesToClient - t0.bytesToPeer - t0.bytesToClient)) / s;
    }
    this.#last = { at: now, traffic };
    const family = c.listen[0]!.includes(':') ? 6 : 4;
    return {
      id: c.id,
      region: c.region,
      lat: c.lat,
      lon: c.lon,
      turnUrls: this.urls,
      backbone: this.reach.backbone,
      ...(this.reach.backboneThreads?.length ? { backboneThreads: this.reach.backboneThreads } : {}),
      ...(this.reach.backboneBundles ? { backboneBundles: true } : {}),
      ...(this.reach.backboneRun ? { backboneRun: this.reach.backboneRun } : {}),
      ...(this.reach.pingUrl ? { pingUrl: this.reach.pingUrl } : {}),
      relayedAddress: c.externalIps[family] ?? c.listen[0]!,
      portRange: [c.minPort, c.maxPort],
      capacity: c.capacity,
      load: { allocations: this.sources.allocations(), pps: Math.round(pps), bps: Math.round(bps) },
      state: this.sources.draining() ? 'draining' : 'active',
      version: c.software,
      startedAt: this.#startedAt,
      updatedAt: now,
    };
  }
}
