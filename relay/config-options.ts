/**
 * The relay's option table: every flag with its environment variable, kind, default, help line
 * and value parser. This module owns what each option accepts; relay/config.ts owns reading
 * argv and the environment, the checks that span several options, and the RelayConfig shape.
 * Adding an option is one entry here (and its field in RelayConfig). The table key is the
 * RelayConfig field the value lands in, except where config.ts derives a field (noUdp -> udp,
 * tcpPort -> tcpPorts, tlsPort/tlsCert/tlsKey/noTlsWatch -> tls).
 * Parsers throw OptionError with the reason only; the caller prefixes the option's name.
 */
import { type LinkFault, parseLinkFaults } from '../src/faults/link-fault.ts';
import type { IpFamily } from '../src/net/address.ts';
import { type Cidr, parseCidr } from '../src/net/cidr.ts';
import { checkDnsName } from '../src/net/dns-name.ts';
import { formatIp, ipFamilyOf, parseHostPort, parseIp, unmapIpv4 } from '../src/net/ip.ts';
import { parseRedisTarget, redactRedisUrl } from '../src/redis/redis-target.ts';

export class OptionError extends Error {
  override readonly name = 'OptionError';
  readonly code = 'ERR_RELAY_CONFIG';
}

/**
 * How the relay does UDP I/O (relay/udp-io.ts): Node's dgram, the batched native addon, or auto
 * (native where the addon loads, else dgram: relay/udp-io-choice.ts).
 */
export type UdpIoMode = 'auto' | 'dgram' | 'native';
/**
 * Which code computes the backbone's frame tags (relay/frame-mac.ts): the native addon's OpenSSL
 * when it loads (auto), or node:crypto always. The tags are the same either way.
 */
export type BackboneMacMode = 'auto' | 'node-crypto';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export interface StaticUser {
  name: string;
  password: string;
}
export interface HostPort {
  family: IpFamily;
  address: string;
  port: number;
}

/** A STUN server to ask for this relay's external address: an IP literal or a DNS name. */
export interface StunServer {
  host: string;
  port: number;
  /** The family of an IP literal; undefined for a name (config.ts fills it in). */
  family: IpFamily | undefined;
}

/** value: one value, a repeated flag is an error; list: repeatable; switch: boolean, no value. */
export type OptionKind = 'value' | 'list' | 'switch';

export interface OptionSpec<T = unknown> {
  readonly flag: `--${string}`;
  readonly env: string;
  readonly kind: OptionKind;
  /** Placeholder for the value in the help text. */
  readonly arg?: string;
  readonly help: string;
  /** Raw text, parsed like user input; shown in the help text. A list default is comma-separated. */
  readonly default?: string;
  /** Turns one raw value into a typed one; throws OptionError. */
  parse(raw: string): T;
  /** How the value appears in logs (redactConfig); the value itself when absent. */
  display?(value: T): unknown;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const int =
  (min: number, max: number) =>
  (raw: string): number => {
    if (!/^(0|[1-9]\d*)$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw new OptionError(`expected an integer from ${min} to ${max}, got "${raw}"`);
    }
    return Number(raw);
  };

const PORT = int(1, 65535);
const SECONDS = int(1, 7 * 86_400);
const COUNT = int(1, 10_000_000);

const text = (raw: string): string => {
  if (raw === '') throw new OptionError('must not be empty');
  return raw;
};

/** An IP literal, canonical; ::ffff:a.b.c.d is read as the IPv4 address it maps. */
const ip = (raw: string): string => {
  const b = parseIp(raw);
  if (!b) throw new OptionError(`expected an IP address, got "${raw}"`);
  return formatIp(unmapIpv4(b));
};

/** Directory ids: letters, digits, '.', '_', '-' (they appear in Redis keys and metrics). */
const relayId = (raw: string): string => {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(raw))
    throw new OptionError(`expected 1-64 of A-Z a-z 0-9 . _ -, got "${raw}"`);
  return raw;
};

