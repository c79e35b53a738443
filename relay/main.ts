#!/usr/bin/env node
/**
 * Relay entry point: parse the configuration, learn the external address when asked
 * (--discover-external-ip), start the TURN listeners and the HTTP port, and handle signals.
 * SIGHUP reloads the TLS certificate and key. SIGTERM drains (no new allocations, existing ones
 * run until they end or the drain timeout passes); a second SIGTERM or SIGINT stops at once.
 */
import { existsSync } from 'node:fs';
import { parseRelayConfig, redactConfig } from './config.ts';
import { discoverExternalIps } from './external-ip.ts';
import { createLogger, exitAfterLogs } from './logger.ts';
import { type RelayNode, startRelayNode } from './node.ts';
import { openRedisDirectory } from './redis.ts';
import { udpIoFacts } from './udp-io.ts';
import { chooseUdpIo } from './udp-io-choice.ts';
import { WorkerPool } from './workers.ts';

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
  let config = parsed.config;
  // Which UDP I/O (relay/udp-io-choice.ts); with several workers, whether they can share the ports.
  const choice = chooseUdpIo(
    { udpIo: config.udpIo, workers: config.workers, tcp: config.tcp, tls: config.tls !== undefined },
    await udpIoFacts(config.udpIo, config.workers),
  );
  if (!choice.ok) {
    process.stderr.write(`relay: ${choice.error}\n`);
    process.exit(2);
  }
  // Every thread runs what was chosen here, as the relay's configuration.
  config = { ...config, udpIo: choice.io };
  const logger = createLogger(config.logLevel);
  logger.info({ config: redactConfig(config) }, 'starting relay');
  logger.info({ udpIo: choice.io, reason: choice.reason }, `UDP I/O: ${choice.io} (${choice.reason})`);
  let node: RelayNode | undefined;
  // SIGHUP re-reads the TLS certificate and key (they are also watched); the result is logged.
  // Handled from the start, so that a SIGHUP never ends the relay (Node's default), even early.
  process.on('SIGHUP', () => void node?.reloadCertificates());
  if (config.discoverExternalIp.length > 0) {
    const found = await discoverExternalIps(config, { logger });
    if (!found.ok) {
      process.stderr.write(`relay: --discover-external-ip: ${found.error}\n`);
      exitAfterLogs(logger, 2);
      return;
    }
    config = { ...config, externalIps: found.externalIps };
  }

  const directory = config.redis
    ? await openRedisDirectory(config.redis, config.redisPrefix, logger)
    : undefined;
  try {
    const shared = config;
    node = await startRelayNode(config, {
      logger,
      directory,
      processMetrics: true,
      siblings:
        config.workers > 1
          ? (hooks) =>
              WorkerPool.start(
                shared,
                logger,
                (error) => {
                  process.stderr.write(`relay: ${error}\n`);
                  exitAfterLogs(logger, 1);
                },
                hooks,
              )
          : undefined,
    });
  } catch (err) {
    process.stderr.write(`relay: cannot start: ${(err as Error).message}\n`);
    await directory?.close();
    exitAfterLogs(logger, 2);
    return;
  }
  const { listening, http, ping } = node;
  // One line on stdout that scripts and tests can wait for.
  const ready = {
    event: 'ready',
    udp: listening.udp,
    tcp: listening.tcp,
    tls: listening.tls,
    httpPort: http.port,
    ...(ping.http !== undefined ? { pingPort: ping.http } : {}),
    ...(ping.https !== undefined ? { pingTlsPort: ping.https } : {}),
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);

  let stopping = false;
  let stoppingNow = false;
  const shutdown = async (drain: boolean) => {
    if (stopping) {
      stoppingNow = true;
      logger.warn('second signal: stopping now');
      await node.relay.stop();
      exitAfterLogs(logger, 0);
      return;
    }
    stopping = true;
    await node.stop(drain);
    await directory?.close();
    if (stoppingNow) return; // the second signal's exit is under way: no line after it
    logger.info('stopped');
    // Exit once the last lines are written (the workers write theirs synchronously).
    exitAfterLogs(logger, 0);
  };
  process.on('SIGTERM', () => void shutdown(true));
  process.on('SIGINT', () => void shutdown(false));
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception; continuing'));
}

void main();
