/**
 * IP literals: this module owns the text <-> bytes conversion of IPv4 and IPv6 addresses and of
 * `host:port` pairs. Formatting is canonical (dotted quad for IPv4, RFC 5952 for IPv6), so two
 * spellings of one address compare equal as strings. No name resolution, no zone ids, no
 * legacy IPv4 forms (octal, hex, fewer than four parts). Pure: no node:* imports.
 */
import type { IpFamily } from './address.ts';

/** RFC 791 dotted quad; leading zeros are refused because some stacks read them as octal. */
function parseIpv4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/** Colon-separated hex groups: undefined if any group is not 1-4 hex digits. */
function hexGroups(s: string): number[] | undefined {
  if (s === '') return [];
  const out: number[] = [];
  for (const g of s.split(':')) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    out.push(Number.parseInt(g, 16));
  }
  return out;
}

/** RFC 4291 §2.2 text forms: full, `::`-compressed, and with a dotted IPv4 tail. */
function parseIpv6(s: string): Uint8Array | undefined {
  let text = s;
  let tail4: Uint8Array | undefined;
  if (text.includes('.')) {
    // RFC 4291 §2.2 form 3: the last 32 bits may be written as a dotted quad.
    const at = text.lastIndexOf(':');
    tail4 = parseIpv4(text.slice(at + 1));
    if (!tail4) return undefined;
    // Keep the colon when it is half of a `::` so the split below still sees it.
    text = text.slice(0, text[at - 1] === ':' ? at + 1 : at);
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = hexGroups(halves[0]!);
  const tail = halves.length === 2 ? hexGroups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const want = tail4 ? 6 : 8;
  const count = head.length + tail.length;
  // `::` stands for one or more zero groups (RFC 4291 §2.2 form 2), so it needs room for one.
  if (halves.length === 2 ? count > want - 1 : count !== want) return undefined;
  const words = [...head, ...new Array<number>(want - count).fill(0), ...tail];
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  });
  if (tail4) out.set(tail4, 12);
  return out;
}

/**
 * 4 bytes for an IPv4 dotted quad, 16 for IPv6 text; undefined for anything else, including
 * zone ids (`fe80::1%eth0`). IPv6 may be wrapped in brackets (RFC 3986 §3.2.2); IPv4 may not.
 */
export function parseIp(s: string): Uint8Array | undefined {
  if (s.startsWith('[') || s.endsWith(']')) {
    if (!(s.startsWith('[') && s.endsWith(']'))) return undefined;
    const inner = s.slice(1, -1);
    return inner.includes(':') ? parseIpv6(inner) : undefined;
  }
  return s.includes(':') ? parseIpv6(s) : parseIpv4(s);
}

/** True for ::ffff:a.b.c.d, the IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2). */
export function isIpv4Mapped(b: Uint8Array): boolean {
  if (b.length !== 16 || b[10] !== 0xff || b[11] !== 0xff) return false;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return true;
}

const dotted = (b: Uint8Array, at: number): string => `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;

/**
 * Canonical text. IPv4: dotted quad. IPv6, RFC 5952 §4: lowercase hex without leading zeros,
 * the longest run of two or more zero groups as `::` (the first one on a tie, §4.2.3), and
 * IPv4-mapped addresses with a dotted tail (§5). Throws on a length other than 4 or 16, which
 * only a programming error produces.
 */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return dotted(b, 0);
  if (b.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, got ${b.length}`);
  if (isIpv4Mapped(b)) return `::ffff:${dotted(b, 12)}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 1; // RFC 5952 §4.2.2: a single zero group is never shortened to `::`.
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** parseIp then formatIp: the canonical spelling of an IP literal, or undefined. */
export function canonicalIp(s: string): string | undefined {
  const b = parseIp(s);
  return b ? formatIp(b) : undefined;
}

/** 4 for a 4-byte address, 6 otherwise (an IPv4-mapped address is family 6; unmap it first). */
export function ipFamilyOf(b: Uint8Array): IpFamily {
  return b.length === 4 ? 4 : 6;
}

/** ::ffff:a.b.c.d as a fresh 4-byte array; any other address is returned unchanged. */
export function unmapIpv4(b: Uint8Array): Uint8Array {
  return isIpv4Mapped(b) ? new Uint8Array(b.subarray(12, 16)) : b;
}

/**
 * `1.2.3.4:3478` or `[::1]:3478` (RFC 3986 §3.2.2: IPv6 needs brackets, IPv4 must not have
 * them). The host comes back canonical; the port is 1-65535 without leading zeros.
 */
export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]*\]|[^:[\]]*):(0|[1-9]\d{0,4})$/.exec(s);
  if (!m) return undefined;
  const bytes = parseIp(m[1]!);
  const port = Number(m[2]);
  if (!bytes || port < 1 || port > 65535) return undefined;
  return { host: formatIp(bytes), port };
}
