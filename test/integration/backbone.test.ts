/**
 * Three relay processes on 127.0.0.2, .3 and .4 with a real Redis: two TURN clients on different
 * relays exchange data through the backbone; a slow direct link makes traffic detour through the
 * third relay; a blackholed link fails over within a second; a gray relay (it answers every probe
 * and forwards nothing) is left on the end-to-end check (src/backbone/end-to-end.ts). All of it
 * twice: on dgram, and with every relay on native UDP I/O (--udp-io native: TURN listeners,
 * relayed sockets and the backbone's port on the recvmmsg/sendmmsg addon).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BACKBONE_DEFAULTS } from '../../src/backbone/defaults.ts';
import { MessageClass } from '../../src/stun/constants.ts';
import {
  relayBackboneIo,
  relayMetric,
  relayRoute,
  requireUdpIo,
  setRelayFaults,
  startTestRelay,
  stopTestRelays,
  type TestRelay,
  until,
} from '../support/backbone-relays.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const CRED = { username: 'a', password: 'b', realm: 'r' };
const IDS = ['A', 'B', 'C'] as const;
type Id = (typeof IDS)[number];
const HOSTS: Record<Id, string> = { A: '127.0.0.2', B: '127.0.0.3', C: '127.0.0.4' };

const nodes = {} as Record<Id, TestRelay>;
let prefix: string;
/** When every relay had a route to every other (each had seen the others by then). */
let meshAt = 0;

/**
 * The relays' route damping (src/backbone/defaults.ts): for `settleMs` after a relay first sees
 * another its route follows the best path freely; after that a clear gain must hold on every
 * recompute for `confirmMs` before the route switches.
 */
const { settleMs: SETTLE_MS, confirmMs: CONFIRM_MS } = BACKBONE_DEFAULTS;
/**
 * From a link slowed or healed to the switch, beyond CONFIRM_MS: the estimates must first show
 * the gain above the jitter margin. Slowed by 160 ms a round trip, 0.3-2.5 s measured (SRTT
 * moves 1/8 per probe); healed, 2.5-4.3 s measured (the 160 ms step counts as 10 ms of RFC 3550
 * jitter, which costs twice that and decays by 1/16 per probe), over ten runs at load 2-6.
 * Bounded for a loaded two-core machine.
 */
const SWITCH_SLACK_MS = 8000;
/**
 * The same for coming back once the link has healed: the step's jitter must decay first. Over
 * 8 s once, on a rehearsal of CI with two other test runs on the same two cores; bounded at 16 s.
 */
const HEAL_SLACK_MS = 16_000;

/** How long the stream runs after the route changed: delivery must resume within it and stay up. */
const TRAILING_MS = 1000;
/** Longest loss window and silence accepted across a blackhole (designed: about 650 ms). */
const FAILOVER_BOUND_MS = 1000;
/**
 * From a relay going gray to its traffic's origin routing around it. Designed: a record of the
 * destination's each second, and 20 % of the 10 s window lost once about 2 s of the stream is
 * gone, so 2-4 s; bounded at 15 s for a loaded two-core machine.
 */
const GRAY_BOUND_MS = 15_000;
const now = () => performance.now();
/** Round trips measured per condition; assertions are on percentiles of them. */
const RTT_SAMPLES = 30;
/** The p-th percentile (nearest rank) of ascending `xs`. */
const pct = (xs: readonly number[], p: number) =>
  xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const metric = (id: Id, sample: string) => relayMetric(nodes[id], sample);
const setFaults = (id: Id, spec: string) => setRelayFaults(nodes[id], spec);
const routeOf = (from: Id, to: Id) => relayRoute(nodes[from], to);

