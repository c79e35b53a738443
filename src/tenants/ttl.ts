/**
 * How long a TURN credential handed out to a tenant's client may live. The edge has a default
 * (EDGE_CREDENTIAL_TTL); a tenant record may carry its own bounds (`npm run keys -- tenant add ID
 * --min-ttl N --max-ttl N`), and a request may ask for a TTL inside them. Without bounds a tenant's
 * clients may shorten the default down to a minute, never lengthen it. Pure.
 */
import { MAX_TTL_SECONDS } from '../credentials/turn-rest.ts';

/** Shortest credential anyone may have: ICE gathering and the first Allocate must fit in it. */
export const TTL_FLOOR_SECONDS = 10;
/** A tenant's minimum when it sets none. */
export const DEFAULT_MIN_TTL_SECONDS = 60;

export interface TtlBounds {
  readonly min: number;
  readonly max: number;
}

/** The bounds a tenant record may carry (both optional: records made before they existed lack them). */
export interface TenantTtl {
  readonly minTtlSeconds?: number | undefined;
  readonly maxTtlSeconds?: number | undefined;
}

type Checked<T> = { ok: true; value: T } | { ok: false; error: string };

const seconds = (v: number) => Number.isInteger(v) && v >= TTL_FLOOR_SECONDS && v <= MAX_TTL_SECONDS;

/** Checks bounds an operator gives a tenant; the error names the option. */
export function checkTtlBounds(min: number | undefined, max: number | undefined): Checked<TenantTtl> {
  const range = `a whole number of seconds from ${TTL_FLOOR_SECONDS} to ${MAX_TTL_SECONDS}`;
  if (min !== undefined && !seconds(min))
    return { ok: false, error: `min-ttl: expected ${range}, got ${min}` };
  if (max !== undefined && !seconds(max))
    return { ok: false, error: `max-ttl: expected ${range}, got ${max}` };
  if (min !== undefined && max !== undefined && min > max)
    return { ok: false, error: `min-ttl ${min} is above max-ttl ${max}` };
  return { ok: true, value: { minTtlSeconds: min, maxTtlSeconds: max } };
}

/** A tenant's bounds, with the edge's default TTL filling what the tenant does not set. */
export function ttlBounds(tenant: TenantTtl | undefined, edgeDefault: number): TtlBounds {
  const min = tenant?.minTtlSeconds ?? Math.min(DEFAULT_MIN_TTL_SECONDS, edgeDefault);
  const max = tenant?.maxTtlSeconds ?? Math.max(edgeDefault, min);
  return { min, max: Math.max(min, max) };
}

/**
 * The TTL of one answer: the requested one when inside the bounds, else an error saying the
 * bounds; without a request the edge default, brought inside the bounds.
 */
export function resolveTtl(
  requested: number | undefined,
  bounds: TtlBounds,
  edgeDefault: number,
  tenant: string,
): Checked<number> {
  if (requested === undefined)
    return { ok: true, value: Math.min(bounds.max, Math.max(bounds.min, edgeDefault)) };
  if (requested < bounds.min || requested > bounds.max)
    return {
      ok: false,
      error: `ttl ${requested} s is outside what tenant ${tenant} may ask for (${bounds.min}-${bounds.max} s)`,
    };
  return { ok: true, value: requested };
}
