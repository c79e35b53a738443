/**
 * The relay's Redis connections (ioredis): commands fail fast while Redis is away (no offline
 * queue, one retry) so that heartbeats never pile up, reconnection backs off up to 5 s, and
 * connection errors are logged once per outage instead of crashing the process.
 */
import { Redis } from 'ioredis';
import { RedisDirectory } from '../src/redis/redis-directory.ts';
import type { Logger } from './logger.ts';

function connect(url: string, log: Logger, role: string): Redis {
  const client = new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(200 * times, 5000),
  });
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) log.warn({ role, err: err.message }, 'redis connection lost; retrying with backoff');
    down = true;
  });
  client.on('ready', () => {
    if (down) log.info({ role }, 'redis connection back');
    down = false;
  });
  return client;
}

/** Waits up to `ms` for the connection; the relay starts either way. */
function ready(client: Redis, ms: number): Promise<void> {
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
  const client = connect(url, log, 'commands');
  const subscriber = connect(url, log, 'subscriber');
  await Promise.all([ready(client, 2000), ready(subscriber, 2000)]);
  return new RedisDirectory({ client, subscriber, prefix });
}
