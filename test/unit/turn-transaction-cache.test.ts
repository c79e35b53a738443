/**
 * The TURN engine's cache of answers for retransmitted requests (src/turn/transaction-cache.ts,
 * RFC 8489 §6.3.1): kept for 40 s, bounded in count, oldest out first.
 */
import { describe, expect, it } from 'vitest';
import {
  TRANSACTION_CACHE_MAX,
  TRANSACTION_CACHE_MS,
  TransactionCache,
} from '../../src/turn/transaction-cache.ts';

const T0 = 1_800_000_000_000;
const bytes = (n: number) => new Uint8Array([n]);

describe('TransactionCache', () => {
  it('answers a retransmission with the same bytes until the entry expires', () => {
    const cache = new TransactionCache();
    cache.remember('c/1', bytes(1), T0);
    expect(cache.get('c/1', T0 + TRANSACTION_CACHE_MS - 1)).toEqual(bytes(1));
    expect(cache.get('c/1', T0 + TRANSACTION_CACHE_MS)).toBeUndefined();
    expect(cache.get('c/2', T0)).toBeUndefined();
  });

  it('drops expired entries on expire, oldest first, and keeps a rewritten one by its new time', () => {
    const cache = new TransactionCache();
    cache.remember('a', bytes(1), T0);
    cache.remember('b', bytes(2), T0 + 10_000);
    cache.remember('a', bytes(3), T0 + 20_000);
    cache.expire(T0 + TRANSACTION_CACHE_MS + 10_000);
    expect(cache.size).toBe(1);
    expect(cache.get('a', T0 + TRANSACTION_CACHE_MS + 10_000)).toEqual(bytes(3));
  });

  it('holds at most TRANSACTION_CACHE_MAX entries, letting the oldest go', () => {
    const cache = new TransactionCache();
    for (let i = 0; i <= TRANSACTION_CACHE_MAX; i++) cache.remember(`k${i}`, bytes(i & 255), T0);
    expect(cache.size).toBe(TRANSACTION_CACHE_MAX);
    expect(cache.get('k0', T0)).toBeUndefined();
    expect(cache.get('k1', T0)).toEqual(bytes(1));
    expect(cache.get(`k${TRANSACTION_CACHE_MAX}`, T0)).toEqual(bytes(TRANSACTION_CACHE_MAX & 255));
  });
});