describe.each(['dgram', 'native'] as const)('backbone between three relays on %s UDP I/O', (io) => {
  beforeAll(async () => {
    requireUdpIo(io);
    const redis = { url: await redisUrl(), prefix: uniquePrefix('backbone') };
    prefix = redis.prefix;
    await Promise.all(
      IDS.map(async (id) => {
        nodes[id] = await startTestRelay({ id, host: HOSTS[id], redis, extra: ['--udp-io', io] });
      }),
    );
    // The relays run the I/O asked for, backbone ports included (not dgram on a missing addon).
    for (const id of IDS) expect(await relayBackboneIo(nodes[id])).toBe(io);
    // Every relay has found the others and measured a direct path to each.
    let seen: string[] = [];
    await until(
      async () => {
        seen = [];
        for (const from of IDS)
          for (const to of IDS) if (from !== to) seen.push(`${from}->${to}: ${await routeOf(from, to)}`);
        return seen.every((r) => /: (\w)-(\w)$/.test(r));
      },
      10_000,
      'direct routes between all relays',
    ).catch((err: Error) => {
      throw new Error(`${err.message} (last seen ${seen.join(', ')})`);
    });
    meshAt = Date.now();
  });

  // No test leaves faults behind for the next, whether it passed or not.
  afterEach(async () => {
    await Promise.all(IDS.map((id) => setFaults(id, '')));
  });

  afterAll(async () => {
    await stopTestRelays(Object.values(nodes));
    await deleteKeys(await redisUrl(), prefix);
  });

  /**
   * Waits until each `[from, to, path]` is the route in use, for up to `boundMs` from `since`,
   * and gives the ms from `since` at which each was first seen.
   */
  async function routesSince(since: number, boundMs: number, want: [Id, Id, string][]) {
    const at: (number | undefined)[] = want.map(() => undefined);
    await until(
      async () => {
        for (const [i, [from, to, path]] of want.entries())
          if (at[i] === undefined && (await routeOf(from, to)) === path) at[i] = Date.now() - since;
        return at.every((t) => t !== undefined);
      },
      since + boundMs - Date.now(),
      want.map(([, , path]) => path).join(' and '),
    ).catch(async (err: Error) => {
      const now = await Promise.all(want.map(([from, to]) => routeOf(from, to)));
      const seen = want.map(
        ([, , path], i) => `${path} ${at[i] === undefined ? `not seen (now ${now[i]})` : `at ${at[i]} ms`}`,
      );
      throw new Error(`${err.message}: ${seen.join(', ')}`);
    });
    return at as number[];
  }

  /** client1 on A and client2 on B, each permitting the other's relayed address, with channels. */
  async function pair() {
    const c1 = await TurnTestClient.connect({ transport: 'udp', server: nodes.A.turn, cred: CRED });
    const c2 = await TurnTestClient.connect({ transport: 'udp', server: nodes.B.turn, cred: CRED });
    expect((await c1.allocate()).cls).toBe(MessageClass.SuccessResponse);
    expect((await c2.allocate()).cls).toBe(MessageClass.SuccessResponse);
    expect((await c1.channelBind(0x4000, c2.relayed!)).cls).toBe(MessageClass.SuccessResponse);
    expect((await c2.channelBind(0x4000, c1.relayed!)).cls).toBe(MessageClass.SuccessResponse);
    return { c1, c2 };
  }

  /**
   * c1 streams to c2 every 10 ms, every packet numbered and timed, arrivals stamped the moment they
   * land. `stop` ends the stream and, after the last packets in flight, stops listening.
   */
  function numberedStream(c1: TurnTestClient, c2: TurnTestClient) {
    const sentAt: number[] = [];
    const arrivedAt = new Map<number, number>();
    c2.onChannelData = (_ch, data) => {
      if (data.length === 4) arrivedAt.set(new DataView(data.buffer, data.byteOffset).getUint32(0), now());
    };
    const timer = setInterval(() => {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, sentAt.length);
      sentAt.push(now());
      c1.sendChannel(0x4000, b);
    }, 10);
    let endedAt = 0;
    return {
      sentAt,
      arrivedAt,
      get endedAt() {
        return endedAt;
      },
      /** Stops sending (at `endedAt`); resolves once the packets in flight had time to land. */
      stopSending() {
        clearInterval(timer);
        endedAt = now();
      },
      async stop() {
        if (!endedAt) this.stopSending();
        await sleep(300);
        c2.onChannelData = undefined;
      },
      /** Packets sent after `t`, and how many of them never arrived. */
      after(t: number) {
        const sent = sentAt.map((at, seq) => ({ at, seq })).filter(({ at }) => at > t);
        return { sent: sent.length, lost: sent.filter(({ seq }) => !arrivedAt.has(seq)).length };
      },
    };
  }

  it('carries data between clients on different relays through the backbone', async () => {
    const { c1, c2 } = await pair();
    const sentBefore = await metric('A', 'backbone_data_frames_total{action="sent"}');
    const deliveredBefore = await metric('B', 'backbone_data_frames_total{action="delivered"}');
    for (let i = 0; i < 20; i++) c1.sendChannel(0x4000, new Uint8Array([i]));
    const got = await c2.waitForData(20);
    expect(got.map((g) => g.data[0])).toEqual(Array.from({ length: 20 }, (_, i) => i));
    c2.sendChannel(0x4000, new Uint8Array([99]));
    expect((await c1.waitForData(1))[0]).toEqual({ channel: 0x4000, data: new Uint8Array([99]) });
    expect(
      (await metric('A', 'backbone_data_frames_total{action="sent"}')) - sentBefore,
    ).toBeGreaterThanOrEqual(20);
    expect(
      (await metric('B', 'backbone_data_frames_total{action="delivered"}')) - deliveredBefore,
    ).toBeGreaterThanOrEqual(20);
    await Promise.all([c1.close(), c2.close()]);
  });

  it('bundles the frames a burst brings in one turn, and every packet arrives in order', async () => {
    const { c1, c2 } = await pair();
    const bundled = 'backbone_bundled_frames_total';
    const datagrams = 'backbone_bundle_datagrams_total';
    const [framesBefore, datagramsBefore] = await Promise.all([metric('A', bundled), metric('A', datagrams)]);
    const deliveredBefore = await metric('B', 'backbone_data_frames_total{action="delivered"}');
    // Bursts of 50 back to back: the relay reads many per poll phase, so its turn has many frames for B.
    const N = 200;
    for (let burst = 0; burst < N / 50; burst++) {
      for (let i = 0; i < 50; i++) {
        const n = burst * 50 + i;
        c1.sendChannel(0x4000, Uint8Array.of(n >> 8, n & 0xff, ...new Uint8Array(98)));
      }
      await sleep(5);
    }
    const got = await c2.waitForData(N);
    expect(got.map((g) => (g.data[0]! << 8) | g.data[1]!)).toEqual(Array.from({ length: N }, (_, i) => i));
    const frames = (await metric('A', bundled)) - framesBefore;
    const sent = (await metric('A', datagrams)) - datagramsBefore;
    // Every frame went through the bundler, in fewer datagrams than frames.
    expect(frames).toBe(N);
    expect(sent).toBeLessThan(N / 2);
    expect((await metric('B', 'backbone_data_frames_total{action="delivered"}')) - deliveredBefore).toBe(N);
    await Promise.all([c1.close(), c2.close()]);
  });

  it('detours through C when the direct link A-B is slower than A-C-B, and comes back', async () => {
    const { c1, c2 } = await pair();
    // c2 echoes at once; each round trip carries its own tag, so a late answer never counts for
    // a later one. A round trip unanswered within a second counts as lost.
    c2.onChannelData = (_ch, data) => c2.sendChannel(0x4000, Uint8Array.of(data[0]!));
    const waiting = new Map<number, () => void>();
    c1.onChannelData = (_ch, data) => waiting.get(data[0]!)?.();
    let tag = 0;
    const rtt = () =>
      new Promise<number | undefined>((resolve) => {
        const mine = tag++ & 0xff;
        const t = performance.now();
        const timer = setTimeout(() => {
          waiting.delete(mine);
          resolve(undefined);
        }, 1000);
        waiting.set(mine, () => {
          clearTimeout(timer);
          waiting.delete(mine);
          resolve(performance.now() - t);
        });
        c1.sendChannel(0x4000, Uint8Array.of(mine));
      });
    const rtts = async (n: number) => {
      const out: number[] = [];
      let lost = 0;
      for (let i = 0; i < n; i++) {
        const ms = await rtt();
        if (ms === undefined) lost++;
        else out.push(ms);
      }
      return { ms: out.sort((a, b) => a - b), lost };
    };
    try {
      const direct = await rtts(RTT_SAMPLES);
      // Settled: the switches below go through the damping every time (a clear gain held for
      // CONFIRM_MS), not, on a fast machine, through the free choice of a young route. Which of
      // the two a run met used to depend on how long the tests before it took.
      await sleep(meshAt + SETTLE_MS + 250 - Date.now());
      // The detour costs something real (10 ms each way through C), so coming back is a clear gain.
      await setFaults('C', 'A:delay=10;B:delay=10');
      const slowedAt = Date.now();
      await Promise.all([setFaults('A', 'B:delay=80'), setFaults('B', 'A:delay=80')]);
      const detoured = await routesSince(slowedAt, CONFIRM_MS + SWITCH_SLACK_MS, [
        ['A', 'B', 'A-C-B'],
        ['B', 'A', 'B-C-A'],
      ]);
      console.log(`detour: A after ${detoured[0]} ms, B after ${detoured[1]} ms (hold ${CONFIRM_MS} ms)`);
      // Damped: neither switched before the gain had held for CONFIRM_MS.
      for (const t of detoured) expect(t).toBeGreaterThanOrEqual(CONFIRM_MS);
      // Both stay through C for 2 s: the claim below is the steady detour.
      let steadySince = Date.now();
      await until(
        async () => {
          const both = (await routeOf('A', 'B')) === 'A-C-B' && (await routeOf('B', 'A')) === 'B-C-A';
          if (!both) steadySince = Date.now();
          return Date.now() - steadySince >= 2000;
        },
        // Both must hold through C at once for 2 s; on a loaded machine a stray late probe resets it.
        20_000,
        'both routes through C for 2 s',
      );
      const forwardedBefore = await metric('C', 'backbone_data_frames_total{action="forwarded"}');
      const detour = await rtts(RTT_SAMPLES);
      const forwarded =
        (await metric('C', 'backbone_data_frames_total{action="forwarded"}')) - forwardedBefore;
      console.log(
        `client RTT p50/p90 direct ${pct(direct.ms, 50).toFixed(1)}/${pct(direct.ms, 90).toFixed(1)} ms ` +
          `(${direct.lost} lost), via C while A-B is slow ${pct(detour.ms, 50).toFixed(1)}/` +
          `${pct(detour.ms, 90).toFixed(1)} ms (${detour.lost} lost), C forwarded ${forwarded}`,
      );
      // Nearly every round trip came back (a stray loss on a loaded machine is not the claim) ...
      expect(detour.lost).toBeLessThanOrEqual(RTT_SAMPLES / 10);
      // ... through C, both ways ...
      expect(forwarded).toBeGreaterThanOrEqual(2 * detour.ms.length);
      // ... paying C's two 10 ms delays, and not the 80 ms links (160 ms a round trip).
      expect(detour.ms[0]).toBeGreaterThanOrEqual(19);
      expect(pct(detour.ms, 50)).toBeLessThan(80);
      expect(pct(detour.ms, 90)).toBeLessThan(150);
      // Packets too large to bundle cross C as they came, held there for its 10 ms delay: one a
      // millisecond, so C reads each in a batch of its own (native: the same slot of its receive
      // area) while the ones before it still wait. Each arrives whole.
      c2.onChannelData = undefined;
      for (let i = 0; i < 20; i++) {
        c1.sendChannel(0x4000, new Uint8Array(1000).fill(i));
        await sleep(1);
      }
      const whole = (await c2.waitForData(20, 5000)).map((g) =>
        g.data.length === 1000 && g.data.every((x) => x === g.data[0]) ? g.data[0]! : -1,
      );
      expect(whole.sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      const healedAt = Date.now();
      await Promise.all([setFaults('A', ''), setFaults('B', '')]);
      const back = await routesSince(healedAt, CONFIRM_MS + HEAL_SLACK_MS, [
        ['A', 'B', 'A-B'],
        ['B', 'A', 'B-A'],
      ]);
      console.log(`back on the direct link: A after ${back[0]} ms, B after ${back[1]} ms`);
      for (const t of back) expect(t).toBeGreaterThanOrEqual(CONFIRM_MS);
    } finally {
      c1.onChannelData = undefined;
      c2.onChannelData = undefined;
      await Promise.all([c1.close(), c2.close()]);
    }
    // Bounded by its phases: up to 14 s to detour, 20 s to be steady, 22 s to come back.
  }, 90_000);

  // Before the blackhole test: a data blackhole on A-B is held against the link for 60 s by A's
  // per-link delivery check, and with no way around C the avoid set would be ignored (rightly).
  it('leaves a transit relay that forwards nothing while answering every probe, and delivery resumes direct', async () => {
    const { c1, c2 } = await pair();
    const stream = numberedStream(c1, c2);
    let grayAt = 0;
    let leftAt = 0;
    const lossesBefore = await metric('A', 'backbone_end_to_end_losses_total{peer="B"}');
    const droppedBefore = await metric('C', 'backbone_frames_rejected_total{reason="ERR_FAULT_GRAY"}');
    try {
      // A-B slow both ways: A and B route through C, and settle there for 3 s.
      await Promise.all([setFaults('A', 'B:delay=80'), setFaults('B', 'A:delay=80')]);
      let steadySince = Date.now();
      await until(
        async () => {
          if ((await routeOf('A', 'B')) !== 'A-C-B') steadySince = Date.now();
          return Date.now() - steadySince >= 3000;
        },
        15_000,
        'A on A-C-B for 3 s',
      );
      const through = stream.after(now() - 1000);
      expect(through.sent - through.lost).toBeGreaterThan(50);
      // C goes gray: it takes in every frame, drops what it would forward before counting it as
      // sent, and answers every probe. Every link looks clean to the per-link delivery check.
      grayAt = now(); // asked for; in force a moment later
      await setFaults('C', '*:gray');
      await until(async () => (await routeOf('A', 'B')) === 'A-B', GRAY_BOUND_MS + 2000, 'A leaves C');
      leftAt = now();
      await sleep(2 * TRAILING_MS);
    } finally {
      await stream.stop();
    }
    const grayLost = stream.after(grayAt).lost;
    // Sent after the route changed (plus a moment for queues).
    const trailing = stream.after(leftAt + 300);
    const dropped =
      (await metric('C', 'backbone_frames_rejected_total{reason="ERR_FAULT_GRAY"}')) - droppedBefore;
    const losses = (await metric('A', 'backbone_end_to_end_losses_total{peer="B"}')) - lossesBefore;
    const linkLoss = await metric('A', 'backbone_link_loss_ratio{peer="C"}');
    console.log(
      `gray relay: A left C ${(leftAt - grayAt).toFixed(0)} ms after C went gray; ${grayLost} packets lost ` +
        `meanwhile, C dropped ${dropped} in transit; trailing ${trailing.sent} sent / ${trailing.lost} lost; ` +
        `A's link to C published loss ${linkLoss}`,
    );
    // C really was gray: it dropped the stream, and the link A-C looked clean all the while.
    expect(dropped).toBeGreaterThan(50);
    expect(linkLoss).toBeLessThan(0.2);
    // A left on the end-to-end check, within the bound.
    expect(losses).toBeGreaterThanOrEqual(1);
    expect(leftAt - grayAt).toBeLessThan(GRAY_BOUND_MS);
    // Delivery resumed over the direct link: all but a stray few of the trailing packets arrive.
    expect(trailing.sent).toBeGreaterThan((2 * TRAILING_MS) / 10 / 3);
    expect(trailing.lost).toBeLessThanOrEqual(Math.floor(trailing.sent * 0.02));
    await Promise.all([c1.close(), c2.close()]);
  });

  it('fails over within a second when the direct link is blackholed, and delivery resumes', async () => {
    const { c1, c2 } = await pair();
    await until(async () => (await routeOf('A', 'B')) === 'A-B', 10_000, 'direct route');
    const stream = numberedStream(c1, c2);
    const { sentAt, arrivedAt } = stream;
    let blackholedAt = 0;
    let reroutedAt = 0;
    const forwardedBefore = await metric('C', 'backbone_data_frames_total{action="forwarded"}');
    try {
      await sleep(500);
      blackholedAt = now(); // asked for; in force a moment later
      await Promise.all([setFaults('A', 'B:blackhole'), setFaults('B', 'A:blackhole')]);
      await until(async () => (await routeOf('A', 'B')) === 'A-C-B', 3000, 'failover to A-C-B');
      reroutedAt = now();
      await sleep(TRAILING_MS); // the trailing window: delivery must have resumed and stay up
    } finally {
      stream.stopSending();
    }
    const endedAt = stream.endedAt;
    await stream.stop(); // the last packets in flight

    const sent = sentAt.length;
    const lost = sentAt.map((_, seq) => seq).filter((seq) => !arrivedAt.has(seq));
    const times = [...arrivedAt.values()].sort((a, b) => a - b);
    // The longest silence at the receiver from the blackhole to the end of the stream, counting
    // the stretch from the blackhole to the first arrival after it and from the last arrival to
    // the end: an empty or stalled stream cannot pass.
    const marks = [blackholedAt, ...times.filter((t) => t > blackholedAt && t < endedAt), endedAt];
    let gap = 0;
    for (let i = 1; i < marks.length; i++) gap = Math.max(gap, marks[i]! - marks[i - 1]!);
    // The loss window: from the first lost packet's send to the last's.
    const window = lost.length === 0 ? 0 : sentAt[lost.at(-1)!]! - sentAt[lost[0]!]!;
    // Sent well before the blackhole (a quarter second, for queues on a loaded machine).
    const before = sentAt.filter((t) => t < blackholedAt - 250).length;
    const { sent: trailing, lost: trailingLost } = stream.after(reroutedAt + 100);
    console.log(
      `failover: sent ${sent}, lost ${lost.length} (window ${window.toFixed(0)} ms), longest silence ` +
        `${gap.toFixed(0)} ms, route changed ${(reroutedAt - blackholedAt).toFixed(0)} ms after the blackhole, ` +
        `trailing ${trailing} sent / ${trailingLost} lost`,
    );
    // Before the blackhole nothing is lost.
    expect(lost.filter((seq) => seq < before)).toEqual([]);
    // Delivery resumed: packets sent well after the route changed arrive (all but a stray few).
    expect(trailing).toBeGreaterThan(TRAILING_MS / 10 / 3);
    expect(trailingLost).toBeLessThanOrEqual(Math.floor(trailing * 0.02));
    // ... through C.
    expect(
      (await metric('C', 'backbone_data_frames_total{action="forwarded"}')) - forwardedBefore,
    ).toBeGreaterThanOrEqual(trailing - trailingLost);
    // The outage is short: designed about 650 ms (probes every 100 ms, dead after 400 ms of
    // silence, then a route announcement); bounded at 1,000 ms for a loaded two-core machine.
    expect(window).toBeLessThan(FAILOVER_BOUND_MS);
    expect(gap).toBeLessThan(FAILOVER_BOUND_MS);
    expect(lost.length * 10).toBeLessThan(FAILOVER_BOUND_MS * 1.5);
    await Promise.all([setFaults('A', ''), setFaults('B', '')]);
    await Promise.all([c1.close(), c2.close()]);
  });
});
