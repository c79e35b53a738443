/**
 * The in-memory relay directory: the embedded default for a single process (`npm start` without
 * REDIS_URL), and the reference the Redis store is tested against (one contract suite runs on
 * both). Expiry is by the `now` passed in; there are no timers.
 */
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
  readonly #revoked = new Map<string, number>();

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

  async revoke(username: string, until: number): Promise<void> {
    this.#revoked.set(username, Math.max(until, this.#revoked.get(username) ?? 0));
  }

  async revoked(now: number): Promise<string[]> {
    for (const [u, until] of this.#revoked) if (until <= now) this.#revoked.delete(u);
    return [...this.#revoked.keys()].sort();
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
