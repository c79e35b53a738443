import { describe, expect, it } from 'vitest';
import { ConnectionLimiter, sourceKey } from '../../src/limits/connection-limiter.ts';
import { LruMap } from '../../src/limits/lru.ts';
import { SourceLimiter } from '../../src/limits/source-limiter.ts';

describe('LruMap', () => {
  it('forgets the least recently used entry when full, and a read makes an entry recent', () => {
    const m = new LruMap<string, number>(3);
    m.set('a', 1);
    m.set('b', 2);
    m.set('c', 3);
    expect(m.get('a')).toBe(1);
    expect(m.set('d', 4)).toBe('b');
    expect([...m.entries()].map(([k]) => k)).toEqual(['c', 'a', 'd']);
    expect(m.peek('c')).toBe(3);
    expect(m.set('e', 5)).toBe('c'); // peek did not refresh it
    expect(m.size).toBe(3);
  });

  it('stays at its capacity under a flood of new keys', () => {
    const m = new LruMap<number, number>(100);
    for (let i = 0; i < 10_000; i++) m.set(i, i);
    expect(m.size).toBe(100);
    expect(m.has(9_999)).toBe(true);
    expect(m.has(9_899)).toBe(false);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new LruMap(0)).toThrow(RangeError);
  });
});

describe('SourceLimiter', () => {
  it('lets a burst through, then the sustained rate, per source', () => {
    const l = new SourceLimiter({ ratePerSecond: 2, burst: 4, capacity: 10 });
    const passed = (source: string, now: number, n: number) =>
      Array.from({ length: n }, () => l.take(source, now)).filter(Boolean).length;
    expect(passed('a', 0, 10)).toBe(4);
    expect(l.blocked('a', 0)).toBe(true);
    expect(passed('b', 0, 10)).toBe(4);
    expect(passed('a', 1000, 10)).toBe(2);
    expect(l.retryAfterMs('a', 1000)).toBeGreaterThan(0);
  });

  it('does not count a refused event, and peeking counts nothing', () => {
    const l = new SourceLimiter({ ratePerSecond: 1, burst: 1, capacity: 10 });
    expect(l.blocked('a', 0)).toBe(false);
    expect(l.blocked('a', 0)).toBe(false);
    expect(l.take('a', 0)).toBe(true);
    for (let i = 0; i < 100; i++) l.take('a', 0);
    expect(l.take('a', 1000)).toBe(true);
  });

  it('remembers at most `capacity` sources', () => {
    const l = new SourceLimiter({ ratePerSecond: 1, burst: 1, capacity: 50 });
    for (let i = 0; i < 5_000; i++) l.take(`s${i}`, 0);
    expect(l.size).toBe(50);
  });
});

describe('ConnectionLimiter', () => {
  it('caps connections per source and in total, and frees a slot on release', () => {
    const l = new ConnectionLimiter(5, 3);
    expect([1, 2, 3, 4].map(() => l.admit('a'))).toEqual(['ok', 'ok', 'ok', 'per-source']);
    expect(l.admit('b')).toBe('ok');
    expect(l.admit('b')).toBe('ok');
    expect(l.admit('c')).toBe('global');
    l.release('a');
    expect(l.admit('c')).toBe('ok');
    expect(l.total).toBe(5);
  });

  it('ignores a release it never admitted', () => {
    const l = new ConnectionLimiter(5, 3);
    l.release('x');
    expect(l.total).toBe(0);
  });
});

describe('sourceKey', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8:1:2::ffff', '2001:db8:1:2::/64'],
    ['::1', '0:0:0:0::/64'],
  ])('counts %s under %s', (address, key) => {
    expect(sourceKey(address)).toBe(key);
  });
});
