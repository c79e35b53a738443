/**
 * The edge's limits against abuse (issue 12), their defaults and the parser of their environment
 * variables, shared by the Node and Workers entry points. Must not import relay/.
 *   EDGE_ADDRESS_RATE, EDGE_ADDRESS_BURST: with EDGE_API_KEYS=off, requests per second and burst
 *   per client address (IPv6: per /64); EDGE_ADDRESS_RATE=off removes the limit.
 */
import type { SourceLimit } from '../src/limits/source-limiter.ts';
import { checkRateLimit, type RateLimit } from '../src/tenants/api-keys.ts';

/** With API keys off, each client address (IPv6: each /64) still gets this much. */
export const DEFAULT_ADDRESS_LIMIT: RateLimit = { ratePerSecond: 10, burst: 40 };

/**
 * Wrong, malformed or disabled API keys per client address, counted per edge process: a server
 * that misconfigured its key learns it from the first 401; ten a minute is no one's mistake.
 * Keys are 256-bit, so guessing is hopeless, but each attempt costs a store read and a hash.
 */
export const DEFAULT_FAILED_KEY_LIMIT: SourceLimit = { ratePerSecond: 1 / 6, burst: 10, capacity: 65_536 };

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** EDGE_ADDRESS_RATE and EDGE_ADDRESS_BURST; unset means the default, rate `off` means none. */
export function parseAddressLimit(
  rate: string | undefined,
  burst: string | undefined,
): Parsed<RateLimit | 'off'> {
  if (rate === 'off') return { ok: true, value: 'off' };
  const r = rate === undefined || rate === '' ? DEFAULT_ADDRESS_LIMIT.ratePerSecond : Number(rate);
  const b = burst === undefined || burst === '' ? DEFAULT_ADDRESS_LIMIT.burst : Number(burst);
  const checked = checkRateLimit(r, b);
  if (checked.ok) return checked;
  const name = checked.error.startsWith('rate') ? 'EDGE_ADDRESS_RATE' : 'EDGE_ADDRESS_BURST';
  return { ok: false, error: `${name}: ${checked.error.replace(/^\w+: /, '')}, or EDGE_ADDRESS_RATE=off` };
}
