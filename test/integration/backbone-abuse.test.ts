/**
 * Two relay processes with a backbone on 127.0.0.7 and .8 and a real Redis, against the abuse
 * issue 11 measured: a sealed data frame sent again and again from an address that is not a
 * relay, and a ChannelData too large to frame (65,480 bytes) for a peer on the other relay. On
 * both UDP I/Os: Node's dgram and the native addon, which must take a datagram as large as
 * dgram does.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeDataFrame, wireAddress } from '../../src/backbone/frame.ts';
import { relayHash } from '../../src/backbone/relay-hash.ts';
import { parseHostPort } from '../../src/net/ip.ts';
import { MessageClass } from '../../src/stun/constants.ts';
import {
  relayBackbone,
  relayMetric,
  relayRoute,
  relayUdpIo,
  requireUdpIo,
  runKeysOf,
  startTestRelay,
  stopTestRelays,
  type TestRelay,
  until,
} from '../support/backbone-relays.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const CRED = { username: 'a', password: 'b', realm: 'r' };
let A: TestRelay;
let B: TestRelay;
let prefix: string;

async function _backboneAddress(r: TestRelay): Promise<{ host: string; port: number }> {
  const body = (await (await fetch(`${r.http}/healthz`)).json()) as { backbone: { address: string } };
  return parseHostPort(body.backbone.address)!;
}

describe.each(['dgram', 'native'] as const)(
  'backbone frames that cannot be replayed or abused, on %s UDP I/O',
  (io) => {
    beforeAll(async () => {
      requireUdpIo(io);
      const redis = { url: await redisUrl(), prefix: uniquePrefix('abuse') };
      prefix = redis.prefix;
      const extra = ['--udp-io', io];
      [A, B] = await Promise.all([
        startTestRelay({ id: 'A', host: '127.0.0.7', redis, extra }),
        startTestRelay({ id: 'B', host: '127.0.0.8', redis, extra }),
      ]);
      expect([await relayUdpIo(A), await relayUdpIo(B)]).toEqual([io, io]);
      await until(async () => (await relayRoute(A, 'B')) === 'A-B', 10_000, 'route A-B');
    });

    afterAll(async () => {
      await stopTestRelays([A, B]);
      await deleteKeys(await redisUrl(), prefix);
    });

    async function pair() {
      const c1 = await TurnTestClient.connect({ transport: 'udp', server: A.turn, cred: CRED });
      const c2 = await TurnTestClient.connect({ transport: 'udp', server: B.turn, cred: CRED });
      expect((await c1.allocate()).cls).toBe(MessageClass.SuccessResponse);
      expect((await c2.allocate()).cls).toBe(MessageClass.SuccessResponse);
      expect((await c1.channelBind(0x4000, c2.relayed!)).cls).toBe(MessageClass.SuccessResponse);
      expect((await c2.channelBind(0x4000, c1.relayed!)).cls).toBe(MessageClass.SuccessResponse);
      return { c1, c2 };
    }

    it('delivers a sealed data frame sent five times from a non-relay address zero times', async () => {
      const { c1, c2 } = await pair();
      const frame = encodeDataFrame(
        {
          seq: 123_456,
          sender: relayHash('A'),
          target: relayHash('B'),
          source: wireAddress(c1.relayed!),
          destination: wireAddress(c2.relayed!),
          payload: new Uint8Array([1, 2, 3]),
        },
        runKeysOf((await relayBackbone(A)).run),
      );
      const to = await relayBackbone(B);
      const before = await relayMetric(B, 'backbone_frames_rejected_total{reason="ERR_UNKNOWN_ADDRESS"}');
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      for (let i = 0; i < 5; i++) sock.send(frame, to.port, to.host);
      await until(
        async () =>
          (await relayMetric(B, 'backbone_frames_rejected_total{reason="ERR_UNKNOWN_ADDRESS"}')) - before >=
          5,
        3000,
        'five rejections',
      );
      sock.close();
      // The pair still works, and nothing of the injected frames reached c2.
      c1.sendChannel(0x4000, new Uint8Array([42]));
      const got = await c2.waitForData(1);
      expect(got.map((g) => [...g.data])).toEqual([[42]]);
      await Promise.all([c1.close(), c2.close()]);
    });

    it('sends a 65,480-byte ChannelData for a peer on the other relay directly, counted, not thrown', async () => {
      const { c1, c2 } = await pair();
      const big = new Uint8Array(65_480).fill(7);
      c1.sendChannel(0x4000, big);
      const got = await c2.waitForData(1);
      expect(got[0]!.data.length).toBe(65_480);
      expect(await relayMetric(A, 'backbone_frames_rejected_total{reason="ERR_FRAME_TOO_LARGE"}')).toBe(1);
      // The relay is alive and the backbone still carries the next packet.
      c1.sendChannel(0x4000, new Uint8Array([5]));
      expect((await c2.waitForData(2))[1]!.data).toEqual(new Uint8Array([5]));
      await Promise.all([c1.close(), c2.close()]);
    });
  },
);
