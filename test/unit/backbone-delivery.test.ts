/**
 * Gray failures: a link that loses data and answers every probe. The data-plane delivery check
 * (src/backbone/delivery.ts) on its own, then in the core on the in-memory network.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_DELIVERY, DeliveryCheck } from '../../src/backbone/delivery.ts';
import { MemoryNet } from '../support/backbone-net.ts';

/** Reports once a second for `seconds`: `rate` frames sent per second, `share` of them delivered. */
function feed(
  check: DeliveryCheck,
  from: number,
  seconds: number,
  rate: number,
  share: number,
  start = { sent: 0, got: 0 },
) {
  let { sent, got } = start;
  for (let t = from; t < from + seconds * 1000; t += 1000) {
    sent += rate;
    got += rate * share;
    // The peer's count lags ours by a varying part of a second.
    check.report(Math.floor(got - rate * share * ((t / 1000) % 3) * 0.3), t - 500, sent, t);
  }
  return { sent, got };
}

describe('DeliveryCheck', () => {
  it('says nothing without traffic, nothing lost when all arrives, and the loss when data is dropped', () => {
    const c = new DeliveryCheck();
    expect(c.loss(0)).toBeUndefined();
    feed(c, 0, 20, 2, 1); // 2 frames a second: too few in a window
    expect(c.loss(19_000)).toBeUndefined();
    const d = new DeliveryCheck();
    const at = feed(d, 0, 20, 50, 1);
    expect(d.loss(19_000)).toBe(0);
    feed(d, 20_000, 20, 50, 0.3, at);
    expect(d.loss(39_000)).toBeCloseTo(0.7, 1);
  });

  it('finds a data blackhole within the window and holds it while the traffic has moved away', () => {
    const c = new DeliveryCheck();
    const at = feed(c, 0, 20, 50, 1);
    let found: number | undefined;
    let got = at.got;
    let sent = at.sent;
    for (let t = 20_000; t < 40_000 && found === undefined; t += 1000) {
      sent += 50;
      c.report(got, t - 500, sent, t);
      if ((c.loss(t) ?? 0) >= 0.5) found = t - 20_000;
    }
    expect(found).toBeLessThanOrEqual(DEFAULT_DELIVERY.windowMs / 2 + 1000);
    // The routes left: no more traffic, the loss stands for holdMs, then it is forgotten.
    const left = 20_000 + found!;
    for (let t = left + 1000; t < left + 70_000; t += 1000) c.report(got, t - 500, sent, t);
    expect(c.loss(left + DEFAULT_DELIVERY.holdMs - 1000)).toBeGreaterThanOrEqual(0.5);
    expect(c.loss(left + DEFAULT_DELIVERY.holdMs + 2000)).toBeUndefined();
    got += 0;
  });

  it('does not call a link lossy because its traffic just began (the peer published before our read)', () => {
    const c = new DeliveryCheck();
    // Idle, then 100 frames a second from t = 10.2 s; the peer publishes at x.0 s and we read at
    // x.7 s, so each record misses the frames of the last 0.7 s.
    const sentAt = (t: number) => Math.max(0, Math.floor((t - 10_200) / 10));
    for (let t = 1000; t <= 20_000; t += 1000) {
      c.report(sentAt(t - 20), t, sentAt(t + 700), t + 700);
      expect(c.loss(t + 700) ?? 0).toBe(0);
    }
  });

  it("does not call a link lossy when a burst of traffic starts and stops between the peer's records", () => {
    // The quiet benchmark's pattern: 3 s at 5,000 frames a second, then 10 s idle, again and
    // again; the peer publishes every 5 s (at x.0 s), this relay reads every second (at x.3 s)
    // and notes its count every 100 ms, as the core does. Every frame arrives within 1 ms.
    const sentAt = (t: number) => {
      const cycles = Math.floor(t / 13_000);
      const inCycle = Math.min(3000, t - cycles * 13_000);
      return 5 * (cycles * 3000 + Math.max(0, inCycle));
    };
    const c = new DeliveryCheck();
    let published = { at: 0, delivered: 0 };
    for (let t = 0; t <= 80_000; t += 100) {
      c.note(sentAt(t), t);
      if (t % 1000 !== 300) continue;
      const lastPublish = Math.floor(t / 5000) * 5000;
      if (lastPublish > published.at) published = { at: lastPublish, delivered: sentAt(lastPublish - 1) };
      c.report(published.delivered, published.at, sentAt(t), t);
      expect(c.loss(t) ?? 0).toBe(0);
    }
    // The same bursts with a third of the data lost: found.
    const lossy = new DeliveryCheck();
    published = { at: 0, delivered: 0 };
    let worst = 0;
    for (let t = 0; t <= 80_000; t += 100) {
      lossy.note(sentAt(t), t);
      if (t % 1000 !== 300) continue;
      const lastPublish = Math.floor(t / 5000) * 5000;
      if (lastPublish > published.at)
        published = { at: lastPublish, delivered: Math.floor(sentAt(lastPublish - 1) * (2 / 3)) };
      lossy.report(published.delivered, published.at, sentAt(t), t);
      worst = Math.max(worst, lossy.loss(t) ?? 0);
    }
    expect(worst).toBeCloseTo(1 / 3, 1);
  });

  it('starts over when the counts go back (a restart) and ignores a record read twice', () => {
    const c = new DeliveryCheck();
    feed(c, 0, 12, 50, 0.2);
    expect(c.loss(11_000)).toBeGreaterThan(0.5);
    c.report(10, 20_000, 600, 12_000); // the peer restarted: its count began again
    expect(c.loss(12_000)).toBeUndefined();
    c.report(10, 20_000, 700, 13_000); // the same record again: ignored
    expect(c.loss(13_000)).toBeUndefined();
  });

  it('refuses nonsense counts without throwing', () => {
    const c = new DeliveryCheck();
    c.report(Number.NaN, 1, 1, 1);
    c.report(1, Number.NaN, 1, 1);
    c.report(-1, 1, 1, 1);
    expect(c.loss(1)).toBeUndefined();
  });
});

