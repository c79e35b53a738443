/**
 * The relay directory on Redis (ioredis): one JSON record per relay with a PX lifetime (the
 * heartbeat TTL), a ZSET of registrations by expiry time, a GEO index, per-relay link records, and
 * a pub/sub channel for changes. Key names and lifetimes live in src/directory/keys.ts. Works
 * against a single Redis, Sentinel or Cluster through the ioredis client it is given; all keys
 * share the `{dir}` hash tag so MULTI/EXEC is allowed on Cluster.
 */
import type { Cluster, Redis } from 'ioredis';
import { clientMember, type Revocations, type RevocationTarget } from '../credentials/revocation.ts';
import { type DirectoryKeys, directoryKeys } from '../directory/keys.ts';
import {
  compareRelayIds,
  type DirectoryEvent,
  type LinkRecord,
  type RelayDirectory,
  type RelayRecord,
} from '../directory/types.ts';
import { checkLinkRecord, checkRelayRecord } from '../directory/validate.ts';

type Client = Redis | Cluster;

export interface RedisDirectoryOptions {
  /** Commands and the publisher. */
  readonly client: Client;
  /** A second connection for SUBSCRIBE (a subscribed connection cannot run commands). */
  readonly subscriber: Client;
  readonly prefix: string;
  /**
   * A record read back failed validation (src/directory/validate.ts) and was skipped: which key,
   * and the field that is wrong. The caller logs it (rate-limited); reads never fail for it.
   */
  readonly onInvalid?: (key: string, error: string) => void;
}

function parse<T>(json: string | null): T | undefined {
  if (json === null) return undefined;
  try {
    return JSON.parse(json) as T;
  } catch {
    return undefined;
  }
}

export class RedisDirectory implements RelayDirectory {
  readonly keys: DirectoryKeys;
  readonly #client: Client;
  readonly #subscriber: Client;
  readonly #onInvalid: (key: string, error: string) => void;
  readonly #handlers = new Set<(e: DirectoryEvent) => void>();
  #subscribed = false;

