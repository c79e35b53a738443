/**
 * Host names as an operator writes them for a relay's public name (`--public-host`): this module
 * owns the syntax check and the canonical form (lower case, no trailing dot). No resolution, no
 * IDN conversion (write the A-label, `xn--...`). Pure: no node:* imports.
 */

export type DnsNameResult = { ok: true; name: string } | { ok: false; error: string };

/**
 * RFC 1123 §2.1 host name syntax: dot-separated labels of letters, digits and hyphens, each 1-63
 * characters, not starting or ending with a hyphen; at most 253 characters in all (RFC 1035
 * §2.3.4 allows 255 octets on the wire, which is 253 in text). A name whose last label is all
 * digits is refused: it would read as an IPv4 literal (RFC 3696 §2), and IP literals are what
 * the relay publishes without a name.
 */
export function checkDnsName(raw: string): DnsNameResult {
  const text = raw.endsWith('.') ? raw.slice(0, -1) : raw;
  if (text === '') return { ok: false, error: 'expected a DNS name, got an empty one' };
  if (text.length > 253)
    return { ok: false, error: `a DNS name has at most 253 characters, got ${text.length}` };
  if (text.includes(':') || text.startsWith('['))
    return { ok: false, error: `expected a DNS name, not an IP literal or host:port, got "${raw}"` };
  const labels = text.split('.');
  for (const label of labels) {
    if (label === '') return { ok: false, error: `empty label in "${raw}"` };
    if (label.length > 63)
      return { ok: false, error: `label "${label.slice(0, 16)}..." is over 63 characters` };
    if (!/^[A-Za-z0-9-]+$/.test(label))
      return { ok: false, error: `label "${label}" may hold only letters, digits and "-"` };
    if (label.startsWith('-') || label.endsWith('-'))
      return { ok: false, error: `label "${label}" must not start or end with "-"` };
  }
  if (/^\d+$/.test(labels[labels.length - 1]!))
    return { ok: false, error: `expected a DNS name, "${raw}" reads as an IP address` };
  return { ok: true, name: text.toLowerCase() };
}
