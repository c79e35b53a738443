/**
 * The relay's peer policy: which peer addresses a client may reach through the relay (no SSRF
 * through the relay, RFC 8656 §21.3). This module owns the default deny list and the order in
 * which allow, deny and the relay's own addresses apply. Pure: no node:* imports.
 *
 * Order of checks:
 * 1. The allow list wins over everything below (labs and tests allow 127.0.0.0/8 explicitly).
 * 2. Special-purpose ranges from the IANA IPv4 and IPv6 Special-Purpose Address Registries
 *    (RFC 6890 and updates), plus multicast, and for IPv6 everything outside 2000::/3 that the
 *    IANA IPv6 Address Space registry keeps reserved. IPv6 forms that carry an IPv4 address
 *    (IPv4-mapped, NAT64 64:ff9b::/96, 6to4) are judged by that IPv4 address.
 * 3. The relay's own addresses (a peer there would loop through the relay or reach its ports).
 * 4. The configured deny list, for otherwise-public ranges.
 */
import { type Cidr, cidr, cidrContains } from './cidr.ts';
import { unmapIpv4 } from './ip.ts';

export type PeerVerdict =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      readonly reason: 'special-range' | 'relay-own-address' | 'denied-by-config';
      /** The range that refused the peer, e.g. `10.0.0.0/8`. */
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

/** IANA IPv4 Special-Purpose Address Registry (RFC 6890 §2.2.2 and updates), multicast, class E. */
const SPECIAL_V4 = [
  '0.0.0.0/8', // "this network" (RFC 791 §3.2, RFC 1122 §3.2.1.3)
  '10.0.0.0/8', // private use (RFC 1918)
  '100.64.0.0/10', // shared address space, carrier-grade NAT (RFC 6598)
  '127.0.0.0/8', // loopback (RFC 1122 §3.2.1.3)
  '169.254.0.0/16', // link-local (RFC 3927)
  '172.16.0.0/12', // private use (RFC 1918)
  '192.0.0.0/24', // IETF protocol assignments (RFC 6890 §2.1)
  '192.0.2.0/24', // documentation, TEST-NET-1 (RFC 5737)
  '192.88.99.0/24', // 6to4 relay anycast, deprecated (RFC 7526)
  '192.168.0.0/16', // private use (RFC 1918)
  '198.18.0.0/15', // benchmarking (RFC 2544)
  '198.51.100.0/24', // documentation, TEST-NET-2 (RFC 5737)
  '203.0.113.0/24', // documentation, TEST-NET-3 (RFC 5737)
  '224.0.0.0/4', // multicast (RFC 5771)
  '255.255.255.255/32', // limited broadcast (RFC 919, RFC 8190); listed before 240/4 to name it
  '240.0.0.0/4', // reserved for future use, class E (RFC 1112 §4)
].map(cidr);

/** IANA IPv6 Special-Purpose Address Registry (RFC 6890 §2.2.3 and updates), multicast, site-local. */
const SPECIAL_V6 = [
  '::/128', // unspecified (RFC 4291 §2.5.2)
  '::1/128', // loopback (RFC 4291 §2.5.3)
  // Local-use IPv4/IPv6 translation (RFC 8215). Not globally reachable, and the operator picks the
  // RFC 6052 prefix length inside the /48, so where the IPv4 address sits cannot be known here:
  // the whole range is refused rather than guessing an embedded address.
  '64:ff9b:1::/48',
  '100::/64', // discard-only (RFC 6666); the rest of 100::/8 is caught by RESERVED_V6
  '2001::/23', // IETF protocol assignments, includes Teredo 2001::/32 (RFC 2928, RFC 4380)
  '2001:db8::/32', // documentation (RFC 3849)
  '3fff::/20', // documentation (RFC 9637)
  '5f00::/16', // segment routing SIDs (RFC 9602)
  'fc00::/7', // unique local (RFC 4193)
  'fe80::/10', // link-local unicast (RFC 4291 §2.5.6)
  'fec0::/10', // site-local, deprecated (RFC 3879)
  'ff00::/8', // multicast (RFC 4291 §2.7)
].map(cidr);

/**
 * IANA IPv6 Address Space registry: outside 2000::/3 (global unicast, RFC 4291 §2.4) the space
 * is reserved by the IETF or holds the special ranges above; nothing there is a public peer.
 * Covers the deprecated IPv4-compatible form ::a.b.c.d (RFC 4291 §2.5.5.1) inside ::/8.
 */
const RESERVED_V6 = [
  '::/8',
  '100::/8',
  '200::/7',
  '400::/6',
  '800::/5',
  '1000::/4',
  '4000::/3',
  '6000::/3',
  '8000::/3',
  'a000::/3',
  'c000::/3',
  'e000::/4',
  'f000::/5',
  'f800::/6',
  'fe00::/9',
].map(cidr);

/** IPv6 ranges that carry an IPv4 address at a fixed offset; that IPv4 address is judged instead. */
const EMBEDDED_V4: readonly { readonly range: Cidr; readonly offset: number }[] = [
  { range: cidr('::ffff:0:0/96'), offset: 12 }, // IPv4-mapped (RFC 4291 §2.5.5.2)
  { range: cidr('64:ff9b::/96'), offset: 12 }, // NAT64 well-known prefix (RFC 6052 §2.1, §2.2)
  { range: cidr('2002::/16'), offset: 2 }, // 6to4, 2002:V4ADDR::/48 (RFC 3056 §2)
];

const match = (ranges: readonly Cidr[], ip: Uint8Array): Cidr | undefined =>
  ranges.find((r) => cidrContains(r, ip));

/** The IPv4 address an IPv6 address carries (see EMBEDDED_V4), as a fresh 4-byte array. */
function embeddedIpv4(ip: Uint8Array): Uint8Array | undefined {
  if (ip.length !== 16) return undefined;
  for (const { range, offset } of EMBEDDED_V4) {
    if (cidrContains(range, ip)) return new Uint8Array(ip.subarray(offset, offset + 4));
  }
  return undefined;
}

function specialRange(ip: Uint8Array, v4: Uint8Array | undefined): Cidr | undefined {
  if (ip.length === 4) return match(SPECIAL_V4, ip);
  if (v4) return match(SPECIAL_V4, v4);
  return match(SPECIAL_V6, ip) ?? match(RESERVED_V6, ip);
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

export function createPeerPolicy(options: PeerPolicyOptions = {}): PeerPolicy {
  const allow = options.allow ?? [];
  const deny = options.deny ?? [];
  const own = (options.ownAddresses ?? []).map((o) => unmapIpv4(o));
  return {
    check(ip) {
      // Only a programming error yields another length; refuse rather than guess.
      if (ip.length !== 4 && ip.length !== 16) return { allowed: false, reason: 'special-range' };
      if (match(allow, ip)) return { allowed: true };
      const v4 = embeddedIpv4(ip);
      const special = specialRange(ip, v4);
      if (special) return { allowed: false, reason: 'special-range', range: special.text };
      const plain = v4 ?? ip;
      if (own.some((o) => sameBytes(o, plain) || sameBytes(o, ip))) {
        return { allowed: false, reason: 'relay-own-address' };
      }
      const denied = match(deny, ip) ?? (v4 && match(deny, v4));
      if (denied) return { allowed: false, reason: 'denied-by-config', range: denied.text };
      return { allowed: true };
    },
  };
}
