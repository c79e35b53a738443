/**
 * One ioredis connection to a parsed Redis target (single, Sentinel or Cluster) with the options
 * every process here wants: commands fail fast while Redis is away (no offline queue, one retry)
 * so that nothing piles up or hangs, and reconnection backs off up to 5 s. Used by the relay, the
 * Node edge and the key CLI.
 */
import { Cluster, Redis } from 'ioredis';
import type { RedisTarget } from './redis-target.ts';

export type RedisClient = Redis | Cluster;

export function redisClient(target: RedisTarget, o: { commandTimeoutMs?: number } = {}): RedisClient {
  const retryStrategy = (times: number) => Math.min(200 * times, 5000);
  const options = {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2000,
    ...(o.commandTimeoutMs ? { commandTimeout: o.commandTimeoutMs } : {}),
  };
  switch (target.kind) {
    case 'single':
      return new Redis(target.url, { ...options, retryStrategy });
    case 'sentinel':
      return new Redis({
        ...options,
        retryStrategy,
        sentinels: [...target.sentinels],
        name: target.master,
        password: target.password,
        sentinelRetryStrategy: retryStrategy,
      });
    case 'cluster':
      return new Cluster([...target.nodes], {
        enableOfflineQueue: false,
        clusterRetryStrategy: retryStrategy,
        redisOptions: { ...options, password: target.password },
      });
  }
}
