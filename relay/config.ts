/**
 * The relay's configuration: one table of options (flag, environment variable, default, help,
 * parser) and one pure function that turns argv and the environment into a typed, validated
 * RelayConfig. Flags win over the environment; repeatable flags collect, and their environment
 * variable takes a comma-separated list. Errors are one line naming the option; relay/main.ts
 * prints them and exits with code 2. Nothing here exits, reads files or looks at the clock.
 */
import type { IpFamily } from '../src/net/address.ts';
import { type Cidr, parseCidr } from '../src/net/cidr.ts';
import { canonicalIp, parseHostPort } from '../src/net/ip.ts';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface RelayConfig {
  listen: string[];
  turnPort: number;
  udp: boolean;
  tcp: boolean;
  tls: { port: number; certFile: string; keyFile: string } | undefined;
  httpPort: number;
  httpHost: string;
  secrets: string[];
  users: { name: string; password: string }[];
  realm: string;
  allowPeers: Cidr[];
  denyPeers: Cidr[];
  minPort: number;
  maxPort: number;
  externalIps: Partial<Record<IpFamily, string>>;
  software: string;
  logLevel: LogLevel;
  maxAllocations: number;
  userQuota: number;
  maxAllocPps: number;
  maxAllocBps: number;
  defaultLifetime: number;
  maxLifetime: number;
  permissionLifetime: number;
  channelLifetime: number;
  nonceLifetime: number;
  alternateServer: { family: IpFamily; address: string; port: number } | undefined;
  drainTimeout: number;
}

export interface ConfigIo {
  fileExists(path: string): boolean;
}

export type ConfigResult =
  | { ok: true; config: RelayConfig }
  | { ok: true; help: string }
  | { ok: false; error: string };

class OptionError extends Error {}

type Parse<T> = (raw: string) => T;

interface OptionSpec<T = unknown> {
  readonly flag: string;
  readonly env: string;
  readonly arg?: string;
  readonly help: string;
  readonly repeat?: boolean;
  /** Boolean switch: present means true; in the environment "1"/"true"/"yes". */
  readonly boolean?: boolean;
  readonly parse: Parse<T>;
  readonly fallback?: string;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const int =
  (min: number, max: number): Parse<number> =>
  (raw) => {
    if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
      throw new OptionError(`expected an integer from ${min} to ${max}, got "${raw}"`);
    }
    return Number(raw);
  };

const text: Parse<string> = (raw) => {
  if (raw === '') throw new OptionError('must not be empty');
  return raw;
};

const ip: Parse<string> = (raw) => {
  const c = canonicalIp(raw);
  if (!c) throw new OptionError(`expected an IP address, got "${raw}"`);
  return c;
};

const cidrValue: Parse<Cidr> = (raw) => {
  const r = parseCidr(raw);
  if (!r.ok) throw new OptionError(r.error);
  return r.value;
};

const user: Parse<{ name: string; password: string }> = (raw) => {
  const at = raw.indexOf(':');
  if (at <= 0) throw new OptionError(`expected NAME:PASSWORD, got "${raw.slice(0, 40)}"`);
  return { name: raw.slice(0, at), password: raw.slice(at + 1) };
};

const PORT = int(1, 65535);
const SECONDS = int(1, 86_400 * 7);

