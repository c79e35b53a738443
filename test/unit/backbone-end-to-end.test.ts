/**
 * Gray relays: a transit relay that answers every probe and takes in every frame but forwards
 * nothing. The end-to-end delivery check (src/backbone/end-to-end.ts) on its own, then in the core
 * on the in-memory network, with the relay's own fault injection (`setGrayTransit`).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_END_TO_END, EndToEndCheck, pathRttMs } from '../../src/backbone/end-to-end.ts';
import { MemoryNet } from '../support/backbone-net.ts';

const PATH = ['A', 'C', 'B'];

describe('EndToEndCheck', () => {
  /**
   * `rate` frames a second originated toward B from t = 0 (noted every 100 ms, as the core does);
   * B publishes what reached it each x.0 s, A reads it at x.3 s; the path takes `oneWayMs`. From
   * `grayAt` on, nothing arrives. Returns the first loss found and when.
   */
  function stream(rate: number, oneWayMs: number, grayAt = Number.POSITIVE_INFINITY, seconds = 30) {
    const c = new EndToEndCheck();
    c.route('B', PATH);
    const sentAt = (t: number) => Math.max(0, Math.floor((t * rate) / 1000));
    const arrivedBy = (t: number) => sentAt(Math.min(t - oneWayMs, grayAt));
    for (let t = 0; t <= seconds * 1000; t += 100) {
      c.note('B', sentAt(t), t);
      if (t % 1000 !== 300 || t < 1000) continue;
      const loss = c.report('B', arrivedBy(t - 300), t - 300, sentAt(t), oneWayMs, t);
      if (loss) return { c, at: t, loss };
    }
    return { c, at: undefined, loss: undefined };
  }

  it('finds a path that stopped delivering within the window and avoids its transit relays for that destination', () => {
    const { c, at, loss } = stream(50, 30, 15_000);
    expect(loss).toMatchObject({ to: 'B', path: PATH, avoid: ['C'] });
    expect(loss!.loss).toBeGreaterThanOrEqual(DEFAULT_END_TO_END.minLoss);
    expect(at! - 15_000).toBeLessThan(DEFAULT_END_TO_END.windowMs);
    const avoid = c.avoid(at!);
    expect([...avoid]).toEqual([['B', new Set(['C'])]]);
  });

  it('lets the avoid set expire after avoidMs', () => {
    const { c, at } = stream(50, 30, 15_000);
    expect(c.avoid(at! + DEFAULT_END_TO_END.avoidMs - 1).get('B')).toEqual(new Set(['C']));
    expect(c.avoid(at! + DEFAULT_END_TO_END.avoidMs).size).toBe(0);
  });

  it('gives destinations with the same avoided relays one set, so routes are searched once for them', () => {
    const c = new EndToEndCheck();
    for (const to of ['B', 'D', 'E']) c.route(to, to === 'E' ? ['A', 'F', to] : ['A', 'C', to]);
    for (let t = 0; t <= 30_000; t += 100) {
      const sent = Math.floor(t / 20);
      for (const to of ['B', 'D', 'E']) {
        c.note(to, sent, t);
        if (t % 1000 === 300) c.report(to, Math.floor(Math.min(t - 300, 15_000) / 20), t - 300, sent, 0, t);
      }
    }
    const avoid = c.avoid(30_000);
    expect(avoid.get('B')).toEqual(new Set(['C']));
    expect(avoid.get('D')).toBe(avoid.get('B'));
    expect(avoid.get('E')).toEqual(new Set(['F']));
  });

  it('keeps a clean path clean, however its traffic runs', () => {
    expect(stream(50, 30).loss).toBeUndefined();
    expect(stream(5000, 30).loss).toBeUndefined();
  });

  it('does not call a path lossy because its traffic just began and frames are still in flight', () => {
    // Idle, then 2,000 frames a second from 10.5 s over a path of 150 ms one way: a record B
    // published at 11.0 s lacks the 300 frames A sent in the last 150 ms before it. Paired with
    // A's count at 11.0 s that reads as 30 % lost; at 10.85 s (less the one-way delay), as none.
    const c = new EndToEndCheck();
    c.route('B', PATH);
    const sentAt = (t: number) => Math.max(0, Math.floor((t - 10_500) * 2));
    for (let t = 0; t <= 30_000; t += 100) {
      c.note('B', sentAt(t), t);
      if (t % 1000 !== 300 || t < 1000) continue;
      expect(c.report('B', sentAt(t - 300 - 150), t - 300, sentAt(t), 150, t)).toBeUndefined();
    }
  });

  it('starts over when the route changes, so the new path is not blamed for the old one’s loss', () => {
    // The old path lost everything from 10.0 s (a link of it died: 1.3 s lost is 13 % of the
    // window, not called yet); the route moved to A-D-B for that at 12.2 s. Kept, those 2.2 s
    // would read as 22 % lost on the new path, and D would be avoided for nothing.
    const c = new EndToEndCheck();
    c.route('B', PATH);
    let sent = 0;
    let got = 0;
    for (let t = 0; t <= 40_000; t += 100) {
      sent += 5;
      if (t < 10_000 || t >= 12_200) got += 5;
      if (t === 12_200) c.route('B', ['A', 'D', 'B']);
      c.note('B', sent, t);
      if (t % 1000 === 300) expect(c.report('B', got, t, sent, 0, t)).toBeUndefined();
    }
  });

  it('always avoids the next hop, and spares a later transit relay that carries another destination cleanly', () => {
    /** B over `toB` loses everything from 15 s; D over `toD` gets all; 50 frames a second each. */
    const run = (toB: string[], toD: string[]) => {
      const c = new EndToEndCheck();
      c.route('B', toB);
      c.route('D', toD);
      for (let t = 0; t <= 30_000; t += 100) {
        const sent = Math.floor(t / 20);
        c.note('B', sent, t);
        c.note('D', sent, t);
        if (t % 1000 !== 300) continue;
        c.report('D', Math.floor((t - 300) / 20), t - 300, sent, 0, t);
        const loss = c.report('B', Math.floor(Math.min(t - 300, 15_000) / 20), t - 300, sent, 0, t);
        if (loss) return loss.avoid;
      }
      return undefined;
    };
    // E forwards A's traffic to D: the next hop C is the one left.
    expect(run(['A', 'C', 'E', 'B'], ['A', 'F', 'E', 'D'])).toEqual(['C']);
    // Nothing vouches for E: both.
    expect(run(['A', 'C', 'E', 'B'], ['A', 'D'])).toEqual(['C', 'E']);
    // C forwards to D, but it is the next hop: frames to B follow C's own route, which A does not
    // choose, so C is left all the same.
    expect(run(['A', 'C', 'E', 'B'], ['A', 'C', 'D'])).toEqual(['C', 'E']);
  });

  it('says nothing of a direct path (the per-link check’s) and refuses nonsense without throwing', () => {
    const c = new EndToEndCheck();
    c.route('B', ['A', 'B']);
    for (let t = 0; t <= 20_000; t += 100) {
      c.note('B', t, t);
      if (t % 1000 === 300) expect(c.report('B', 0, t, t, 10, t)).toBeUndefined();
    }
    expect(c.avoid(20_000).size).toBe(0);
    expect(c.report('B', Number.NaN, 1, 1, Number.NaN, 1)).toBeUndefined();
    expect(c.report('B', -1, Number.NaN, -5, -1, 1)).toBeUndefined();
    expect(
      pathRttMs(new Map([['A', new Map([['B', { rttMs: 10, jitterMs: 0, lossRate: 0 }]])]]), ['A', 'B']),
    ).toBe(10);
    expect(pathRttMs(new Map(), ['A', 'B'])).toBeUndefined();
  });
});