  constructor(o: RedisDirectoryOptions) {
    this.keys = directoryKeys(o.prefix);
    this.#client = o.client;
    this.#subscriber = o.subscriber;
    this.#onInvalid = o.onInvalid ?? (() => undefined);
    this.#subscriber.on('message', (channel: string, message: string) => {
      if (channel !== this.keys.events) return;
      const event = parse<DirectoryEvent>(message);
      if (event) for (const h of this.#handlers) h(event);
    });
  }

  async register(relay: RelayRecord, ttlMs: number, now: number): Promise<void> {
    const ttl = Math.max(1, Math.round(ttlMs));
    await this.#client
      .multi()
      .set(this.keys.relay(relay.id), JSON.stringify(relay), 'PX', ttl)
      .zadd(this.keys.relays, now + ttl, relay.id)
      .geoadd(this.keys.geo, relay.lon, relay.lat, relay.id)
      .exec();
  }

  async deregister(id: string): Promise<void> {
    await this.#client
      .multi()
      .del(this.keys.relay(id), this.keys.links(id))
      .zrem(this.keys.relays, id)
      .zrem(this.keys.geo, id)
      .zrem(this.keys.linkIndex, id)
      .exec();
  }

  async get(id: string, now: number): Promise<RelayRecord | undefined> {
    const [score, json] = await Promise.all([
      this.#client.zscore(this.keys.relays, id),
      this.#client.get(this.keys.relay(id)),
    ]);
    return score !== null && Number(score) > now ? this.#relayRecord(id, json) : undefined;
  }

  async list(now: number): Promise<RelayRecord[]> {
    const ids = await this.#liveIds(this.keys.relays, now);
    if (ids.length === 0) return [];
    const records = await this.#client.mget(ids.map((id) => this.keys.relay(id)));
    return records
      .map((json, i) => this.#relayRecord(ids[i]!, json))
      .filter((r): r is RelayRecord => r !== undefined)
      .sort(compareRelayIds);
  }

  async nearby(
    lat: number,
    lon: number,
    radiusKm: number,
    now: number,
  ): Promise<{ id: string; distanceKm: number }[]> {
    await this.#liveIds(this.keys.relays, now);
    const rows = (await this.#client.geosearch(
      this.keys.geo,
      'FROMLONLAT',
      lon,
      lat,
      'BYRADIUS',
      radiusKm,
      'km',
      'ASC',
      'WITHDIST',
    )) as [string, string][];
    return rows.map(([id, dist]) => ({ id, distanceKm: Number(dist) }));
  }

  async putLinks(from: string, links: readonly LinkRecord[], ttlMs: number, now: number): Promise<void> {
    const ttl = Math.max(1, Math.round(ttlMs));
    await this.#client
      .multi()
      .set(this.keys.links(from), JSON.stringify(links), 'PX', ttl)
      .zadd(this.keys.linkIndex, now + ttl, from)
      .exec();
  }

  async links(now: number): Promise<LinkRecord[]> {
    const ids = await this.#liveIds(this.keys.linkIndex, now);
    if (ids.length === 0) return [];
    const values = await this.#client.mget(ids.map((id) => this.keys.links(id)));
    return values.flatMap((json, i) => {
      if (json === null) return []; // expired between the two reads
      const key = this.keys.links(ids[i]!);
      const list = parse<unknown>(json);
      if (!Array.isArray(list)) {
        this.#onInvalid(key, 'not a JSON array');
        return [];
      }
      const out: LinkRecord[] = [];
      for (const item of list) {
        const r = checkLinkRecord(item);
        if (r.ok) out.push(r.value);
        else this.#onInvalid(key, r.error);
      }
      return out;
    });
  }

  /** A stored relay record, validated; undefined (and reported) when it is not one. */
  #relayRecord(id: string, json: string | null): RelayRecord | undefined {
    if (json === null) return undefined; // expired between the two reads
    const r = checkRelayRecord(parse<unknown>(json));
    if (r.ok && r.value.id === id) return r.value;
    this.#onInvalid(this.keys.relay(id), r.ok ? `id: ${r.value.id} stored under ${id}` : r.error);
    return undefined;
  }

  async revoke(target: RevocationTarget, until: number): Promise<void> {
    const [key, member] =
      target.kind === 'username'
        ? [this.keys.revoked, target.username]
        : target.kind === 'client'
          ? [this.keys.revokedClients, clientMember(target.tenant, target.client)]
          : [this.keys.revokedTenants, target.tenant];
    // ZADD GT adds a new member and only ever moves an existing one's lapse time later.
    await this.#client.zadd(key, 'GT', until, member);
  }

  async revoked(now: number): Promise<Revocations> {
    const keys = [this.keys.revoked, this.keys.revokedClients, this.keys.revokedTenants];
    const tx = this.#client.multi();
    for (const key of keys) tx.zremrangebyscore(key, '-inf', now);
    for (const key of keys) tx.zrangebyscore(key, `(${now}`, '+inf');
    const results = (await tx.exec()) ?? [];
    const list = (i: number): string[] => {
      const [err, value] = results[keys.length + i] ?? [null, []];
      if (err) throw err;
      return [...(value as string[])].sort();
    };
    return { usernames: list(0), clients: list(1), tenants: list(2) };
  }

  async publish(event: DirectoryEvent): Promise<void> {
    await this.#client.publish(this.keys.events, JSON.stringify(event));
  }

  async subscribe(handler: (event: DirectoryEvent) => void): Promise<() => Promise<void>> {
    this.#handlers.add(handler);
    if (!this.#subscribed) {
      this.#subscribed = true;
      await this.#subscriber.subscribe(this.keys.events);
    }
    return async () => {
      this.#handlers.delete(handler);
      if (this.#handlers.size === 0 && this.#subscribed) {
        this.#subscribed = false;
        await this.#subscriber.unsubscribe(this.keys.events);
      }
    };
  }

  async close(): Promise<void> {
    this.#handlers.clear();
    await Promise.allSettled([this.#client.quit(), this.#subscriber.quit()]);
  }

  /** Members of an expiry-scored ZSET still alive at `now`, after dropping the expired ones. */
  async #liveIds(key: string, now: number): Promise<string[]> {
    const expired = await this.#client.zrangebyscore(key, '-inf', now);
    if (expired.length > 0) {
      const multi = this.#client.multi().zremrangebyscore(key, '-inf', now);
      if (key === this.keys.relays) multi.zrem(this.keys.geo, ...expired);
      await multi.exec();
    }
    return this.#client.zrangebyscore(key, `(${now}`, '+inf');
  }
}
