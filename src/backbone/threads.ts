/**
 * A relay with several TURN threads (--workers N) on the backbone (docs/BACKBONE.md, "Several TURN
 * workers and the backbone"): thread i has its own backbone port (published in the directory
 * record's `backboneThreads`, thread i at port P+i) and its own slice of the relayed ports. A frame
 * for a relayed port goes to the thread that owns the port, so it arrives where the allocation
 * lives and no thread hands packets to another. Each thread seals with its own sender id, the relay
 * hash plus its index, so it counts its own sequence numbers and receivers keep one replay window
 * per (relay, thread).
 *
 * A record from before threads (no `backboneThreads`) is a relay that knows one backbone address
 * and one sender id per peer: only thread 0 of this relay, at the address it registers as
 * `backbone` and with the bare relay hash as its sender id, can talk to it.
 *
 * Pure: plain numbers in, a choice out.
 */
import { MAX_RELAY_HASH } from './relay-hash.ts';

export interface PortSlice {
  readonly minPort: number;
  readonly maxPort: number;
}

/** What a sender needs to know of a relay's threads. */
export interface RelayThreads {
  /** Thread i's relayed ports, in thread order (one slice, the whole range, for a legacy record). */
  readonly threads: readonly PortSlice[];
  /** Its record has no `backboneThreads`: it knows one address and one sender id per relay. */
  readonly legacy: boolean;
}

/** The sender id thread `index` of the relay with 48-bit hash `relay` seals with. */
export function senderId(relay: number, index: number): number {
  return (relay + index) % (MAX_RELAY_HASH + 1);
}

/** The index of the slice holding `port`, or -1. */
export function sliceOf(slices: readonly PortSlice[], port: number): number {
  for (let i = 0; i < slices.length; i++) {
    const s = slices[i]!;
    if (port >= s.minPort && port <= s.maxPort) return i;
  }
  return -1;
}

/**
 * Which thread of `hop` a data frame for relayed port `port` of `target` goes to.
 * - The hop is the target (`transit` false): the thread whose slice holds the port; thread 0 when
 *   none does (a stale view: thread 0 passes it to the owner, see core.ts).
 * - The hop passes it on (`transit` true): the target's thread index modulo the hop's thread
 *   count, so transit spreads over the hop's threads and one flow stays on one thread (no
 *   reordering); thread 0 when the target is legacy, which knows only the hop's thread 0.
 */
export function pickThread(hop: RelayThreads, target: RelayThreads, port: number, transit: boolean): number {
  if (!transit) return Math.max(0, sliceOf(hop.threads, port));
  if (target.legacy) return 0;
  return Math.max(0, sliceOf(target.threads, port)) % hop.threads.length;
}

/** Whether this relay's thread `index` may send frames to `peer` (a legacy peer knows only thread 0). */
export function canSendTo(index: number, peer: RelayThreads): boolean {
  return index === 0 || !peer.legacy;
}
