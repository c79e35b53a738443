/**
 * --discover-external-ip with real relay processes: STUN responders on loopback pretend a NAT
 * (they answer 127.0.0.77 to a relay on 127.0.0.1), and the relay must advertise what they
 * agree on in its Allocate responses and its directory record, or refuse to start.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisDirectory } from '../../src/redis/redis-directory.ts';
import { Attr, MessageClass } from '../../src/stun/constants.ts';
import { freePort } from '../support/ports.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';
import { runRelayCli, startRelayProcess } from '../support/relay.ts';
import { type StunResponder, startStunResponder } from '../support/stun-responder.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const CRED = { username: 'a', password: 'b', realm: 'r' };
const prefixes: string[] = [];
const responders: StunResponder[] = [];

afterAll(async () => {
  const url = await redisUrl();
  for (const p of prefixes) await deleteKeys(url, p);
  await Promise.all(responders.map((r) => r.close()));
});

async function responder(mapped: string | undefined, dropFirst = 0): Promise<StunResponder> {
  const r = await startStunResponder(mapped, { dropFirst });
  responders.push(r);
  return r;
}

const at = (r: StunResponder): string[] => ['--discover-external-ip', `127.0.0.1:${r.port}`];

describe('relay discovers its external address with STUN', () => {
  it('advertises the address the answering servers agree on, in Allocate and in its record', async () => {
    const url = await redisUrl();
    const prefix = uniquePrefix('discovery');
    prefixes.push(prefix);
    const late = await responder('127.0.0.77', 1); // answers only the retransmission
    const prompt = await responder('127.0.0.77');
    const silent = await responder(undefined);
    const port = await freePort('both');
    const relay = await startRelayProcess([
      ...['--listen', '127.0.0.1', '--turn-port', String(port), '--http-port', '0'],
      ...['--user', 'a:b', '--realm', 'r', '--allow-peer', '127.0.0.0/8', '--log-level', 'warn'],
      ...['--redis', url, '--redis-prefix', prefix, '--id', 'behind-nat'],
      ...at(late),
      ...['--discover-external-ip', `localhost:${prompt.port}`], // a name, resolved from /etc/hosts
      ...at(silent),
      ...['--discover-timeout', '2'],
    ]);
    const directory = new RedisDirectory({ client: new Redis(url), subscriber: new Redis(url), prefix });
    try {
      // Asked from the relay's own address, and asked again when the first went unanswered.
      for (const r of [late, prompt, silent]) {
        expect(r.requests.length).toBeGreaterThanOrEqual(1);
        expect(new Set(r.requests.map((q) => q.address))).toEqual(new Set(['127.0.0.1']));
      }
      expect(late.requests.length).toBeGreaterThanOrEqual(2);
      expect(silent.requests.length).toBeGreaterThanOrEqual(2);
      expect(relay.output()).toContain('some STUN servers did not answer');

      const c = await TurnTestClient.connect({
        transport: 'udp',
        server: { family: 4, address: '127.0.0.1', port },
        cred: CRED,
      });
      expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
      expect(c.relayed?.address).toBe('127.0.0.77');
      await c.close();

      const rec = (await directory.get('behind-nat', Date.now()))!;
      expect(rec.relayedAddress).toBe('127.0.0.77');
      expect(rec.turnUrls).toEqual([
        `turn:127.0.0.77:${port}?transport=udp`,
        `turn:127.0.0.77:${port}?transport=tcp`,
      ]);
    } finally {
      relay.kill('SIGINT');
      await relay.exited;
      await directory.close();
    }
  });

  it("learns each family from its own servers, asked from that family's listen address", async () => {
    const url = await redisUrl();
    const prefix = uniquePrefix('discovery6');
    prefixes.push(prefix);
    const v4 = await responder('127.0.0.77');
    const v6 = await startStunResponder('2001:db8::77', { host: '::1' });
    responders.push(v6);
    const port = await freePort('both');
    const relay = await startRelayProcess([
      ...['--listen', '127.0.0.1', '--listen', '::1', '--turn-port', String(port), '--http-port', '0'],
      ...['--user', 'a:b', '--realm', 'r', '--log-level', 'warn', '--no-tcp'],
      ...['--redis', url, '--redis-prefix', prefix, '--id', 'dual-nat'],
      ...at(v4),
      ...['--discover-external-ip', `[::1]:${v6.port}`],
    ]);
    const directory = new RedisDirectory({ client: new Redis(url), subscriber: new Redis(url), prefix });
    try {
      expect(new Set(v4.requests.map((q) => q.address))).toEqual(new Set(['127.0.0.1']));
      expect(new Set(v6.requests.map((q) => q.address))).toEqual(new Set(['::1']));
      for (const [address, family, relayed] of [
        ['127.0.0.1', 4, '127.0.0.77'],
        ['::1', 6, '2001:db8::77'],
      ] as const) {
        const c = await TurnTestClient.connect({
          transport: 'udp',
          server: { family, address, port },
          cred: CRED,
        });
        // RFC 8656 §7.2: IPv4 unless REQUESTED-ADDRESS-FAMILY (§14.6) asks for IPv6.
        const wants =
          family === 6
            ? [[Attr.RequestedAddressFamily, new Uint8Array([2, 0, 0, 0])] as [number, Uint8Array]]
            : [];
        expect((await c.allocate(wants)).cls).toBe(MessageClass.SuccessResponse);
        expect(c.relayed).toMatchObject({ family, address: relayed });
        await c.close();
      }
      const rec = (await directory.get('dual-nat', Date.now()))!;
      expect(rec.turnUrls).toEqual([
        `turn:127.0.0.77:${port}?transport=udp`,
        `turn:[2001:db8::77]:${port}?transport=udp`,
      ]);
    } finally {
      relay.kill('SIGINT');
      await relay.exited;
      await directory.close();
    }
  });

  it('exits 2 with one line when the servers disagree', async () => {
    const a = await responder('127.0.0.77');
    const b = await responder('127.0.0.88');
    const { code, stderr } = await runRelayCli([
      ...['--turn-port', String(await freePort('both')), '--http-port', '0', '--log-level', 'silent'],
      ...at(a),
      ...at(b),
    ]);
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([
      `relay: --discover-external-ip: STUN servers disagree on the IPv4 address: 127.0.0.1:${a.port} says 127.0.0.77, 127.0.0.1:${b.port} says 127.0.0.88`,
    ]);
  });

  it('exits 2 with one line, after retrying within --discover-timeout, when no server answers', async () => {
    const mute = await responder(undefined);
    const started = Date.now();
    const { code, stderr } = await runRelayCli([
      ...['--turn-port', String(await freePort('both')), '--http-port', '0', '--log-level', 'silent'],
      ...at(mute),
      ...['--discover-timeout', '1'],
    ]);
    expect(code).toBe(2);
    expect(stderr.trim().split('\n')).toEqual([
      `relay: --discover-external-ip: no IPv4 address learned: no answer from 127.0.0.1:${mute.port}`,
    ]);
    expect(mute.requests.length).toBe(2); // at 0 and at RTO 500 ms, then the 1 s deadline
    expect(Date.now() - started).toBeLessThan(8000);
  });
});
