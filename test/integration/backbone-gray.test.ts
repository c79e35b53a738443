/**
 * A gray relay between three relay processes (127.0.0.2, .3, .4) with a real Redis: A reaches B
 * through C (the direct link slowed), C goes gray (`--fault-links` / PUT /faults `*:gray`: it
 * answers probes and takes in every frame, and drops what it forwards before counting it as sent,
 * so every link looks clean to the per-link delivery check), and A must leave C on the end-to-end
 * check alone (src/backbone/end-to-end.ts) and deliver again.
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
/**
 * From C going gray to A routing around it. Designed: a record of B's each second, and 20 % of
 * the 10 s window lost once about 2 s of the stream is gone, so 2-4 s; bounded at 15 s for a
 * loaded two-core machine (the per-link check, blind here, would never leave).
 */
const LEAVE_BOUND_MS = 15_000;
/** How long the stream runs after the route changed: delivery must resume within it. */
const TRAILING_MS = 2000;

const nodes = {} as Record<Id, TestRelay>;
let prefix: string;
const now = () => performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const routeOf = (from: Id, to: Id) => relayRoute(nodes[from], to);

describe('backbone: a gray transit relay', () => {
  beforeAll(async () => {
    const redis = { url: await redisUrl(), prefix: uniquePrefix('backbone-gray') };
    prefix = redis.prefix;
    await Promise.all(
      IDS.map(async (id) => {
        nodes[id] = await startTestRelay({ id, host: HOSTS[id], redis });
      }),
    );
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
    await Promise.all(IDS.map((id) => setRelayFaults(nodes[id], '').catch(() => undefined)));
    await stopTestRelays(Object.values(nodes));
    await deleteKeys(await redisUrl(), prefix);
  });

  it('leaves a relay that forwards nothing while answering every probe, and delivery resumes direct', async () => {
    const c1 = await TurnTestClient.connect({ transport: 'udp', server: nodes.A.turn, cred: CRED });
    const c2 = await TurnTestClient.connect({ transport: 'udp', server: nodes.B.turn, cred: CRED });
    expect((await c1.allocate()).cls).toBe(MessageClass.SuccessResponse);
    expect((await c2.allocate()).cls).toBe(MessageClass.SuccessResponse);
    expect((await c1.channelBind(0x4000, c2.relayed!)).cls).toBe(MessageClass.SuccessResponse);
    expect((await c2.channelBind(0x4000, c1.relayed!)).cls).toBe(MessageClass.SuccessResponse);
    // Every packet numbered and timed: sent every 10 ms, arrivals stamped the moment they land.
    const sentAt: number[] = [];
    const arrivedAt = new Map<number, number>();
    c2.onChannelData = (_ch, data) => {
      if (data.length === 4) arrivedAt.set(new DataView(data.buffer, data.byteOffset).getUint32(0), now());
    };
    const stream = setInterval(() => {
      const b = new Uint8Array(4);
      new DataView(b.buffer).setUint32(0, sentAt.length);
      sentAt.push(now());
      c1.sendChannel(0x4000, b);
    }, 10);
    let grayAt = 0;
    let leftAt = 0;
    const lossesBefore = await relayMetric(nodes.A, 'backbone_end_to_end_losses_total{peer="B"}');
    try {
      // A-B slow both ways: A and B route through C.
      await Promise.all([setRelayFaults(nodes.A, 'B:delay=80'), setRelayFaults(nodes.B, 'A:delay=80')]);
      await until(async () => (await routeOf('A', 'B')) === 'A-C-B', 10_000, 'A routes to B through C');
      // Settled on C for 3 s, with data through it.
      let steadySince = Date.now();
      await until(
        async () => {
          if ((await routeOf('A', 'B')) !== 'A-C-B') steadySince = Date.now();
          return Date.now() - steadySince >= 3000;
        },
        15_000,
        'A on A-C-B for 3 s',
      );
      const arrivedBefore = arrivedAt.size;
      await sleep(500);
      expect(arrivedAt.size - arrivedBefore).toBeGreaterThan(20);
      grayAt = now(); // asked for; in force a moment later
      await setRelayFaults(nodes.C, '*:gray');
      await until(async () => (await routeOf('A', 'B')) === 'A-B', LEAVE_BOUND_MS + 2000, 'A leaves C');
      leftAt = now();
      await sleep(TRAILING_MS);
    } finally {
      clearInterval(stream);
    }
    await sleep(300); // the last packets in flight
    c2.onChannelData = undefined;

    const lost = sentAt.map((_, seq) => seq).filter((seq) => !arrivedAt.has(seq));
    const grayLost = lost.filter((seq) => sentAt[seq]! >= grayAt);
    // Sent after the route changed (plus a moment for B's route table and queues).
    const trailing = sentAt.map((t, seq) => ({ t, seq })).filter(({ t }) => t > leftAt + 300);
    const trailingLost = trailing.filter(({ seq }) => !arrivedAt.has(seq)).length;
    const dropped = await relayMetric(nodes.C, 'backbone_frames_rejected_total{reason="ERR_FAULT_GRAY"}');
    const losses = (await relayMetric(nodes.A, 'backbone_end_to_end_losses_total{peer="B"}')) - lossesBefore;
    const linkLoss = await relayMetric(nodes.A, 'backbone_link_loss_ratio{peer="C"}');
    console.log(
      `gray relay: A left C ${(leftAt - grayAt).toFixed(0)} ms after C went gray; lost ${grayLost.length} ` +
        `packets meanwhile, C dropped ${dropped} in transit; trailing ${trailing.length} sent / ${trailingLost} lost; ` +
        `A's link to C published loss ${linkLoss}`,
    );
    // C really was gray: it dropped the stream, and the link A-C looked clean all the while.
    expect(dropped).toBeGreaterThan(50);
    expect(linkLoss).toBeLessThan(0.2);
    // A left on the end-to-end check, within the bound.
    expect(losses).toBeGreaterThanOrEqual(1);
    expect(leftAt - grayAt).toBeLessThan(LEAVE_BOUND_MS);
    // Delivery resumed over the direct link: all but a stray few of the trailing packets arrive.
    expect(trailing.length).toBeGreaterThan(TRAILING_MS / 10 / 3);
    expect(trailingLost).toBeLessThanOrEqual(Math.floor(trailing.length * 0.02));
    await Promise.all([c1.close(), c2.close()]);
  });
});
