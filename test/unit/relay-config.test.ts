import { describe, expect, it } from 'vitest';
import {
  type ConfigResult,
  parseRelayConfig,
  type RelayConfig,
  redactConfig,
  relayHelpText,
} from '../../relay/config.ts';
import { BACKBONE_DEFAULTS } from '../../src/backbone/defaults.ts';

type Env = Record<string, string | undefined>;
const FILES = new Set(['/etc/relay/cert.pem', '/etc/relay/key.pem']);
const io = { fileExists: (path: string) => FILES.has(path) };

const parse = (argv: string[], env: Env = {}): ConfigResult => parseRelayConfig(argv, env, io);

function config(argv: string[], env: Env = {}): RelayConfig {
  const r = parse(argv, env);
  if (!r.ok) throw new Error(r.error);
  if (!('config' in r)) throw new Error('help instead of a config');
  return r.config;
}

const TLS = ['--tls-cert', '/etc/relay/cert.pem', '--tls-key', '/etc/relay/key.pem'];

describe('relay config defaults', () => {
  it('fills every documented default when nothing is given', () => {
    expect(config([])).toEqual({
      listen: ['127.0.0.1'],
      turnPort: 3478,
      udp: true,
      tcp: true,
      tcpPorts: [3478],
      tls: undefined,
      publicHost: undefined,
      httpPort: 9464,
      httpHost: '127.0.0.1',
      secrets: [],
      users: [],
      realm: 'relay.local',
      allowPeers: [],
      denyPeers: [],
      minPort: 49152,
      maxPort: 65535,
      externalIps: {},
      discoverExternalIp: [],
      discoverTimeout: 5,
      software: 'relay-backbone/0.1.0',
      logLevel: 'info',
      maxAllocations: 10000,
      userQuota: 100,
      tenantQuota: 5000,
      maxAllocPps: 20000,
      maxAllocBps: 50_000_000,
      defaultLifetime: 600,
      maxLifetime: 3600,
      maxAllocationAge: 86400,
      permissionLifetime: 300,
      channelLifetime: 600,
      nonceLifetime: 600,
      maxChannels: 256,
      maxRequestBytes: 2048,
      unauthRate: 50,
      unauthBurst: 100,
      maxConnections: 10000,
      maxConnectionsPerIp: 64,
      preauthTimeout: 10,
      tlsHandshakeTimeout: 10,
      alternateServer: undefined,
      drainTimeout: 300,
      workers: 1,
      udpIo: 'auto',
      id: 'relay-127.0.0.1-3478',
      region: 'local',
      lat: 0,
      lon: 0,
      capacity: 10000,
      redis: undefined,
      redisPrefix: 'rb:',
      heartbeatTtl: 10,
      backbonePort: undefined,
      backboneMac: 'auto',
      meshKey: [],
      backbone: BACKBONE_DEFAULTS,
      faultLinks: undefined,
      faultApiToken: undefined,
      pingPort: undefined,
      pingTlsPort: undefined,
      pingHost: '127.0.0.1',
      pingMaxConnections: 1000,
      pingMaxConnectionsPerIp: 32,
      pingRate: 20,
      pingBurst: 40,
    } satisfies RelayConfig);
  });

  it('reads the directory options and keeps a Redis password out of the logs', () => {
    const c = config([
      '--id',
      'paris-1',
      '--region',
      'eu-west',
      '--lat',
      '48.8566',
      '--lon',
      '2.3522',
      '--capacity',
      '500',
      '--redis',
      'redis://:hunter2@127.0.0.1:6379/0',
      '--redis-prefix',
      'prod:',
      '--heartbeat-ttl',
      '5',
    ]);
    expect(c).toMatchObject({
      id: 'paris-1',
      region: 'eu-west',
      lat: 48.8566,
      lon: 2.3522,
      capacity: 500,
      redisPrefix: 'prod:',
      heartbeatTtl: 5,
    });
    expect(JSON.stringify(redactConfig(c))).not.toContain('hunter2');
  });

  it('turns TLS on only with both files, on port 5349 by default', () => {
    expect(config(TLS).tls).toEqual({
      ports: [5349],
      certFile: '/etc/relay/cert.pem',
      keyFile: '/etc/relay/key.pem',
      watch: true,
    });
    expect(config([...TLS, '--no-tls-watch']).tls?.watch).toBe(false);
    expect(config([...TLS, '--tls-port', '443']).tls?.ports).toEqual([443]);
  });
});

