/**
 * The answers to authenticated requests, kept to answer their retransmissions with the same bytes
 * (RFC 8489 §6.3.1: a request that is not idempotent must not run twice). Bounded in count and
 * time; keys are the engine's (client 5-tuple and transaction id). Pure: `now` in ms.
 */

/** RFC 8489 §6.3.1: keep responses long enough to answer retransmissions (Ti = 39.5 s). */
export const TRANSACTION_CACHE_MS = 40_000;
export const TRANSACTION_CACHE_MAX = 50_000;

interface CachedResponse {
  readonly bytes: Uint8Array;
  readonly expiresAt: number;
}

export class TransactionCache {
  /** Every entry lives TRANSACTION_CACHE_MS from its last write, so insertion order is expiry order. */
  readonly #entries = new Map<string, CachedResponse>();

  get size(): number {
    return this.#entries.size;
  }

  /** The answer kept under `key`, unless it expired by `now`. */
  get(key: string, now: number): Uint8Array | undefined {
    const cached = this.#entries.get(key);
    return cached && cached.expiresAt > now ? cached.bytes : undefined;
  }

  /** Keeps `bytes` under `key` until now + TRANSACTION_CACHE_MS; the oldest goes when full. */
  remember(key: string, bytes: Uint8Array, now: number): void {
    if (this.#entries.size >= TRANSACTION_CACHE_MAX) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.delete(key);
    this.#entries.set(key, { bytes, expiresAt: now + TRANSACTION_CACHE_MS });
  }

  /** Drops the answers that expired by `now`. */
  expire(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.expiresAt > now) break;
      this.#entries.delete(key);
    }
  }
}
