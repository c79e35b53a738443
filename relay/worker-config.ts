/**
 * What one worker of a relay with --workers N serves: the same TURN ports (bound with
 * SO_REUSEPORT), its own slice of the relayed port range, and its share of the relay-wide caps.
 * Pure: no threads, no sockets (relay/workers.ts starts the threads).
 *
 * The kernel hashes each client's 4-tuple to one worker, so an allocation, its relayed socket and
 * everything sent on it live in one thread; relayed ports never overlap, so two workers never try
 * to bind the same one. Caps that count the whole relay (--max-allocations, --max-connections) are
 * divided between the workers, rounded up; caps per user, tenant or source address apply in each
 * worker (a client's allocations may land on several).
 */
import type { PortSlice } from '../src/backbone/threads.ts';
import type { BackboneThreadRecord } from '../src/directory/types.ts';
import { addressKey, type IpFamily } from '../src/net/address.ts';
import type { RelayConfig } from './config.ts';

/**
 * Worker `index` of `count`'s part of min..max: contiguous slices, the first ones one port longer
 * when the range does not divide evenly. Throws when a slice would hold fewer than two ports (an
 * EVEN-PORT pair); relay/config.ts refuses such a --workers first.
 */
export function portSlice(minPort: number, maxPort: number, count: number, index: number): PortSlice {
  if (!(Number.isInteger(count) && count >= 1 && Number.isInteger(index) && index >= 0 && index < count))
    throw new RangeError(`worker ${index} of ${count}: no such worker`);
  const span = maxPort - minPort + 1;
  if (span < 2 * count)
    throw new RangeError(`${span} relayed ports cannot be split into ${count} slices of 2`);
  const base = Math.floor(span / count);
  const extra = span % count;
  const start = minPort + index * base + Math.min(index, extra);
  const size = base + (index < extra ? 1 : 0);
  return { minPort: start, maxPort: start + size - 1 };
}

/** The configuration worker `index` runs with. */
export function workerConfig(config: RelayConfig, index: number): RelayConfig {
  const n = config.workers;
  if (n === 1) return config;
  return {
    ...config,
    ...portSlice(config.minPort, config.maxPort, n, index),
    maxAllocations: Math.ceil(config.maxAllocations / n),
    maxConnections: Math.ceil(config.maxConnections / n),
  };
}

/**
 * The backbone threads this relay publishes (--backbone-port P): worker i's backbone socket at
 * P+i on the advertised address, with its relayed port slice. Published with one worker too, so
 * that other relays know this one reads thread layouts (src/backbone/threads.ts).
 */
export function backboneThreads(
  config: RelayConfig,
  family: IpFamily,
  advertised: string,
): BackboneThreadRecord[] {
  const port = config.backbonePort;
  if (port === undefined) return [];
  return Array.from({ length: config.workers }, (_, i) => {
    const slice =
      config.workers === 1 ? config : portSlice(config.minPort, config.maxPort, config.workers, i);
    return {
      backbone: addressKey({ family, address: advertised, port: port + i }),
      portRange: [slice.minPort, slice.maxPort] as const,
    };
  });
}
