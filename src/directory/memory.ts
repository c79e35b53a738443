/**
 * The in-memory relay directory: the embedded default for a single process (`npm start` without
 * REDIS_URL), and the reference the Redis store is tested against (one contract suite runs on
 * both). Expiry is by the `now` passed in; there are no timers.
 */
import { clientMember, type Revocations, type RevocationTarget } from '../credentials/revocation.ts';
import { greatCircleKm } from './geo.ts';
import {
  compareRelayIds,
  type DirectoryEvent,
  type LinkRecord,
  type RelayDirectory,
  type RelayRecord,
} from './types.ts';

export class MemoryDirectory implements RelayDirectory {
  readonly #relays = new Map<string, { record: RelayRecord; expiresAt: number }>();
  readonly #links = new Map<string, { links: readonly LinkRecord[]; expiresAt: number }>();
  readonly #handlers = new Set<(e: DirectoryEvent) => void>();
  readonly #revoked = {
    usernames: new Map<string, number>(),
    clients: new Map<string, number>(),
    tenants: new Map<string, number>(),
  };

  async register(relay: RelayRecord, ttlMs: number, now: number): Promise<void> {
    this.#relays.set(relay.id, { record: relay, expiresAt: now + ttlMs });
  }

  async deregister(id: string): Promise<void> {
    this.#relays.delete(id);
    this.#links.delete(id);
  }

  async get(id: string, now: number): Promise<RelayRecord | undefined> {
    const entry = this.#relays.get(id);
    return entry && entry.expiresAt > now ? entry.record : undefined;
  }

  async list(now: number): Promise<RelayRecord[]> {
    this.#prune(now);
    return [...this.#relays.values()].map((e) => e.record).sort(compareRelayIds);
  }

  async nearby(
    lat: number,
    lon: number,
    radiusKm: number,
    now: number,
  ): Promise<{ id: string; distanceKm: number }[]> {
    return (await this.list(now))
      .map((r) => ({ id: r.id, distanceKm: greatCircleKm(lat, lon, r.lat, r.lon) }))
      .filter((r) => r.distanceKm <= radiusKm)
      .sort((a, b) => a.distanceKm - b.distanceKm);
  }

  async putLinks(from: string, links: readonly LinkRecord[], ttlMs: number, now: number): Promise<void> {
    this.#links.set(from, { links: [...links], expiresAt: now + ttlMs });
  }

  async links(now: number): Promise<LinkRecord[]> {
    this.#prune(now);
    return [...this.#links.values()].flatMap((e) => e.links);
  }

  async revoke(target: RevocationTarget, until: number): Promise<void> {
    const [set, member] =
      target.kind === 'username'
        ? [this.#revoked.usernames, target.username]
        : target.kind === 'client'
          ? [this.#revoked.clients, clientMember(target.tenant, target.client)]
          : [this.#revoked.tenants, target.tenant];
    set.set(member, Math.max(until, set.get(member) ?? 0));
  }

  async revoked(now: number): Promise<Revocations> {
    const live = (set: Map<string, number>) => {
      for (const [m, until] of set) if (until <= now) set.delete(m);
      return [...set.keys()].sort();
    };
    return {
      usernames: live(this.#revoked.usernames),
      clients: live(this.#revoked.clients),
      tenants: live(this.#revoked.tenants),
    };
  }

  async publish(event: DirectoryEvent): Promise<void> {
    for (const h of this.#handlers) h(event);
  }

  async subscribe(handler: (event: DirectoryEvent) => void): Promise<() => Promise<void>> {
    this.#handlers.add(handler);
    return async () => {
      this.#handlers.delete(handler);
    };
  }

  async close(): Promise<void> {
    this.#handlers.clear();
  }

  #prune(now: number): void {
    for (const [id, e] of this.#relays) if (e.expiresAt <= now) this.#relays.delete(id);
    for (const [id, e] of this.#links) if (e.expiresAt <= now) this.#links.delete(id);
  }
}
