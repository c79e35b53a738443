/**
 * What the relay does when its TURN engine reports an event (TurnHooks): counts it in the
 * Prometheus metrics, logs it at debug level, keeps the UDP clients' index (udp-clients.ts) and
 * adds an ended allocation's traffic to the relay's totals. Allocations starting and ending,
 * requests succeeding or failing: never called per packet. No sockets; never imports turn-relay.ts.
 */
import { addressKey } from '../src/net/address.ts';
import { Method } from '../src/stun/constants.ts';
import type { EndReason, TrafficCounters } from '../src/turn/allocation.ts';
import type { TurnHooks } from '../src/turn/engine-options.ts';
import type { Logger } from './logger.ts';
import type { RelayMetrics } from './metrics.ts';
import type { ClientLink, RelayAllocation, RelayedSocket } from './relay-allocation.ts';
import { methodName } from './socket-util.ts';
import type { UdpClientIndex } from './udp-clients.ts';

export interface EngineHooksDeps {
  readonly metrics: RelayMetrics;
  readonly log: Logger;
  readonly udpClients: UdpClientIndex;
  /** Traffic of the allocations that ended, added to as each ends. */
  readonly ended: TrafficCounters;
}

export function engineHooks(deps: EngineHooksDeps): TurnHooks<ClientLink, RelayedSocket> {
  const { metrics, log, udpClients, ended } = deps;
  return {
    allocationCreated: (alloc: RelayAllocation) => {
      metrics.allocationsCreated.inc();
      udpClients.enter(alloc);
      log.debug({ id: alloc.id, user: alloc.username, client: addressKey(alloc.client.client) }, 'allocated');
    },
    allocationEnded: (alloc: RelayAllocation, reason: EndReason) => {
      metrics.allocationsEnded.inc({ reason });
      udpClients.leave(alloc);
      ended.packetsToPeer += alloc.traffic.packetsToPeer;
      ended.bytesToPeer += alloc.traffic.bytesToPeer;
      ended.packetsToClient += alloc.traffic.packetsToClient;
      ended.bytesToClient += alloc.traffic.bytesToClient;
      log.debug({ id: alloc.id, reason, traffic: alloc.traffic }, 'allocation ended');
    },
    requestSucceeded: (method: number, credentialExpired: boolean) => {
      metrics.requestsSucceeded.inc({
        method: methodName(method),
        credential: credentialExpired ? 'expired' : 'current',
      });
    },
    requestFailed: (method: number, code: number, reason?: string) => {
      metrics.requestErrors.inc({ method: methodName(method), code: String(code) });
      log.debug({ method: methodName(method), code, reason }, 'request refused');
      // 401 with a challenge is the normal first step of every client, not a failure.
      if (method === Method.Allocate && code !== 401 && code !== 438)
        metrics.allocationsFailed.inc({ reason: String(code) });
    },
    authFailed: (reason: string) => {
      if (reason !== 'no-credentials') metrics.authFailures.inc({ reason });
    },
  };
}
