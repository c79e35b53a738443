import { describe, expect, it } from 'vitest';
import { faultFor, grayTransit, impair, NO_FAULT, parseLinkFaults } from '../../src/faults/link-fault.ts';

describe('link fault specs', () => {
  it('parses delay, jitter, loss and blackhole per peer, and a wildcard', () => {
    const r = parseLinkFaults('relay-b:delay=40,jitter=5,loss=2; relay-c:blackhole; *:delay=1');
    if (!r.ok) throw new Error(r.error);
    expect(faultFor(r.value, 'relay-b')).toEqual({
      delayMs: 40,
      jitterMs: 5,
      loss: 0.02,
      blackhole: false,
      gray: false,
    });
    expect(faultFor(r.value, 'relay-c')).toEqual({ ...NO_FAULT, blackhole: true });
    expect(faultFor(r.value, 'relay-z')).toEqual({ ...NO_FAULT, delayMs: 1 });
  });

  it.each([
    ['b:delay=-1', 'bad fault "delay=-1" for b (delay=MS, jitter=MS, loss=PCT, blackhole, gray)'],
    ['b:loss=101', 'bad fault "loss=101" for b (delay=MS, jitter=MS, loss=PCT, blackhole, gray)'],
    ['b:speed=3', 'bad fault "speed=3" for b (delay=MS, jitter=MS, loss=PCT, blackhole, gray)'],
    ['b c:delay=1', 'bad relay id "b c"'],
  ])('refuses %s', (spec, error) => {
    expect(parseLinkFaults(spec)).toEqual({ ok: false, error });
  });

  it('parses gray as a fault of the relay’s transit toward the peer, alone or with others', () => {
    const r = parseLinkFaults('relay-b:gray; relay-c:delay=5,gray; relay-d:loss=1');
    if (!r.ok) throw new Error(r.error);
    expect(faultFor(r.value, 'relay-b')).toEqual({ ...NO_FAULT, gray: true });
    expect(faultFor(r.value, 'relay-c')).toEqual({ ...NO_FAULT, delayMs: 5, gray: true });
    expect([...grayTransit(r.value)]).toEqual(['relay-b', 'relay-c']);
    // A gray fault alone takes no frame off the wire: the core drops the transit it concerns.
    expect(impair(faultFor(r.value, 'relay-b'), () => 0)).toBe(0);
    expect(parseLinkFaults('b:gray=1')).toEqual({
      ok: false,
      error: 'bad fault "gray=1" for b (delay=MS, jitter=MS, loss=PCT, blackhole, gray)',
    });
  });

  it('clears faults with an empty spec', () => {
    const r = parseLinkFaults('');
    expect(r.ok && r.value.size).toBe(0);
  });
});

describe('impairment', () => {
  const seq = (...xs: number[]) => {
    let i = 0;
    return () => xs[i++ % xs.length]!;
  };

  it('drops everything through a blackhole and the configured share through loss', () => {
    expect(impair({ ...NO_FAULT, blackhole: true }, seq(0.99))).toBe('drop');
    const lossy = { ...NO_FAULT, loss: 0.25 };
    const random = seq(0.1, 0.3, 0.5, 0.7);
    const outcomes = Array.from({ length: 8 }, () => impair(lossy, random));
    expect(outcomes.filter((o) => o === 'drop')).toHaveLength(2);
  });

  it('delays by the delay plus uniform jitter, never below zero', () => {
    const f = { ...NO_FAULT, delayMs: 10, jitterMs: 4 };
    expect(impair(f, seq(0))).toBe(6);
    expect(impair(f, seq(0.5))).toBe(10);
    expect(impair({ ...NO_FAULT, delayMs: 1, jitterMs: 5 }, seq(0))).toBe(0);
    expect(impair(NO_FAULT, seq(0.3))).toBe(0);
  });
});
