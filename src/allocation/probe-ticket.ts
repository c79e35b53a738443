/**
 * Probe tickets: the edge's signed word that it handed these probe targets to a client of this
 * network prefix, until then. /v1/allocate returns one with its probeTargets; /v1/measurements
 * learns only RTTs a ticket covers, so nobody can report RTTs for relays they were never asked
 * to probe, or on behalf of another network. A ticket is
 *   v1~EXPIRY~PREFIX~RELAY,RELAY,...~MAC
 * with EXPIRY in Unix seconds and MAC the hex HMAC-SHA-256 (RFC 2104, FIPS 180-4) of everything
 * before the last `~`, made with the platform's cryptography (src/crypto/edge-crypto.ts: Web Crypto
 * on Workers, node:crypto on Node) and compared in constant time. Relay ids and
 * prefixes never contain `~`. The key is EDGE_PROBE_KEY, or derived from the first TURN secret
 * (HMAC of a fixed label) so every edge sharing the secrets accepts every other edge's tickets.
 * Time comes in as a parameter.
 */
import { type EdgeCrypto, WEB_EDGE_CRYPTO } from '../crypto/edge-crypto.ts';
import { fromHex, timingSafeEqual, toHex, utf8Encode } from '../crypto/encoding.ts';

/** How long a ticket is good for: a client probes and reports within seconds. */
export const PROBE_TICKET_TTL_MS = 10 * 60_000;

const DERIVE_LABEL = 'relay-backbone probe tickets v1';

/** What a valid ticket says. */
export interface ProbeTicket {
  readonly prefix: string;
  readonly relays: ReadonlySet<string>;
  readonly expiresAt: number;
}

export class ProbeTickets {
  #key: Uint8Array | Promise<Uint8Array>;
  readonly #crypto: EdgeCrypto;

  private constructor(key: Uint8Array | Promise<Uint8Array>, edgeCrypto: EdgeCrypto) {
    this.#key = key;
    this.#crypto = edgeCrypto;
    // Once derived, the key is used as it is: no await per ticket.
    if (key instanceof Promise) void key.then((k) => (this.#key = k)).catch(() => {});
  }

  /** Tickets signed with this key (EDGE_PROBE_KEY). */
  static fromKey(key: string, edgeCrypto: EdgeCrypto = WEB_EDGE_CRYPTO): ProbeTickets {
    return new ProbeTickets(utf8Encode(key), edgeCrypto);
  }

  /** Tickets signed with a key derived from a TURN secret the edges share. */
  static fromSecret(secret: string, edgeCrypto: EdgeCrypto = WEB_EDGE_CRYPTO): ProbeTickets {
    return new ProbeTickets(
      edgeCrypto.hmac('SHA-256', utf8Encode(secret), utf8Encode(DERIVE_LABEL)),
      edgeCrypto,
    );
  }

  async #mac(body: string): Promise<Uint8Array> {
    const key = this.#key instanceof Promise ? await this.#key : this.#key;
    return this.#crypto.hmac('SHA-256', key, utf8Encode(body));
  }

  async issue(prefix: string, relays: readonly string[], now: number, ttlMs = PROBE_TICKET_TTL_MS) {
    const body = `v1~${Math.floor((now + ttlMs) / 1000)}~${prefix}~${relays.join(',')}`;
    return `${body}~${toHex(await this.#mac(body))}`;
  }

  /** The ticket's content when its MAC is right and it has not expired; undefined otherwise. */
  async check(ticket: string, now: number): Promise<ProbeTicket | undefined> {
    const parts = ticket.split('~');
    if (parts.length !== 5 || parts[0] !== 'v1') return undefined;
    const mac = fromHex(parts[4]!);
    if (mac?.length !== 32) return undefined;
    const body = parts.slice(0, 4).join('~');
    if (!timingSafeEqual(await this.#mac(body), mac)) return undefined;
    const expiresAt = Number(parts[1]) * 1000;
    if (!Number.isFinite(expiresAt) || expiresAt <= now) return undefined;
    const relays = new Set(parts[3]!.split(',').filter(Boolean));
    return { prefix: parts[2]!, relays, expiresAt };
  }
}