const degrees =
  (limit: number) =>
  (raw: string): number => {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n) || Math.abs(n) > limit) {
      throw new OptionError(`expected degrees from -${limit} to ${limit}, got "${raw}"`);
    }
    return n;
  };

const redisUrl = (raw: string): string => {
  const r = parseRedisTarget(raw);
  if (!r.ok) throw new OptionError(r.error);
  return raw;
};

const meshKey = (raw: string): string => {
  if (raw.length < 16) throw new OptionError('a mesh key needs at least 16 characters');
  return raw;
};

/** A bearer token: long enough not to be guessed, printable, no spaces (it travels in a header). */
const apiToken = (raw: string): string => {
  if (raw.length < 16) throw new OptionError('a token needs at least 16 characters');
  if (!/^[\x21-\x7e]+$/.test(raw)) throw new OptionError('a token is printable ASCII without spaces');
  return raw;
};

const faultSpec = (raw: string): Map<string, LinkFault> => {
  const r = parseLinkFaults(raw);
  if (!r.ok) throw new OptionError(r.error);
  return r.value;
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

/** NAME:PASSWORD, split at the first ':' so the password may hold more. Never echoes the input. */
const user = (raw: string): StaticUser => {
  const at = raw.indexOf(':');
  if (at < 0) throw new OptionError('expected NAME:PASSWORD, got no ":"');
  if (at === 0) throw new OptionError('the user name is empty');
  if (at === raw.length - 1) throw new OptionError(`the password of "${raw.slice(0, at)}" is empty`);
  return { name: raw.slice(0, at), password: raw.slice(at + 1) };
};

const logLevel = (raw: string): LogLevel => {
  const level = LOG_LEVELS.find((l) => l === raw);
  if (!level) throw new OptionError(`expected one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
  return level;
};

const hostPort = (raw: string): HostPort => {
  const hp = parseHostPort(raw);
  if (!hp) throw new OptionError(`expected IPv4:PORT or [IPv6]:PORT, got "${raw}"`);
  const b = unmapIpv4(parseIp(hp.host)!);
  return { family: ipFamilyOf(b), address: formatIp(b), port: hp.port };
};

/** A DNS name (RFC 1123 §2.1), lower case, without a trailing dot. */
const dnsName = (raw: string): string => {
  const r = checkDnsName(raw);
  if (!r.ok) throw new OptionError(r.error);
  return r.name;
};

/** IPv4:PORT, [IPv6]:PORT or NAME:PORT. */
const stunServer = (raw: string): StunServer => {
  const hp = parseHostPort(raw);
  if (hp) {
    const b = unmapIpv4(parseIp(hp.host)!);
    return { host: formatIp(b), port: hp.port, family: ipFamilyOf(b) };
  }
  const m = /^([^:[\]]+):(0|[1-9]\d{0,4})$/.exec(raw);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535)
    throw new OptionError(`expected IPv4:PORT, [IPv6]:PORT or NAME:PORT, got "${raw}"`);
  return { host: dnsName(m[1]!), port, family: undefined };
};

const UDP_IO: readonly UdpIoMode[] = ['auto', 'dgram', 'native'];
const udpIo = (raw: string): UdpIoMode => {
  const mode = UDP_IO.find((m) => m === raw);
  if (!mode) throw new OptionError(`expected one of ${UDP_IO.join(', ')}, got "${raw}"`);
  return mode;
};

const BACKBONE_MAC: readonly BackboneMacMode[] = ['auto', 'node-crypto'];
const backboneMac = (raw: string): BackboneMacMode => {
  const mode = BACKBONE_MAC.find((m) => m === raw);
  if (!mode) throw new OptionError(`expected one of ${BACKBONE_MAC.join(', ')}, got "${raw}"`);
  return mode;
};

const on = (): boolean => true;
const hidden = (): string => '<redacted>';
const showUser = (u: StaticUser): string => `${u.name}:<redacted>`;
const showCidr = (c: Cidr): string => c.text;

// biome-ignore format: two lines per option keep the table readable; the formatter would make it nine
export const OPTIONS = {
  listen: { flag: '--listen', env: 'RELAY_LISTEN', kind: 'list', arg: 'IP', default: '127.0.0.1', parse: ip,
    help: 'IP literal to serve TURN on; the first of each family also binds relayed sockets. 0.0.0.0 and :: need --external-ip of that family' },
  turnPort: { flag: '--turn-port', env: 'RELAY_TURN_PORT', kind: 'value', arg: 'N', default: '3478', parse: PORT,
    help: 'TURN port, UDP and TCP (RFC 8656 §4)' },
  noUdp: { flag: '--no-udp', env: 'RELAY_NO_UDP', kind: 'switch', parse: on, help: 'do not serve TURN over UDP' },
  noTcp: { flag: '--no-tcp', env: 'RELAY_NO_TCP', kind: 'switch', parse: on, help: 'do not serve TURN over TCP' },
  tcpPort: { flag: '--tcp-port', env: 'RELAY_TCP_PORTS', kind: 'list', arg: 'N', parse: PORT,
    help: 'another port for TURN over TCP beside --turn-port, e.g. 80 for firewalls that pass only web ports' },
  tlsPort: { flag: '--tls-port', env: 'RELAY_TLS_PORT', kind: 'list', arg: 'N', default: '5349', parse: PORT,
    help: 'TURN over TLS port, active when --tls-cert and --tls-key are both given; repeat for 443 beside 5349 (RFC 8656 §4)' },
  tlsCert: { flag: '--tls-cert', env: 'RELAY_TLS_CERT', kind: 'value', arg: 'FILE', parse: text,
    help: 'PEM certificate chain for TLS; needs --tls-key. Reloaded on SIGHUP and when the file changes' },
  tlsKey: { flag: '--tls-key', env: 'RELAY_TLS_KEY', kind: 'value', arg: 'FILE', parse: text,
    help: 'PEM private key for TLS; needs --tls-cert' },
  noTlsWatch: { flag: '--no-tls-watch', env: 'RELAY_NO_TLS_WATCH', kind: 'switch', parse: on,
    help: 'do not watch --tls-cert and --tls-key for changes; reload them only on SIGHUP' },
  httpPort: { flag: '--http-port', env: 'RELAY_HTTP_PORT', kind: 'value', arg: 'N', default: '9464', parse: int(0, 65535),
    help: 'private HTTP port for /metrics, /healthz, /readyz, /ping and PUT /faults (with --fault-api-token); 0 picks a free port' },
  httpHost: { flag: '--http-host', env: 'RELAY_HTTP_HOST', kind: 'value', arg: 'IP', default: '127.0.0.1', parse: ip,
    help: 'IP literal the private HTTP port listens on; keep it off the Internet' },
  pingPort: { flag: '--ping-port', env: 'RELAY_PING_PORT', kind: 'value', arg: 'N', parse: int(0, 65535),
    help: 'public HTTP port that serves GET /ping alone (clients time it); 0 picks a free port. /metrics and the rest stay on --http-port' },
  pingTlsPort: { flag: '--ping-tls-port', env: 'RELAY_PING_TLS_PORT', kind: 'value', arg: 'N', parse: int(0, 65535),
    help: 'public HTTPS port that serves GET /ping alone with the --tls-cert certificate (reloaded with it), so HTTPS pages may time it; its https:// URL is the one published' },
  pingHost: { flag: '--ping-host', env: 'RELAY_PING_HOST', kind: 'value', arg: 'IP', parse: ip,
    help: 'IP literal the public ping ports listen on (default: the first --listen)' },
  pingMaxConnections: { flag: '--ping-max-connections', env: 'RELAY_PING_MAX_CONNECTIONS', kind: 'value', arg: 'N', default: '1000', parse: COUNT,
    help: 'connections on the public ping ports together; more are closed at once' },
  pingMaxConnectionsPerIp: { flag: '--ping-max-connections-per-ip', env: 'RELAY_PING_MAX_CONNECTIONS_PER_IP', kind: 'value', arg: 'N', default: '32', parse: COUNT,
    help: 'connections on the public ping ports per source IP (IPv6: per /64); more are closed at once' },
  pingRate: { flag: '--ping-rate', env: 'RELAY_PING_RATE', kind: 'value', arg: 'N', default: '20', parse: int(1, 1_000_000),
    help: 'requests per second per source IP (IPv6: per /64) on the public ping ports; more get 429 with Retry-After' },
  pingBurst: { flag: '--ping-burst', env: 'RELAY_PING_BURST', kind: 'value', arg: 'N', default: '40', parse: int(1, 1_000_000),
    help: 'ping requests a source may send at once after a quiet spell' },
  secrets: { flag: '--secret', env: 'RELAY_SECRETS', kind: 'list', arg: 'S', parse: text, display: hidden,
    help: 'TURN REST API shared secret; give several to accept old and new while rotating' },
  users: { flag: '--user', env: 'RELAY_USERS', kind: 'list', arg: 'NAME:PASS', parse: user, display: showUser,
    help: 'static long-term credential (RFC 8489 §9.2); the password may contain ":" but not "," in the env' },
  realm: { flag: '--realm', env: 'RELAY_REALM', kind: 'value', arg: 'R', default: 'relay.local', parse: text,
    help: 'REALM of the long-term credentials (RFC 8489 §14.9)' },
  allowPeers: { flag: '--allow-peer', env: 'RELAY_ALLOW_PEERS', kind: 'list', arg: 'CIDR', parse: cidrRange, display: showCidr,
    help: 'allow peers in this range, overriding every deny (host bits are masked: 10.1.2.3/8 is 10.0.0.0/8)' },
  denyPeers: { flag: '--deny-peer', env: 'RELAY_DENY_PEERS', kind: 'list', arg: 'CIDR', parse: cidrRange, display: showCidr,
    help: 'refuse peers in this range too (special-purpose ranges are refused already)' },
  minPort: { flag: '--min-port', env: 'RELAY_MIN_PORT', kind: 'value', arg: 'N', default: '49152', parse: PORT,
    help: 'lowest relayed port (RFC 8656 §7.2 suggests 49152-65535)' },
  maxPort: { flag: '--max-port', env: 'RELAY_MAX_PORT', kind: 'value', arg: 'N', default: '65535', parse: PORT,
    help: 'highest relayed port' },
  externalIp: { flag: '--external-ip', env: 'RELAY_EXTERNAL_IP', kind: 'list', arg: 'IP', parse: ip,
    help: 'relayed address to advertise when behind NAT, at most one per family' },
  discoverExternalIp: { flag: '--discover-external-ip', env: 'RELAY_DISCOVER_EXTERNAL_IP', kind: 'list', arg: 'HOST:PORT', parse: stunServer,
    help: 'learn the relayed address to advertise from this STUN server at start (Binding, RFC 8489 §6); all that answer must agree. Not with --external-ip of the same family; a NAME is asked for the family of the first --listen' },
  discoverTimeout: { flag: '--discover-timeout', env: 'RELAY_DISCOVER_TIMEOUT', kind: 'value', arg: 'S', default: '5', parse: int(1, 60),
    help: 'seconds --discover-external-ip waits for answers (requests are retransmitted, RFC 8489 §6.2.1); none by then: exit 2' },
  publicHost: { flag: '--public-host', env: 'RELAY_PUBLIC_HOST', kind: 'value', arg: 'NAME', parse: dnsName,
    help: 'DNS name in every published URL (turn:, turns:, stun:, ping) instead of IP literals, so clients can check a turns: certificate' },
  software: { flag: '--software', env: 'RELAY_SOFTWARE', kind: 'value', arg: 'NAME', default: 'relay-backbone/0.1.0', parse: text,
    help: 'SOFTWARE attribute in responses (RFC 8489 §14.14)' },
  logLevel: { flag: '--log-level', env: 'RELAY_LOG_LEVEL', kind: 'value', arg: 'L', default: 'info', parse: logLevel,
    help: LOG_LEVELS.join('|') },
  maxAllocations: { flag: '--max-allocations', env: 'RELAY_MAX_ALLOCATIONS', kind: 'value', arg: 'N', default: '10000', parse: COUNT,
    help: 'allocations on the whole relay; past it Allocate gets 508 (RFC 8656 §7.2)' },
  userQuota: { flag: '--user-quota', env: 'RELAY_USER_QUOTA', kind: 'value', arg: 'N', default: '100', parse: COUNT,
    help: 'allocations per username; past it Allocate gets 486 (RFC 8656 §7.2)' },
  tenantQuota: { flag: '--tenant-quota', env: 'RELAY_TENANT_QUOTA', kind: 'value', arg: 'N', default: '5000', parse: COUNT,
    help: 'allocations per tenant (the tenant field of REST usernames), over all its clients; past it Allocate gets 486' },
  maxAllocPps: { flag: '--max-alloc-pps', env: 'RELAY_MAX_ALLOC_PPS', kind: 'value', arg: 'N', default: '20000', parse: int(0, 10_000_000),
    help: 'packets per second per allocation, each direction; 0 = unlimited' },
  maxAllocBps: { flag: '--max-alloc-bps', env: 'RELAY_MAX_ALLOC_BPS', kind: 'value', arg: 'N', default: '50000000', parse: int(0, 100_000_000_000),
    help: 'bits per second per allocation, each direction; 0 = unlimited' },
  defaultLifetime: { flag: '--default-lifetime', env: 'RELAY_DEFAULT_LIFETIME', kind: 'value', arg: 'S', default: '600', parse: SECONDS,
    help: 'allocation lifetime when the request has no LIFETIME (RFC 8656 §7.2)' },
  maxLifetime: { flag: '--max-lifetime', env: 'RELAY_MAX_LIFETIME', kind: 'value', arg: 'S', default: '3600', parse: SECONDS,
    help: 'longest allocation lifetime granted (RFC 8656 §7.2)' },
  maxAllocationAge: { flag: '--max-allocation-age', env: 'RELAY_MAX_ALLOCATION_AGE', kind: 'value', arg: 'S', default: '86400', parse: SECONDS,
    help: 'an allocation ends this long after it was created, however it is refreshed; its credential may expire long before (that bounds only Allocate)' },
  permissionLifetime: { flag: '--permission-lifetime', env: 'RELAY_PERMISSION_LIFETIME', kind: 'value', arg: 'S', default: '300', parse: SECONDS,
    help: 'permission lifetime; RFC 8656 §9 fixes 300, change it only in tests' },
  channelLifetime: { flag: '--channel-lifetime', env: 'RELAY_CHANNEL_LIFETIME', kind: 'value', arg: 'S', default: '600', parse: SECONDS,
    help: 'channel binding lifetime; RFC 8656 §12 fixes 600, change it only in tests' },
  nonceLifetime: { flag: '--nonce-lifetime', env: 'RELAY_NONCE_LIFETIME', kind: 'value', arg: 'S', default: '600', parse: SECONDS,
    help: 'after this a nonce is stale and requests get 438 (RFC 8489 §9.2); nonces are also bound to the client IP' },
  maxChannels: { flag: '--max-channels', env: 'RELAY_MAX_CHANNELS', kind: 'value', arg: 'N', default: '256', parse: int(1, 16_384),
    help: 'channels per allocation; past it ChannelBind gets 508 (RFC 8656 §12 numbers allow 16,384)' },
  maxRequestBytes: { flag: '--max-request-bytes', env: 'RELAY_MAX_REQUEST_BYTES', kind: 'value', arg: 'N', default: '2048', parse: int(548, 65_555),
    help: 'larger STUN requests get 400 before any credential is checked; also the largest frame a TCP/TLS connection may send before it has allocated' },
  unauthRate: { flag: '--unauth-rate', env: 'RELAY_UNAUTH_RATE', kind: 'value', arg: 'N', default: '50', parse: int(1, 1_000_000),
    help: 'answers per second to unauthenticated requests (401, 438, Binding...) per source IP or IPv6 /64; more are dropped' },
  unauthBurst: { flag: '--unauth-burst', env: 'RELAY_UNAUTH_BURST', kind: 'value', arg: 'N', default: '100', parse: int(1, 1_000_000),
    help: 'unauthenticated answers a source may get at once after a quiet spell' },
  maxConnections: { flag: '--max-connections', env: 'RELAY_MAX_CONNECTIONS', kind: 'value', arg: 'N', default: '10000', parse: COUNT,
    help: 'TCP and TLS connections on the whole relay; more are closed at once' },
  maxConnectionsPerIp: { flag: '--max-connections-per-ip', env: 'RELAY_MAX_CONNECTIONS_PER_IP', kind: 'value', arg: 'N', default: '64', parse: COUNT,
    help: 'TCP and TLS connections per source IP (IPv6: per /64); more are closed at once' },
  preauthTimeout: { flag: '--preauth-timeout', env: 'RELAY_PREAUTH_TIMEOUT', kind: 'value', arg: 'S', default: '10', parse: int(1, 3600),
    help: 'a TCP/TLS connection without an allocation (not yet, or no longer) is closed after this' },
  tlsHandshakeTimeout: { flag: '--tls-handshake-timeout', env: 'RELAY_TLS_HANDSHAKE_TIMEOUT', kind: 'value', arg: 'S', default: '10', parse: int(1, 600),
    help: 'a TLS connection that has not finished its handshake is closed after this' },
  alternateServer: { flag: '--alternate-server', env: 'RELAY_ALTERNATE_SERVER', kind: 'value', arg: 'IP:PORT', parse: hostPort,
    help: 'ALTERNATE-SERVER sent with 300 while draining (RFC 8489 §10)' },
  workers: { flag: '--workers', env: 'RELAY_WORKERS', kind: 'value', arg: 'N', default: '1', parse: int(1, 64),
    help: 'threads serving TURN, all on the same ports (SO_REUSEPORT: Node 22.12 or later for TCP, TLS and dgram; on an older Node only native UDP alone, with --no-tcp and no TLS, else exit 2). The kernel hashes each client to one thread; relayed ports are split between them. With --backbone-port P, worker i\'s backbone listens on P+i' },
  udpIo: { flag: '--udp-io', env: 'RELAY_UDP_IO', kind: 'value', arg: 'IO', default: 'auto', parse: udpIo,
    help: 'UDP I/O of the TURN listeners, relayed sockets and backbone port: native (recvmmsg/sendmmsg addon, Linux, npm run build:native; exits 2 when it does not load), dgram (Node\'s), or auto: native when the addon loads, else dgram (the start log says which and why, /healthz and relay_info which)' },
  drainTimeout: { flag: '--drain-timeout', env: 'RELAY_DRAIN_TIMEOUT', kind: 'value', arg: 'S', default: '300', parse: int(0, 86_400),
    help: 'seconds SIGTERM waits for allocations to end before stopping' },
  id: { flag: '--id', env: 'RELAY_ID', kind: 'value', arg: 'ID', parse: relayId,
    help: 'this relay\'s id in the directory (default: relay-<first listen address>-<turn port>)' },
  region: { flag: '--region', env: 'RELAY_REGION', kind: 'value', arg: 'R', default: 'local', parse: text,
    help: 'region name published in the directory' },
  lat: { flag: '--lat', env: 'RELAY_LAT', kind: 'value', arg: 'DEG', default: '0', parse: degrees(90),
    help: 'latitude of this relay, for distance-based ranking and the geo index' },
  lon: { flag: '--lon', env: 'RELAY_LON', kind: 'value', arg: 'DEG', default: '0', parse: degrees(180),
    help: 'longitude of this relay' },
  capacity: { flag: '--capacity', env: 'RELAY_CAPACITY', kind: 'value', arg: 'N', default: '10000', parse: COUNT,
    help: 'allocations this relay is sized for, published for load-aware ranking' },
  redis: { flag: '--redis', env: 'RELAY_REDIS_URL', kind: 'value', arg: 'URL', parse: redisUrl,
    display: redactRedisUrl,
    help: 'Redis to register in (redis://, rediss://); without it the relay runs alone' },
  redisPrefix: { flag: '--redis-prefix', env: 'RELAY_REDIS_PREFIX', kind: 'value', arg: 'P', default: 'rb:', parse: keyPrefix,
    help: 'prefix of every Redis key and channel' },
  heartbeatTtl: { flag: '--heartbeat-ttl', env: 'RELAY_HEARTBEAT_TTL', kind: 'value', arg: 'S', default: '10', parse: int(2, 600),
    help: 'a relay that stops heartbeating leaves the directory after this many seconds' },
  backbonePort: { flag: '--backbone-port', env: 'RELAY_BACKBONE_PORT', kind: 'value', arg: 'N', parse: PORT,
    help: 'UDP port for relay-to-relay frames (probes and relayed data); without it no backbone. With --workers N, ports P..P+N-1 (one per worker)' },
  backboneMac: { flag: '--backbone-mac', env: 'RELAY_BACKBONE_MAC', kind: 'value', arg: 'MAC', default: 'auto', parse: backboneMac,
    help: 'who computes the backbone frame tags: auto (OpenSSL in C through the native addon when it is built, whatever --udp-io; else node:crypto) or node-crypto. Same tags either way; /healthz says which' },
  backboneBundleBytes: { flag: '--backbone-bundle-bytes', env: 'RELAY_BACKBONE_BUNDLE_BYTES', kind: 'value', arg: 'N', default: '1200', parse: int(0, 9000),
    help: 'largest bundle: data frames ready for one next hop in one event-loop turn leave as one datagram of at most N bytes, under one tag (docs/BACKBONE.md, "Bundles"); keep it under the path MTU less 48 bytes; 0 sends every frame alone' },
  meshKey: { flag: '--mesh-key', env: 'RELAY_MESH_KEYS', kind: 'list', arg: 'K', parse: meshKey, display: () => '<redacted>',
    help: 'backbone authentication key, 16+ characters; the first signs, all verify (rotation)' },
  faultLinks: { flag: '--fault-links', env: 'RELAY_FAULT_LINKS', kind: 'value', arg: 'SPEC', parse: faultSpec,
    help: 'impair backbone frames to peers, e.g. "relay-b:delay=40,jitter=5,loss=2;relay-c:blackhole"; "*:gray" drops transit inside the relay, probes still answered (tests, demos)' },
  faultApiToken: { flag: '--fault-api-token', env: 'RELAY_FAULT_API_TOKEN', kind: 'value', arg: 'T', parse: apiToken, display: hidden,
    help: 'accept PUT /faults on the private HTTP port with "Authorization: Bearer T" to change --fault-links at run time (tests, demos); 16+ characters; without it PUT /faults is refused' },
} satisfies Record<string, OptionSpec>;

type Options = typeof OPTIONS;
type ValueOf<S> = S extends { parse(raw: string): infer T } ? T : never;

/** What the table yields before config.ts checks and derives: lists are arrays, switches booleans. */
export type ParsedOptions = {
  -readonly [K in keyof Options]: Options[K] extends { kind: 'list' }
    ? ValueOf<Options[K]>[]
    : Options[K] extends { kind: 'switch' }
      ? boolean
      : Options[K] extends { default: string }
        ? ValueOf<Options[K]>
        : ValueOf<Options[K]> | undefined;
};
