/**
 * The UDP clients' index of the relay shell (relay/udp-clients.ts): each listener's table finds a
 * live allocation by client port, then client IP, as the ChannelData and Send fast paths read it;
 * stream clients stay out, and an ended allocation leaves without taking its successor's slot.
 */
import { describe, expect, it } from 'vitest';
import type { ClientLink, RelayAllocation, RelayedSocket } from '../../relay/relay-allocation.ts';
import { UdpClientIndex, type UdpClientTable } from '../../relay/udp-clients.ts';
import type { TransportAddress } from '../../src/net/address.ts';
import { AllocationBook } from '../../src/turn/allocation-book.ts';
import { allocationFields } from '../support/allocation-fields.ts';

const LISTENER: TransportAddress = { family: 4, address: '127.0.0.1', port: 3478 };
const OTHER: TransportAddress = { family: 4, address: '127.0.0.1', port: 3479 };
const book = new AllocationBook<ClientLink, RelayedSocket>();
const link: ClientLink = { send: () => {} };

/** An allocation of a client at `address:port` on `server`, over `transport`. */
function allocation(
  address: string,
  port: number,
  server = LISTENER,
  transport: 'udp' | 'tcp' = 'udp',
): RelayAllocation {
  const f = allocationFields('alice');
  const client: TransportAddress = { family: 4, address, port };
  return book.add({ ...f, client: { ...f.client, transport, client, server, handle: link } });
}

/** A new index with the listener LISTENER, and `allocs` entered in order. */
function indexWith(...allocs: RelayAllocation[]): { index: UdpClientIndex; table: UdpClientTable } {
  const index = new UdpClientIndex();
  const table = index.listener(LISTENER);
  for (const a of allocs) index.enter(a);
  return { index, table };
}

describe('UdpClientIndex', () => {
  it('finds a UDP client allocation in its listener table by client port, then client IP', () => {
    const a = allocation('10.0.0.1', 5000);
    const b = allocation('10.0.0.2', 5000);
    const { index, table } = indexWith(a, b);
    const other = index.listener(OTHER);
    expect(table.get(5000)?.get('10.0.0.1')).toBe(a);
    expect(table.get(5000)?.get('10.0.0.2')).toBe(b);
    expect(other.size).toBe(0);
  });

  it('leaves out stream clients and clients of a listener it does not know', () => {
    const { table } = indexWith(
      allocation('10.0.0.1', 5000, LISTENER, 'tcp'),
      allocation('10.0.0.1', 5001, OTHER),
    );
    expect(table.size).toBe(0);
  });

  it('removes an ended allocation, and the port entry once no IP is left on it', () => {
    const a = allocation('10.0.0.1', 5000);
    const b = allocation('10.0.0.2', 5000);
    const { index, table } = indexWith(a, b);
    index.leave(a);
    expect(table.get(5000)?.has('10.0.0.1')).toBe(false);
    expect(table.get(5000)?.get('10.0.0.2')).toBe(b);
    index.leave(b);
    expect(table.has(5000)).toBe(false);
  });

  it('keeps the newer allocation of a client when an older one of the same 5-tuple ends', () => {
    const old = allocation('10.0.0.1', 5000);
    const next = allocation('10.0.0.1', 5000);
    const { index, table } = indexWith(old, next);
    index.leave(old);
    expect(table.get(5000)?.get('10.0.0.1')).toBe(next);
  });
});