describe('backbone core: a gray relay in transit', () => {
  const payload = new Uint8Array(100).fill(7);
  /**
   * A, B, C, D: A-B and A-D slow (100 ms), A-C, C-B and C-D fast (20 ms), B-D 100 ms: A reaches B
   * and D through C. A streams 50 packets a second to B (none to D); C goes gray at `cut`.
   */
  function run(opts: { oldB?: boolean } = {}) {
    const net = new MemoryNet(['A', 'B', 'C', 'D'], { seed: 4 });
    if (opts.oldB) net.withoutEndIn.add('B');
    net.link('A', 'B', { rttMs: 100 });
    net.link('A', 'D', { rttMs: 100 });
    net.link('B', 'D', { rttMs: 100 });
    net.link('A', 'C', { rttMs: 20 });
    net.link('C', 'B', { rttMs: 20 });
    net.link('C', 'D', { rttMs: 20 });
    const stream = { ms: 20, f: () => void net.send('A', 'B', payload) };
    net.run(15_000, stream);
    expect(net.core('A').routes.get('B')?.hops).toEqual(['A', 'C', 'B']);
    expect(net.core('A').routes.get('D')?.hops).toEqual(['A', 'C', 'D']);
    const cut = net.now;
    net.core('C').setGrayTransit(new Set(['*']));
    const arrivedAfter = (t: number) => net.delivered.filter((d) => d.relay === 'B' && d.at >= t).length;
    const left = () => net.changes.find((c) => c.relay === 'A' && c.change.to === 'B' && c.at > cut);
    return { net, cut, stream, arrivedAfter, left };
  }

  it('leaves a gray transit relay within the window, for that destination only, while every link looks clean', () => {
    const { net, cut, stream, arrivedAfter, left } = run();
    net.run(20_000, stream);
    const change = left();
    expect(change?.change.path?.hops).toEqual(['A', 'B']);
    expect(change!.at - cut).toBeLessThan(DEFAULT_END_TO_END.windowMs);
    expect(net.endLosses.map((e) => [e.relay, e.loss.to, e.loss.avoid])).toEqual([['A', 'B', ['C']]]);
    // Data flows again, over the direct link.
    expect(arrivedAfter(change!.at + 500)).toBeGreaterThan(50 * 10);
    // The per-link check saw nothing: C took in every frame and says it sent none on.
    const link = (from: string, to: string) => net.published.get(from)?.links.find((l) => l.to === to);
    expect(link('A', 'C')?.lossRate).toBe(0);
    expect(link('C', 'B')?.lossRate).toBe(0);
    // Other destinations' routes are untouched: A still reaches D through C (no traffic, no verdict).
    expect(net.core('A').routes.get('D')?.hops).toEqual(['A', 'C', 'D']);
  }, 60_000);

  it('comes back through the relay once the avoid set has expired and it forwards again', () => {
    const { net, stream, left } = run();
    net.run(20_000, stream);
    const at = left()!.at;
    net.core('C').setGrayTransit(new Set());
    net.run(at + DEFAULT_END_TO_END.avoidMs - net.now - 1000, stream);
    expect(net.core('A').routes.get('B')?.hops).toEqual(['A', 'B']);
    net.run(15_000, stream);
    expect(net.core('A').routes.get('B')?.hops).toEqual(['A', 'C', 'B']);
    expect(net.endLosses).toHaveLength(1);
  }, 60_000);

  it('never avoids anything for a destination from before the check (no endIn): it stays as before', () => {
    const { net, stream, left } = run({ oldB: true });
    net.run(20_000, stream);
    expect(left()).toBeUndefined();
    expect(net.endLosses).toEqual([]);
    expect(net.core('A').routes.get('B')?.hops).toEqual(['A', 'C', 'B']);
  }, 60_000);
});