/** Every option the relay takes. Adding one is one entry here and one line in build(). */
const OPTIONS = {
  listen: {
    flag: '--listen',
    env: 'RELAY_LISTEN',
    arg: 'HOST',
    repeat: true,
    parse: ip,
    fallback: '127.0.0.1',
    help: 'IP to serve TURN on and bind relayed sockets on (one IPv4 and/or one IPv6)',
  },
  turnPort: {
    flag: '--turn-port',
    env: 'RELAY_TURN_PORT',
    arg: 'N',
    parse: int(0, 65535),
    fallback: '3478',
    help: 'UDP and TCP port for TURN (0 picks a free one)',
  },
  noUdp: {
    flag: '--no-udp',
    env: 'RELAY_NO_UDP',
    boolean: true,
    parse: () => true,
    help: 'do not serve TURN over UDP',
  },
  noTcp: {
    flag: '--no-tcp',
    env: 'RELAY_NO_TCP',
    boolean: true,
    parse: () => true,
    help: 'do not serve TURN over TCP',
  },
  tlsPort: {
    flag: '--tls-port',
    env: 'RELAY_TLS_PORT',
    arg: 'N',
    parse: int(0, 65535),
    fallback: '5349',
    help: 'TURN over TLS port, active with --tls-cert and --tls-key',
  },
  tlsCert: {
    flag: '--tls-cert',
    env: 'RELAY_TLS_CERT',
    arg: 'FILE',
    parse: text,
    help: 'PEM certificate chain for TLS',
  },
  tlsKey: {
    flag: '--tls-key',
    env: 'RELAY_TLS_KEY',
    arg: 'FILE',
    parse: text,
    help: 'PEM private key for TLS',
  },
  httpPort: {
    flag: '--http-port',
    env: 'RELAY_HTTP_PORT',
    arg: 'N',
    parse: int(0, 65535),
    fallback: '9464',
    help: 'HTTP port for /metrics, /healthz, /readyz, /ping (0 picks a free one)',
  },
  httpHost: {
    flag: '--http-host',
    env: 'RELAY_HTTP_HOST',
    arg: 'HOST',
    parse: ip,
    fallback: '127.0.0.1',
    help: 'address of the HTTP port',
  },
  secret: {
    flag: '--secret',
    env: 'RELAY_SECRETS',
    arg: 'S',
    repeat: true,
    parse: text,
    help: 'TURN REST API shared secret; repeat to accept several while rotating',
  },
  user: {
    flag: '--user',
    env: 'RELAY_USERS',
    arg: 'NAME:PASS',
    repeat: true,
    parse: user,
    help: 'static long-term credential user',
  },
  realm: {
    flag: '--realm',
    env: 'RELAY_REALM',
    arg: 'R',
    parse: text,
    fallback: 'relay.local',
    help: 'authentication realm',
  },
  allowPeer: {
    flag: '--allow-peer',
    env: 'RELAY_ALLOW_PEERS',
    arg: 'CIDR',
    repeat: true,
    parse: cidrValue,
    help: 'allow peers in this range despite the default deny list',
  },
  denyPeer: {
    flag: '--deny-peer',
    env: 'RELAY_DENY_PEERS',
    arg: 'CIDR',
    repeat: true,
    parse: cidrValue,
    help: 'refuse peers in this range too',
  },
  minPort: {
    flag: '--min-port',
    env: 'RELAY_MIN_PORT',
    arg: 'N',
    parse: PORT,
    fallback: '49152',
    help: 'lowest relayed port',
  },
  maxPort: {
    flag: '--max-port',
    env: 'RELAY_MAX_PORT',
    arg: 'N',
    parse: PORT,
    fallback: '65535',
    help: 'highest relayed port',
  },
  externalIp: {
    flag: '--external-ip',
    env: 'RELAY_EXTERNAL_IP',
    arg: 'IP',
    repeat: true,
    parse: ip,
    help: 'relayed address to advertise, one per family (relay behind NAT)',
  },
  software: {
    flag: '--software',
    env: 'RELAY_SOFTWARE',
    arg: 'NAME',
    parse: text,
    fallback: 'relay-backbone/0.1.0',
    help: 'SOFTWARE attribute in responses',
  },
  logLevel: {
    flag: '--log-level',
    env: 'RELAY_LOG_LEVEL',
    arg: 'L',
    fallback: 'info',
    help: LOG_LEVELS.join('|'),
    parse: (raw: string) => {
      if (!LOG_LEVELS.includes(raw as LogLevel))
        throw new OptionError(`expected one of ${LOG_LEVELS.join(', ')}, got "${raw}"`);
      return raw as LogLevel;
    },
  },
  maxAllocations: {
    flag: '--max-allocations',
    env: 'RELAY_MAX_ALLOCATIONS',
    arg: 'N',
    parse: int(1, 10_000_000),
    fallback: '10000',
    help: 'relay-wide allocation cap (508 past it)',
  },
  userQuota: {
    flag: '--user-quota',
    env: 'RELAY_USER_QUOTA',
    arg: 'N',
    parse: int(1, 10_000_000),
    fallback: '100',
    help: 'allocations per username (486 past it)',
  },
  maxAllocPps: {
    flag: '--max-alloc-pps',
    env: 'RELAY_MAX_ALLOC_PPS',
    arg: 'N',
    parse: int(0, 10_000_000),
    fallback: '20000',
    help: 'packets per second per allocation, each way (0 = no cap)',
  },
  maxAllocBps: {
    flag: '--max-alloc-bps',
    env: 'RELAY_MAX_ALLOC_BPS',
    arg: 'N',
    parse: int(0, 100_000_000_000),
    fallback: '50000000',
    help: 'bits per second per allocation, each way (0 = no cap)',
  },
  defaultLifetime: {
    flag: '--default-lifetime',
    env: 'RELAY_DEFAULT_LIFETIME',
    arg: 'S',
    parse: SECONDS,
    fallback: '600',
    help: 'allocation lifetime when the client asks for less',
  },
  maxLifetime: {
    flag: '--max-lifetime',
    env: 'RELAY_MAX_LIFETIME',
    arg: 'S',
    parse: SECONDS,
    fallback: '3600',
    help: 'longest allocation lifetime granted',
  },
  permissionLifetime: {
    flag: '--permission-lifetime',
    env: 'RELAY_PERMISSION_LIFETIME',
    arg: 'S',
    parse: SECONDS,
    fallback: '300',
    help: 'permission lifetime',
  },
  channelLifetime: {
    flag: '--channel-lifetime',
    env: 'RELAY_CHANNEL_LIFETIME',
    arg: 'S',
    parse: SECONDS,
    fallback: '600',
    help: 'channel binding lifetime',
  },
  nonceLifetime: {
    flag: '--nonce-lifetime',
    env: 'RELAY_NONCE_LIFETIME',
    arg: 'S',
    parse: SECONDS,
    fallback: '3600',
    help: 'after this a nonce is stale (438)',
  },
  alternateServer: {
    flag: '--alternate-server',
    env: 'RELAY_ALTERNATE_SERVER',
    arg: 'IP:PORT',
    help: 'sent with 300 while draining',
    parse: (raw: string) => {
      const hp = parseHostPort(raw);
      if (!hp) throw new OptionError(`expected IP:PORT or [IPv6]:PORT, got "${raw}"`);
      return { family: (hp.host.includes(':') ? 6 : 4) as IpFamily, address: hp.host, port: hp.port };
    },
  },
  drainTimeout: {
    flag: '--drain-timeout',
    env: 'RELAY_DRAIN_TIMEOUT',
    arg: 'S',
    parse: int(0, 86_400),
    fallback: '300',
    help: 'how long SIGTERM waits for allocations to end',
  },
} satisfies Record<string, OptionSpec>;

