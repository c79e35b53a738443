/**
 * Relays whose frame tags come from different code interoperate (relay/frame-mac.ts): A takes the
 * native addon's OpenSSL MAC (--backbone-mac auto, the addon built), B node:crypto's
 * (--backbone-mac node-crypto), on one real Redis. Data crosses the backbone both ways, alone and
 * in bundles; a made-up relay M, registered in the directory at a socket of this test, gets its
 * probes answered by both (the replies checked here with node:crypto), and the frames it sends with
 * a bad tag are dropped and counted by both.
 */
import dgram from 'node:dgram';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeFrameMac } from '../../relay/frame-mac.ts';
import {
  decodeFrame,
  encodeDataFrame,
  encodeProbe,
  FrameType,
  peekSender,
  type RunKeys,
  relayHash,
  wireAddress,
} from '../../src/backbone/index.ts';
import { parseHostPort } from '../../src/net/ip.ts';
import { RedisDirectory } from '../../src/redis/redis-directory.ts';
import { MessageClass } from '../../src/stun/constants.ts';
import {
  relayBackbone,
  relayMetric,
  relayRoute,
  runKeysOf,
  startTestRelay,
  stopTestRelays,
  type TestRelay,
  until,
} from '../support/backbone-relays.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { relayRecord, testRun } from '../support/relay-record.ts';
import { requireOnHost } from '../support/requirements.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const CRED = { username: 'a', password: 'b', realm: 'r' };
const HOSTS = { a: '127.0.0.31', b: '127.0.0.32', m: '127.0.0.33' } as const;
/** M's keys: its record (relayRecord) carries testRun('M'). */
const keys = runKeysOf(testRun('M'));
let A: TestRelay;
let B: TestRelay;
let prefix: string;
let m: dgram.Socket;
let directory: RedisDirectory;
let heartbeat: NodeJS.Timeout;

const health = relayBackbone;

const badTags = (r: TestRelay) => relayMetric(r, 'backbone_frames_rejected_total{reason="ERR_BAD_TAG"}');
const delivered = (r: TestRelay) => relayMetric(r, 'backbone_data_frames_total{action="delivered"}');

