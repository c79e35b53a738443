import { describe, expect, it } from 'vitest';
import { LinkEstimator } from '../../src/measure/link-estimator.ts';

const T0 = 1_000_000;

/** Sends probes every 100 ms and replies after the given RTTs (undefined = lost). */
function run(rtts: (number | undefined)[], window = 50) {
  const e = new LinkEstimator({ window, lossTimeoutMs: 1000 });
  rtts.forEach((rtt, seq) => {
    const at = T0 + seq * 100;
    e.sent(seq, at);
    if (rtt !== undefined) e.replied(seq, at + rtt);
  });
  return e;
}

describe('link estimator', () => {
  it('smooths RTT as RFC 6298 does: the first sample, then 7/8 old + 1/8 new', () => {
    const e = run([40, 80]);
    expect(e.estimate(T0 + 500).rttMs).toBe((7 * 40 + 80) / 8);
  });

  it('computes RFC 3550 jitter from changes in RTT', () => {
    expect(run(Array(20).fill(30)).estimate(T0 + 3000).jitterMs).toBe(0);
    const alternating = run(Array.from({ length: 200 }, (_, i) => (i % 2 ? 30 : 40)));
    // J converges to |D| = 10 with gain 1/16.
    expect(alternating.estimate(T0 + 30_000).jitterMs).toBeCloseTo(10, 3);
  });

  it('reports recent percentiles over the window only', () => {
    const e = run([...Array(50).fill(500), ...Array(50).fill(10)], 50);
    const est = e.estimate(T0 + 20_000);
    expect(est.rttP50Ms).toBe(10);
    expect(est.rttP95Ms).toBe(10);
  });

  it('counts a probe as lost once its deadline passes, over a sliding window', () => {
    const e = run([20, undefined, 20, undefined], 4);
    expect(e.estimate(T0 + 400).lossRate).toBe(0); // deadlines not passed yet
    expect(e.estimate(T0 + 2000).lossRate).toBe(0.5);
    for (let seq = 4; seq < 8; seq++) {
      e.sent(seq, T0 + 3000 + seq);
      e.replied(seq, T0 + 3010 + seq);
    }
    expect(e.estimate(T0 + 5000).lossRate).toBe(0); // the window has slid past the losses
  });

  it('weighs one early loss as one probe of a full window, not of the few probes decided yet', () => {
    const e = run([20, 20, undefined, 20, 20, 20, 20, 20, 20, 20], 50);
    // 10 decided, 1 lost: 1/50 (what it will weigh once the window is full), not 1/10.
    expect(e.estimate(T0 + 3000).lossRate).toBe(1 / 50);
    const full = run([20, undefined, ...Array(48).fill(20)], 50);
    expect(full.estimate(T0 + 6000).lossRate).toBe(1 / 50);
    // Heavy early loss still shows: 5 of the first 10 lost.
    expect(
      run([20, undefined, 20, undefined, 20, undefined, 20, undefined, 20, undefined]).estimate(T0 + 3000)
        .lossRate,
    ).toBe(5 / 50);
  });

  it('counts no loss for the probes sent before the link first answered', () => {
    // Ten probes into a peer that does not know this relay yet, then every probe answered.
    const e = run([...Array(10).fill(undefined), ...Array(20).fill(20)]);
    expect(e.estimate(T0 + 4000).lossRate).toBe(0);
    expect(e.estimate(T0 + 4000).samples).toBe(20);
    // Until the first answer the link has no measurement; losses after it count as before.
    expect(run(Array(10).fill(undefined)).estimate(T0 + 3000).lossRate).toBe(1);
    expect(run([undefined, 20, undefined, 20]).estimate(T0 + 3000).lossRate).toBe(1 / 50);
  });

  it('treats a link that never answered as fully lossy, and measures silence', () => {
    const e = new LinkEstimator();
    expect(e.estimate(T0).lossRate).toBe(1);
    expect(e.silenceMs(T0)).toBe(Number.POSITIVE_INFINITY);
    const f = run([10]);
    expect(f.silenceMs(T0 + 1010)).toBe(1000);
  });

  it('ignores replies to unknown, repeated or time-travelling probes', () => {
    const e = run([10]);
    e.replied(0, T0 + 50); // duplicate
    e.replied(99, T0 + 50); // never sent
    e.sent(1, T0 + 100);
    e.replied(1, T0 + 50); // before it was sent
    expect(e.estimate(T0 + 200).samples).toBe(1);
  });
});

describe('quiet links', () => {
  it('calls a link probed every 100 ms quiet once no reply came for the limit', () => {
    const e = new LinkEstimator();
    let seq = 0;
    for (let t = 0; t <= 1000; t += 100) {
      e.sent(seq, T0 + t);
      if (t < 500) e.replied(seq, T0 + t + 20);
      seq++;
    }
    // Last reply at 420 ms; probes from 500 ms on go unanswered.
    expect(e.quiet(T0 + 800, 400)).toBe(false);
    expect(e.quiet(T0 + 821, 400)).toBe(true);
  });

  it('does not call a link quiet between the probes of a rotation, only when one goes unanswered', () => {
    const e = new LinkEstimator();
    e.sent(0, T0);
    e.replied(0, T0 + 150);
    expect(e.quiet(T0 + 5000, 400)).toBe(false); // silent for 5 s, but nothing was asked
    e.sent(1, T0 + 5000);
    expect(e.quiet(T0 + 5200, 400)).toBe(false); // within twice the RTT
    e.replied(1, T0 + 5150 + 60);
    expect(e.quiet(T0 + 9000, 400)).toBe(false);
    e.sent(2, T0 + 9000);
    expect(e.quiet(T0 + 9400, 400)).toBe(true); // its probe waited 400 ms, far past twice the RTT
  });

  it('is not quiet before the first probe', () => {
    expect(new LinkEstimator().quiet(T0, 400)).toBe(false);
  });
});
