/**
 * Per-key request rate limit: GCRA (the generic cell rate algorithm, ITU-T I.371), which is a
 * token bucket kept as one number, the theoretical arrival time (TAT) of the next request. A
 * request at `now` is let through when the TAT it would push forward stays within `burst`
 * emission intervals of now. One number per key makes it cheap to keep in Redis and to update
 * atomically (src/redis/redis-rate-limit.ts runs the same arithmetic in a Lua script). Pure.
 */
import type { RateLimit } from './api-keys.ts';

export interface RateDecision {
  readonly allowed: boolean;
  /** TAT to store (unchanged when refused). */
  readonly tat: number;
  /** ms until a request would be let through; 0 when allowed. */
  readonly retryAfterMs: number;
  /** Requests that could still pass right now. */
  readonly remaining: number;
}

export function gcra(tat: number | undefined, now: number, limit: RateLimit): RateDecision {
  const interval = 1000 / limit.ratePerSecond;
  const window = interval * limit.burst;
  const start = Math.max(tat ?? now, now);
  const next = start + interval;
  if (next - now > window) {
    return { allowed: false, tat: start, retryAfterMs: Math.ceil(next - now - window), remaining: 0 };
  }
  return {
    allowed: true,
    tat: next,
    retryAfterMs: 0,
    remaining: Math.floor((window - (next - now)) / interval),
  };
}

/** Where TATs live: in memory per process, or in Redis shared by every edge. */
export interface RateLimiter {
  take(key: string, limit: RateLimit, now: number): Promise<RateDecision>;
}

export class MemoryRateLimiter implements RateLimiter {
  readonly #tat = new Map<string, number>();

  async take(key: string, limit: RateLimit, now: number): Promise<RateDecision> {
    // Bounded: a TAT in the past carries no state, so dropping old ones loses nothing.
    if (this.#tat.size > 50_000) for (const [k, t] of this.#tat) if (t < now) this.#tat.delete(k);
    const d = gcra(this.#tat.get(key), now, limit);
    if (d.allowed) this.#tat.set(key, d.tat);
    return d;
  }
}