describe('relay config values', () => {
  it.each<[string[], Partial<RelayConfig>]>([
    [['--turn-port', '3479'], { turnPort: 3479 }],
    [['--turn-port=3479'], { turnPort: 3479 }],
    [['--no-udp'], { udp: false, tcp: true }],
    [['--no-tcp'], { udp: true, tcp: false }],
    [['--http-port', '0'], { httpPort: 0 }],
    [['--http-host', '::1'], { httpHost: '::1' }],
    [['--listen', '10.0.0.5', '--listen', '[2001:DB8::5]'], { listen: ['10.0.0.5', '2001:db8::5'] }],
    [['--listen', '::ffff:10.0.0.5'], { listen: ['10.0.0.5'] }],
    [
      ['--listen', '0.0.0.0', '--external-ip', '203.0.113.4'],
      { listen: ['0.0.0.0'], externalIps: { 4: '203.0.113.4' } },
    ],
    [
      ['--external-ip', '2001:db8::1', '--external-ip', '198.51.100.1'],
      { externalIps: { 4: '198.51.100.1', 6: '2001:db8::1' } },
    ],
    [['--secret', 'old', '--secret=new'], { secrets: ['old', 'new'] }],
    [
      ['--user', 'alice:pa:ss', '--user', 'bob:x'],
      {
        users: [
          { name: 'alice', password: 'pa:ss' },
          { name: 'bob', password: 'x' },
        ],
      },
    ],
    [['--realm', 'example.org', '--software', 'x/1'], { realm: 'example.org', software: 'x/1' }],
    [['--min-port', '50000', '--max-port', '50000'], { minPort: 50000, maxPort: 50000 }],
    [['--log-level', 'silent'], { logLevel: 'silent' }],
    [['--max-allocations', '5', '--user-quota', '2'], { maxAllocations: 5, userQuota: 2 }],
    [['--max-alloc-pps', '0', '--max-alloc-bps', '0'], { maxAllocPps: 0, maxAllocBps: 0 }],
    [['--default-lifetime', '60', '--max-lifetime', '120'], { defaultLifetime: 60, maxLifetime: 120 }],
    [
      ['--permission-lifetime', '5', '--channel-lifetime', '6', '--nonce-lifetime', '7'],
      { permissionLifetime: 5, channelLifetime: 6, nonceLifetime: 7 },
    ],
    [
      ['--alternate-server', '192.0.2.9:3478'],
      { alternateServer: { family: 4, address: '192.0.2.9', port: 3478 } },
    ],
    [
      ['--alternate-server', '[2001:db8::9]:3479'],
      { alternateServer: { family: 6, address: '2001:db8::9', port: 3479 } },
    ],
    [['--drain-timeout', '0'], { drainTimeout: 0 }],
    [['--workers', '4'], { workers: 4 }],
    [['--udp-io', 'native'], { udpIo: 'native' }],
    [['--backbone-mac', 'node-crypto'], { backboneMac: 'node-crypto' }],
  ])('reads %j', (argv, expected) => {
    expect(config(argv)).toMatchObject(expected);
  });

  it('parses peer ranges into CIDRs, masking host bits', () => {
    const c = config([
      '--allow-peer',
      '127.0.0.0/8',
      '--allow-peer',
      '10.1.2.3/16',
      '--deny-peer',
      '2001:db8::/32',
    ]);
    expect(c.allowPeers.map((p) => p.text)).toEqual(['127.0.0.0/8', '10.1.0.0/16']);
    expect(c.denyPeers.map((p) => [p.text, p.family, p.prefix])).toEqual([['2001:db8::/32', 6, 32]]);
  });
});

