/**
 * The relay's configuration: one pure function from argv and the environment to a typed,
 * validated RelayConfig, plus the help text and the loggable (redacted) form. This module owns
 * reading `--flag value` / `--flag=value`, the environment fallback, defaults and the checks
 * that span several options; relay/config-options.ts owns the option table itself.
 *
 * A flag wins over its environment variable, which wins over the default; an empty variable
 * counts as unset. Repeatable flags collect; their variable is a comma-separated list. Errors
 * are one line naming the option. Nothing here exits, reads files (existence is asked through
 * `io`), or looks at the clock: relay/main.ts prints the error and exits with code 2.
 */

import { BACKBONE_DEFAULTS, type BackboneTuning } from '../src/backbone/defaults.ts';
import type { LinkFault } from '../src/faults/link-fault.ts';
import type { IpFamily } from '../src/net/address.ts';
import type { Cidr } from '../src/net/cidr.ts';
import { ipFamilyOf, parseIp } from '../src/net/ip.ts';
import {
  type BackboneMacMode,
  type HostPort,
  type LogLevel,
  OPTIONS,
  OptionError,
  type OptionSpec,
  type ParsedOptions,
  type StaticUser,
  type StunServer,
  type UdpIoMode,
} from './config-options.ts';

export type {
  BackboneMacMode,
  HostPort,
  LogLevel,
  StaticUser,
  StunServer,
  UdpIoMode,
} from './config-options.ts';
export { OptionError } from './config-options.ts';

export interface RelayConfig {
  /** Canonical IP literals to serve TURN on. */
  listen: string[];
  turnPort: number;
  udp: boolean;
  tcp: boolean;
  /** Every TURN-over-TCP port, --turn-port first; empty with --no-tcp. */
  tcpPorts: number[];
  /**
   * Present only when both a certificate and a key file were given; ports in the order given.
   * `watch`: reload when the files change (SIGHUP reloads either way).
   */
  tls: { ports: number[]; certFile: string; keyFile: string; watch: boolean } | undefined;
  /** DNS name for every published URL; undefined publishes IP literals. */
  publicHost: string | undefined;
  httpPort: number;
  httpHost: string;
  secrets: string[];
  users: StaticUser[];
  realm: string;
  allowPeers: Cidr[];
  denyPeers: Cidr[];
  minPort: number;
  maxPort: number;
  externalIps: { 4?: string; 6?: string };
  /** STUN servers to learn the external address from at start, each with the family it serves. */
  discoverExternalIp: (StunServer & { family: IpFamily })[];
  /** Seconds. */
  discoverTimeout: number;
  software: string;
  logLevel: LogLevel;
  maxAllocations: number;
  userQuota: number;
  tenantQuota: number;
  maxAllocPps: number;
  maxAllocBps: number;
  defaultLifetime: number;
  maxLifetime: number;
  maxAllocationAge: number;
  permissionLifetime: number;
  channelLifetime: number;
  nonceLifetime: number;
  maxChannels: number;
  maxRequestBytes: number;
  unauthRate: number;
  unauthBurst: number;
  maxConnections: number;
  maxConnectionsPerIp: number;
  /** Seconds. */
  preauthTimeout: number;
  /** Seconds. */
  tlsHandshakeTimeout: number;
  alternateServer: HostPort | undefined;
  drainTimeout: number;
  /** Threads serving TURN on shared ports (reusePort); 1 serves from the main thread alone. */
  workers: number;
  /** UDP I/O of the TURN listeners and relayed sockets (relay/udp-io.ts). */
  udpIo: UdpIoMode;
  /** Directory identity and placement (the backbone). */
  id: string;
  region: string;
  lat: number;
  lon: number;
  capacity: number;
  /** Redis URL; undefined runs the relay alone, registered nowhere. */
  redis: string | undefined;
  redisPrefix: string;
  /** Seconds. */
  heartbeatTtl: number;
  /** Backbone port; undefined runs without a backbone. */
  backbonePort: number | undefined;
  /** Who computes the backbone's frame tags (relay/frame-mac.ts). */
  backboneMac: BackboneMacMode;
  meshKey: string[];
  /** Probe interval, dead timer, windows, hysteresis: src/backbone/defaults.ts, shared with the simulation. */
  backbone: BackboneTuning;
  faultLinks: Map<string, LinkFault> | undefined;
  /** Bearer token for PUT /faults on the private HTTP port; undefined refuses it. */
  faultApiToken: string | undefined;
  /** Public listeners serving GET /ping alone: plain HTTP, and HTTPS with the TLS certificate. */
  pingPort: number | undefined;
  pingTlsPort: number | undefined;
  /** Where the public ping ports listen (--ping-host, else the first --listen). */
  pingHost: string;
  /** Caps on the public ping ports (both together): connections, and requests per source. */
  pingMaxConnections: number;
  pingMaxConnectionsPerIp: number;
  pingRate: number;
  pingBurst: number;
}

