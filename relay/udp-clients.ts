/**
 * Live allocations of UDP clients, per listener, then client port, then client IP: a ChannelData
 * datagram or a Send indication finds its allocation from what the socket reported, with no key
 * string built per packet. Each listener's message handler holds its own table and reads it
 * directly; the engine's hooks (engine-hooks.ts) enter and remove allocations as they start and end.
 * Maps only: no sockets, no other part of the shell.
 */
import { addressKey, type TransportAddress } from '../src/net/address.ts';
import type { RelayAllocation } from './relay-allocation.ts';

/** One listener's allocations by client port, then client IP. */
export type UdpClientTable = ReadonlyMap<number, ReadonlyMap<string, RelayAllocation>>;

export class UdpClientIndex {
  readonly #byListener = new Map<string, Map<number, Map<string, RelayAllocation>>>();

  /** The table of the UDP listener on `local`, empty at first. */
  listener(local: TransportAddress): UdpClientTable {
    const clients = new Map<number, Map<string, RelayAllocation>>();
    this.#byListener.set(addressKey(local), clients);
    return clients;
  }

  /** Enters a new allocation of a UDP client under its listener. */
  enter(alloc: RelayAllocation): void {
    const clients = this.#clients(alloc);
    if (!clients) return;
    const { address, port } = alloc.client.client;
    const byIp = clients.get(port);
    if (byIp) byIp.set(address, alloc);
    else clients.set(port, new Map([[address, alloc]]));
  }

  /** Removes an ended allocation, if its client's entry is still this one. */
  leave(alloc: RelayAllocation): void {
    const clients = this.#clients(alloc);
    const { address, port } = alloc.client.client;
    const byIp = clients?.get(port);
    if (!clients || !byIp || byIp.get(address) !== alloc) return;
    byIp.delete(address);
    if (byIp.size === 0) clients.delete(port);
  }

  #clients(alloc: RelayAllocation): Map<number, Map<string, RelayAllocation>> | undefined {
    const { transport, server } = alloc.client;
    return transport === 'udp' ? this.#byListener.get(addressKey(server)) : undefined;
  }
}