describe('relay config from the environment', () => {
  it('fills options that flags do not set', () => {
    const c = config([], {
      RELAY_LISTEN: '10.0.0.1, ::1',
      RELAY_TURN_PORT: '3480',
      RELAY_NO_UDP: 'true',
      RELAY_NO_TCP: '0',
      RELAY_SECRETS: 's1,s2,',
      RELAY_USERS: 'a:1,b:2:3',
      RELAY_ALLOW_PEERS: '127.0.0.0/8',
      RELAY_EXTERNAL_IP: '203.0.113.1',
      RELAY_LOG_LEVEL: 'debug',
      RELAY_TLS_CERT: '/etc/relay/cert.pem',
      RELAY_TLS_KEY: '/etc/relay/key.pem',
      RELAY_ALTERNATE_SERVER: '[::1]:3478',
    });
    expect(c).toMatchObject({
      listen: ['10.0.0.1', '::1'],
      turnPort: 3480,
      udp: false,
      tcp: true,
      secrets: ['s1', 's2'],
      users: [
        { name: 'a', password: '1' },
        { name: 'b', password: '2:3' },
      ],
      externalIps: { 4: '203.0.113.1' },
      logLevel: 'debug',
      tls: { ports: [5349] },
      alternateServer: { family: 6, address: '::1', port: 3478 },
    });
    expect(c.allowPeers.map((p) => p.text)).toEqual(['127.0.0.0/8']);
  });

  it('lets flags win over the environment, repeatables included', () => {
    const c = config(['--turn-port', '1000', '--secret', 'flag'], {
      RELAY_TURN_PORT: '2000',
      RELAY_SECRETS: 'a,b',
    });
    expect(c.turnPort).toBe(1000);
    expect(c.secrets).toEqual(['flag']);
  });

  it.each(['1', 'true', 'TRUE'])('reads the switch value %s as on', (v) => {
    expect(config([], { RELAY_NO_TCP: v }).tcp).toBe(false);
  });

  it.each(['0', 'false', ''])('reads the switch value %j as off', (v) => {
    expect(config([], { RELAY_NO_TCP: v }).tcp).toBe(true);
  });

  it('sets the backbone bundle limit from --backbone-bundle-bytes (0 sends every frame alone)', () => {
    expect(config([]).backbone.bundleBytes).toBe(1200);
    expect(config(['--backbone-bundle-bytes', '0']).backbone).toEqual({
      ...BACKBONE_DEFAULTS,
      bundleBytes: 0,
    });
    expect(config([], { RELAY_BACKBONE_BUNDLE_BYTES: '1400' }).backbone.bundleBytes).toBe(1400);
  });

  it('treats an empty variable as unset', () => {
    expect(config([], { RELAY_TURN_PORT: '', RELAY_REALM: '' })).toMatchObject({
      turnPort: 3478,
      realm: 'relay.local',
    });
  });
});

describe('relay help', () => {
  it.each([['--help'], ['-h'], ['--turn-port', 'abc', '--help']])(
    'answers %j with the help text',
    (...argv) => {
      expect(parse(argv)).toEqual({ ok: true, help: relayHelpText() });
    },
  );

  it('documents every option with its variable and default', () => {
    const help = relayHelpText();
    for (const [flag, env, dflt] of [
      ['--listen IP', 'RELAY_LISTEN', 'default 127.0.0.1'],
      ['--turn-port N', 'RELAY_TURN_PORT', 'default 3478'],
      ['--tls-port N', 'RELAY_TLS_PORT', 'default 5349'],
      ['--http-port N', 'RELAY_HTTP_PORT', 'default 9464'],
      ['--secret S', 'RELAY_SECRETS', 'repeatable'],
      ['--user NAME:PASS', 'RELAY_USERS', 'repeatable'],
      ['--realm R', 'RELAY_REALM', 'default relay.local'],
      ['--min-port N', 'RELAY_MIN_PORT', 'default 49152'],
      ['--max-alloc-bps N', 'RELAY_MAX_ALLOC_BPS', 'default 50000000'],
      ['--drain-timeout S', 'RELAY_DRAIN_TIMEOUT', 'default 300'],
      ['--no-udp', 'RELAY_NO_UDP', ''],
      ['--help, -h', '', ''],
    ]) {
      const at = help.indexOf(`  ${flag} `);
      expect(at, flag).toBeGreaterThanOrEqual(0);
      const entry = help.slice(at, help.indexOf('\n', help.indexOf('\n', at) + 1));
      expect(entry).toContain(env);
      expect(entry).toContain(dflt);
    }
  });
});

