/**
 * The client's address behind reverse proxies: this module owns reading `X-Forwarded-For`.
 * Each proxy appends the address it received the request from, so the header's right end is
 * written by the proxy nearest the edge and its left end by whoever sent the request first,
 * which may be the client lying. The only safe reading walks from the right (the socket peer,
 * then the header's entries last to first) past addresses that are trusted proxies; the first
 * address that is not one is the client (the same rule as RFC 7239 §7.4 for `Forwarded`, and
 * nginx's `real_ip_recursive`). Entries left of it are the client's own words and never read.
 * Pure: no node:* imports.
 */
import { type Cidr, cidrContains } from './cidr.ts';
import { formatIp, parseIp, unmapIpv4 } from './ip.ts';

/** More entries than this behind trusted proxies is a header not worth reading. */
export const MAX_FORWARDED_HOPS = 32;

/** One header entry as an address: `a.b.c.d`, `a.b.c.d:port`, `[v6]`, `[v6]:port` or bare v6. */
function entryIp(entry: string): Uint8Array | undefined {
  const s = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(s);
  if (bracketed) return parseIp(bracketed[1]!);
  const v4port = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(s);
  return parseIp(v4port ? v4port[1]! : s);
}

/**
 * The client address, canonical (an IPv4-mapped address as IPv4): the peer itself unless it is
 * a trusted proxy; else the rightmost `X-Forwarded-For` entry that is not a trusted proxy.
 * Undefined when the walk meets an entry that is not an address, runs past MAX_FORWARDED_HOPS,
 * or the peer is unknown: an unknown client is safer than a guessed one.
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | undefined,
  trusted: readonly Cidr[],
): string | undefined {
  const peerIp = peer === undefined ? undefined : parseIp(peer);
  if (!peerIp) return undefined;
  const isTrusted = (ip: Uint8Array) => trusted.some((t) => cidrContains(t, ip));
  let current = peerIp;
  if (!isTrusted(current) || !forwardedFor) return formatIp(unmapIpv4(current));
  const entries = forwardedFor.split(',');
  for (let i = entries.length - 1, hops = 0; i >= 0; i--, hops++) {
    if (hops >= MAX_FORWARDED_HOPS) return undefined;
    const entry = entries[i]!;
    if (entry.trim() === '') continue;
    const ip = entryIp(entry);
    if (!ip) return undefined;
    current = ip;
    if (!isTrusted(current)) break;
  }
  // Every entry was a trusted proxy: the leftmost one is as far as anyone vouches for.
  return formatIp(unmapIpv4(current));
}
