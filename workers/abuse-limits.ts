/**
 * The edge's limits against abuse (issue 12) and their defaults, shared by the Node and Workers
 * entry points (the variables are read by workers/config.ts). Must not import relay/.
 *   EDGE_ADDRESS_RATE, EDGE_ADDRESS_BURST: with EDGE_API_KEYS=off, requests per second and burst
 *   per client address (IPv6: per /64); EDGE_ADDRESS_RATE=off removes the limit.
 */
import type { SourceLimit } from '../src/limits/source-limiter.ts';
import type { RateLimit } from '../src/tenants/api-keys.ts';

/** With API keys off, each client address (IPv6: each /64) still gets this much. */
export const DEFAULT_ADDRESS_LIMIT: RateLimit = { ratePerSecond: 10, burst: 40 };

/**
 * Wrong, malformed or disabled API keys per client address, counted per edge process: a server
 * that misconfigured its key learns it from the first 401; ten a minute is no one's mistake.
 * Keys are 256-bit, so guessing is hopeless, but each attempt costs a store read and a hash.
 */
export const DEFAULT_FAILED_KEY_LIMIT: SourceLimit = { ratePerSecond: 1 / 6, burst: 10, capacity: 65_536 };

/** The per-address limit from EDGE_ADDRESS_RATE and EDGE_ADDRESS_BURST (workers/config-options.ts). */
export function addressLimitOf(rate: number | 'off', burst: number): RateLimit | 'off' {
  return rate === 'off' ? 'off' : { ratePerSecond: rate, burst };
}
