/**
 * A rate limit per source (an IP address, a key id): GCRA as in src/tenants/rate-limit.ts, one
 * number per source, kept in an LRU map of bounded size. When the map is full the least recently
 * seen source is forgotten, which resets its limit: memory stays bounded at the price of letting
 * an attacker with more addresses than `capacity` start over, and every one of those addresses
 * still gets only `burst` at a time. Pure: time comes in as `now` (ms).
 */
import type { RateLimit } from '../tenants/api-keys.ts';
import { gcra } from '../tenants/rate-limit.ts';
import { LruMap } from './lru.ts';

export interface SourceLimit extends RateLimit {
  /** Sources remembered at once. */
  readonly capacity: number;
}

export class SourceLimiter {
  readonly #tat: LruMap<string, number>;

  constructor(readonly limit: SourceLimit) {
    this.#tat = new LruMap(limit.capacity);
  }

  /** Sources currently remembered. */
  get size(): number {
    return this.#tat.size;
  }

  /** Counts one event for `source`; false when it is over its limit (nothing is counted then). */
  take(source: string, now: number): boolean {
    const d = gcra(this.#tat.get(source), now, this.limit);
    if (d.allowed) this.#tat.set(source, d.tat);
    return d.allowed;
  }

  /** Whether the next event from `source` would be refused, without counting one. */
  blocked(source: string, now: number): boolean {
    return !gcra(this.#tat.peek(source), now, this.limit).allowed;
  }

  /** ms until `source` may send again; 0 when it may now. */
  retryAfterMs(source: string, now: number): number {
    return gcra(this.#tat.peek(source), now, this.limit).retryAfterMs;
  }
}
