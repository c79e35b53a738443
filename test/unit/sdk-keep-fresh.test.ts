/**
 * keepFresh's schedule with a fake clock: when it renews (before expiry, by the margin), what it
 * does to the connection (setConfiguration always, restartIce only when the relay changed or ICE
 * failed or stayed disconnected), how it retries (backoff, never sooner than Retry-After, a restart
 * owed is not forgotten), and that stop() ends everything. The connection is a recording stand-in;
 * test/e2e/sdk-keep-fresh.test.ts runs the same helper on Chromium's RTCPeerConnection.
 */
import { describe, expect, it } from 'vitest';
import { EdgeError } from '../../sdk/errors.ts';
import type { RtcConfigurationResult } from '../../sdk/index.ts';
import {
  type Clock,
  type FreshPeerConnection,
  keepFresh,
  type Renewal,
  renewDelayMs,
  retryDelayMs,
} from '../../sdk/keep-fresh.ts';

class FakeClock implements Clock {
  t = 1_700_000_000_000;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 1;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    const id = this.next++;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  };
  clearTimeout = (h: unknown) => void this.timers.delete(h as number);
  get pending() {
    return this.timers.size;
  }
  /** Moves time forward, firing due timers in order and letting their promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      const due = [...this.timers.entries()]
        .filter(([, x]) => x.at <= end)
        .sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      this.timers.delete(due[0]);
      this.t = due[1].at;
      due[1].fn();
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
    this.t = end;
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }
}

class FakePc implements FreshPeerConnection {
  iceConnectionState = 'connected';
  configs: { iceServers: { username: string }[]; bundlePolicy?: string }[] = [];
  restarts = 0;
  private listener: (() => void) | undefined;
  private config: object = { bundlePolicy: 'max-bundle', iceServers: [] };
  getConfiguration = () => this.config;
  setConfiguration = (c: object) => {
    this.config = c;
    this.configs.push(c as FakePc['configs'][number]);
  };
  restartIce = () => void this.restarts++;
  addEventListener(_t: string, l: () => void) {
    this.listener = l;
  }
  removeEventListener() {
    this.listener = undefined;
  }
  set(state: string) {
    this.iceConnectionState = state;
    this.listener?.();
  }
  get listening() {
    return this.listener !== undefined;
  }
}

const answer = (relay: string, expiresAt: number, ttl: number, n: number): RtcConfigurationResult => ({
  configuration: {
    iceServers: [{ urls: [`turn:${relay}`], username: `${expiresAt}:t:c${n}`, credential: 'x' }],
  },
  relay: { id: relay, predictedRttMs: 10, basis: 'distance' },
  alternates: [],
  expiresAt,
  ttl,
  probes: [],
});

/** A keepFresh on fakes whose edge answers from `script` in turn (an Error is thrown). */
function setUp(script: (nowS: number, n: number) => RtcConfigurationResult | Error, ttl = 600) {
  const clock = new FakeClock();
  const pc = new FakePc();
  const renewals: Renewal[] = [];
  const errors: Error[] = [];
  const calls: number[] = [];
  const stop = keepFresh(pc, {
    edgeUrl: 'http://edge.invalid',
    current: answer('paris', clock.now() / 1000 + ttl, ttl, 0),
    clock,
    random: () => 0.5,
    renew: async () => {
      calls.push(clock.now());
      const r = script(clock.now() / 1000, calls.length);
      if (r instanceof Error) throw r;
      return r;
    },
    onRenewed: (r) => renewals.push(r),
    onError: (e) => errors.push(e),
  });
  return { clock, pc, renewals, errors, calls, stop, start: clock.now() };
}

describe('keepFresh schedule (pure parts)', () => {
  it('renews a fifth of the lifetime before expiry, between 5 and 60 seconds', () => {
    expect(renewDelayMs(1000, 600, 400_000)).toBe(540_000);
    expect(renewDelayMs(1000, 100, 900_000)).toBe(80_000);
    expect(renewDelayMs(1000, 10, 990_000)).toBe(5_000);
    expect(renewDelayMs(1000, 600, 400_000, 100)).toBe(500_000);
    expect(renewDelayMs(1000, 600, 2_000_000)).toBe(0);
  });

  it('backs off exponentially with jitter, capped, and never sooner than Retry-After', () => {
    expect([0, 1, 2, 3].map((a) => retryDelayMs(a, undefined, 0))).toEqual([500, 1000, 2000, 4000]);
    expect(retryDelayMs(0, undefined, 0.999)).toBeLessThanOrEqual(1000);
    expect(retryDelayMs(10, undefined, 1)).toBe(30_000);
    expect(retryDelayMs(0, 7, 0.5)).toBe(7000);
    expect(retryDelayMs(4, 7, 0)).toBe(8000);
  });
});

