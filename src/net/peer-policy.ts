/**
 * Which peers a relay may send to (no SSRF through the relay, RFC 8656 §21.3): by default every
 * special-purpose range of the IANA IPv4 and IPv6 registries (RFC 6890 and updates) is refused,
 * as are the relay's own addresses. IPv4 embedded in IPv4-mapped, NAT64 and 6to4 addresses is
 * checked against the IPv4 rules. An allow list overrides all of it (labs and tests allow
 * 127.0.0.0/8); an extra deny list refuses otherwise-public ranges.
 */
import { type Cidr, cidr, cidrContains } from './cidr.ts';

export type PeerVerdict =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      readonly reason: 'special-range' | 'relay-own-address' | 'denied-by-config';
      readonly range?: string;
    };

export interface PeerPolicy {
  check(ip: Uint8Array): PeerVerdict;
}

export interface PeerPolicyOptions {
  readonly allow?: readonly Cidr[];
  readonly deny?: readonly Cidr[];
  readonly ownAddresses?: readonly Uint8Array[];
}

/** IANA IPv4 Special-Purpose Address Registry, plus multicast and the reserved class E. */
const SPECIAL_V4 = [
  '0.0.0.0/8', // "this network" (RFC 791)
  '10.0.0.0/8', // private (RFC 1918)
  '100.64.0.0/10', // shared address space, CGNAT (RFC 6598)
  '127.0.0.0/8', // loopback (RFC 1122)
  '169.254.0.0/16', // link-local (RFC 3927)
  '172.16.0.0/12', // private (RFC 1918)
  '192.0.0.0/24', // IETF protocol assignments (RFC 6890)
  '192.0.2.0/24', // TEST-NET-1 (RFC 5737)
  '192.88.99.0/24', // 6to4 relay anycast, deprecated (RFC 7526)
  '192.168.0.0/16', // private (RFC 1918)
  '198.18.0.0/15', // benchmarking (RFC 2544)
  '198.51.100.0/24', // TEST-NET-2 (RFC 5737)
  '203.0.113.0/24', // TEST-NET-3 (RFC 5737)
  '224.0.0.0/4', // multicast (RFC 5771)
  '240.0.0.0/4', // reserved (RFC 1112), includes 255.255.255.255 broadcast
].map(cidr);

/** IANA IPv6 Special-Purpose Address Registry, plus multicast and deprecated site-local. */
const SPECIAL_V6 = [
  '::/128', // unspecified (RFC 4291)
  '::1/128', // loopback (RFC 4291)
  '100::/64', // discard-only (RFC 6666)
  '2001::/23', // IETF protocol assignments, includes Teredo 2001::/32 (RFC 2928, 4380)
  '2001:db8::/32', // documentation (RFC 3849)
  'fc00::/7', // unique local (RFC 4193)
  'fe80::/10', // link-local (RFC 4291)
  'fec0::/10', // site-local, deprecated (RFC 3879)
  'ff00::/8', // multicast (RFC 4291)
].map(cidr);

/** IPv6 ranges that carry an IPv4 address; the embedded address is checked instead. */
const EMBEDDED_V4: readonly { range: Cidr; offset: number }[] = [
  { range: cidr('::ffff:0:0/96'), offset: 12 }, // IPv4-mapped (RFC 4291)
  { range: cidr('64:ff9b::/96'), offset: 12 }, // NAT64 well-known prefix (RFC 6052)
  { range: cidr('64:ff9b:1::/48'), offset: 12 }, // local-use NAT64 (RFC 8215)
  { range: cidr('2002::/16'), offset: 2 }, // 6to4 (RFC 3056)
];

const match = (ranges: readonly Cidr[], ip: Uint8Array): Cidr | undefined =>
  ranges.find((r) => cidrContains(r, ip));

function specialRange(ip: Uint8Array): Cidr | undefined {
  if (ip.length === 4) return match(SPECIAL_V4, ip);
  for (const { range, offset } of EMBEDDED_V4) {
    if (cidrContains(range, ip)) return specialRange(ip.subarray(offset, offset + 4));
  }
  return match(SPECIAL_V6, ip);
}

export function createPeerPolicy(options: PeerPolicyOptions = {}): PeerPolicy {
  const allow = options.allow ?? [];
  const deny = options.deny ?? [];
  const own = options.ownAddresses ?? [];
  return {
    check(ip) {
      if (match(allow, ip)) return { allowed: true };
      const special = specialRange(ip);
      if (special) return { allowed: false, reason: 'special-range', range: special.text };
      if (own.some((o) => o.length === ip.length && o.every((b, i) => b === ip[i]))) {
        return { allowed: false, reason: 'relay-own-address' };
      }
      const denied = match(deny, ip);
      if (denied) return { allowed: false, reason: 'denied-by-config', range: denied.text };
      return { allowed: true };
    },
  };
}
