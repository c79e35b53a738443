/**
 * The relay's Redis connections (src/redis/redis-client.ts: fail fast while Redis is away, so
 * heartbeats never pile up, and back off reconnecting), with connection errors logged once per
 * outage instead of crashing the process. The URL picks a single Redis, Sentinel or Cluster.
 */
import { type RedisClient, redisClient } from '../src/redis/redis-client.ts';
import { RedisDirectory } from '../src/redis/redis-directory.ts';
import { parseRedisTarget, type RedisTarget } from '../src/redis/redis-target.ts';
import { type Logger, rateLimitedLog } from './logger.ts';

type Client = RedisClient;

function connect(target: RedisTarget, log: Logger, role: string): Client {
  const conn = redisClient(target);
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
  const warn = rateLimitedLog(60_000);
  const onInvalid = (key: string, error: string) =>
    warn(key, Date.now(), (suppressed) =>
      log.warn({ key, error, suppressed }, 'skipped an invalid directory record'),
    );
  return new RedisDirectory({ client, subscriber, prefix, onInvalid });
}