describe('public ping listeners and the fault API token', () => {
  it('listens for /ping on the first --listen unless --ping-host says otherwise', () => {
    expect(config(['--listen', '127.0.0.5', '--ping-port', '8080'])).toMatchObject({
      pingPort: 8080,
      pingTlsPort: undefined,
      pingHost: '127.0.0.5',
    });
    expect(config(['--ping-host', '0.0.0.0', '--ping-port', '0'])).toMatchObject({
      pingPort: 0,
      pingHost: '0.0.0.0',
    });
  });

  it('serves HTTPS /ping only with a certificate', () => {
    expect(config([...TLS, '--ping-tls-port', '8443']).pingTlsPort).toBe(8443);
    expect(parse(['--ping-tls-port', '8443'])).toEqual({
      ok: false,
      error: '--ping-tls-port: needs --tls-cert and --tls-key, whose certificate it serves',
    });
  });

  it('reads the ping limits from flags and environment and refuses a zero rate', () => {
    expect(
      config(['--ping-max-connections', '50', '--ping-max-connections-per-ip', '4', '--ping-rate', '3'], {
        RELAY_PING_BURST: '6',
      }),
    ).toMatchObject({ pingMaxConnections: 50, pingMaxConnectionsPerIp: 4, pingRate: 3, pingBurst: 6 });
    const refused = parse(['--ping-rate', '0']);
    expect(refused.ok).toBe(false);
    expect(refused.ok ? '' : refused.error).toMatch(/^--ping-rate: /);
  });

  it('takes a fault API token of 16+ printable characters, shown as <redacted>', () => {
    const c = config(['--fault-api-token', 'fault-token-0123456789']);
    expect(c.faultApiToken).toBe('fault-token-0123456789');
    expect(JSON.stringify(redactConfig(c))).not.toContain('fault-token-0123456789');
    expect(redactConfig(c).faultApiToken).toBe('<redacted>');
    expect(parse(['--fault-api-token', 'short'])).toEqual({
      ok: false,
      error: '--fault-api-token: a token needs at least 16 characters',
    });
    expect(parse([], { RELAY_FAULT_API_TOKEN: 'has a space in it, long' })).toEqual({
      ok: false,
      error: 'RELAY_FAULT_API_TOKEN (--fault-api-token): a token is printable ASCII without spaces',
    });
    // The old switch is gone: PUT /faults without a token is never accepted.
    expect(parse(['--fault-api'])).toEqual({ ok: false, error: '--fault-api: unknown option (see --help)' });
  });
});

describe('--udp-io', () => {
  it('is auto unless asked, and names the choices when it gets another', () => {
    expect(config([]).udpIo).toBe('auto');
    expect(config([], { RELAY_UDP_IO: 'native' }).udpIo).toBe('native');
    expect(config([], { RELAY_UDP_IO: 'dgram' }).udpIo).toBe('dgram');
    expect(config(['--udp-io', 'auto'], { RELAY_UDP_IO: 'dgram' }).udpIo).toBe('auto');
    expect(parse(['--udp-io', 'uring'])).toEqual({
      ok: false,
      error: '--udp-io: expected one of auto, dgram, native, got "uring"',
    });
  });

  it('takes native with the backbone, whose port then runs on the same I/O', () => {
    const backbone = [
      '--backbone-port',
      '7000',
      '--redis',
      'redis://127.0.0.1',
      '--mesh-key',
      'k'.repeat(16),
    ];
    expect(config(backbone).udpIo).toBe('auto');
    expect(config([...backbone, '--udp-io', 'native']).udpIo).toBe('native');
    expect(config([...backbone, '--udp-io', 'native', '--workers', '2']).backbonePort).toBe(7000);
  });
});

describe('--backbone-mac', () => {
  it('is auto unless asked, takes node-crypto from the flag or the environment, and names the choices', () => {
    expect(config([]).backboneMac).toBe('auto');
    expect(config([], { RELAY_BACKBONE_MAC: 'node-crypto' }).backboneMac).toBe('node-crypto');
    expect(parse(['--backbone-mac', 'hmac'])).toEqual({
      ok: false,
      error: '--backbone-mac: expected one of auto, node-crypto, got "hmac"',
    });
  });
});

describe('redactConfig', () => {
  const c = config([
    ...TLS,
    '--secret',
    'topsecret',
    '--user',
    'alice:hunter2',
    '--allow-peer',
    '127.0.0.0/8',
    '--alternate-server',
    '192.0.2.1:3478',
  ]);
  const shown = redactConfig(c);

  it('prints secrets and passwords as <redacted> and keeps user names', () => {
    expect(shown.secrets).toEqual(['<redacted>']);
    expect(shown.users).toEqual(['alice:<redacted>']);
    const text = JSON.stringify(shown);
    expect(text).not.toContain('topsecret');
    expect(text).not.toContain('hunter2');
  });

  it('shows peer ranges as text and leaves the rest as it is', () => {
    expect(shown.allowPeers).toEqual(['127.0.0.0/8']);
    expect(shown.tls).toEqual(c.tls);
    expect(shown.alternateServer).toEqual(c.alternateServer);
    expect(shown.turnPort).toBe(3478);
  });

  it('does not change the configuration it was given', () => {
    expect(c.secrets).toEqual(['topsecret']);
    expect(c.users[0]?.password).toBe('hunter2');
  });
});
