/**
 * The TURN engine's books on its allocations: the indexes by client 5-tuple, by username and by
 * tenant, each allocation's traffic counters, the ports held for EVEN-PORT reservations, and the
 * holdings the quotas are checked against (issue 12: a reserved port counts like an allocation).
 * The engine owns one book and decides when an allocation starts and ends; the book keeps count
 * and says which quota refuses a new one. Pure: `now` comes in as a parameter. Takes types from
 * engine-options.ts and request-checks.ts; never imports the engine.
 */
import { ErrorCode } from '../stun/constants.ts';
import { type Allocation, createAllocation, type NewAllocation, type TrafficCounters } from './allocation.ts';
import type { TurnLimits } from './engine-options.ts';
import type { Refusal } from './request-checks.ts';
import { type Reservation, ReservationBook } from './reservations.ts';

/** A new allocation as the engine describes it; the book gives it its id and counters. */
export type AllocationFields<H> = Omit<NewAllocation<H>, 'id' | 'traffic'>;

export class AllocationBook<H = unknown, S extends object = object> {
  readonly #byClient = new Map<string, Allocation<H, S>>();
  readonly #byUser = new Map<string, Set<Allocation<H, S>>>();
  readonly #byTenant = new Map<string, Set<Allocation<H, S>>>();
  readonly #traffic = new WeakMap<Allocation<H, S>, TrafficCounters>();
  #nextId = 1;

  /** Allocations (pending or active) by client key: a plain map, read on the data path. */
  readonly byClient: ReadonlyMap<string, Allocation<H, S>> = this.#byClient;
  /**
   * Each allocation's traffic counters, writable by the book's owner only (the allocation shows
   * the same object read-only). A plain map for the data path: one lookup per packet, no call.
   */
  readonly traffic: Pick<WeakMap<Allocation<H, S>, TrafficCounters>, 'get'> = this.#traffic;
  /** Ports held by EVEN-PORT's R bit (RFC 8656 §7.2); the holdings below count them. */
  readonly reservations = new ReservationBook();

  /** A pending allocation with the next id and zeroed counters, entered in every index. */
  add(fields: AllocationFields<H>): Allocation<H, S> {
    const traffic = { packetsToPeer: 0, bytesToPeer: 0, packetsToClient: 0, bytesToClient: 0 };
    const alloc = createAllocation<H, S>({ ...fields, id: this.#nextId++, traffic });
    this.#traffic.set(alloc, traffic);
    this.#byClient.set(alloc.client.key, alloc);
    enter(this.#byUser, alloc.username, alloc);
    if (alloc.tenant !== undefined) enter(this.#byTenant, alloc.tenant, alloc);
    return alloc;
  }

  /** Takes `alloc` out of every index (its client's slot only while it still holds it). */
  remove(alloc: Allocation<H, S>): void {
    if (this.#byClient.get(alloc.client.key) === alloc) this.#byClient.delete(alloc.client.key);
    leave(this.#byUser, alloc.username, alloc);
    if (alloc.tenant !== undefined) leave(this.#byTenant, alloc.tenant, alloc);
  }

  /** The allocations of `username`, copied: safe to end them while walking the list. */
  forUser(username: string): Allocation<H, S>[] {
    return [...(this.#byUser.get(username) ?? [])];
  }

  /** The usernames holding allocations, copied. */
  usernames(): string[] {
    return [...this.#byUser.keys()];
  }

  /**
   * What `username` holds against its quota: allocations and reserved ports, less the reservation
   * `claimed` when it is theirs (presenting its token turns it into the new allocation).
   */
  userHolds(username: string, claimed?: Reservation): number {
    const own = claimed?.username === username ? 1 : 0;
    return (this.#byUser.get(username)?.size ?? 0) + this.reservations.countFor(username) - own;
  }

  /** Allocations of `tenant` (reserved ports are counted per user only). */
  tenantHolds(tenant: string): number {
    return this.#byTenant.get(tenant)?.size ?? 0;
  }

  /** What the relay holds against its cap: allocations and reserved ports, less `claimed`. */
  relayHolds(claimed?: Reservation): number {
    return this.#byClient.size + this.reservations.size - (claimed ? 1 : 0);
  }

  /**
   * Issue 12: undefined when `username` (of `tenant`, if a REST username names one) may take
   * `wanted` more ports, else the quota that refuses it: the user's (486), the tenant's (486) or
   * the relay's (508). An Allocate with EVEN-PORT's R bit wants two: its own port and the one it
   * reserves. The reservation `claimed` turns into the new allocation and is not counted twice.
   */
  admit(
    username: string,
    tenant: string | undefined,
    claimed: Reservation | undefined,
    wanted: number,
    limits: TurnLimits,
  ): Refusal | undefined {
    if (this.userHolds(username, claimed) + wanted > limits.userQuota)
      return { ok: false, code: ErrorCode.AllocationQuotaReached, extra: { reason: 'user quota' } };
    if (tenant !== undefined && this.tenantHolds(tenant) >= limits.tenantQuota) {
      const extra = { reason: 'tenant quota', phrase: 'Tenant Allocation Quota Reached' };
      return { ok: false, code: ErrorCode.AllocationQuotaReached, extra };
    }
    if (this.relayHolds(claimed) + wanted > limits.maxAllocations)
      return { ok: false, code: ErrorCode.InsufficientCapacity };
    return undefined;
  }
}

function enter<A>(index: Map<string, Set<A>>, key: string, alloc: A): void {
  const set = index.get(key);
  if (set) set.add(alloc);
  else index.set(key, new Set([alloc]));
}

function leave<A>(index: Map<string, Set<A>>, key: string, alloc: A): void {
  const set = index.get(key);
  set?.delete(alloc);
  if (set?.size === 0) index.delete(key);
}
