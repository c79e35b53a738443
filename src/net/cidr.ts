/**
 * CIDR ranges (RFC 4632 §3.1 for IPv4, RFC 4291 §2.3 for IPv6): this module owns parsing
 * `10.0.0.0/8` or `2001:db8::/32` and testing membership. A bare IP is a /32 or /128.
 * Host bits after the prefix are accepted and masked off, so `10.1.2.3/8` means `10.0.0.0/8`;
 * the parse result says when that happened (`hostBitsMasked`) and `text` shows the masked form.
 * An IPv4 address and its IPv4-mapped form ::ffff:a.b.c.d (RFC 4291 §2.5.5.2) are one host, so
 * each matches a range written in the other family. Pure: no node:* imports.
 */
import type { IpFamily } from './address.ts';
import { formatIp, isIpv4Mapped, parseIp } from './ip.ts';

export interface Cidr {
  /** The network address, host bits zero; 4 or 16 bytes. */
  readonly bytes: Uint8Array;
  readonly prefix: number;
  readonly family: IpFamily;
  /** Canonical `network/prefix`, e.g. `10.0.0.0/8`, `2001:db8::/32`. */
  readonly text: string;
}

export type CidrResult = { ok: true; value: Cidr; hostBitsMasked: boolean } | { ok: false; error: string };

export function parseCidr(s: string): CidrResult {
  const slash = s.indexOf('/');
  const ipText = slash < 0 ? s : s.slice(0, slash);
  const ip = parseIp(ipText);
  if (!ip) return { ok: false, error: `not an IP address: "${ipText}"` };
  const max = ip.length * 8;
  const prefixText = slash < 0 ? String(max) : s.slice(slash + 1);
  if (!/^(0|[1-9]\d{0,2})$/.test(prefixText) || Number(prefixText) > max) {
    return { ok: false, error: `prefix length must be 0 to ${max}, got "${prefixText}"` };
  }
  const prefix = Number(prefixText);
  const bytes = new Uint8Array(ip);
  for (let bit = prefix; bit < max; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  const hostBitsMasked = bytes.some((b, i) => b !== ip[i]);
  const family: IpFamily = ip.length === 4 ? 4 : 6;
  return { ok: true, value: { bytes, prefix, family, text: `${formatIp(bytes)}/${prefix}` }, hostBitsMasked };
}

/** Compares the first `prefix` bits of `a` and `b`, starting at byte `from` of `a`. */
function prefixEqual(a: Uint8Array, from: number, b: Uint8Array, prefix: number): boolean {
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i++) if (a[from + i] !== b[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[from + whole]! & mask) === b[whole];
}

const MAPPED_PREFIX = new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

/** Whether `ip` (4 or 16 bytes) lies in `c`; mapped IPv6 and plain IPv4 match each other's ranges. */
export function cidrContains(c: Cidr, ip: Uint8Array): boolean {
  if (ip.length === c.bytes.length) return prefixEqual(ip, 0, c.bytes, c.prefix);
  // ::ffff:a.b.c.d against an IPv4 range: compare the embedded IPv4 address.
  if (c.family === 4 && isIpv4Mapped(ip)) return prefixEqual(ip, 12, c.bytes, c.prefix);
  // a.b.c.d against an IPv6 range: compare its mapped form, ::ffff:a.b.c.d.
  if (c.family === 6 && ip.length === 4) {
    const mapped = new Uint8Array(16);
    mapped.set(MAPPED_PREFIX);
    mapped.set(ip, 12);
    return prefixEqual(mapped, 0, c.bytes, c.prefix);
  }
  return false;
}

/** For fixed tables in code: throws on a malformed literal, which is a programming error. */
export function cidr(s: string): Cidr {
  const r = parseCidr(s);
  if (!r.ok) throw new TypeError(`bad CIDR literal ${s}: ${r.error}`);
  return r.value;
}
