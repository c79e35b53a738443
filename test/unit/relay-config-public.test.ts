/**
 * The relay's public face in its configuration: --public-host, several TCP and TLS ports,
 * --discover-external-ip, and the URLs the relay publishes from them.
 */
import { describe, expect, it } from 'vitest';
import { parseRelayConfig, type RelayConfig } from '../../relay/config.ts';
import { pingUrl, turnUrls } from '../../relay/registration.ts';
import { checkDnsName } from '../../src/net/dns-name.ts';

type Env = Record<string, string | undefined>;
const FILES = new Set(['/etc/relay/cert.pem', '/etc/relay/key.pem']);
const io = { fileExists: (path: string) => FILES.has(path) };
const TLS = ['--tls-cert', '/etc/relay/cert.pem', '--tls-key', '/etc/relay/key.pem'];

function config(argv: string[], env: Env = {}): RelayConfig {
  const r = parseRelayConfig(argv, env, io);
  if (!r.ok) throw new Error(r.error);
  if (!('config' in r)) throw new Error('help instead of a config');
  return r.config;
}

function error(argv: string[], env: Env = {}): string {
  const r = parseRelayConfig(argv, env, io);
  if (r.ok) throw new Error(`expected an error for ${JSON.stringify(argv)}`);
  return r.error;
}

