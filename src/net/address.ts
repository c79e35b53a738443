/**
 * Transport addresses as the pure core sees them. IP literals are kept as canonical strings
 * (formatIp output), so they can be map keys, and converted to bytes only at the codec edge.
 */
export type IpFamily = 4 | 6;

export interface TransportAddress {
  readonly family: IpFamily;
  /** Canonical IP literal: dotted quad for IPv4, RFC 5952 text for IPv6. */
  readonly address: string;
  readonly port: number;
}

/** A stable string key for an address and port: `1.2.3.4:5` or `[::1]:5`. */
export function addressKey(a: { family: IpFamily; address: string; port: number }): string {
  return a.family === 6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
