import { describe, expect, it } from 'vitest';
import { cidr } from '../../src/net/cidr.ts';
import { parseIp } from '../../src/net/ip.ts';
import { createPeerPolicy, type PeerVerdict } from '../../src/net/peer-policy.ts';

const ip = (s: string): Uint8Array => {
  const b = parseIp(s);
  if (!b) throw new Error(`bad test address ${s}`);
  return b;
};
const special = (range: string): PeerVerdict => ({ allowed: false, reason: 'special-range', range });
const ALLOWED: PeerVerdict = { allowed: true };

describe('the default peer policy', () => {
  const policy = createPeerPolicy();

  it.each([
    // IPv4 special-purpose registry (RFC 6890 and updates)
    ['0.0.0.0', '0.0.0.0/8'],
    ['0.1.2.3', '0.0.0.0/8'],
    ['10.0.0.1', '10.0.0.0/8'],
    ['100.64.0.1', '100.64.0.0/10'],
    ['100.127.255.254', '100.64.0.0/10'],
    ['127.0.0.1', '127.0.0.0/8'],
    ['127.255.255.255', '127.0.0.0/8'],
    ['169.254.169.254', '169.254.0.0/16'],
    ['172.16.0.1', '172.16.0.0/12'],
    ['172.31.255.255', '172.16.0.0/12'],
    ['192.0.0.170', '192.0.0.0/24'],
    ['192.0.2.1', '192.0.2.0/24'],
    ['192.88.99.1', '192.88.99.0/24'],
    ['192.168.1.1', '192.168.0.0/16'],
    ['198.18.0.1', '198.18.0.0/15'],
    ['198.19.255.255', '198.18.0.0/15'],
    ['198.51.100.7', '198.51.100.0/24'],
    ['203.0.113.9', '203.0.113.0/24'],
    ['224.0.0.1', '224.0.0.0/4'],
    ['239.255.255.250', '224.0.0.0/4'],
    ['240.0.0.1', '240.0.0.0/4'],
    ['255.255.255.255', '255.255.255.255/32'],
    // IPv6 special-purpose registry
    ['::', '::/128'],
    ['::1', '::1/128'],
    ['100::1', '100::/64'],
    ['2001::1', '2001::/23'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', '2001::/23'],
    ['2001:1::2', '2001::/23'],
    ['2001:db8::1', '2001:db8::/32'],
    ['3fff::1', '3fff::/20'],
    ['5f00::1', '5f00::/16'],
    ['fc00::1', 'fc00::/7'],
    ['fd12:3456::1', 'fc00::/7'],
    ['fe80::1', 'fe80::/10'],
    ['fec0::1', 'fec0::/10'],
    ['ff02::1', 'ff00::/8'],
    ['64:ff9b:1::a00:1', '64:ff9b:1::/48'],
    ['64:ff9b:1::808:808', '64:ff9b:1::/48'],
    // outside 2000::/3 (IANA IPv6 address space registry)
    ['::2', '::/8'],
    ['::8.8.8.8', '::/8'],
    ['100:0:0:1::1', '100::/8'],
    ['1234::1', '1000::/4'],
    ['4000::1', '4000::/3'],
    ['fe00::1', 'fe00::/9'],
    // IPv4 carried inside IPv6 is judged by the IPv4 rules
    ['::ffff:127.0.0.1', '127.0.0.0/8'],
    ['::ffff:10.1.1.1', '10.0.0.0/8'],
    ['::ffff:0.0.0.0', '0.0.0.0/8'],
    ['64:ff9b::192.168.0.1', '192.168.0.0/16'],
    ['64:ff9b::7f00:1', '127.0.0.0/8'],
    ['2002:a00:1::1', '10.0.0.0/8'],
    ['2002:7f00:1::', '127.0.0.0/8'],
    ['2002:c000:201::1', '192.0.2.0/24'],
  ])('refuses %s as special (%s)', (addr, range) => {
    expect(policy.check(ip(addr))).toEqual(special(range));
  });

  it.each([
    '8.8.8.8',
    '1.1.1.1',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '169.253.255.255',
    '192.0.1.1',
    '198.17.255.255',
    '198.20.0.0',
    '223.255.255.255',
    '2606:4700:4700::1111',
    '2a00:1450:4001::1',
    '2001:200::1',
    '::ffff:8.8.8.8',
    '64:ff9b::8.8.8.8',
    '2002:808:808::1',
  ])('allows the public address %s', (addr) => {
    expect(policy.check(ip(addr))).toEqual(ALLOWED);
  });

  it('refuses a byte array that is not an address', () => {
    expect(policy.check(new Uint8Array(5))).toEqual({ allowed: false, reason: 'special-range' });
  });
});

describe('a configured peer policy', () => {
  const policy = createPeerPolicy({
    allow: [cidr('127.0.0.0/8'), cidr('10.1.0.0/16'), cidr('192.0.2.7')],
    deny: [cidr('8.8.4.0/24'), cidr('2606:4700::/32')],
    ownAddresses: [ip('9.9.9.9'), ip('2a01:4f8::1'), ip('::ffff:5.6.7.8')],
  });

  const cases: [addr: string, verdict: PeerVerdict, why: string][] = [
    ['127.0.0.1', ALLOWED, 'the allow list overrides the loopback deny'],
    ['::ffff:127.0.0.1', ALLOWED, 'an IPv4-mapped address matches an IPv4 allow entry'],
    ['10.1.2.3', ALLOWED, 'an allowed private subnet passes'],
    ['10.2.0.1', special('10.0.0.0/8'), 'the rest of a private range is still refused'],
    ['192.0.2.7', ALLOWED, 'a single allowed host passes'],
    ['192.0.2.8', special('192.0.2.0/24'), 'its neighbour does not'],
    ['::1', special('::1/128'), 'allowing IPv4 loopback leaves IPv6 loopback refused'],
    ['64:ff9b::7f00:1', special('127.0.0.0/8'), 'allow entries do not reach through NAT64'],
    ['9.9.9.9', { allowed: false, reason: 'relay-own-address' }, "the relay's own address is refused"],
    ['::ffff:9.9.9.9', { allowed: false, reason: 'relay-own-address' }, 'also in mapped form'],
    ['64:ff9b::909:909', { allowed: false, reason: 'relay-own-address' }, 'also through NAT64'],
    ['5.6.7.8', { allowed: false, reason: 'relay-own-address' }, 'an own address given mapped is unmapped'],
    ['2a01:4f8::1', { allowed: false, reason: 'relay-own-address' }, 'an own IPv6 address is refused'],
    ['2a01:4f8::2', ALLOWED, 'its neighbour is public'],
    [
      '8.8.4.4',
      { allowed: false, reason: 'denied-by-config', range: '8.8.4.0/24' },
      'deny applies to public',
    ],
    [
      '::ffff:8.8.4.4',
      { allowed: false, reason: 'denied-by-config', range: '8.8.4.0/24' },
      'deny matches the mapped form',
    ],
    [
      '2002:808:404::1',
      { allowed: false, reason: 'denied-by-config', range: '8.8.4.0/24' },
      'deny matches the IPv4 inside 6to4',
    ],
    [
      '2606:4700:4700::1111',
      { allowed: false, reason: 'denied-by-config', range: '2606:4700::/32' },
      'deny applies to IPv6',
    ],
    ['8.8.8.8', ALLOWED, 'public addresses outside every list pass'],
  ];
  it.each(cases)('judges %s as %j: %s', (addr, verdict) => {
    expect(policy.check(ip(addr))).toEqual(verdict);
  });

  it('lets an allow entry override a deny entry and an own address', () => {
    const p = createPeerPolicy({
      allow: [cidr('8.8.8.0/24')],
      deny: [cidr('8.8.0.0/16')],
      ownAddresses: [ip('8.8.8.8')],
    });
    expect(p.check(ip('8.8.8.8'))).toEqual(ALLOWED);
    expect(p.check(ip('8.8.9.9'))).toEqual({
      allowed: false,
      reason: 'denied-by-config',
      range: '8.8.0.0/16',
    });
  });

  it('can allow everything with 0.0.0.0/0 and ::/0', () => {
    const open = createPeerPolicy({ allow: [cidr('0.0.0.0/0'), cidr('::/0')] });
    for (const addr of ['10.0.0.1', '::1', 'ff02::1', '64:ff9b:1::1']) {
      expect(open.check(ip(addr))).toEqual(ALLOWED);
    }
  });
});
