/**
 * The edge's option table, for the Node and the Workers edge alike: every option with its
 * environment variable (or Workers binding, where the name differs), the runtimes that read it,
 * its default, help line and value parser. This module owns what each option accepts;
 * workers/config.ts owns reading the environment, the checks that span options, and the help
 * text. Adding an option is one entry here. Parsers throw OptionError with the reason only; the
 * caller prefixes the variable's name. Runtime-free: the Workers bundle imports this file.
 * Must not import relay/ (relay/config-options.ts is the model, not a dependency).
 */
import { type Cidr, parseCidr } from '../src/net/cidr.ts';
import { parseRedisTarget, redactRedisUrl } from '../src/redis/redis-target.ts';

export class OptionError extends Error {
  override readonly name = 'OptionError';
  readonly code = 'ERR_EDGE_CONFIG';
}

export type Runtime = 'node' | 'workers';
/** Which CDN's geo headers the Node edge believes (from a trusted proxy only), if any. */
export type GeoHeaders = 'none' | 'cloudflare' | 'cloudfront' | 'fastly';
export const GEO_HEADERS: readonly GeoHeaders[] = ['none', 'cloudflare', 'cloudfront', 'fastly'];

export interface OptionSpec<T = unknown> {
  /** The environment variable (Node) and, unless `binding` says otherwise, the Workers binding. */
  readonly env: string;
  readonly binding?: string;
  readonly runtimes: readonly Runtime[];
  /** value: one value; list: comma-separated. */
  readonly kind: 'value' | 'list';
  readonly arg: string;
  readonly help: string;
  /** Raw text, parsed like user input; shown in the help text. */
  readonly default?: string;
  /** Runtimes on which a missing value is an error. */
  readonly required?: readonly Runtime[];
  parse(raw: string): T;
  /** How the value appears in logs: secrets as <redacted>. */
  display?(value: T): unknown;
}

const int =
  (min: number, max: number) =>
  (raw: string): number => {
    if (!/^(0|[1-9]\d*)$/.test(raw) || Number(raw) < min || Number(raw) > max)
      throw new OptionError(`expected an integer from ${min} to ${max}, got "${raw}"`);
    return Number(raw);
  };

const number =
  (min: number, max: number, what: string) =>
  (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max)
      throw new OptionError(`expected ${what} from ${min} to ${max}, got "${raw}"`);
    return n;
  };

const oneOf =
  <T extends string>(values: readonly T[]) =>
  (raw: string): T => {
    if (!(values as readonly string[]).includes(raw))
      throw new OptionError(`expected ${values.join(', ').replace(/, ([^,]*)$/, ' or $1')}, got "${raw}"`);
    return raw as T;
  };

const text = (raw: string): string => raw;
const redacted = () => '<redacted>';

const secret =
  (min: number, what: string) =>
  (raw: string): string => {
    if (raw.length < min) throw new OptionError(`${what} needs at least ${min} characters`);
    return raw;
  };

const url = (raw: string): string => {
  try {
    const u = new URL(raw);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error();
    return raw;
  } catch {
    throw new OptionError(`expected an http(s) URL, got "${raw}"`);
  }
};

const redisUrl = (raw: string): string => {
  const r = parseRedisTarget(raw);
  if (!r.ok) throw new OptionError(r.error);
  return raw;
};

const keyPrefix = (raw: string): string => {
  if (/[{}\s]/.test(raw)) throw new OptionError(`must not contain braces or spaces, got "${raw}"`);
  return raw;
};

const cidrRange = (raw: string): Cidr => {
  const r = parseCidr(raw);
  if (!r.ok) throw new OptionError(r.error);
  return r.value;
};

const origin = (raw: string): string => {
  if (raw === '*') return raw;
  try {
    const u = new URL(raw);
    if (u.origin !== raw.replace(/\/$/, '')) throw new Error();
    return u.origin;
  } catch {
    throw new OptionError(`expected an origin like https://app.example.com, or *, got "${raw}"`);
  }
};

