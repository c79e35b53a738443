/**
 * A new allocation's fields for unit tests of the engine's parts (AllocationBook.add, the request
 * checks): a UDP client from 127.0.0.1 on a fresh port, IPv4, created at T0 for 600 s, no rate
 * limits. Pure data; no engine.
 */
import type { AllocationFields } from '../../src/turn/allocation-book.ts';

export const T0 = 1_800_000_000_000;
let port = 40_000;

export function allocationFields(
  username: string,
  tenant?: string,
  key = `udp|127.0.0.1:${++port}`,
): AllocationFields<null> {
  return {
    client: {
      key,
      transport: 'udp',
      client: { family: 4, address: '127.0.0.1', port },
      server: { family: 4, address: '127.0.0.1', port: 3478 },
      handle: null,
    },
    username,
    integrityKey: new Uint8Array(16),
    tenant,
    credentialExpiresAt: undefined,
    family: 4,
    now: T0,
    expiresAt: T0 + 600_000,
    allocateTransaction: 'aa',
    maxPps: 0,
    maxBps: 0,
  };
}
