/**
 * Relay entry point: parse the configuration, start the TURN listeners and the HTTP port, and
 * handle signals. SIGTERM drains (no new allocations, existing ones run until they end or the
 * drain timeout passes); a second SIGTERM or SIGINT stops at once.
 */
import { existsSync } from 'node:fs';
import { parseRelayConfig, redactConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { type RelayNode, startRelayNode } from './node.ts';
import { openRedisDirectory } from './redis.ts';

async function main(): Promise<void> {
  const parsed = parseRelayConfig(process.argv.slice(2), process.env, { fileExists: existsSync });
  if (!parsed.ok) {
    process.stderr.write(`relay: ${parsed.error}\n`);
    process.exit(2);
  }
  if ('help' in parsed) {
    process.stdout.write(parsed.help);
    return;
  }
  const config = parsed.config;
  const logger = createLogger(config.logLevel);
  logger.info({ config: redactConfig(config) }, 'starting relay');

  const directory = config.redis
    ? await openRedisDirectory(config.redis, config.redisPrefix, logger)
    : undefined;
  let node: RelayNode;
  try {
    node = await startRelayNode(config, { logger, directory, processMetrics: true });
  } catch (err) {
    process.stderr.write(`relay: cannot start: ${(err as Error).message}\n`);
    await directory?.close();
    process.exit(2);
  }
  const { listening, http } = node;
  // One line on stdout that scripts and tests can wait for.
  process.stdout.write(
    `${JSON.stringify({ event: 'ready', udp: listening.udp, tcp: listening.tcp, tls: listening.tls, httpPort: http.port })}\n`,
  );

  let stopping = false;
  const shutdown = async (drain: boolean) => {
    if (stopping) {
      logger.warn('second signal: stopping now');
      await node.relay.stop();
      process.exit(0);
    }
    stopping = true;
    await node.stop(drain);
    await directory?.close();
    logger.info('stopped');
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown(true));
  process.on('SIGINT', () => void shutdown(false));
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception; continuing'));
}

void main();