const BOTH: readonly Runtime[] = ['node', 'workers'];
const NODE: readonly Runtime[] = ['node'];
const WORKERS: readonly Runtime[] = ['workers'];

export const OPTIONS = {
  host: {
    env: 'EDGE_HOST',
    runtimes: NODE,
    kind: 'value',
    arg: 'IP',
    default: '127.0.0.1',
    help: 'address to listen on',
    parse: text,
  },
  port: {
    env: 'EDGE_PORT',
    runtimes: NODE,
    kind: 'value',
    arg: 'PORT',
    default: '8787',
    help: 'HTTP port (0: any free one)',
    parse: int(0, 65535),
  },
  redisUrl: {
    env: 'REDIS_URL',
    runtimes: NODE,
    required: NODE,
    kind: 'value',
    arg: 'URL',
    help: 'the directory (redis://, rediss://, redis-sentinel://, redis-cluster://), as for the relays',
    parse: redisUrl,
    display: (v: string) => redactRedisUrl(v),
  },
  redisPrefix: {
    env: 'EDGE_REDIS_PREFIX',
    runtimes: NODE,
    kind: 'value',
    arg: 'PREFIX',
    default: 'rb:',
    help: 'key prefix in Redis',
    parse: keyPrefix,
  },
  secrets: {
    env: 'EDGE_SECRETS',
    runtimes: BOTH,
    required: BOTH,
    kind: 'list',
    arg: 'S1,S2',
    help: 'TURN REST secrets shared with the relays; the first signs',
    parse: text,
    display: redacted,
  },
  credentialTtl: {
    env: 'EDGE_CREDENTIAL_TTL',
    runtimes: BOTH,
    kind: 'value',
    arg: 'SECONDS',
    default: '600',
    help: 'credential lifetime when the client asks none',
    parse: int(60, 86_400),
  },
  trustedProxies: {
    env: 'EDGE_TRUSTED_PROXIES',
    runtimes: NODE,
    kind: 'list',
    arg: 'CIDR,...',
    help: 'proxies whose X-Forwarded-For entries are believed, walked from the right',
    parse: cidrRange,
    display: (c: Cidr) => c.text,
  },
  geoHeaders: {
    env: 'EDGE_GEO_HEADERS',
    runtimes: NODE,
    kind: 'value',
    arg: 'CDN',
    default: 'none',
    help: 'CDN whose geo headers locate clients (from a trusted proxy only): none, cloudflare, cloudfront or fastly',
    parse: oneOf(GEO_HEADERS),
  },
  crypto: {
    env: 'EDGE_CRYPTO',
    runtimes: NODE,
    kind: 'value',
    arg: 'IMPL',
    default: 'node',
    help: 'HMAC and SHA-256 for credentials, probe tickets and API keys: node (node:crypto, synchronous) or web (Web Crypto, each call a round trip to the thread pool); see docs/BENCHMARKS.md',
    parse: oneOf(['web', 'node'] as const),
  },
  defaultLat: {
    env: 'EDGE_DEFAULT_LAT',
    runtimes: BOTH,
    kind: 'value',
    arg: 'DEG',
    default: '0',
    help: 'where clients nobody can locate are assumed',
    parse: number(-90, 90, 'degrees'),
  },
  defaultLon: {
    env: 'EDGE_DEFAULT_LON',
    runtimes: BOTH,
    kind: 'value',
    arg: 'DEG',
    default: '0',
    help: 'the same, longitude',
    parse: number(-180, 180, 'degrees'),
  },
  snapshotToken: {
    env: 'EDGE_SNAPSHOT_TOKEN',
    binding: 'SNAPSHOT_TOKEN',
    runtimes: BOTH,
    required: WORKERS,
    kind: 'value',
    arg: 'TOKEN',
    help: 'bearer token of the directory snapshot (Node serves it, Workers fetches it)',
    parse: text,
    display: redacted,
  },
  snapshotUrl: {
    env: 'SNAPSHOT_URL',
    runtimes: WORKERS,
    required: WORKERS,
    kind: 'value',
    arg: 'URL',
    help: "the Node edge's /v1/internal/directory",
    parse: url,
  },
  adminToken: {
    env: 'EDGE_ADMIN_TOKEN',
    binding: 'ADMIN_TOKEN',
    runtimes: BOTH,
    kind: 'value',
    arg: 'TOKEN',
    help: 'enables POST /v1/credentials/revoke (and on Node the dashboard) with this bearer token',
    parse: text,
    display: redacted,
  },
  corsOrigins: {
    env: 'EDGE_CORS_ORIGINS',
    runtimes: BOTH,
    kind: 'list',
    arg: 'ORIGIN,...',
    help: 'browser origins allowed to call /v1, or *',
    parse: origin,
  },
  exploreShare: {
    env: 'EDGE_EXPLORE_SHARE',
    runtimes: BOTH,
    kind: 'value',
    arg: 'SHARE',
    default: '0.05',
    help: 'share of answers adding one unranked relay to the probe targets',
    parse: number(0, 1, 'a share'),
  },
  staleSeconds: {
    env: 'EDGE_STALE_SECONDS',
    runtimes: NODE,
    kind: 'value',
    arg: 'SECONDS',
    default: '30',
    help: 'how long a directory copy answers, marked stale, while Redis is away',
    parse: int(0, 3600),
  },
  apiKeys: {
    env: 'EDGE_API_KEYS',
    runtimes: BOTH,
    kind: 'value',
    arg: 'MODE',
    default: 'required',
    help: 'required: clients send an API key (npm run keys); off: anyone may allocate',
    parse: oneOf(['required', 'off'] as const),
  },
  addressRate: {
    env: 'EDGE_ADDRESS_RATE',
    runtimes: BOTH,
    kind: 'value',
    arg: 'N|off',
    default: '10',
    help: 'with EDGE_API_KEYS=off: requests per second per client address or IPv6 /64 (shared through Redis on Node, per isolate on Workers); off: no limit',
    parse: (raw: string): number | 'off' =>
      raw === 'off' ? 'off' : number(0.001, 1_000_000, 'requests per second')(raw),
  },
  addressBurst: {
    env: 'EDGE_ADDRESS_BURST',
    runtimes: BOTH,
    kind: 'value',
    arg: 'N',
    default: '40',
    help: 'with EDGE_API_KEYS=off: requests a client address may make at once after a quiet spell',
    parse: int(1, 1_000_000),
  },
  geoipDb: {
    env: 'EDGE_GEOIP_DB',
    runtimes: NODE,
    kind: 'value',
    arg: 'FILE',
    help: 'a GeoIP2/GeoLite2/DB-IP city .mmdb: locates clients by address',
    parse: text,
  },
  dashboardDir: {
    env: 'EDGE_DASHBOARD_DIR',
    runtimes: NODE,
    kind: 'value',
    arg: 'DIR',
    help: 'the built dashboard page (default dist/dashboard)',
    parse: text,
  },
  probeKey: {
    env: 'EDGE_PROBE_KEY',
    runtimes: BOTH,
    kind: 'value',
    arg: 'KEY',
    help: 'signs probe tickets; every edge a client may reach needs the same (default: derived from the first secret)',
    parse: secret(16, 'a probe key'),
    display: redacted,
  },
  maxBodyBytes: {
    env: 'EDGE_MAX_BODY_BYTES',
    runtimes: BOTH,
    kind: 'value',
    arg: 'BYTES',
    default: '16384',
    help: 'largest request body accepted',
    parse: int(1024, 1_048_576),
  },
} as const satisfies Record<string, OptionSpec<unknown>>;

type Parsed<S> = S extends { parse(raw: string): infer T; kind: infer K }
  ? K extends 'list'
    ? T[]
    : S extends { default: string }
      ? T
      : T | undefined
  : never;

/** Every option as parsed, before the checks that span several. */
export type ParsedOptions = { -readonly [K in keyof typeof OPTIONS]: Parsed<(typeof OPTIONS)[K]> };