type Options = typeof OPTIONS;
type Key = keyof Options;
type Value<K extends Key> = ReturnType<Options[K]['parse']>;

export function relayHelpText(): string {
  const lines = [
    'Usage: npm run relay -- [options]',
    '',
    'Options (each also from the environment variable shown):',
  ];
  for (const spec of Object.values(OPTIONS) as OptionSpec[]) {
    const left = `  ${spec.flag}${spec.arg ? ` ${spec.arg}` : ''}${spec.repeat ? ' (repeatable)' : ''}`;
    const dflt = spec.fallback !== undefined ? ` [default: ${spec.fallback}]` : '';
    lines.push(`${left.padEnd(40)} ${spec.help}${dflt}  (${spec.env})`);
  }
  lines.push(`${'  --help, -h'.padEnd(41)}print this help`, '');
  return lines.join('\n');
}

export function parseRelayConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: ConfigIo,
): ConfigResult {
  try {
    const raw = collect(argv);
    if (raw === 'help') return { ok: true, help: relayHelpText() };
    return { ok: true, config: build(raw, env, io) };
  } catch (err) {
    if (err instanceof OptionError) return { ok: false, error: err.message };
    throw err;
  }
}

function collect(argv: readonly string[]): Map<Key, string[]> | 'help' {
  const byFlag = new Map<string, Key>(Object.entries(OPTIONS).map(([k, s]) => [s.flag, k as Key]));
  const raw = new Map<Key, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') return 'help';
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    const key = byFlag.get(flag);
    if (!key) throw new OptionError(`${flag}: unknown option (see --help)`);
    const spec: OptionSpec = OPTIONS[key];
    let value: string;
    if (spec.boolean) {
      if (eq > 0) throw new OptionError(`${flag}: takes no value`);
      value = 'true';
    } else if (eq > 0) {
      value = a.slice(eq + 1);
    } else {
      const next = argv[i + 1];
      if (next === undefined) throw new OptionError(`${flag}: missing value ${spec.arg ?? ''}`.trim());
      value = next;
      i++;
    }
    const list = raw.get(key) ?? [];
    if (list.length > 0 && !spec.repeat) throw new OptionError(`${flag}: given more than once`);
    list.push(value);
    raw.set(key, list);
  }
  return raw;
}

