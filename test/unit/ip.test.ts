import { describe, expect, it } from 'vitest';
import {
  canonicalIp,
  formatIp,
  ipFamilyOf,
  isIpv4Mapped,
  parseHostPort,
  parseIp,
  unmapIpv4,
} from '../../src/net/ip.ts';

const hex = (b: Uint8Array | undefined) =>
  b ? Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('') : b;

describe('parseIp', () => {
  it.each([
    ['0.0.0.0', '00000000'],
    ['1.2.3.4', '01020304'],
    ['255.255.255.255', 'ffffffff'],
    ['10.0.0.1', '0a000001'],
  ])('reads the IPv4 dotted quad %s', (text, bytes) => {
    expect(hex(parseIp(text))).toBe(bytes);
  });

  it.each([
    ['::', '00000000000000000000000000000000'],
    ['::1', '00000000000000000000000000000001'],
    ['[::1]', '00000000000000000000000000000001'],
    ['1::', '00010000000000000000000000000000'],
    ['2001:db8::1', '20010db8000000000000000000000001'],
    ['2001:DB8:0:0:0:0:0:1', '20010db8000000000000000000000001'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '20010db8000000000000000000000001'],
    ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
    ['1::8', '00010000000000000000000000000008'],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
    ['::ffff:1.2.3.4', '00000000000000000000ffff01020304'],
    ['[::ffff:1.2.3.4]', '00000000000000000000ffff01020304'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
    ['::1.2.3.4', '00000000000000000000000001020304'],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ['1:2:3:4:5::1.2.3.4', '00010002000300040005000001020304'],
  ])('reads the IPv6 text %s', (text, bytes) => {
    expect(hex(parseIp(text))).toBe(bytes);
  });

  it.each([
    ['', 'empty input'],
    ['1.2.3', 'three IPv4 parts'],
    ['1.2.3.4.5', 'five IPv4 parts'],
    ['01.2.3.4', 'a leading zero (octal in some stacks)'],
    ['1.2.3.00', 'a doubled zero'],
    ['256.0.0.1', 'an octet above 255'],
    ['1.2.3.-4', 'a negative octet'],
    ['1.2.3.4 ', 'trailing space'],
    [' 1.2.3.4', 'leading space'],
    ['0x7f.0.0.1', 'a hex octet'],
    ['1..3.4', 'an empty octet'],
    ['[1.2.3.4]', 'IPv4 in brackets'],
    ['[::1', 'an unclosed bracket'],
    ['::1]', 'a stray closing bracket'],
    ['fe80::1%eth0', 'a zone id'],
    ['[fe80::1%25eth0]', 'a URI-encoded zone id'],
    [':::', 'three colons'],
    ['1:::2', 'three colons inside'],
    ['1::2::3', 'two `::`'],
    [':1:2:3:4:5:6:7', 'a single leading colon'],
    ['1:2:3:4:5:6:7:', 'a single trailing colon'],
    ['1:2:3:4:5:6:7', 'seven groups'],
    ['1:2:3:4:5:6:7:8:9', 'nine groups'],
    ['1:2:3:4::5:6:7:8', '`::` standing for no group'],
    ['12345::', 'a five-digit group'],
    ['g::', 'a non-hex digit'],
    ['::ffff:1.2.3', 'a short IPv4 tail'],
    ['::ffff:01.2.3.4', 'an IPv4 tail with a leading zero'],
    ['1.2.3.4::', 'an IPv4 head'],
    ['1:2:3:4:5:6:7:1.2.3.4', 'an IPv4 tail after seven groups'],
    ['1:2:3:4:5:6::1.2.3.4', 'an IPv4 tail after six groups and `::`'],
    [':1.2.3.4', 'an IPv4 tail after one colon'],
    ['example.com', 'a host name'],
  ])('refuses %j (%s)', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe('formatIp', () => {
  it.each([
    ['0.0.0.0', '0.0.0.0'],
    ['255.1.0.9', '255.1.0.9'],
    ['2001:0DB8::0001', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:db8:0:0:0:1:0:0', '2001:db8::1:0:0'],
    ['0:0:1:0:0:0:1:0', '0:0:1::1:0'],
    ['1:0:0:2:0:0:3:4', '1::2:0:0:3:4'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['1:0:2:0:3:0:4:0', '1:0:2:0:3:0:4:0'],
    ['::ffff:102:304', '::ffff:1.2.3.4'],
    ['0:0:0:0:0:FFFF:7F00:1', '::ffff:127.0.0.1'],
    ['::1.2.3.4', '::102:304'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['fe80:0000:0000:0000:abcd:00ef:0000:0001', 'fe80::abcd:ef:0:1'],
  ])('writes %s as %s (RFC 5952)', (input, canonical) => {
    expect(formatIp(parseIp(input)!)).toBe(canonical);
    expect(canonicalIp(input)).toBe(canonical);
  });

  it('round-trips every canonical form it produces', () => {
    for (const text of ['::', '::1', '1::', '2001:db8::1:0:0:1', '::ffff:10.0.0.1', '1.2.3.4']) {
      expect(formatIp(parseIp(text)!)).toBe(text);
    }
  });

  it('throws a RangeError on a byte array that is not 4 or 16 long', () => {
    expect(() => formatIp(new Uint8Array(5))).toThrow(RangeError);
  });

  it('gives undefined from canonicalIp for malformed text', () => {
    expect(canonicalIp('1.2.3.04')).toBeUndefined();
  });
});

describe('families and IPv4-mapped addresses', () => {
  it.each([
    ['1.2.3.4', 4],
    ['::1', 6],
    ['::ffff:1.2.3.4', 6],
  ] as const)('says %s is IPv%i', (text, family) => {
    expect(ipFamilyOf(parseIp(text)!)).toBe(family);
  });

  it.each([
    ['::ffff:1.2.3.4', true, '1.2.3.4'],
    ['::ffff:0.0.0.0', true, '0.0.0.0'],
    ['::fffe:1.2.3.4', false, '::fffe:102:304'],
    ['1::ffff:1.2.3.4', false, '1::ffff:102:304'],
    ['::1.2.3.4', false, '::102:304'],
    ['9.8.7.6', false, '9.8.7.6'],
  ])('treats %s as mapped: %s, and unmaps it to %s', (text, mapped, unmapped) => {
    const b = parseIp(text)!;
    expect(isIpv4Mapped(b)).toBe(mapped);
    expect(formatIp(unmapIpv4(b))).toBe(unmapped);
  });

  it('returns a copy, not a view, when it unmaps', () => {
    const b = parseIp('::ffff:1.2.3.4')!;
    const u = unmapIpv4(b);
    u[0] = 99;
    expect(b[12]).toBe(1);
  });
});

describe('parseHostPort', () => {
  it.each([
    ['1.2.3.4:3478', '1.2.3.4', 3478],
    ['127.0.0.1:1', '127.0.0.1', 1],
    ['[::1]:3478', '::1', 3478],
    ['[2001:DB8::0:1]:65535', '2001:db8::1', 65535],
    ['[::ffff:1.2.3.4]:5349', '::ffff:1.2.3.4', 5349],
  ])('reads %s', (text, host, port) => {
    expect(parseHostPort(text)).toEqual({ host, port });
  });

  it.each([
    ['1.2.3.4', 'no port'],
    ['1.2.3.4:', 'an empty port'],
    ['1.2.3.4:0', 'port 0'],
    ['1.2.3.4:65536', 'a port above 65535'],
    ['1.2.3.4:03478', 'a port with a leading zero'],
    ['1.2.3.4:34a', 'a port with a letter'],
    ['::1:3478', 'IPv6 without brackets'],
    ['[1.2.3.4]:3478', 'IPv4 in brackets'],
    ['[::1]', 'brackets without a port'],
    ['[::1]3478', 'no colon after the bracket'],
    ['example.com:3478', 'a host name'],
    ['[fe80::1%eth0]:3478', 'a zone id'],
    [':3478', 'no host'],
  ])('refuses %j (%s)', (text) => {
    expect(parseHostPort(text)).toBeUndefined();
  });
});
