/**
 * Probe tickets: the edge's signed word that it handed these probe targets to a client of this
 * network prefix, until then. /v1/allocate returns one with its probeTargets; /v1/measurements
 * learns only RTTs a ticket covers, so nobody can report RTTs for relays they were never asked
 * to probe, or on behalf of another network. A ticket is
 *   v1~EXPIRY~PREFIX~RELAY,RELAY,...~MAC
 * with EXPIRY in Unix seconds and MAC the hex HMAC-SHA-256 (RFC 2104, FIPS 180-4) of everything
 * before the last `~`, made and checked with Web Crypto (Node and Workers alike). Relay ids and
 * prefixes never contain `~`. The key is EDGE_PROBE_KEY, or derived from the first TURN secret
 * (HMAC of a fixed label) so every edge sharing the secrets accepts every other edge's tickets.
 * Time comes in as a parameter.
 */
import { fromHex, toHex, utf8Encode } from '../crypto/encoding.ts';

/** How long a ticket is good for: a client probes and reports within seconds. */
export const PROBE_TICKET_TTL_MS = 10 * 60_000;

const DERIVE_LABEL = 'relay-backbone probe tickets v1';

type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

const importHmac = (raw: Uint8Array, usages: ('sign' | 'verify')[]) =>
  crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, usages);

/** What a valid ticket says. */
export interface ProbeTicket {
  readonly prefix: string;
  readonly relays: ReadonlySet<string>;
  readonly expiresAt: number;
}

export class ProbeTickets {
  readonly #key: Promise<HmacKey>;

  private constructor(key: Promise<HmacKey>) {
    this.#key = key;
  }

  /** Tickets signed with this key (EDGE_PROBE_KEY). */
  static fromKey(key: string): ProbeTickets {
    return new ProbeTickets(importHmac(utf8Encode(key), ['sign', 'verify']));
  }

  /** Tickets signed with a key derived from a TURN secret the edges share. */
  static fromSecret(secret: string): ProbeTickets {
    const derived = importHmac(utf8Encode(secret), ['sign'])
      .then((k) => crypto.subtle.sign('HMAC', k, utf8Encode(DERIVE_LABEL)))
      .then((raw) => importHmac(new Uint8Array(raw), ['sign', 'verify']));
    return new ProbeTickets(derived);
  }

  async issue(prefix: string, relays: readonly string[], now: number, ttlMs = PROBE_TICKET_TTL_MS) {
    const body = `v1~${Math.floor((now + ttlMs) / 1000)}~${prefix}~${relays.join(',')}`;
    const mac = new Uint8Array(await crypto.subtle.sign('HMAC', await this.#key, utf8Encode(body)));
    return `${body}~${toHex(mac)}`;
  }

  /** The ticket's content when its MAC is right and it has not expired; undefined otherwise. */
  async check(ticket: string, now: number): Promise<ProbeTicket | undefined> {
    const parts = ticket.split('~');
    if (parts.length !== 5 || parts[0] !== 'v1') return undefined;
    const mac = fromHex(parts[4]!);
    if (mac?.length !== 32) return undefined;
    const body = parts.slice(0, 4).join('~');
    // crypto.subtle.verify compares in constant time.
    if (!(await crypto.subtle.verify('HMAC', await this.#key, mac, utf8Encode(body)))) return undefined;
    const expiresAt = Number(parts[1]) * 1000;
    if (!Number.isFinite(expiresAt) || expiresAt <= now) return undefined;
    const relays = new Set(parts[3]!.split(',').filter(Boolean));
    return { prefix: parts[2]!, relays, expiresAt };
  }
}
