/**
 * The backbone with several TURN workers: relay A (one thread) and relay B (--workers 2, on a Node
 * with dgram reusePort: test/support/newer-node.ts) with a real Redis. B's TURN clients, each from
 * its own port, land on both of B's threads (the kernel hashes them); every one of them exchanges
 * data with a client on A both ways through the backbone, each frame straight to the thread that
 * owns the destination port (none handed between B's threads), counted in both relays' metrics.
 * Twice: on dgram, and with both relays on native UDP I/O (every thread's backbone port too).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portSlice } from '../../relay/worker-config.ts';
import { MessageClass } from '../../src/stun/constants.ts';
import {
  relayBackboneIo,
  relayMetric,
  relayRoute,
  requireUdpIo,
  startTestRelay,
  stopTestRelays,
  type TestRelay,
  until,
} from '../support/backbone-relays.ts';
import { newerNode } from '../support/newer-node.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const CRED = { username: 'a', password: 'b', realm: 'r' };
const B_PORTS = { min: 43000, max: 43999 };
/** B's thread 1 owns the upper half of its relayed ports. */
const B_THREAD1 = portSlice(B_PORTS.min, B_PORTS.max, 2, 1).minPort;
const PACKETS = 5;

const frames = (r: TestRelay, action: string) =>
  relayMetric(r, `backbone_data_frames_total{action="${action}"}`);

describe.each(['dgram', 'native'] as const)(
  'backbone between a relay and a relay with two TURN workers on %s UDP I/O',
  (io) => {
    let a: TestRelay;
    let b: TestRelay;
    let prefix: string;
    const clients: TurnTestClient[] = [];

    beforeAll(async () => {
      requireUdpIo(io);
      const node = await newerNode();
      const redis = { url: await redisUrl(), prefix: uniquePrefix('bbworkers') };
      prefix = redis.prefix;
      [a, b] = await Promise.all([
        startTestRelay({ id: 'A', host: '127.0.0.2', redis, extra: ['--udp-io', io] }),
        startTestRelay({
          id: 'B',
          host: '127.0.0.3',
          redis,
          node,
          backbonePorts: 2,
          extra: [
            '--workers',
            '2',
            '--min-port',
            String(B_PORTS.min),
            '--max-port',
            String(B_PORTS.max),
            '--udp-io',
            io,
          ],
        }),
      ]);
      await until(
        async () => (await relayRoute(a, 'B')) === 'A-B' && (await relayRoute(b, 'A')) === 'B-A',
        15_000,
        'direct routes A-B and B-A',
      );
      expect([await relayBackboneIo(a), await relayBackboneIo(b)]).toEqual([io, io]);
    }, 240_000);

    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await stopTestRelays([a, b].filter(Boolean));
      await deleteKeys(await redisUrl(), prefix);
    });

    it('carries data both ways for allocations in every thread of B, each frame to its thread', async () => {
      // Clients on B until both threads hold allocations (16 ports all on one thread: odds 2 in 65,536).
      const onB: TurnTestClient[] = [];
      const thread = (c: TurnTestClient) => (c.relayed!.port >= B_THREAD1 ? 1 : 0);
      while (onB.length < 16 || new Set(onB.map(thread)).size < 2) {
        if (onB.length >= 64) throw new Error('64 clients all landed on one thread of B');
        const c = await TurnTestClient.connect({ transport: 'udp', server: b.turn, cred: CRED });
        clients.push(c);
        expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
        onB.push(c);
      }
      const onA = await TurnTestClient.connect({ transport: 'udp', server: a.turn, cred: CRED });
      clients.push(onA);
      expect((await onA.allocate()).cls).toBe(MessageClass.SuccessResponse);
      for (const [i, c] of onB.entries()) {
        expect((await onA.channelBind(0x4000 + i, c.relayed!)).cls).toBe(MessageClass.SuccessResponse);
        expect((await c.channelBind(0x4000, onA.relayed!)).cls).toBe(MessageClass.SuccessResponse);
      }
      const before = {
        aSent: await frames(a, 'sent'),
        aDelivered: await frames(a, 'delivered'),
        bSent: await frames(b, 'sent'),
        bDelivered: await frames(b, 'delivered'),
        bHandover: await frames(b, 'handover'),
      };
      const n = onB.length * PACKETS;

      // A to every client on B.
      for (let k = 0; k < PACKETS; k++)
        for (const i of onB.keys()) onA.sendChannel(0x4000 + i, Uint8Array.of(i, k));
      for (const [i, c] of onB.entries()) {
        const got = await c.waitForData(PACKETS, 5000);
        expect(got.map((g) => [...g.data])).toEqual(Array.from({ length: PACKETS }, (_, k) => [i, k]));
      }
      // Every client on B to A.
      for (let k = 0; k < PACKETS; k++)
        for (const [i, c] of onB.entries()) c.sendChannel(0x4000, Uint8Array.of(i, k));
      const got = await onA.waitForData(n, 5000);
      for (const i of onB.keys())
        expect(got.filter((g) => g.channel === 0x4000 + i).map((g) => [...g.data])).toEqual(
          Array.from({ length: PACKETS }, (_, k) => [i, k]),
        );

      // All of it crossed the backbone, in both directions, and each frame reached the thread owning
      // its port at once (B's /metrics sums its threads; a plain-UDP packet is counted nowhere here).
      const allCounted = async () =>
        (await frames(a, 'sent')) - before.aSent >= n &&
        (await frames(b, 'delivered')) - before.bDelivered >= n &&
        (await frames(b, 'sent')) - before.bSent >= n &&
        (await frames(a, 'delivered')) - before.aDelivered >= n;
      await until(allCounted, 5000, 'every frame counted in both relays’ metrics');
      expect((await frames(b, 'handover')) - before.bHandover).toBe(0);
      // Both of B's threads relayed (its main thread reads the other's counts every second).
      const workers = async () =>
        ((await (await fetch(`${b.http}/healthz`)).json()) as { workers: { relayedPackets: number }[] })
          .workers;
      await until(
        async () => (await workers()).every((w) => w.relayedPackets >= 2 * PACKETS),
        5000,
        'both of B’s threads counted relayed packets',
      );
    }, 120_000);
  },
);
