/**
 * Relay entry point: parse the configuration, start the TURN listeners and the HTTP port, and
 * handle signals. SIGTERM drains (no new allocations, existing ones run until they end or the
 * drain timeout passes); a second SIGTERM or SIGINT stops at once.
 */
import { existsSync } from 'node:fs';
import { parseLinkFaults } from '../src/faults/link-fault.ts';
import { addressKey } from '../src/net/address.ts';
import { Backbone } from './backbone.ts';
import { createBackboneMetrics } from './backbone-metrics.ts';
import { parseRelayConfig, redactConfig } from './config.ts';
import { startRelayHttp } from './http.ts';
import { createLogger } from './logger.ts';
import { openRedisDirectory } from './redis.ts';
import { Registration, turnUrls } from './registration.ts';
import { TurnRelay } from './turn-relay.ts';

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

  const relay = new TurnRelay(config, { logger, processMetrics: true });
  let listening: Awaited<ReturnType<TurnRelay['start']>>;
  try {
    listening = await relay.start();
  } catch (err) {
    process.stderr.write(`relay: cannot listen: ${(err as Error).message}\n`);
    await relay.stop();
    process.exit(2);
  }
  let backbone: Backbone | undefined;
  const setFaults = (spec: string): string | undefined => {
    const parsed = parseLinkFaults(spec);
    if (!parsed.ok) return parsed.error;
    if (!backbone) return 'this relay has no backbone (--backbone-port)';
    backbone.setFaults(parsed.value);
    logger.warn({ spec }, 'backbone fault injection changed');
    return undefined;
  };
  const http = await startRelayHttp(
    config.httpHost,
    config.httpPort,
    {
      registry: relay.metrics.registry,
      ready: () => relay.ready,
      status: () => ({
        allocations: relay.engine.allocationCount,
        draining: relay.engine.draining,
        backbone: backbone && {
          address: backbone.address,
          routes: Object.fromEntries([...backbone.routes()].map(([to, path]) => [to, path.hops])),
        },
      }),
      setFaults: config.faultApi ? setFaults : undefined,
    },
    logger,
  );
  let registration: Registration | undefined;
  let directory: Awaited<ReturnType<typeof openRedisDirectory>> | undefined;
  if (config.redis) {
    directory = await openRedisDirectory(config.redis, config.redisPrefix, logger);
    const urls = turnUrls(config, {
      udp: listening.udp[0]?.port,
      tcp: listening.tcp[0]?.port,
      tls: listening.tls[0]?.port,
    });
    if (config.backbonePort !== undefined) {
      backbone = new Backbone(
        {
          id: config.id,
          bindAddress: config.listen[0]!,
          port: config.backbonePort,
          meshKeys: config.meshKey,
          faults: config.faultLinks,
          lat: config.lat,
          lon: config.lon,
        },
        relay,
        directory,
        createBackboneMetrics(relay.metrics.registry),
        logger,
      );
      await backbone.start();
      relay.egress = backbone;
    }
    const family = config.listen[0]!.includes(':') ? 6 : 4;
    const advertised = config.externalIps[family] ?? config.listen[0]!;
    const backboneAddress =
      config.backbonePort === undefined
        ? ''
        : addressKey({ family, address: advertised, port: config.backbonePort });
    registration = new Registration(
      directory,
      config,
      urls,
      {
        backbone: backboneAddress,
        // The HTTP port may listen on loopback only; the advertised address is what clients can reach.
        pingUrl: `http://${family === 6 ? `[${advertised}]` : advertised}:${http.port}/ping`,
      },
      {
        allocations: () => relay.engine.allocationCount,
        traffic: () => relay.traffic(),
        draining: () => relay.engine.draining,
      },
      logger,
    );
    await registration.start();
  }
  // One line on stdout that scripts and tests can wait for.
  process.stdout.write(
    `${JSON.stringify({ event: 'ready', udp: listening.udp, tcp: listening.tcp, tls: listening.tls, httpPort: http.port })}\n`,
  );

  let stopping = false;
  const shutdown = async (drain: boolean) => {
    if (stopping) {
      logger.warn('second signal: stopping now');
      await relay.stop();
      process.exit(0);
    }
    stopping = true;
    if (drain) {
      const drained = relay.drain();
      await registration?.draining(); // the directory hears of it at once, not at the next beat
      await drained;
    }
    await relay.stop();
    await backbone?.stop();
    await registration?.stop();
    await directory?.close();
    await http.close();
    logger.info('stopped');
    logger.flush();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown(true));
  process.on('SIGINT', () => void shutdown(false));
  process.on('uncaughtException', (err) => logger.error({ err }, 'uncaught exception; continuing'));
}

void main();