export interface ConfigIo {
  fileExists(path: string): boolean;
}

export type ConfigResult =
  | { ok: true; config: RelayConfig }
  | { ok: true; help: string }
  | { ok: false; error: string };

type Key = keyof typeof OPTIONS;
const SPECS = Object.entries(OPTIONS) as [Key, OptionSpec][];
const BY_FLAG = new Map<string, Key>(SPECS.map(([key, spec]) => [spec.flag, key]));

export function parseRelayConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: ConfigIo,
): ConfigResult {
  if (argv.some((a) => a === '--help' || a === '-h')) return { ok: true, help: relayHelpText() };
  try {
    return { ok: true, config: finish(readOptions(readArgv(argv), env), io) };
  } catch (err) {
    if (err instanceof OptionError) return { ok: false, error: err.message };
    throw err;
  }
}

/** Raw values per option, in command-line order. */
function readArgv(argv: readonly string[]): Map<Key, string[]> {
  const raw = new Map<Key, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('-')) throw new OptionError(`unexpected argument "${token}" (see --help)`);
    const eq = token.indexOf('=');
    const flag = eq > 0 ? token.slice(0, eq) : token;
    const key = BY_FLAG.get(flag);
    if (key === undefined) throw new OptionError(`${flag}: unknown option (see --help)`);
    const spec: OptionSpec = OPTIONS[key];
    let value: string;
    if (spec.kind === 'switch') {
      if (eq > 0) throw new OptionError(`${flag}: takes no value`);
      value = 'true';
    } else if (eq > 0) {
      value = token.slice(eq + 1);
    } else {
      // A value that looks like a flag is taken as a forgotten value; write --flag=--x to mean it.
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--'))
        throw new OptionError(`${flag}: missing value ${spec.arg}`);
      value = next;
      i++;
    }
    const list = raw.get(key) ?? [];
    if (list.length > 0 && spec.kind !== 'list') throw new OptionError(`${flag}: given more than once`);
    list.push(value);
    raw.set(key, list);
  }
  return raw;
}

const splitList = (s: string): string[] =>
  s
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

/** The raw items for one option and the name to blame in errors: flag, variable or default. */
function rawItems(
  spec: OptionSpec,
  fromArgv: string[] | undefined,
  env: Readonly<Record<string, string | undefined>>,
): { items: string[]; source: string } {
  if (fromArgv) return { items: fromArgv, source: spec.flag };
  const fromEnv = env[spec.env];
  if (fromEnv !== undefined && fromEnv !== '') {
    const source = `${spec.env} (${spec.flag})`;
    if (spec.kind === 'list') return { items: splitList(fromEnv), source };
    if (spec.kind !== 'switch') return { items: [fromEnv], source };
    if (/^(1|true)$/i.test(fromEnv)) return { items: ['true'], source };
    if (/^(0|false)$/i.test(fromEnv)) return { items: [], source };
    throw new OptionError(`${source}: expected 1, true, 0 or false, got "${fromEnv}"`);
  }
  if (spec.default === undefined) return { items: [], source: spec.flag };
  return { items: spec.kind === 'list' ? splitList(spec.default) : [spec.default], source: spec.flag };
}

function readOptions(
  raw: Map<Key, string[]>,
  env: Readonly<Record<string, string | undefined>>,
): ParsedOptions {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of SPECS) {
    const { items, source } = rawItems(spec, raw.get(key), env);
    const values = items.map((item) => {
      try {
        return spec.parse(item);
      } catch (err) {
        if (err instanceof OptionError) throw new OptionError(`${source}: ${err.message}`);
        throw err;
      }
    });
    out[key] = spec.kind === 'list' ? values : spec.kind === 'switch' ? values[0] === true : values[0];
  }
  // Each entry was produced by its own spec's parser and kind, which is what ParsedOptions spells out.
  return out as ParsedOptions;
}

const familyOf = (address: string): IpFamily => ipFamilyOf(parseIp(address)!);
const isUnspecified = (address: string): boolean => parseIp(address)!.every((b) => b === 0);

