/**
 * Admission of stream connections (TCP/TLS): a cap on the relay as a whole and one per source.
 * A source is an IPv4 address or an IPv6 /64, since one IPv6 host is usually given a whole /64
 * and could otherwise open its cap again from every address in it. Pure: the shell asks before
 * serving a connection and releases when it closes; the table holds at most `maxTotal` sources.
 */
import { ipFamilyOf, parseIp, unmapIpv4 } from '../net/ip.ts';

export type Admission = 'ok' | 'global' | 'per-source';

/** The key limits are counted under: the IPv4 address, or the IPv6 /64 (as `xxxx:xxxx:xxxx:xxxx::/64`). */
export function sourceKey(address: string): string {
  const raw = parseIp(address);
  if (!raw) return address;
  const b = unmapIpv4(raw);
  if (ipFamilyOf(b) === 4) return b.join('.');
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return `${groups.join(':')}::/64`;
}

export class ConnectionLimiter {
  readonly #bySource = new Map<string, number>();
  #total = 0;

  constructor(
    readonly maxTotal: number,
    readonly maxPerSource: number,
  ) {}

  get total(): number {
    return this.#total;
  }

  /** Counts a new connection from `source` (a sourceKey) unless a cap is reached. */
  admit(source: string): Admission {
    if (this.#total >= this.maxTotal) return 'global';
    const n = this.#bySource.get(source) ?? 0;
    if (n >= this.maxPerSource) return 'per-source';
    this.#bySource.set(source, n + 1);
    this.#total++;
    return 'ok';
  }

  /** A connection admitted for `source` closed. */
  release(source: string): void {
    const n = this.#bySource.get(source);
    if (n === undefined) return;
    this.#total--;
    if (n > 1) this.#bySource.set(source, n - 1);
    else this.#bySource.delete(source);
  }
}
