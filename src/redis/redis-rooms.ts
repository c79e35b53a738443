/**
 * Room pins on Redis: `PREFIX{room}:TENANT:ROOM` = relay id, expiring an hour after last use.
 * Pinning is one Lua script, so two edges pinning the same room at once agree on one relay.
 */
import type { Cluster, Redis } from 'ioredis';
import { ROOM_TTL_MS, type RoomStore } from '../allocation/rooms.ts';

// KEYS[1] room key; ARGV: relay, relay it may replace ('' for none), TTL ms. Returns the pin.
const PIN = `
local cur = redis.call('GET', KEYS[1])
if (not cur) or (ARGV[2] ~= '' and cur == ARGV[2]) then cur = ARGV[1] end
redis.call('SET', KEYS[1], cur, 'PX', ARGV[3])
return cur`;

export class RedisRoomStore implements RoomStore {
  constructor(
    private readonly client: Redis | Cluster,
    private readonly prefix: string,
  ) {}

  #key(room: string): string {
    return `${this.prefix}{room}:${room}`;
  }

  async get(room: string): Promise<string | undefined> {
    return (await this.client.get(this.#key(room))) ?? undefined;
  }

  async pin(room: string, relayId: string, _now: number, replacing?: string): Promise<string> {
    const pinned = await this.client.eval(PIN, 1, this.#key(room), relayId, replacing ?? '', ROOM_TTL_MS);
    return String(pinned);
  }
}