/** Checks that span several options, and the fields derived from them. */
function finish(v: ParsedOptions, io: ConfigIo): RelayConfig {
  const {
    noUdp,
    noTcp,
    tcpPort,
    tlsPort,
    tlsCert,
    tlsKey,
    noTlsWatch,
    externalIp,
    discoverExternalIp,
    backboneBundleBytes,
    ...rest
  } = v;

  const externalIps: { 4?: string; 6?: string } = {};
  for (const address of externalIp) {
    const family = familyOf(address);
    if (isUnspecified(address))
      throw new OptionError(`--external-ip: ${address} is not an address peers can reach`);
    const before = externalIps[family];
    if (before)
      throw new OptionError(
        `--external-ip: at most one per family, got IPv${family} ${before} and ${address}`,
      );
    externalIps[family] = address;
  }

  if (rest.listen.length === 0) throw new OptionError('--listen: no address given');
  const discover = discoverServers(discoverExternalIp, rest.listen, externalIps);
  const seen = new Set<string>();
  for (const address of rest.listen) {
    if (seen.has(address)) throw new OptionError(`--listen: ${address} given twice`);
    seen.add(address);
    const family = familyOf(address);
    // The relayed address goes into XOR-RELAYED-ADDRESS (RFC 8656 §7.2): it must be advertisable.
    if (isUnspecified(address) && !externalIps[family] && !discover.some((s) => s.family === family)) {
      throw new OptionError(
        `--listen: ${address} needs --external-ip or --discover-external-ip for IPv${family}, to advertise relayed addresses`,
      );
    }
  }

  const names = new Set<string>();
  for (const u of rest.users) {
    if (names.has(u.name)) throw new OptionError(`--user: "${u.name}" given twice`);
    names.add(u.name);
  }

  if (tlsCert === undefined && tlsKey !== undefined)
    throw new OptionError('--tls-cert: required with --tls-key');
  if (tlsKey === undefined && tlsCert !== undefined)
    throw new OptionError('--tls-key: required with --tls-cert');
  if (tlsCert !== undefined && !io.fileExists(tlsCert))
    throw new OptionError(`--tls-cert: file not found: ${tlsCert}`);
  if (tlsKey !== undefined && !io.fileExists(tlsKey))
    throw new OptionError(`--tls-key: file not found: ${tlsKey}`);
  const tls =
    tlsCert !== undefined && tlsKey !== undefined
      ? { ports: tlsPort, certFile: tlsCert, keyFile: tlsKey, watch: !noTlsWatch }
      : undefined;
  const tcpPorts = streamPorts(noTcp, rest.turnPort, tcpPort, tls?.ports ?? []);
  if (noUdp && noTcp && !tls)
    throw new OptionError('--no-udp: with --no-tcp and no TLS there is nothing to serve');

  if (rest.minPort > rest.maxPort) {
    throw new OptionError(`--min-port: ${rest.minPort} is above --max-port ${rest.maxPort}`);
  }
  if (rest.defaultLifetime > rest.maxLifetime) {
    throw new OptionError(
      `--default-lifetime: ${rest.defaultLifetime} is above --max-lifetime ${rest.maxLifetime}`,
    );
  }

  if (rest.backbonePort !== undefined && rest.redis === undefined) {
    throw new OptionError('--backbone-port: needs --redis, where relays find each other');
  }
  if (rest.backbonePort !== undefined && rest.meshKey.length === 0) {
    throw new OptionError(
      '--mesh-key: required with --backbone-port, frames between relays are authenticated',
    );
  }
  // Worker i's backbone listens on --backbone-port + i (docs/BACKBONE.md).
  if (rest.backbonePort !== undefined && rest.backbonePort + rest.workers - 1 > 65535)
    throw new OptionError(
      `--backbone-port: ${rest.workers} workers use backbone ports ${rest.backbonePort}-${rest.backbonePort + rest.workers - 1}; the last is above 65535`,
    );
  if (rest.workers > 1 && rest.maxPort - rest.minPort + 1 < 2 * rest.workers)
    throw new OptionError(
      `--workers: ${rest.workers} workers need at least ${2 * rest.workers} relayed ports (--min-port..--max-port)`,
    );
  if (rest.pingTlsPort !== undefined && !tls)
    throw new OptionError('--ping-tls-port: needs --tls-cert and --tls-key, whose certificate it serves');
  const id = rest.id ?? `relay-${rest.listen[0]!.replace(/[^A-Za-z0-9.]/g, '_')}-${rest.turnPort}`;
  return {
    ...rest,
    id,
    udp: !noUdp,
    tcp: !noTcp,
    tcpPorts,
    tls,
    externalIps,
    discoverExternalIp: discover,
    backbone: { ...BACKBONE_DEFAULTS, bundleBytes: backboneBundleBytes },
    pingHost: rest.pingHost ?? rest.listen[0]!,
  };
}

