/**
 * An allocation as the relay's shell holds it, shared by the shell's parts and the backbone: how
 * the relay reaches its client (ClientLink), the relayed socket it bound (RelayedSocket), and the
 * one way out to peers (PeerEgress), which the backbone replaces to divert packets. Types and the
 * plain-UDP egress only; imports no other part of the shell.
 */
import type { Allocation } from '../src/turn/allocation.ts';
import type { TurnAction } from '../src/turn/engine-actions.ts';
import type { UdpPort } from './udp-io.ts';

/** How the relay reaches one client; created per 5-tuple by the listener that saw it. */
export interface ClientLink {
  send(bytes: Uint8Array): void;
}

/** The relay's per-allocation state: the relayed socket. */
export interface RelayedSocket {
  readonly socket: UdpPort;
  readonly key: string;
}

/** An allocation as the relay's engine holds it: a ClientLink per client, a RelayedSocket each. */
export type RelayAllocation = Allocation<ClientLink, RelayedSocket>;

/** What the relay's engine asks its shell to do. */
export type RelayAction = TurnAction<ClientLink, RelayedSocket>;

/** The one way out from an allocation to a peer. The backbone replaces it to divert packets. */
export interface PeerEgress {
  send(alloc: RelayAllocation, peerIp: string, peerPort: number, data: Uint8Array): void;
}

/** Plain UDP from the allocation's relayed socket. */
export const directEgress: PeerEgress = {
  send(alloc, peerIp, peerPort, data) {
    alloc.shell?.socket.send(data, peerPort, peerIp);
  },
};