function build(
  raw: Map<Key, string[]>,
  env: Readonly<Record<string, string | undefined>>,
  io: ConfigIo,
): RelayConfig {
  const values = <K extends Key>(key: K): Value<K>[] => {
    const spec: OptionSpec = OPTIONS[key];
    const fromFlags = raw.get(key);
    const fromEnv = env[spec.env];
    let source: string;
    let items: string[];
    if (fromFlags) {
      source = spec.flag;
      items = fromFlags;
    } else if (fromEnv !== undefined && fromEnv !== '') {
      source = spec.env;
      if (spec.boolean) items = /^(1|true|yes)$/i.test(fromEnv) ? ['true'] : [];
      else items = spec.repeat ? fromEnv.split(',').map((s) => s.trim()) : [fromEnv];
    } else {
      source = spec.flag;
      items = spec.fallback !== undefined ? [spec.fallback] : [];
    }
    return items.map((item) => {
      try {
        return spec.parse(item) as Value<K>;
      } catch (err) {
        if (err instanceof OptionError) throw new OptionError(`${source}: ${err.message}`);
        throw err;
      }
    });
  };
  const one = <K extends Key>(key: K): Value<K> | undefined => values(key)[0];
  const req = <K extends Key>(key: K): Value<K> => one(key) as Value<K>;

  const listen = values('listen');
  const externals = values('externalIp');
  const externalIps: Partial<Record<IpFamily, string>> = {};
  for (const e of externals) {
    const family: IpFamily = e.includes(':') ? 6 : 4;
    if (externalIps[family])
      throw new OptionError(`--external-ip: at most one per address family, got two IPv${family}`);
    externalIps[family] = e;
  }
  const families = new Set<IpFamily>();
  for (const l of listen) {
    const family: IpFamily = l.includes(':') ? 6 : 4;
    if (families.has(family))
      throw new OptionError(`--listen: at most one address per family, got two IPv${family}`);
    families.add(family);
    if ((l === '0.0.0.0' || l === '::') && !externalIps[family]) {
      throw new OptionError(
        `--listen: ${l} needs --external-ip for IPv${family}, the relayed address must be advertisable`,
      );
    }
  }
  const certFile = one('tlsCert');
  const keyFile = one('tlsKey');
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new OptionError(
      certFile === undefined ? '--tls-cert: required with --tls-key' : '--tls-key: required with --tls-cert',
    );
  }
  if (certFile !== undefined && !io.fileExists(certFile))
    throw new OptionError(`--tls-cert: file not found: ${certFile}`);
  if (keyFile !== undefined && !io.fileExists(keyFile))
    throw new OptionError(`--tls-key: file not found: ${keyFile}`);
  const minPort = req('minPort');
  const maxPort = req('maxPort');
  if (minPort > maxPort) throw new OptionError(`--min-port: ${minPort} is above --max-port ${maxPort}`);
  const defaultLifetime = req('defaultLifetime');
  const maxLifetime = req('maxLifetime');
  if (defaultLifetime > maxLifetime) {
    throw new OptionError(`--default-lifetime: ${defaultLifetime} is above --max-lifetime ${maxLifetime}`);
  }
  const udp = one('noUdp') !== true;
  const tcp = one('noTcp') !== true;
  const tls = certFile && keyFile ? { port: req('tlsPort'), certFile, keyFile } : undefined;
  if (!udp && !tcp && !tls)
    throw new OptionError('--no-udp: with --no-tcp and no TLS there is nothing to serve');

  return {
    listen,
    turnPort: req('turnPort'),
    udp,
    tcp,
    tls,
    httpPort: req('httpPort'),
    httpHost: req('httpHost'),
    secrets: values('secret'),
    users: values('user'),
    realm: req('realm'),
    allowPeers: values('allowPeer'),
    denyPeers: values('denyPeer'),
    minPort,
    maxPort,
    externalIps,
    software: req('software'),
    logLevel: req('logLevel'),
    maxAllocations: req('maxAllocations'),
    userQuota: req('userQuota'),
    maxAllocPps: req('maxAllocPps'),
    maxAllocBps: req('maxAllocBps'),
    defaultLifetime,
    maxLifetime,
    permissionLifetime: req('permissionLifetime'),
    channelLifetime: req('channelLifetime'),
    nonceLifetime: req('nonceLifetime'),
    alternateServer: one('alternateServer'),
    drainTimeout: req('drainTimeout'),
  };
}

/** The configuration as logged: secrets and passwords as <redacted>. */
export function redactConfig(c: RelayConfig): Record<string, unknown> {
  return {
    ...c,
    secrets: c.secrets.map(() => '<redacted>'),
    users: c.users.map((u) => `${u.name}:<redacted>`),
    allowPeers: c.allowPeers.map((p) => p.text),
    denyPeers: c.denyPeers.map((p) => p.text),
  };
}