/**
 * TCP and TLS listeners share the TCP port space of each listen address: every port once. The
 * TCP ports come back with --turn-port first, or none with --no-tcp.
 */
function streamPorts(noTcp: boolean, turnPort: number, extra: number[], tlsPorts: number[]): number[] {
  if (noTcp && extra.length > 0) throw new OptionError('--tcp-port: not with --no-tcp');
  const tcp = noTcp ? [] : [turnPort];
  for (const port of extra) {
    if (port === turnPort) throw new OptionError(`--tcp-port: ${port} is already --turn-port`);
    if (tcp.includes(port)) throw new OptionError(`--tcp-port: ${port} given twice`);
    tcp.push(port);
  }
  const tls: number[] = [];
  for (const port of tlsPorts) {
    if (tls.includes(port)) throw new OptionError(`--tls-port: ${port} given twice`);
    if (port === turnPort && !noTcp)
      throw new OptionError(`--tls-port: ${port} is also the TCP port (--turn-port); pick another`);
    if (tcp.includes(port))
      throw new OptionError(`--tls-port: ${port} is also a TCP port (--tcp-port); pick another`);
    tls.push(port);
  }
  return tcp;
}

/**
 * The STUN servers for --discover-external-ip, each with the family it is asked from: an IP
 * literal's own, a name's the first --listen address's. The relay must have an address of that
 * family, and a family learns its external address either from --external-ip or from discovery.
 */
function discoverServers(
  servers: StunServer[],
  listen: string[],
  externalIps: { 4?: string; 6?: string },
): (StunServer & { family: IpFamily })[] {
  const families = new Set(listen.map(familyOf));
  return servers.map((s) => {
    const family = s.family ?? familyOf(listen[0]!);
    const where = `${s.family === 6 ? `[${s.host}]` : s.host}:${s.port}`;
    if (!families.has(family))
      throw new OptionError(`--discover-external-ip: ${where} is IPv${family} and no --listen address is`);
    const fixed = externalIps[family];
    if (fixed)
      throw new OptionError(
        `--discover-external-ip: IPv${family} already has --external-ip ${fixed}; give one or the other`,
      );
    return { ...s, family };
  });
}

export function relayHelpText(): string {
  const lines = [
    'Usage: relay [options]',
    '',
    'TURN relay (RFC 8656) over UDP, TCP and TLS. Write --flag VALUE or --flag=VALUE. Each option',
    'may instead come from the environment variable shown; a flag wins over its variable and an',
    'empty variable counts as unset. Repeatable options collect; their variable takes a',
    'comma-separated list. Switches take no value; their variable takes 1, true, 0 or false.',
    'Peers in special-purpose ranges (RFC 6890: private, loopback, link-local, multicast, ...)',
    "and the relay's own addresses are refused unless --allow-peer covers them.",
    '',
    'Options:',
  ];
  const indent = 30;
  for (const [, spec] of SPECS) {
    const facts = [spec.env];
    if (spec.kind === 'list') facts.push('repeatable');
    if (spec.default !== undefined) facts.push(`default ${spec.default}`);
    const head = `  ${spec.flag}${spec.arg ? ` ${spec.arg}` : ''}`;
    if (head.length < indent) lines.push(head.padEnd(indent) + spec.help);
    else lines.push(head, ' '.repeat(indent) + spec.help);
    lines.push(`${' '.repeat(indent)}[${facts.join('; ')}]`);
  }
  lines.push(`${'  --help, -h'.padEnd(indent)}print this help and exit`, '');
  return lines.join('\n');
}

/**
 * The configuration as it may be logged: every option with a `display` in the table is shown
 * through it, so secrets and passwords read `<redacted>` and CIDRs read as text. The TLS
 * fields are file paths; the key material itself is never part of the configuration.
 */
export function redactConfig(config: RelayConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const [key, spec] of SPECS) {
    const display = spec.display;
    if (!display || !(key in out)) continue;
    const value = out[key];
    if (Array.isArray(value)) out[key] = value.map((item) => display.call(spec, item));
    else if (value !== undefined) out[key] = display.call(spec, value);
  }
  return out;
}