describe('DNS names for --public-host', () => {
  it.each([
    ['turn.example.com', 'turn.example.com'],
    ['TURN.Example.COM.', 'turn.example.com'],
    ['localhost', 'localhost'],
    ['r1.eu-west.example.net', 'r1.eu-west.example.net'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['1e100.net', '1e100.net'],
    [`${'a'.repeat(63)}.example`, `${'a'.repeat(63)}.example`],
  ])('accepts %s as %s', (raw, name) => {
    expect(checkDnsName(raw)).toEqual({ ok: true, name });
  });

  it.each([
    ['', 'expected a DNS name, got an empty one'],
    ['.', 'expected a DNS name, got an empty one'],
    ['a..b', 'empty label in "a..b"'],
    ['-a.example', 'label "-a" must not start or end with "-"'],
    ['a-.example', 'label "a-" must not start or end with "-"'],
    ['turn_1.example', 'label "turn_1" may hold only letters, digits and "-"'],
    ['bücher.example', 'label "bücher" may hold only letters, digits and "-"'],
    ['203.0.113.7', 'expected a DNS name, "203.0.113.7" reads as an IP address'],
    ['::1', 'expected a DNS name, not an IP literal or host:port, got "::1"'],
    [
      'turn.example.com:443',
      'expected a DNS name, not an IP literal or host:port, got "turn.example.com:443"',
    ],
    [`${'a'.repeat(64)}.example`, `label "${'a'.repeat(16)}..." is over 63 characters`],
    [`${'abcdefg.'.repeat(32)}com`, 'a DNS name has at most 253 characters, got 259'],
  ])('refuses %j: %s', (raw, message) => {
    expect(checkDnsName(raw)).toEqual({ ok: false, error: message });
  });
});

describe('relay config: public names, ports, discovery', () => {
  it('publishes IP literals by default and the name with --public-host or RELAY_PUBLIC_HOST', () => {
    expect(config([]).publicHost).toBeUndefined();
    expect(config(['--public-host', 'Turn.Example.com']).publicHost).toBe('turn.example.com');
    expect(config([], { RELAY_PUBLIC_HOST: 'relay-1.example.net' }).publicHost).toBe('relay-1.example.net');
  });

  it('collects TCP ports after --turn-port and TLS ports in the order given', () => {
    const c = config([
      ...TLS,
      '--tcp-port',
      '80',
      '--tcp-port=8080',
      '--tls-port',
      '5349',
      '--tls-port',
      '443',
    ]);
    expect(c.tcpPorts).toEqual([3478, 80, 8080]);
    expect(c.tls?.ports).toEqual([5349, 443]);
    expect(config([...TLS], { RELAY_TCP_PORTS: '80', RELAY_TLS_PORT: '443,5349' })).toMatchObject({
      tcpPorts: [3478, 80],
      tls: { ports: [443, 5349] },
    });
    expect(config(['--no-tcp', ...TLS, '--tls-port', '3478'])).toMatchObject({
      tcpPorts: [],
      tls: { ports: [3478] },
    });
  });

  it('reads STUN servers to discover the external address, with the family each is asked from', () => {
    const c = config([
      '--listen',
      '0.0.0.0',
      '--listen',
      '::',
      '--discover-external-ip',
      '192.0.2.10:3478',
      '--discover-external-ip',
      '[2001:db8::10]:3478',
      '--discover-external-ip',
      'STUN.example.org:19302',
      '--discover-timeout',
      '2',
    ]);
    expect(c.discoverExternalIp).toEqual([
      { host: '192.0.2.10', port: 3478, family: 4 },
      { host: '2001:db8::10', port: 3478, family: 6 },
      { host: 'stun.example.org', port: 19302, family: 4 },
    ]);
    expect(c.discoverTimeout).toBe(2);
    expect(c.externalIps).toEqual({});
    // A fixed address for one family and discovery for the other.
    expect(
      config([
        '--listen',
        '0.0.0.0',
        '--listen',
        '::1',
        '--external-ip',
        '::1',
        '--discover-external-ip',
        '127.0.0.1:3478',
      ]).discoverExternalIp,
    ).toEqual([{ host: '127.0.0.1', port: 3478, family: 4 }]);
  });

  it.each<[string[], Env, string]>([
    [
      ['--public-host', '203.0.113.7'],
      {},
      '--public-host: expected a DNS name, "203.0.113.7" reads as an IP address',
    ],
    [
      ['--public-host', 'a_b.example'],
      {},
      '--public-host: label "a_b" may hold only letters, digits and "-"',
    ],
    [['--public-host='], {}, '--public-host: expected a DNS name, got an empty one'],
    [
      [],
      { RELAY_PUBLIC_HOST: 'turn.example.com:443' },
      'RELAY_PUBLIC_HOST (--public-host): expected a DNS name, not an IP literal or host:port, got "turn.example.com:443"',
    ],
    [['--public-host', 'a.example', '--public-host', 'b.example'], {}, '--public-host: given more than once'],
    [['--tcp-port', '0'], {}, '--tcp-port: expected an integer from 1 to 65535, got "0"'],
    [['--tcp-port', '3478'], {}, '--tcp-port: 3478 is already --turn-port'],
    [['--tcp-port', '80', '--tcp-port', '80'], {}, '--tcp-port: 80 given twice'],
    [['--no-tcp', '--tcp-port', '80'], {}, '--tcp-port: not with --no-tcp'],
    [[...TLS, '--tls-port', '443', '--tls-port', '443'], {}, '--tls-port: 443 given twice'],
    [
      [...TLS, '--tcp-port', '443', '--tls-port', '443'],
      {},
      '--tls-port: 443 is also a TCP port (--tcp-port); pick another',
    ],
    [
      [...TLS, '--tls-port', '443', '--tls-port', '3478'],
      {},
      '--tls-port: 3478 is also the TCP port (--turn-port); pick another',
    ],
    [
      [...TLS],
      { RELAY_TLS_PORT: '443,x' },
      'RELAY_TLS_PORT (--tls-port): expected an integer from 1 to 65535, got "x"',
    ],
    [
      ['--discover-external-ip', 'stun.example.org'],
      {},
      '--discover-external-ip: expected IPv4:PORT, [IPv6]:PORT or NAME:PORT, got "stun.example.org"',
    ],
    [
      ['--discover-external-ip', '192.0.2.1:0'],
      {},
      '--discover-external-ip: expected IPv4:PORT, [IPv6]:PORT or NAME:PORT, got "192.0.2.1:0"',
    ],
    [
      ['--discover-external-ip', 'bad_name:3478'],
      {},
      '--discover-external-ip: label "bad_name" may hold only letters, digits and "-"',
    ],
    [
      ['--discover-external-ip', '[2001:db8::1]:3478'],
      {},
      '--discover-external-ip: [2001:db8::1]:3478 is IPv6 and no --listen address is',
    ],
    [
      ['--external-ip', '198.51.100.1', '--discover-external-ip', '192.0.2.1:3478'],
      {},
      '--discover-external-ip: IPv4 already has --external-ip 198.51.100.1; give one or the other',
    ],
    [
      ['--listen', '0.0.0.0', '--listen', '::', '--discover-external-ip', '192.0.2.1:3478'],
      {},
      '--listen: :: needs --external-ip or --discover-external-ip for IPv6, to advertise relayed addresses',
    ],
    [['--discover-timeout', '61'], {}, '--discover-timeout: expected an integer from 1 to 60, got "61"'],
  ])('refuses %j %j with one line naming the option', (argv, env, message) => {
    const e = error(argv, env);
    expect(e).toBe(message);
    expect(e).not.toContain('\n');
  });
});

describe('published TURN URLs', () => {
  const ports = { udp: 3478, tcp: [3478, 80], tls: [5349, 443] };

  it('name every transport and port with --public-host, once for all listen addresses', () => {
    const c = config([
      ...TLS,
      '--listen',
      '0.0.0.0',
      '--listen',
      '::',
      '--external-ip',
      '203.0.113.5',
      '--external-ip',
      '2001:db8::5',
      '--public-host',
      'turn.example.com',
    ]);
    expect(turnUrls(c, ports)).toEqual([
      'turn:turn.example.com:3478?transport=udp',
      'turn:turn.example.com:3478?transport=tcp',
      'turn:turn.example.com:80?transport=tcp',
      'turns:turn.example.com:5349?transport=tcp',
      'turns:turn.example.com:443?transport=tcp',
    ]);
  });

  it('use the advertised IP literals without a name, IPv6 in brackets', () => {
    const c = config(['--listen', '0.0.0.0', '--listen', '::1', '--external-ip', '203.0.113.5']);
    expect(turnUrls(c, { udp: 3478, tcp: [3478], tls: [] })).toEqual([
      'turn:203.0.113.5:3478?transport=udp',
      'turn:203.0.113.5:3478?transport=tcp',
      'turn:[::1]:3478?transport=udp',
      'turn:[::1]:3478?transport=tcp',
    ]);
  });
});

describe('the published ping URL', () => {
  const ports = { private: 9464, http: undefined, https: undefined };
  it('prefers the public HTTPS ping, then the public HTTP one, then the private port', () => {
    const c = config(['--listen', '192.0.2.5', ...TLS]);
    expect(pingUrl(c, '192.0.2.5', { ...ports, http: 8080, https: 8443 })).toBe(
      'https://192.0.2.5:8443/ping',
    );
    expect(pingUrl(c, '192.0.2.5', { ...ports, http: 8080 })).toBe('http://192.0.2.5:8080/ping');
    expect(pingUrl(c, '192.0.2.5', ports)).toBe('http://127.0.0.1:9464/ping');
  });

  it('names --public-host, which the certificate is for', () => {
    const c = config([
      '--listen',
      '0.0.0.0',
      '--external-ip',
      '203.0.113.9',
      '--public-host',
      'r1.example.net',
      ...TLS,
    ]);
    expect(pingUrl(c, '203.0.113.9', { ...ports, https: 443 })).toBe('https://r1.example.net:443/ping');
  });

  it('gives the advertised address when the ping ports listen on all, IPv6 in brackets', () => {
    const all = config(['--listen', '0.0.0.0', '--external-ip', '203.0.113.9', '--ping-port', '8080']);
    expect(pingUrl(all, '203.0.113.9', { ...ports, http: 8080 })).toBe('http://203.0.113.9:8080/ping');
    const v6 = config(['--listen', '2001:db8::5', '--ping-port', '8080']);
    expect(pingUrl(v6, '2001:db8::5', { ...ports, http: 8080 })).toBe('http://[2001:db8::5]:8080/ping');
  });
});
