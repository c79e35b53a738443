/**
 * The TURN engine's books on its allocations (src/turn/allocation-book.ts): every index follows
 * add and remove, reserved ports count in the quotas like allocations, and a claimed reservation
 * is not counted twice. The engine's own tests cover the same rules through requests.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/stun/constants.ts';
import { AllocationBook } from '../../src/turn/allocation-book.ts';
import type { TurnLimits } from '../../src/turn/engine-options.ts';
import { allocationFields as fields, T0 } from '../support/allocation-fields.ts';

const LIMITS: TurnLimits = {
  maxAllocations: 5,
  userQuota: 3,
  tenantQuota: 2,
  allocPps: 0,
  allocBps: 0,
  maxPeersPerAllocation: 10,
};
let tokenByte = 1;

const token = () => new Uint8Array(8).fill(tokenByte++);

describe('AllocationBook', () => {
  it('gives each allocation its own id and zeroed counters, shown read-only on the allocation', () => {
    const book = new AllocationBook<null>();
    const a = book.add(fields('alice'));
    const b = book.add(fields('alice'));
    expect(a.id).not.toBe(b.id);
    expect(a.state).toBe('pending');
    const counters = book.traffic.get(a)!;
    expect(counters).toEqual({ packetsToPeer: 0, bytesToPeer: 0, packetsToClient: 0, bytesToClient: 0 });
    counters.packetsToPeer++;
    expect(a.traffic.packetsToPeer).toBe(1);
    expect(book.traffic.get(b)!.packetsToPeer).toBe(0);
  });

  it('indexes an allocation by client, user and tenant, and remove takes it out of every index', () => {
    const book = new AllocationBook<null>();
    const a = book.add(fields('1:acme:c1', 'acme'));
    const other = book.add(fields('1:acme:c2', 'acme'));
    expect(book.byClient.get(a.client.key)).toBe(a);
    expect(book.forUser('1:acme:c1')).toEqual([a]);
    expect(book.tenantHolds('acme')).toBe(2);
    expect(book.usernames()).toEqual(['1:acme:c1', '1:acme:c2']);

    book.remove(a);
    expect(book.byClient.has(a.client.key)).toBe(false);
    expect(book.forUser('1:acme:c1')).toEqual([]);
    expect(book.usernames()).toEqual(['1:acme:c2']);
    expect(book.tenantHolds('acme')).toBe(1);
    expect(book.userHolds('1:acme:c1')).toBe(0);
    expect(book.relayHolds()).toBe(1);

    book.remove(other);
    expect(book.byClient.size).toBe(0);
    expect(book.usernames()).toEqual([]);
    expect(book.tenantHolds('acme')).toBe(0);
  });

  it('leaves a newer allocation of the same client in place when an older one is removed', () => {
    const book = new AllocationBook<null>();
    const old = book.add(fields('alice', undefined, 'udp|same'));
    book.remove(old);
    const fresh = book.add(fields('alice', undefined, 'udp|same'));
    book.remove(old);
    expect(book.byClient.get('udp|same')).toBe(fresh);
    expect(book.forUser('alice')).toEqual([fresh]);
  });

  it('hands out copies, so ending allocations while walking them is safe', () => {
    const book = new AllocationBook<null>();
    book.add(fields('alice'));
    book.add(fields('alice'));
    const seen = [];
    for (const alloc of book.forUser('alice')) {
      book.remove(alloc);
      seen.push(alloc.id);
    }
    expect(seen).toHaveLength(2);
    expect(book.forUser('alice')).toEqual([]);
  });

  it('counts reserved ports against the user and relay holdings like allocations', () => {
    const book = new AllocationBook<null>();
    book.add(fields('alice'));
    book.reservations.add(token(), 'alice', T0);
    book.reservations.add(token(), 'bob', T0);
    expect(book.userHolds('alice')).toBe(2);
    expect(book.userHolds('bob')).toBe(1);
    expect(book.relayHolds()).toBe(3);
    // alice holds 2 of 3: one more fits, two (EVEN-PORT with R) do not.
    expect(book.admit('alice', undefined, undefined, 1, LIMITS)).toBeUndefined();
    expect(book.admit('alice', undefined, undefined, 2, LIMITS)).toEqual({
      ok: false,
      code: ErrorCode.AllocationQuotaReached,
      extra: { reason: 'user quota' },
    });
  });

  it('does not count a claimed reservation twice: it turns into the new allocation', () => {
    const book = new AllocationBook<null>();
    book.add(fields('alice'));
    book.add(fields('alice'));
    const t = token();
    book.reservations.add(t, 'alice', T0);
    const held = book.reservations.get(t);
    expect(book.userHolds('alice')).toBe(3);
    expect(book.admit('alice', undefined, undefined, 1, LIMITS)?.code).toBe(ErrorCode.AllocationQuotaReached);
    expect(book.userHolds('alice', held)).toBe(2);
    expect(book.relayHolds(held)).toBe(2);
    expect(book.admit('alice', undefined, held, 1, LIMITS)).toBeUndefined();
    // Someone else's reservation still counts against alice's quota as nothing of hers.
    const bobsToken = token();
    book.reservations.add(bobsToken, 'bob', T0);
    expect(book.userHolds('alice', book.reservations.get(bobsToken))).toBe(3);
  });

  it('refuses past the tenant quota with its own reason phrase, over all the tenant’s usernames', () => {
    const book = new AllocationBook<null>();
    book.add(fields('1:acme:c1', 'acme'));
    book.add(fields('1:acme:c2', 'acme'));
    expect(book.admit('1:acme:c3', 'acme', undefined, 1, LIMITS)).toEqual({
      ok: false,
      code: ErrorCode.AllocationQuotaReached,
      extra: { reason: 'tenant quota', phrase: 'Tenant Allocation Quota Reached' },
    });
    expect(book.admit('1:other:c1', 'other', undefined, 1, LIMITS)).toBeUndefined();
  });

  it('refuses with 508 when the relay’s allocations and reserved ports reach its cap', () => {
    const book = new AllocationBook<null>();
    for (const user of ['a', 'b', 'c', 'd']) book.add(fields(user));
    expect(book.admit('e', undefined, undefined, 1, LIMITS)).toBeUndefined();
    book.reservations.add(token(), 'd', T0);
    expect(book.admit('e', undefined, undefined, 1, LIMITS)).toEqual({
      ok: false,
      code: ErrorCode.InsufficientCapacity,
    });
    // Expired reservations stop counting.
    book.reservations.expire(T0 + 60_000);
    expect(book.relayHolds()).toBe(4);
    expect(book.admit('e', undefined, undefined, 1, LIMITS)).toBeUndefined();
  });
});
