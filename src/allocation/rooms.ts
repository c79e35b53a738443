/**
 * Which relay a room is pinned to, so later participants who are close to it get the same one
 * (fewer relays per call, fewer backbone hops). A room is pinned once, by the first answer the
 * edge trusts, and stays pinned while it is used (an hour after its last use); a later
 * participant's claims move only that participant's own answer, never the pin. Only when the
 * pinned relay is gone or draining does the edge re-pin, naming the relay it replaces, so two
 * edges doing it at once still agree. Room keys are per tenant (`TENANT:ROOM`, made by the
 * edge). A port with an in-memory implementation; src/redis/redis-rooms.ts and
 * workers/kv-stores.ts keep the same shape.
 */
export interface RoomStore {
  get(room: string, now: number): Promise<string | undefined>;
  /**
   * Pin `room` to `relayId` when it has no relay, or has `replacing`; refresh its lifetime
   * either way. Answers the relay the room is pinned to afterwards.
   */
  pin(room: string, relayId: string, now: number, replacing?: string): Promise<string>;
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

  async pin(room: string, relayId: string, now: number, replacing?: string): Promise<string> {
    const current = await this.get(room, now);
    const relay = current === undefined || current === replacing ? relayId : current;
    if (current === undefined && this.#rooms.size > 100_000) this.#rooms.clear(); // bounded: an hour of rooms at most
    this.#rooms.set(room, { relay, until: now + ROOM_TTL_MS });
    return relay;
  }
}
