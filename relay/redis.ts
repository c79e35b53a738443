/**
 * The relay's Redis connections (ioredis): commands fail fast while Redis is away (no offline
 * queue, one retry) so that heartbeats never pile up, reconnection backs off up to 5 s, and
 * connection errors are logged once per outage instead of crashing the process. The URL picks a
 * single Redis, Sentinel or Cluster (src/redis/redis-target.ts).
 */
import { Cluster, Redis } from 'ioredis';
import { RedisDirectory } from '../src/redis/redis-directory.ts';
import { parseRedisTarget, type RedisTarget } from '../src/redis/redis-target.ts';
import type { Logger } from './logger.ts';

type Client = Redis | Cluster;

/** One connection to the target; Sentinel and Cluster take the same fail-fast options. */
function client(target: RedisTarget): Client {
  const options = {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2000,
    retryStrategy: (times: number) => Math.min(200 * times, 5000),
  };
  switch (target.kind) {
    case 'single':
      return new Redis(target.url, options);
    case 'sentinel':
      return new Redis({
        ...options,
        sentinels: [...target.sentinels],
        name: target.master,
        password: target.password,
        sentinelRetryStrategy: options.retryStrategy,
      });
    case 'cluster':
      return new Cluster([...target.nodes], {
        enableOfflineQueue: false,
        clusterRetryStrategy: options.retryStrategy,
        redisOptions: { maxRetriesPerRequest: 1, connectTimeout: 2000, password: target.password },
      });
  }
}

function connect(target: RedisTarget, log: Logger, role: string): Client {
  const conn = client(target);
  let down = false;
  conn.on('error', (err: Error) => {
    if (!down) log.warn({ role, err: err.message }, 'redis connection lost; retrying with backoff');
    down = true;
  });
  conn.on('ready', () => {
    if (down) log.info({ role }, 'redis connection back');
    down = false;
  });
  return conn;
}

/** Waits up to `ms` for the connection; the relay starts either way. */
function ready(client: Client, ms: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    client.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export async function openRedisDirectory(
  url: string,
  prefix: string,
  logger: Logger,
): Promise<RedisDirectory> {
  const log = logger.child({ part: 'redis' });
  const parsed = parseRedisTarget(url);
  if (!parsed.ok) throw new TypeError(`bad Redis URL: ${parsed.error}`); // config validated it already
  const client = connect(parsed.value, log, 'commands');
  const subscriber = connect(parsed.value, log, 'subscriber');
  await Promise.all([ready(client, 2000), ready(subscriber, 2000)]);
  return new RedisDirectory({ client, subscriber, prefix });
}
