/**
 * Ports held by EVEN-PORT's R bit (RFC 8656 §7.2, §14.6): the port above an even relayed port,
 * kept for a later Allocate that presents the RESERVATION-TOKEN (§14.9). Each one is a bound
 * socket, so each counts against the relay's allocation cap and the username's quota like an
 * allocation does, until it is taken or expires. The engine owns this book; the shell owns the
 * sockets and closes one when the engine says its reservation expired. Pure: `now` in ms.
 */
import { toHex } from '../crypto/encoding.ts';

/** RFC 8656 §7.2: the server holds a reserved port for about 30 seconds. */
export const RESERVATION_MS = 30_000;

export interface Reservation {
  readonly token: Uint8Array;
  readonly username: string;
  readonly expiresAt: number;
}

export class ReservationBook {
  /** By token (hex); every entry lives RESERVATION_MS, so insertion order is expiry order. */
  readonly #byToken = new Map<string, Reservation>();
  readonly #perUser = new Map<string, number>();

  get size(): number {
    return this.#byToken.size;
  }

  countFor(username: string): number {
    return this.#perUser.get(username) ?? 0;
  }

  get(token: Uint8Array): Reservation | undefined {
    return this.#byToken.get(toHex(token));
  }

  add(token: Uint8Array, username: string, now: number): void {
    const key = toHex(token);
    if (this.#byToken.has(key)) return;
    this.#byToken.set(key, { token, username, expiresAt: now + RESERVATION_MS });
    this.#perUser.set(username, this.countFor(username) + 1);
  }

  /** Removes and returns the reservation under `token`, if it is still held. */
  take(token: Uint8Array): Reservation | undefined {
    const key = toHex(token);
    const r = this.#byToken.get(key);
    if (!r) return undefined;
    this.#byToken.delete(key);
    this.#uncount(r.username);
    return r;
  }

  /** Removes and returns the reservations that expired by `now`. */
  expire(now: number): Reservation[] {
    const gone: Reservation[] = [];
    for (const [key, r] of this.#byToken) {
      if (r.expiresAt > now) break;
      this.#byToken.delete(key);
      this.#uncount(r.username);
      gone.push(r);
    }
    return gone;
  }

  #uncount(username: string): void {
    const n = this.countFor(username) - 1;
    if (n > 0) this.#perUser.set(username, n);
    else this.#perUser.delete(username);
  }
}