describe('relays with the OpenSSL native and the node:crypto frame MAC', () => {
  beforeAll(async () => {
    const native = nativeFrameMac();
    requireOnHost(
      'mac' in native,
      `no native frame MAC: ${'error' in native ? native.error : ''}`,
      'run npm run build:native',
    );
    const url = await redisUrl();
    prefix = uniquePrefix('mac');
    const redis = { url, prefix };
    [A, B] = await Promise.all([
      startTestRelay({ id: 'A', host: HOSTS.a, redis }),
      startTestRelay({ id: 'B', host: HOSTS.b, redis, extra: ['--backbone-mac', 'node-crypto'] }),
    ]);
    // M: registered like a relay, at a socket of ours, heartbeating while the tests run.
    m = dgram.createSocket('udp4');
    await new Promise<void>((r) => m.bind(0, HOSTS.m, r));
    directory = new RedisDirectory({ client: new Redis(url), subscriber: new Redis(url), prefix });
    const record = relayRecord('M', HOSTS.m, 10, 10, { backbone: `${HOSTS.m}:${m.address().port}` });
    const beat = () => directory.register({ ...record, updatedAt: Date.now() }, 6000, Date.now());
    await beat();
    await directory.publish({ type: 'relay-up', id: 'M', at: Date.now() });
    heartbeat = setInterval(() => void beat().catch(() => undefined), 1500);
    await until(async () => (await relayRoute(A, 'B')) === 'A-B', 10_000, 'route A-B');
    await until(async () => (await relayRoute(B, 'A')) === 'B-A', 10_000, 'route B-A');
  });

  afterAll(async () => {
    clearInterval(heartbeat);
    await directory?.deregister('M').catch(() => undefined);
    await directory?.close();
    m?.close();
    await stopTestRelays([A, B].filter(Boolean));
    await deleteKeys(await redisUrl(), prefix);
  });

  it('says in /healthz which MAC each relay uses', async () => {
    expect((await health(A)).mac).toBe('openssl-native');
    expect((await health(B)).mac).toBe('node-crypto');
  });

  it('carries data both ways, 100-byte frames in bundles mixed with 1,000-byte ones alone, every packet on the backbone', async () => {
    const c1 = await TurnTestClient.connect({ transport: 'udp', server: A.turn, cred: CRED });
    const c2 = await TurnTestClient.connect({ transport: 'udp', server: B.turn, cred: CRED });
    expect((await c1.allocate()).cls).toBe(MessageClass.SuccessResponse);
    expect((await c2.allocate()).cls).toBe(MessageClass.SuccessResponse);
    expect((await c1.channelBind(0x4000, c2.relayed!)).cls).toBe(MessageClass.SuccessResponse);
    expect((await c2.channelBind(0x4000, c1.relayed!)).cls).toBe(MessageClass.SuccessResponse);
    const [aBefore, bBefore] = [await delivered(A), await delivered(B)];
    const N = 40;
    const packet = (i: number) => new Uint8Array(i % 2 ? 1000 : 100).fill(i);
    // Several per turn, small and large mixed: a large frame leaves after the small ones queued
    // before it for the same next hop (once lost: the relay's shell dropped the bundle then).
    for (let i = 0; i < N; i += 4) {
      for (let j = i; j < i + 4; j++) {
        c1.sendChannel(0x4000, packet(j));
        c2.sendChannel(0x4000, packet(j));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    const [to2, to1] = await Promise.all([c2.waitForData(N), c1.waitForData(N)]);
    const summary = (got: { data: Uint8Array }[]) => got.map((g) => `${g.data.length}:${g.data[0]}`).sort();
    const want = Array.from({ length: N }, (_, i) => `${packet(i).length}:${i}`).sort();
    expect(summary(to2)).toEqual(want);
    expect(summary(to1)).toEqual(want);
    expect((await delivered(B)) - bBefore).toBe(N);
    expect((await delivered(A)) - aBefore).toBe(N);
    expect(await relayMetric(A, 'backbone_bundled_frames_total')).toBeGreaterThan(0);
    expect(await badTags(A)).toBe(0);
    expect(await badTags(B)).toBe(0);
    await Promise.all([c1.close(), c2.close()]);
  });

  it("answers a registered relay's probes under either MAC, and drops and counts its frames with a bad tag", async () => {
    const replies = new Map<number, number>();
    // Each relay's replies are sealed under its own run.
    const runs = new Map<number, RunKeys>();
    for (const r of [A, B]) runs.set(relayHash(r.id), runKeysOf((await health(r)).run));
    m.on('message', (msg) => {
      const theirs = runs.get(peekSender(msg));
      if (!theirs) return;
      const r = decodeFrame(msg, theirs);
      if (r.ok && r.frame.type === FrameType.ProbeReply) replies.set(r.frame.sender, r.frame.probeSeq);
    });
    const me = relayHash('M');
    let seq = 1;
    const probe = async (to: TestRelay) => {
      const at = parseHostPort((await health(to)).address)!;
      const target = relayHash(to.id);
      await until(
        async () => {
          const s = seq++;
          m.send(encodeProbe({ seq: s, sender: me, target, sentAt: Date.now() }, keys), at.port, at.host);
          await new Promise((r) => setTimeout(r, 100));
          return replies.get(target) !== undefined;
        },
        15_000,
        `a probe reply from ${to.id}`,
      );
      return at;
    };
    for (const r of [A, B]) {
      const at = await probe(r);
      const before = await badTags(r);
      const frame = encodeDataFrame(
        {
          seq: seq++,
          sender: me,
          target: relayHash(r.id),
          source: wireAddress({ family: 4, address: HOSTS.m, port: 40_000 }),
          destination: wireAddress({ family: 4, address: r.turn.address, port: 50_000 }),
          payload: new Uint8Array(1000).fill(9),
        },
        keys,
      );
      for (let i = 0; i < 5; i++) {
        const bad = frame.slice();
        bad[bad.length - 1 - i] = bad[bad.length - 1 - i]! ^ 0x80;
        m.send(bad, at.port, at.host);
      }
      await until(async () => (await badTags(r)) - before === 5, 3000, `five bad tags counted by ${r.id}`);
    }
  });
});
