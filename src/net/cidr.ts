/**
 * CIDR ranges: parse `10.0.0.0/8` or `2001:db8::/32` (a bare IP is a /32 or /128) and test
 * membership. Host bits after the prefix are masked off, so `10.1.2.3/8` means `10.0.0.0/8`.
 * An IPv4-mapped IPv6 address (::ffff:a.b.c.d) matches IPv4 ranges.
 */
import { copyBytes } from '../crypto/encoding.ts';
import type { IpFamily } from './address.ts';
import { formatIp, parseIp, unmapIpv4 } from './ip.ts';

export interface Cidr {
  readonly bytes: Uint8Array;
  readonly prefix: number;
  readonly family: IpFamily;
  readonly text: string;
}

export function parseCidr(s: string): { ok: true; value: Cidr } | { ok: false; error: string } {
  const slash = s.indexOf('/');
  const ipText = slash < 0 ? s : s.slice(0, slash);
  const ip = parseIp(ipText);
  if (!ip) return { ok: false, error: `not an IP address: "${ipText}"` };
  const max = ip.length * 8;
  const prefixText = slash < 0 ? String(max) : s.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
    return { ok: false, error: `prefix length must be 0-${max}, got "${prefixText}"` };
  }
  const prefix = Number(prefixText);
  const bytes = copyBytes(ip);
  for (let bit = prefix; bit < max; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return {
    ok: true,
    value: { bytes, prefix, family: ip.length === 4 ? 4 : 6, text: `${formatIp(bytes)}/${prefix}` },
  };
}

export function cidrContains(c: Cidr, ip: Uint8Array): boolean {
  const addr = c.family === 4 ? unmapIpv4(ip) : ip;
  if (addr.length !== c.bytes.length) return false;
  const whole = c.prefix >> 3;
  for (let i = 0; i < whole; i++) if (addr[i] !== c.bytes[i]) return false;
  const rest = c.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (addr[whole]! & mask) === c.bytes[whole];
}

/** For fixed tables in code: throws on a malformed literal (a programmer fault). */
export function cidr(s: string): Cidr {
  const r = parseCidr(s);
  if (!r.ok) throw new TypeError(`bad CIDR literal ${s}: ${r.error}`);
  return r.value;
}
