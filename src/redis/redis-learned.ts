/**
 * The learned per-prefix RTT map on Redis: one hash per network prefix,
 * `PREFIX{learn}:NETWORK` (field = relay id, value = LearnedRtt JSON), expiring 7 days after its
 * last update so prefixes nobody uses again disappear by themselves.
 */
import type { Cluster, Redis } from 'ioredis';
import { decayedWeight, type LearnedRtt, learn } from '../allocation/learned.ts';
import type { LearnedStore } from '../allocation/learned-store.ts';

const KEEP_SECONDS = 7 * 86_400;

export class RedisLearnedStore implements LearnedStore {
  constructor(
    private readonly client: Redis | Cluster,
    private readonly prefix: string,
  ) {}

  #key(network: string): string {
    return `${this.prefix}{learn}:${network}`;
  }

  async get(network: string, now: number): Promise<Map<string, { rttMs: number; weight: number }>> {
    const row = await this.client.hgetall(this.#key(network));
    const out = new Map<string, { rttMs: number; weight: number }>();
    for (const [relay, json] of Object.entries(row)) {
      try {
        const e = JSON.parse(json) as LearnedRtt;
        out.set(relay, { rttMs: e.rttMs, weight: decayedWeight(e, now) });
      } catch {
        // A value this code did not write: ignore it.
      }
    }
    return out;
  }

  async record(network: string, relayId: string, rttMs: number, now: number): Promise<void> {
    const key = this.#key(network);
    const before = await this.client.hget(key, relayId);
    let prev: LearnedRtt | undefined;
    try {
      prev = before ? (JSON.parse(before) as LearnedRtt) : undefined;
    } catch {
      prev = undefined;
    }
    await this.client
      .multi()
      .hset(key, relayId, JSON.stringify(learn(prev, rttMs, now)))
      .expire(key, KEEP_SECONDS)
      .exec();
  }
}
