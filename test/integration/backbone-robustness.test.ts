/**
 * The backbone under stress, on a Redis of this test's own: a call carried between two relays
 * loses no packet while Redis is down, and 100,000 random and mutated backbone frames thrown at a
 * live relay neither crash it nor deliver anything into an allocation.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeDataFrame, encodeProbe, wireAddress } from '../../src/backbone/frame.ts';
import { relayHash } from '../../src/backbone/relay-hash.ts';
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
import { rng } from '../support/fuzz.ts';
import { freePort } from '../support/ports.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const CRED = { username: 'a', password: 'b', realm: 'r' };
const SEED = Number(process.env.FUZZ_SEED ?? 7);
/** Links published with a 5 s TTL (relay/backbone.ts), records with the test relays' 2 s heartbeat TTL. */
const LINK_TTL_MS = 5000;
const HEARTBEAT_TTL_MS = 2000;
const OUTAGE_MS = Math.max(LINK_TTL_MS, HEARTBEAT_TTL_MS) + 2000;

let redis: ChildProcess;
const relays = {} as Record<'A' | 'B', TestRelay>;

const metric = (id: 'A' | 'B', sample: string) => relayMetric(relays[id], sample);

describe('backbone robustness', () => {
  beforeAll(async () => {
    const redisPort = await freePort('tcp');
    redis = spawn(
      'redis-server',
      ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    await new Promise((r) => setTimeout(r, 300));
    const backbone = { url: `redis://127.0.0.1:${redisPort}`, prefix: 'rb:' };
    relays.A = await startTestRelay({ id: 'A', host: '127.0.0.5', redis: backbone });
    relays.B = await startTestRelay({ id: 'B', host: '127.0.0.6', redis: backbone });
    await until(async () => (await relayRoute(relays.A, 'B')) === 'A-B', 10_000, 'route A-B');
    await until(async () => (await relayRoute(relays.B, 'A')) === 'B-A', 10_000, 'route B-A');
  });

  afterAll(async () => {
    await stopTestRelays(Object.values(relays));
    redis?.kill('SIGKILL');
  });

  it('loses no packet of a call between two relays while Redis is down for longer than every TTL', async () => {
    const c1 = await TurnTestClient.connect({ transport: 'udp', server: relays.A.turn, cred: CRED });
    const c2 = await TurnTestClient.connect({ transport: 'udp', server: relays.B.turn, cred: CRED });
    await c1.allocate();
    await c2.allocate();
    await c1.channelBind(0x4000, c2.relayed!);
    await c2.channelBind(0x4000, c1.relayed!);
    const deliveredBefore = await metric('B', 'backbone_data_frames_total{action="delivered"}');
    redis.kill('SIGKILL');
    const downAt = Date.now();
    await new Promise((r) => redis.once('exit', r));
    // The outage outlasts the published links' TTL and the relays' heartbeat TTL: every record of
    // the mesh in Redis would have expired by its end, and the call must not notice.
    let n = 0;
    while (Date.now() - downAt < OUTAGE_MS) {
      const b = new Uint8Array(2);
      new DataView(b.buffer).setUint16(0, n++);
      c1.sendChannel(0x4000, b);
      await new Promise((r) => setTimeout(r, 20));
    }
    const got = await c2.waitForData(n, 5000);
    expect(got.map((g) => new DataView(g.data.buffer).getUint16(0))).toEqual(
      Array.from({ length: n }, (_, i) => i),
    );
    expect((await metric('B', 'backbone_data_frames_total{action="delivered"}')) - deliveredBefore).toBe(n);
    // Still on the direct path after the outage: the relays kept their last-known mesh.
    expect(await relayRoute(relays.A, 'B')).toBe('A-B');
    expect(await relayRoute(relays.B, 'A')).toBe('B-A');
    expect(relays.A.child.child.exitCode).toBeNull();
    await Promise.all([c1.close(), c2.close()]);
  });

  it('survives 100,000 random and mutated frames without delivering any', { timeout: 120_000 }, async () => {
    const victim = await TurnTestClient.connect({ transport: 'udp', server: relays.B.turn, cred: CRED });
    await victim.allocate();
    await victim.createPermission({ family: 4, address: '127.0.0.5', port: 1 });
    const target = await relayBackbone(relays.B);
    const deliveredBefore = await metric('B', 'backbone_data_frames_total{action="delivered"}');
    const random = rng(SEED);
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
    const run = (await relayBackbone(relays.A)).run;
    const realKeys = runKeysOf(run);
    const wrongKeys = runKeysOf(run, ['not-the-mesh-key-at-all']);
    // Valid frames aimed at the live allocation, as mutation seeds: every mutation must break them.
    const seed = (keys: typeof realKeys) =>
      encodeDataFrame(
        {
          seq: Math.floor(random() * 2 ** 32),
          sender: relayHash('A'),
          target: relayHash('B'),
          source: wireAddress({ family: 4, address: '127.0.0.5', port: 40000 }),
          destination: wireAddress(victim.relayed!),
          payload: bytes(Math.floor(random() * 200)),
        },
        keys,
      );
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
    const COUNT = 100_000;
    for (let i = 0; i < COUNT; i++) {
      const kind = i % 4;
      let frame: Uint8Array;
      if (kind === 0) frame = bytes(Math.floor(random() * 300));
      else if (kind === 1) frame = seed(wrongKeys);
      else if (kind === 2)
        frame = encodeProbe(
          { seq: i, sender: relayHash('mallory'), target: relayHash('B'), sentAt: i },
          realKeys,
        );
      else {
        frame = seed(realKeys);
        // Flip a bit anywhere but in the hop limit (byte 3), which the tag leaves out by design.
        let at = Math.floor(random() * frame.length);
        if (at === 3) at = 4;
        frame[at]! ^= 1 << Math.floor(random() * 8);
      }
      socket.send(frame, target.port, target.host);
      if (i % 500 === 499) await new Promise((r) => setImmediate(r));
    }
    socket.close();
    await new Promise((r) => setTimeout(r, 500));
    expect(relays.B.child.child.exitCode).toBeNull();
    expect(await metric('B', 'backbone_data_frames_total{action="delivered"}')).toBe(deliveredBefore);
    expect(victim.received).toEqual([]);
    const rejected = (await (await fetch(`${relays.B.http}/metrics`)).text())
      .split('\n')
      .filter((l) => l.startsWith('backbone_frames_rejected_total'))
      .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    expect(rejected).toBeGreaterThan(COUNT / 2);
    // Still relaying for real clients.
    expect((await victim.refresh(600)).cls).toBe(MessageClass.SuccessResponse);
    await victim.close();
  });
});
