/**
 * One TURN worker thread of a relay with --workers N (started by relay/workers.ts): a TurnRelay on
 * the shared TURN ports (SO_REUSEPORT) with its own relayed ports, answering the main thread's
 * requests (counts, metrics, drain, stop) and applying what it tells (revocations, certificate
 * reload). No HTTP port, no registration: the main thread does those for the relay. With
 * --backbone-port P, a backbone of its own on port P+index that seals, sends, forwards and
 * delivers, on the directory and routes the main thread sends it (relay/backbone.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { parseLinkFaults } from '../src/faults/link-fault.ts';
import { Backbone, backboneOptions } from './backbone.ts';
import { createBackboneMetrics } from './backbone-metrics.ts';
import { createLogger } from './logger.ts';
import { TurnRelay } from './turn-relay.ts';
import type { FromWorker, ToWorker, WorkerStart } from './workers.ts';

async function run(port: NonNullable<typeof parentPort>, start: WorkerStart): Promise<void> {
  const { config, index, backboneRun } = start;
  const logger = createLogger(config.logLevel, 'relay', { sync: true }).child({ worker: index });
  const post = (m: FromWorker) => port.postMessage(m);
  let backbone: Backbone | undefined;
  const relay = new TurnRelay(config, {
    logger,
    sharedPorts: true,
    ...(config.backbonePort !== undefined
      ? {
          egress: (r: TurnRelay) => {
            backbone = new Backbone(
              backboneOptions(config, index, backboneRun),
              r,
              { report: (counts) => post({ type: 'backbone-counts', counts }) },
              createBackboneMetrics(r.metrics.registry),
              logger,
            );
            return backbone;
          },
        }
      : {}),
  });
  try {
    await relay.start();
    await backbone?.start();
  } catch (err) {
    await relay.stop();
    await backbone?.stop();
    post({ type: 'failed', error: (err as Error).message });
    logger.flush();
    return;
  }
  port.on('message', (m: ToWorker) => {
    switch (m.type) {
      case 'stats':
        post({
          type: 'stats',
          id: m.id,
          stats: { allocations: relay.engine.allocationCount, traffic: relay.traffic(), ready: relay.ready },
        });
        break;
      case 'metrics':
        void relay.metrics.registry
          .getMetricsAsJSON()
          .then((metrics) => post({ type: 'metrics', id: m.id, metrics }));
        break;
      case 'revoked':
        relay.setRevoked(m.revocations);
        break;
      case 'reload':
        relay.reloadCertificates();
        break;
      case 'backbone':
        backbone?.update(m.update);
        break;
      case 'faults': {
        const parsed = parseLinkFaults(m.spec);
        if (parsed.ok) backbone?.setFaults(parsed.value);
        break;
      }
      case 'drain':
        void relay.drain(m.timeoutMs).then(() => post({ type: 'done', id: m.id }));
        break;
      case 'stop':
        // Answer once the last log lines are written (this thread's logger writes synchronously:
        // relay/logger.ts): the main thread may exit right after.
        void Promise.all([relay.stop(), backbone?.stop()]).then(() =>
          logger.flush(() => {
            post({ type: 'done', id: m.id });
            port.close();
          }),
        );
        break;
    }
  });
  post({ type: 'started' });
}

const start: WorkerStart = workerData;
if (parentPort) void run(parentPort, start);
