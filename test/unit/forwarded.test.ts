import { describe, expect, it } from 'vitest';
import { cidr } from '../../src/net/cidr.ts';
import { clientAddress, MAX_FORWARDED_HOPS } from '../../src/net/forwarded.ts';

const PROXIES = [cidr('10.0.0.0/8'), cidr('2001:db8:f::/48')];

describe('clientAddress', () => {
  it.each([
    ['an untrusted peer is the client, whatever it forwards', '198.51.100.9', '203.0.113.5', '198.51.100.9'],
    ['no header behind a trusted proxy: the proxy is all there is', '10.0.0.1', undefined, '10.0.0.1'],
    ['one proxy: its entry', '10.0.0.1', '198.51.100.9', '198.51.100.9'],
    [
      'a forged leftmost entry is skipped: the proxy appended the real one',
      '10.0.0.1',
      '203.0.113.5, 198.51.100.9',
      '198.51.100.9',
    ],
    ['two trusted proxies in a row', '10.0.0.1', '203.0.113.5, 198.51.100.9, 10.2.3.4', '198.51.100.9'],
    ['an untrusted hop stops the walk', '10.0.0.1', '203.0.113.5, 192.0.2.1, 198.51.100.9', '198.51.100.9'],
    ['every hop trusted: the leftmost', '10.0.0.1', '10.9.9.9, 10.2.3.4', '10.9.9.9'],
    ['an IPv4 entry with a port', '10.0.0.1', '198.51.100.9:51234', '198.51.100.9'],
    ['a bracketed IPv6 entry with a port', '10.0.0.1', '[2001:db8:1::5]:443', '2001:db8:1::5'],
    ['a bare IPv6 entry', '2001:db8:f::1', '2001:db8:1::5', '2001:db8:1::5'],
    ['an IPv4-mapped peer counts as IPv4', '::ffff:10.0.0.1', '198.51.100.9', '198.51.100.9'],
    ['an IPv4-mapped entry comes out as IPv4', '10.0.0.1', '::ffff:198.51.100.9', '198.51.100.9'],
    ['empty entries are skipped', '10.0.0.1', '198.51.100.9, ,', '198.51.100.9'],
    ['garbage in the trusted part: unknown', '10.0.0.1', '198.51.100.9, not-an-ip', undefined],
    ['garbage left of the client is never read', '10.0.0.1', 'not-an-ip, 198.51.100.9', '198.51.100.9'],
    ['an unknown peer: unknown', undefined, '198.51.100.9', undefined],
    ['a peer that is not an address: unknown', 'unix:/run/edge.sock', '198.51.100.9', undefined],
  ])('%s', (_name, peer, header, want) => {
    expect(clientAddress(peer, header, PROXIES)).toBe(want);
  });

  it('gives up on a header longer than the hop bound behind trusted proxies', () => {
    const hops = Array.from({ length: MAX_FORWARDED_HOPS + 1 }, (_, i) => `10.0.0.${i + 2}`);
    expect(clientAddress('10.0.0.1', ['198.51.100.9', ...hops].join(','), PROXIES)).toBeUndefined();
    expect(clientAddress('10.0.0.1', ['198.51.100.9', ...hops.slice(2)].join(','), PROXIES)).toBe(
      '198.51.100.9',
    );
  });

  it('trusts nobody with no trusted proxies configured', () => {
    expect(clientAddress('10.0.0.1', '198.51.100.9', [])).toBe('10.0.0.1');
  });
});
