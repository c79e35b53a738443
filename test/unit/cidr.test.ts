import { describe, expect, it } from 'vitest';
import { cidr, cidrContains, parseCidr } from '../../src/net/cidr.ts';
import { parseIp } from '../../src/net/ip.ts';

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0/8', 4, 8, false],
    ['0.0.0.0/0', '0.0.0.0/0', 4, 0, false],
    ['1.2.3.4', '1.2.3.4/32', 4, 32, false],
    ['1.2.3.4/32', '1.2.3.4/32', 4, 32, false],
    ['10.1.2.3/8', '10.0.0.0/8', 4, 8, true],
    ['172.31.255.255/12', '172.16.0.0/12', 4, 12, true],
    ['192.168.1.129/25', '192.168.1.128/25', 4, 25, true],
    ['2001:DB8::/32', '2001:db8::/32', 6, 32, false],
    ['::1', '::1/128', 6, 128, false],
    ['::/0', '::/0', 6, 0, false],
    ['fe80::1/10', 'fe80::/10', 6, 10, true],
    ['2001:db8:ffff::/33', '2001:db8:8000::/33', 6, 33, true],
    ['[::1]/128', '::1/128', 6, 128, false],
    ['::ffff:10.0.0.0/104', '::ffff:10.0.0.0/104', 6, 104, false],
  ] as const)('reads %s as %s', (input, text, family, prefix, masked) => {
    const r = parseCidr(input);
    expect(r).toMatchObject({ ok: true, value: { text, family, prefix }, hostBitsMasked: masked });
  });

  it('masks host bits without touching the parsed input', () => {
    const r = parseCidr('10.255.255.255/8');
    expect(r.ok && Array.from(r.value.bytes)).toEqual([10, 0, 0, 0]);
  });

  it.each([
    ['', 'not an IP address: ""'],
    ['/8', 'not an IP address: ""'],
    ['300.0.0.0/8', 'not an IP address: "300.0.0.0"'],
    ['10.0.0.0/', 'prefix length must be 0 to 32, got ""'],
    ['10.0.0.0/33', 'prefix length must be 0 to 32, got "33"'],
    ['10.0.0.0/08', 'prefix length must be 0 to 32, got "08"'],
    ['10.0.0.0/-1', 'prefix length must be 0 to 32, got "-1"'],
    ['10.0.0.0/8/8', 'prefix length must be 0 to 32, got "8/8"'],
    ['10.0.0.0/ 8', 'prefix length must be 0 to 32, got " 8"'],
    ['::/129', 'prefix length must be 0 to 128, got "129"'],
    ['fe80::%eth0/64', 'not an IP address: "fe80::%eth0"'],
    ['example.com/24', 'not an IP address: "example.com"'],
  ])('refuses %j with %j', (input, error) => {
    expect(parseCidr(input)).toEqual({ ok: false, error });
  });

  it('throws from cidr() on a malformed literal in code', () => {
    expect(() => cidr('10.0.0.0/40')).toThrow(TypeError);
  });
});

describe('cidrContains', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0', true],
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['10.0.0.0/8', '9.255.255.255', false],
    ['172.16.0.0/12', '172.31.0.1', true],
    ['172.16.0.0/12', '172.32.0.1', false],
    ['100.64.0.0/10', '100.127.255.255', true],
    ['100.64.0.0/10', '100.128.0.0', false],
    ['0.0.0.0/0', '8.8.8.8', true],
    ['1.2.3.4/32', '1.2.3.4', true],
    ['1.2.3.4/32', '1.2.3.5', false],
    ['10.0.0.0/8', '::ffff:10.1.2.3', true],
    ['10.0.0.0/8', '::ffff:11.1.2.3', false],
    ['0.0.0.0/0', '::ffff:8.8.8.8', true],
    ['0.0.0.0/0', '::1', false],
    ['10.0.0.0/8', '::a01:203', false],
    ['10.0.0.0/8', '64:ff9b::10.1.2.3', false],
    ['::ffff:0:0/96', '1.2.3.4', true],
    ['::ffff:10.0.0.0/104', '10.9.9.9', true],
    ['::ffff:10.0.0.0/104', '11.9.9.9', false],
    ['::/0', '1.2.3.4', true],
    ['2001:db8::/32', '1.2.3.4', false],
    ['2001:db8::/32', '2001:db8:ffff::1', true],
    ['2001:db8::/32', '2001:db9::1', false],
    ['fe80::/10', 'febf::1', true],
    ['fe80::/10', 'fec0::1', false],
    ['::1/128', '::1', true],
    ['::1/128', '::2', false],
  ])('says whether %s contains %s: %s', (range, ip, inside) => {
    expect(cidrContains(cidr(range), parseIp(ip)!)).toBe(inside);
  });

  it('matches no address of a length other than 4 or 16', () => {
    expect(cidrContains(cidr('0.0.0.0/0'), new Uint8Array(5))).toBe(false);
    expect(cidrContains(cidr('::/0'), new Uint8Array(0))).toBe(false);
  });
});
