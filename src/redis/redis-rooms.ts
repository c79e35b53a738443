/** Room-to-relay affinity on Redis: `PREFIX{room}:ROOM` = relay id, expiring an hour after last use. */
import type { Cluster, Redis } from 'ioredis';
import { ROOM_TTL_MS, type RoomStore } from '../allocation/rooms.ts';

export class RedisRoomStore implements RoomStore {
  constructor(
    private readonly client: Redis | Cluster,
    private readonly prefix: string,
  ) {}

  async get(room: string): Promise<string | undefined> {
    return (await this.client.get(`${this.prefix}{room}:${room}`)) ?? undefined;
  }

  async set(room: string, relayId: string): Promise<void> {
    await this.client.set(`${this.prefix}{room}:${room}`, relayId, 'PX', ROOM_TTL_MS);
  }
}
