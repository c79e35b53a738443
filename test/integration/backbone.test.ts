/**
 * Three relay processes on 127.0.0.2, .3 and .4 with a real Redis: two TURN clients on different
 * relays exchange data through the backbone; a slow direct link makes traffic detour through the
 * third relay; a blackholed link fails over within a second.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageClass } from '../../src/stun/constants.ts';
import {
  relayMetric,
  relayRoute,
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

const metric = (id: Id, sample: string) => relayMetric(nodes[id], sample);
const setFaults = (id: Id, spec: string) => setRelayFaults(nodes[id], spec);
const routeOf = (from: Id, to: Id) => relayRoute(nodes[from], to);

describe('backbone between three relays', () => {
  beforeAll(async () => {
    const redis = { url: await redisUrl(), prefix: uniquePrefix('backbone') };
    prefix = redis.prefix;
    await Promise.all(
      IDS.map(async (id) => {
        nodes[id] = await startTestRelay({ id, host: HOSTS[id], redis });
      }),
    );
    // Every relay has found the others and measured a direct path to each.
    await until(
      async () => {
        for (const from of IDS)
          for (const to of IDS)
            if (from !== to && (await routeOf(from, to)) !== `${from}-${to}`) return false;
        return true;
      },
      10_000,
      'direct routes between all relays',
    );
  });

  afterAll(async () => {
    await stopTestRelays(Object.values(nodes));
    await deleteKeys(await redisUrl(), prefix);
  });

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

  it('detours through C when the direct link A-B is slower than A-C-B, and comes back', async () => {
    const { c1, c2 } = await pair();
    const rtt = async () => {
      const t = performance.now();
      const n = c1.received.length;
      c2.received.length = 0;
      c1.sendChannel(0x4000, new Uint8Array([1]));
      await c2.waitForData(1);
      c2.sendChannel(0x4000, new Uint8Array([2]));
      await c1.waitForData(n + 1);
      return performance.now() - t;
    };
    const direct = await rtt();
    // The detour costs something real (10 ms each way through C), so coming back is a clear gain.
    await setFaults('C', 'A:delay=10;B:delay=10');
    await Promise.all([setFaults('A', 'B:delay=80'), setFaults('B', 'A:delay=80')]);
    await until(async () => (await routeOf('A', 'B')) === 'A-C-B', 8000, 'A routes to B through C');
    await until(async () => (await routeOf('B', 'A')) === 'B-C-A', 8000, 'B routes to A through C');
    const forwardedBefore = await metric('C', 'backbone_data_frames_total{action="forwarded"}');
    const detour = await rtt();
    await until(
      async () =>
        (await metric('C', 'backbone_data_frames_total{action="forwarded"}')) - forwardedBefore >= 2,
      1000,
      'C forwarded both directions',
    );
    // Through C (about 20 ms) the round trip stays far below the 160 ms of the slow direct link.
    expect(detour).toBeLessThan(80);
    console.log(`client RTT direct ${direct.toFixed(1)} ms, via C while A-B is slow ${detour.toFixed(1)} ms`);
    await Promise.all([setFaults('A', ''), setFaults('B', '')]);
    await until(async () => (await routeOf('A', 'B')) === 'A-B', 10_000, 'A back on the direct link');
    await until(async () => (await routeOf('B', 'A')) === 'B-A', 10_000, 'B back on the direct link');
    await setFaults('C', '');
    await Promise.all([c1.close(), c2.close()]);
  });

  it('fails over within a second when the direct link is blackholed', async () => {
    const { c1, c2 } = await pair();
    await until(async () => (await routeOf('A', 'B')) === 'A-B', 10_000, 'direct route');
    const arrivals: number[] = [];
    const stream = setInterval(() => c1.sendChannel(0x4000, new Uint8Array([7])), 10);
    const watch = setInterval(() => {
      while (c2.received.length > 0) {
        c2.received.shift();
        arrivals.push(performance.now());
      }
    }, 2);
    try {
      await new Promise((r) => setTimeout(r, 500));
      await Promise.all([setFaults('A', 'B:blackhole'), setFaults('B', 'A:blackhole')]);
      await until(async () => (await routeOf('A', 'B')) === 'A-C-B', 3000, 'failover to A-C-B');
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      clearInterval(stream);
      clearInterval(watch);
    }
    let gap = 0;
    for (let i = 1; i < arrivals.length; i++) gap = Math.max(gap, arrivals[i]! - arrivals[i - 1]!);
    console.log(`longest gap in delivery across the blackhole: ${gap.toFixed(0)} ms`);
    expect(gap).toBeLessThan(1000);
    await Promise.all([setFaults('A', ''), setFaults('B', '')]);
    await Promise.all([c1.close(), c2.close()]);
  });
});