describe('keepFresh on a connection', () => {
  it('applies new credentials before expiry, keeps the other settings, and restarts ICE only for a new relay', async () => {
    const { clock, pc, renewals, calls, start } = setUp((now, n) =>
      answer(n === 2 ? 'tokyo' : 'paris', now + 600, 600, n),
    );
    await clock.advance(539_000);
    expect(calls).toEqual([]);
    await clock.advance(1_000);
    expect(calls).toEqual([start + 540_000]);
    expect(pc.configs).toHaveLength(1);
    expect(pc.configs[0]!.iceServers[0]!.username).toMatch(/:t:c1$/);
    expect(pc.configs[0]!.bundlePolicy).toBe('max-bundle');
    expect(pc.restarts).toBe(0);
    expect(renewals[0]).toMatchObject({ reason: 'expiry', relayChanged: false, restarted: false });
    // The second renewal moves to another relay: ICE restarts onto it.
    await clock.advance(540_000);
    expect(calls).toHaveLength(2);
    expect(pc.restarts).toBe(1);
    expect(renewals[1]).toMatchObject({ relayChanged: true, restarted: true });
  });

  it('renews at once and restarts ICE when ICE fails, and after the grace when it stays disconnected', async () => {
    const { clock, pc, renewals, calls } = setUp((now, n) => answer('paris', now + 600, 600, n));
    pc.set('failed');
    await clock.advance(0);
    expect(calls).toHaveLength(1);
    expect(pc.restarts).toBe(1);
    expect(renewals[0]!.reason).toBe('ice-failed');
    // A short blip recovers on its own: nothing happens.
    pc.set('disconnected');
    await clock.advance(3000);
    pc.set('connected');
    await clock.advance(10_000);
    expect(calls).toHaveLength(1);
    pc.set('disconnected');
    await clock.advance(5000);
    expect(calls).toHaveLength(2);
    expect(renewals[1]!.reason).toBe('ice-disconnected');
    expect(pc.restarts).toBe(2);
  });

  it('reports failures and retries with backoff, honouring Retry-After, and still restarts ICE when it succeeds', async () => {
    const busy = new EdgeError('ERR_EDGE_HTTP', 'busy', { status: 503, retryAfter: 20 });
    const down = new EdgeError('ERR_EDGE_NETWORK', 'down');
    const { clock, pc, errors, calls, renewals, start } = setUp((now, n) =>
      n === 1 ? busy : n === 2 ? down : answer('paris', now + 600, 600, n),
    );
    pc.set('failed');
    await clock.advance(0);
    expect(errors).toEqual([busy]);
    await clock.advance(19_999);
    expect(calls).toHaveLength(1);
    await clock.advance(1);
    expect(calls).toEqual([start, start + 20_000]);
    expect(errors).toEqual([busy, down]);
    // Second failure, no Retry-After: attempt 1 backs off 1000 * 2^1 jittered to 1500 ms.
    await clock.advance(1500);
    expect(calls).toHaveLength(3);
    expect(pc.restarts).toBe(1);
    expect(renewals[0]).toMatchObject({ reason: 'ice-failed', restarted: true });
  });

  it('stops: no timer left, no listener, and a renewal in flight is aborted and not applied', async () => {
    let release: (r: RtcConfigurationResult) => void = () => {};
    const clock = new FakeClock();
    const pc = new FakePc();
    let signal: AbortSignal | undefined;
    const stop = keepFresh(pc, {
      edgeUrl: 'http://edge.invalid',
      current: answer('paris', clock.now() / 1000 + 60, 60, 0),
      clock,
      renew: (s) => {
        signal = s;
        return new Promise((r) => (release = r));
      },
    });
    await clock.advance(48_000);
    expect(signal?.aborted).toBe(false);
    stop();
    expect(signal?.aborted).toBe(true);
    release(answer('tokyo', clock.now() / 1000 + 60, 60, 1));
    await clock.advance(120_000);
    expect(pc.configs).toEqual([]);
    expect(clock.pending).toBe(0);
    expect(pc.listening).toBe(false);
  });
});
