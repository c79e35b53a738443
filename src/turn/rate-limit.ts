/**
 * Per-allocation token buckets for packets and bits per second, one per direction. Used on the
 * data path: `allow` does arithmetic on numbers only. Time comes in as `now` (ms).
 * A rate of 0 means unlimited. Buckets hold one second's worth of tokens, so bursts up to the
 * per-second cap pass and sustained traffic above it is cut.
 */
export interface RateLimiter {
  readonly maxPps: number;
  readonly maxBps: number;
  packets: number;
  bits: number;
  last: number;
  dropped: number;
}

export function createRateLimiter(maxPps: number, maxBps: number, now: number): RateLimiter {
  return { maxPps, maxBps, packets: maxPps, bits: maxBps, last: now, dropped: 0 };
}

/** Take one packet of `bytes` from the buckets; false (and counted) when over the limit. */
export function allowPacket(l: RateLimiter, bytes: number, now: number): boolean {
  if (l.maxPps === 0 && l.maxBps === 0) return true;
  const elapsed = now - l.last;
  if (elapsed > 0) {
    l.last = now;
    if (l.maxPps > 0) l.packets = Math.min(l.maxPps, l.packets + (elapsed * l.maxPps) / 1000);
    if (l.maxBps > 0) l.bits = Math.min(l.maxBps, l.bits + (elapsed * l.maxBps) / 1000);
  }
  const bits = bytes * 8;
  if ((l.maxPps > 0 && l.packets < 1) || (l.maxBps > 0 && l.bits < bits)) {
    l.dropped++;
    return false;
  }
  if (l.maxPps > 0) l.packets -= 1;
  if (l.maxBps > 0) l.bits -= bits;
  return true;
}