describe('backbone core: a link that drops data and answers probes', () => {
  const payload = new Uint8Array(100).fill(7);
  /** A, B, C with A-B 20 ms and both A-C and C-B 30 ms; a 50-packet-a-second stream A -> B. */
  function run(dataLoss: number) {
    const net = new MemoryNet(['A', 'B', 'C'], { seed: 2 });
    net.link('A', 'B', { rttMs: 20 });
    net.link('A', 'C', { rttMs: 30 });
    net.link('C', 'B', { rttMs: 30 });
    const stream = { ms: 20, f: () => void net.send('A', 'B', payload) };
    net.run(15_000, stream);
    expect(net.core('A').routes.get('B')?.hops).toEqual(['A', 'B']);
    const cut = net.now;
    net.link('A', 'B', { rttMs: 20, dataLoss }, true);
    const arrived = () => net.delivered.filter((d) => d.relay === 'B').length;
    const before = arrived();
    net.run(30_000, stream);
    const left = net.changes.find((c) => c.relay === 'A' && c.change.to === 'B' && c.at > cut);
    return { net, cut, left, arrived: arrived() - before };
  }

  it('leaves it within seconds once B reports what arrived, while every probe is answered', () => {
    const { net, cut, left, arrived } = run(1);
    const probe = net.published.get('A')?.links.find((l) => l.to === 'B');
    expect(left?.change.path?.hops).toEqual(['A', 'C', 'B']);
    expect(left!.at - cut).toBeLessThan(DEFAULT_DELIVERY.windowMs);
    // Published as lossy by its data: the rest of the mesh routes around it too.
    expect(probe!.lossRate).toBeGreaterThanOrEqual(0.5);
    // 30 s at 50 a second: all but the seconds before the switch arrive through C.
    expect(arrived).toBeGreaterThan(1500 - 50 * (DEFAULT_DELIVERY.windowMs / 1000));
  }, 60_000);

  it('keeps a link whose data all arrives (no false alarm from the read lag)', () => {
    const { left, net } = run(0);
    expect(left).toBeUndefined();
    expect(net.published.get('A')?.links.find((l) => l.to === 'B')?.lossRate).toBe(0);
  }, 60_000);
});
