/**
 * IP literals: parse text to bytes and format bytes as canonical text (dotted quad for IPv4,
 * RFC 5952 for IPv6), so that addresses compare as strings. No name resolution, no zone ids.
 */
import { copyBytes } from '../crypto/encoding.ts';
import type { IpFamily } from './address.ts';

function parseIpv4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    // Leading zeros are refused: some stacks read them as octal.
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIpv6(s: string): Uint8Array | undefined {
  let text = s;
  if (text.includes('.')) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
    const at = text.lastIndexOf(':');
    const v4 = parseIpv4(text.slice(at + 1));
    if (!v4) return undefined;
    const hi = ((v4[0]! << 8) | v4[1]!).toString(16);
    const lo = ((v4[2]! << 8) | v4[3]!).toString(16);
    text = `${text.slice(0, at + 1)}${hi}:${lo}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const count = head.length + tail.length;
  if (halves.length === 2 ? count > 7 : count !== 8) return undefined;
  const words = [...head, ...new Array<number>(8 - count).fill(0), ...tail];
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  });
  return out;
}

/** 4 bytes for IPv4, 16 for IPv6, undefined for anything else. Brackets around IPv6 are allowed. */
export function parseIp(s: string): Uint8Array | undefined {
  const t = s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s;
  if (t.includes('%')) return undefined;
  if (t.includes(':')) return parseIpv6(t);
  return parseIpv4(t);
}

const isMapped = (b: Uint8Array): boolean =>
  b.length === 16 && b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;

/** Canonical text: dotted quad, or RFC 5952 §4 (lowercase, longest zero run compressed, first on ties). */
export function formatIp(b: Uint8Array): string {
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
  if (isMapped(b)) return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
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

export function canonicalIp(s: string): string | undefined {
  const b = parseIp(s);
  return b ? formatIp(b) : undefined;
}

export function ipFamilyOf(b: Uint8Array): IpFamily {
  return b.length === 4 ? 4 : 6;
}

/** ::ffff:a.b.c.d as 4 bytes; anything else unchanged. */
export function unmapIpv4(b: Uint8Array): Uint8Array {
  return isMapped(b) ? copyBytes(b.subarray(12, 16)) : b;
}

/** `1.2.3.4:3478` or `[::1]:3478`. */
export function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:\]]+):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const host = canonicalIp(m[1]!);
  const port = Number(m[2]);
  if (!host || port < 1 || port > 65535) return undefined;
  return { host, port };
}
