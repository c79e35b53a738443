/**
 * Which relay a room's first participants were given, so later participants who are close to it
 * get the same one (fewer relays per call, fewer backbone hops). A port with an in-memory
 * implementation; src/redis/redis-rooms.ts keeps the same shape in Redis. Entries live an hour
 * after their last use.
 */
export interface RoomStore {
  get(room: string, now: number): Promise<string | undefined>;
  set(room: string, relayId: string, now: number): Promise<void>;
}

export const ROOM_TTL_MS = 3_600_000;

export class MemoryRoomStore implements RoomStore {
  readonly #rooms = new Map<string, { relay: string; until: number }>();

  async get(room: string, now: number): Promise<string | undefined> {
    const e = this.#rooms.get(room);
    if (!e || e.until <= now) {
      this.#rooms.delete(room);
      return undefined;
    }
    return e.relay;
  }

  async set(room: string, relayId: string, now: number): Promise<void> {
    if (this.#rooms.size > 100_000) this.#rooms.clear(); // bounded: an hour of rooms at most
    this.#rooms.set(room, { relay: relayId, until: now + ROOM_TTL_MS });
  }
}
