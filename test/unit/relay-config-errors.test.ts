import { describe, expect, it } from 'vitest';
import { parseRelayConfig } from '../../relay/config.ts';

type Env = Record<string, string | undefined>;
const FILES = new Set(['/etc/relay/cert.pem', '/etc/relay/key.pem']);
const io = { fileExists: (path: string) => FILES.has(path) };
const TLS = ['--tls-cert', '/etc/relay/cert.pem', '--tls-key', '/etc/relay/key.pem'];

function error(argv: string[], env: Env = {}): string {
  const r = parseRelayConfig(argv, env, io);
  if (r.ok) throw new Error(`expected an error for ${JSON.stringify(argv)}`);
  return r.error;
}

describe('relay config errors', () => {
  it.each<[string[], Env, string]>([
    [['--turn-port', 'abc'], {}, '--turn-port: expected an integer from 1 to 65535, got "abc"'],
    [['--lat', '91'], {}, '--lat: expected degrees from -90 to 90, got "91"'],
    [['--lon', 'east'], {}, '--lon: expected degrees from -180 to 180, got "east"'],
    [['--id', 'has space'], {}, '--id: expected 1-64 of A-Z a-z 0-9 . _ -, got "has space"'],
    [
      ['--redis', 'http://x'],
      {},
      '--redis: expected a redis://, rediss://, redis-sentinel:// or redis-cluster:// URL',
    ],
    [['--redis-prefix', 'a{b}'], {}, '--redis-prefix: must not contain braces or spaces, got "a{b}"'],
    [['--heartbeat-ttl', '1'], {}, '--heartbeat-ttl: expected an integer from 2 to 600, got "1"'],
    [
      ['--backbone-bundle-bytes', '9001'],
      {},
      '--backbone-bundle-bytes: expected an integer from 0 to 9000, got "9001"',
    ],
    [
      ['--backbone-port', '7000', '--redis', 'redis://127.0.0.1'],
      {},
      '--mesh-key: required with --backbone-port, frames between relays are authenticated',
    ],
    [['--backbone-port', '7000'], {}, '--backbone-port: needs --redis, where relays find each other'],
    [['--workers', '0'], {}, '--workers: expected an integer from 1 to 64, got "0"'],
    [
      [
        '--workers',
        '4',
        '--backbone-port',
        '65533',
        '--redis',
        'redis://127.0.0.1',
        '--mesh-key',
        'k'.repeat(16),
      ],
      {},
      '--backbone-port: 4 workers use backbone ports 65533-65536; the last is above 65535',
    ],
    [
      ['--workers', '3', '--min-port', '50000', '--max-port', '50004'],
      {},
      '--workers: 3 workers need at least 6 relayed ports (--min-port..--max-port)',
    ],
    [['--mesh-key', 'short'], {}, '--mesh-key: a mesh key needs at least 16 characters'],
    [
      ['--fault-links', 'b:loss=200'],
      {},
      '--fault-links: bad fault "loss=200" for b (delay=MS, jitter=MS, loss=PCT, blackhole, gray)',
    ],
    [['--turn-port', '0'], {}, '--turn-port: expected an integer from 1 to 65535, got "0"'],
    [
      ['--max-allocation-age', '0'],
      {},
      '--max-allocation-age: expected an integer from 1 to 604800, got "0"',
    ],
    [
      [],
      { RELAY_TENANT_QUOTA: '-5' },
      'RELAY_TENANT_QUOTA (--tenant-quota): expected an integer from 1 to 10000000, got "-5"',
    ],
    [['--turn-port', '65536'], {}, '--turn-port: expected an integer from 1 to 65535, got "65536"'],
    [['--turn-port', '034'], {}, '--turn-port: expected an integer from 1 to 65535, got "034"'],
    [['--turn-port'], {}, '--turn-port: missing value N'],
    [['--turn-port', '--no-udp'], {}, '--turn-port: missing value N'],
    [['--turn-port', '1', '--turn-port', '2'], {}, '--turn-port: given more than once'],
    [
      [],
      { RELAY_TURN_PORT: 'x' },
      'RELAY_TURN_PORT (--turn-port): expected an integer from 1 to 65535, got "x"',
    ],
    [
      [],
      { RELAY_NO_UDP: 'yes please' },
      'RELAY_NO_UDP (--no-udp): expected 1, true, 0 or false, got "yes please"',
    ],
    [['--bogus'], {}, '--bogus: unknown option (see --help)'],
    [['--bogus=1'], {}, '--bogus: unknown option (see --help)'],
    [['3478'], {}, 'unexpected argument "3478" (see --help)'],
    [['--no-udp=1'], {}, '--no-udp: takes no value'],
    [['--no-udp', '--no-tcp'], {}, '--no-udp: with --no-tcp and no TLS there is nothing to serve'],
    [['--listen', 'localhost'], {}, '--listen: expected an IP address, got "localhost"'],
    [
      ['--listen', '0.0.0.0'],
      {},
      '--listen: 0.0.0.0 needs --external-ip or --discover-external-ip for IPv4, to advertise relayed addresses',
    ],
    [
      ['--listen', '::', '--external-ip', '1.2.3.4'],
      {},
      '--listen: :: needs --external-ip or --discover-external-ip for IPv6, to advertise relayed addresses',
    ],
    [['--listen', '1.2.3.4', '--listen', '1.2.3.4'], {}, '--listen: 1.2.3.4 given twice'],
    [[], { RELAY_LISTEN: ',' }, '--listen: no address given'],
    [
      ['--external-ip', '1.1.1.1', '--external-ip', '2.2.2.2'],
      {},
      '--external-ip: at most one per family, got IPv4 1.1.1.1 and 2.2.2.2',
    ],
    [['--external-ip', '0.0.0.0'], {}, '--external-ip: 0.0.0.0 is not an address peers can reach'],
    [['--tls-cert', '/etc/relay/cert.pem'], {}, '--tls-key: required with --tls-cert'],
    [['--tls-key', '/etc/relay/key.pem'], {}, '--tls-cert: required with --tls-key'],
    [['--tls-cert', '/x.pem', '--tls-key', '/etc/relay/key.pem'], {}, '--tls-cert: file not found: /x.pem'],
    [['--tls-cert', '/etc/relay/cert.pem', '--tls-key', '/y.pem'], {}, '--tls-key: file not found: /y.pem'],
    [[...TLS, '--tls-port', '3478'], {}, '--tls-port: 3478 is also the TCP port (--turn-port); pick another'],
    [['--http-port', '-1'], {}, '--http-port: expected an integer from 0 to 65535, got "-1"'],
    [['--http-host', 'example.com'], {}, '--http-host: expected an IP address, got "example.com"'],
    [['--secret='], {}, '--secret: must not be empty'],
    [['--user', 'alice'], {}, '--user: expected NAME:PASSWORD, got no ":"'],
    [['--user', ':hunter2'], {}, '--user: the user name is empty'],
    [['--user', 'alice:'], {}, '--user: the password of "alice" is empty'],
    [['--user', 'a:1', '--user', 'a:2'], {}, '--user: "a" given twice'],
    [['--realm='], {}, '--realm: must not be empty'],
    [['--allow-peer', '300.0.0.0/8'], {}, '--allow-peer: not an IP address: "300.0.0.0"'],
    [['--deny-peer', '10.0.0.0/33'], {}, '--deny-peer: prefix length must be 0 to 32, got "33"'],
    [['--min-port', '60000', '--max-port', '50000'], {}, '--min-port: 60000 is above --max-port 50000'],
    [
      ['--log-level', 'loud'],
      {},
      '--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"',
    ],
    [['--max-allocations', '0'], {}, '--max-allocations: expected an integer from 1 to 10000000, got "0"'],
    [['--user-quota', '1.5'], {}, '--user-quota: expected an integer from 1 to 10000000, got "1.5"'],
    [
      ['--max-alloc-bps', '1e9'],
      {},
      '--max-alloc-bps: expected an integer from 0 to 100000000000, got "1e9"',
    ],
    [['--default-lifetime', '0'], {}, '--default-lifetime: expected an integer from 1 to 604800, got "0"'],
    [['--default-lifetime', '7200'], {}, '--default-lifetime: 7200 is above --max-lifetime 3600'],
    [
      ['--alternate-server', '::1:3478'],
      {},
      '--alternate-server: expected IPv4:PORT or [IPv6]:PORT, got "::1:3478"',
    ],
    [['--drain-timeout', '86401'], {}, '--drain-timeout: expected an integer from 0 to 86400, got "86401"'],
  ])('refuses %j %j with one line naming the option', (argv, env, message) => {
    const e = error(argv, env);
    expect(e).toBe(message);
    expect(e).not.toContain('\n');
  });

  it('never echoes a password in an error', () => {
    expect(error(['--user', ':s3cret'])).not.toContain('s3cret');
    expect(error(['--user', 'a:s3cret', '--user', 'a:other'])).not.toContain('s3cret');
  });
});
