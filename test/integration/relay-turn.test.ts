import dgram from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TurnRelay } from '../../relay/turn-relay.ts';
import type { TransportAddress } from '../../src/net/address.ts';
import { Attr, MessageClass } from '../../src/stun/constants.ts';
import { requireUdpIo } from '../support/backbone-relays.ts';
import { echoPeer } from '../support/echo-peer.ts';
import { freePort } from '../support/ports.ts';
import { startInProcessRelay } from '../support/relay.ts';
import { requireIpv6Loopback } from '../support/requirements.ts';
import { errorCodeOf, xorAddressAttr } from '../support/stun-builders.ts';
import { makeSelfSignedCert } from '../support/tls-cert.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const USER = { username: 'alice', password: 'pw', realm: 'test.realm' };
const bytes = (...b: number[]) => new Uint8Array(b);

// The core TURN paths on both UDP I/Os: Node's dgram and the native addon (the default where it loads).
describe.each(['dgram', 'native'] as const)('relay over real sockets, UDP on %s', (io) => {
  let relay: TurnRelay;
  let peer: Awaited<ReturnType<typeof echoPeer>>;
  const clients: TurnTestClient[] = [];
  let server: { udp: TransportAddress; tcp: TransportAddress; tls: TransportAddress };

  beforeAll(async () => {
    requireUdpIo(io);
    const dir = mkdtempSync(join(tmpdir(), 'relay-tls-'));
    const cert = await makeSelfSignedCert(dir);
    const port = await freePort('both');
    const tlsPort = await freePort('tcp');
    relay = await startInProcessRelay([
      '--listen',
      '127.0.0.1',
      '--turn-port',
      String(port),
      '--tls-port',
      String(tlsPort),
      '--tls-cert',
      cert.cert,
      '--tls-key',
      cert.key,
      '--realm',
      USER.realm,
      '--user',
      `${USER.username}:${USER.password}`,
      '--allow-peer',
      '127.0.0.0/8',
      '--min-port',
      '41000',
      '--max-port',
      '41999',
      '--udp-io',
      io,
    ]);
    expect(relay.udpIo).toBe(io);
    server = { udp: relay.listening.udp[0]!, tcp: relay.listening.tcp[0]!, tls: relay.listening.tls[0]! };
    peer = await echoPeer();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });

  afterAll(async () => {
    await peer.close();
    await relay.stop();
    expect(relay.openRelaySockets).toBe(0);
  });

  const connect = async (transport: 'udp' | 'tcp' | 'tls', cred: typeof USER = USER) => {
    const c = await TurnTestClient.connect({ transport, server: server[transport], cred });
    clients.push(c);
    return c;
  };

  it.each(['udp', 'tcp', 'tls'] as const)(
    'relays Send indications and ChannelData both ways over %s',
    async (transport) => {
      const c = await connect(transport);
      const res = await c.allocate();
      expect(res.cls).toBe(MessageClass.SuccessResponse);
      expect(c.relayed?.address).toBe('127.0.0.1');
      expect((await c.createPermission(peer.addr)).cls).toBe(MessageClass.SuccessResponse);

      c.sendIndication(peer.addr, bytes(1, 2, 3));
      const [viaData] = await c.waitForData(1);
      expect(viaData).toEqual({ peer: peer.addr, data: bytes(1, 2, 3) });
      // The peer saw the packet come from the relayed address.
      expect(peer.seen.at(-1)).toMatchObject({ address: c.relayed!.address, port: c.relayed!.port });

      expect((await c.channelBind(0x4001, peer.addr)).cls).toBe(MessageClass.SuccessResponse);
      c.sendChannel(0x4001, bytes(9, 8, 7, 6, 5));
      const got = await c.waitForData(2);
      expect(got[1]).toEqual({ channel: 0x4001, data: bytes(9, 8, 7, 6, 5) });
    },
  );

  it('counts relayed packets and bytes in /metrics terms', async () => {
    const before = relay.traffic();
    const c = await connect('udp');
    await c.allocate();
    await c.channelBind(0x4002, peer.addr);
    for (let i = 0; i < 10; i++) c.sendChannel(0x4002, new Uint8Array(100));
    await c.waitForData(10);
    const after = relay.traffic();
    expect(after.packetsToPeer - before.packetsToPeer).toBe(10);
    expect(after.bytesToPeer - before.bytesToPeer).toBe(1000);
    expect(after.packetsToClient - before.packetsToClient).toBe(10);
    const text = await relay.metrics.registry.metrics();
    expect(text).toMatch(/turn_relayed_packets_total\{direction="client_to_peer"\} \d+/);
    expect(text).toMatch(new RegExp(`turn_allocations_active ${relay.engine.allocationCount}\\b`));
  });

  it("drops ChannelData from a UDP client whose allocation ended, and relays its next allocation's", async () => {
    const c = await connect('udp');
    await c.allocate();
    await c.channelBind(0x4003, peer.addr);
    c.sendChannel(0x4003, bytes(1));
    await c.waitForData(1);
    await c.refresh(0);
    const seen = peer.seen.length;
    const dropped = relay.engine.drops.noAllocation;
    c.sendChannel(0x4003, bytes(2));
    await waitFor(() => relay.engine.drops.noAllocation > dropped);
    expect(peer.seen.length).toBe(seen);
    expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
    expect((await c.channelBind(0x4004, peer.addr)).cls).toBe(MessageClass.SuccessResponse);
    c.sendChannel(0x4004, bytes(3));
    const got = await c.waitForData(2);
    expect(got[1]).toEqual({ channel: 0x4004, data: bytes(3) });
  });

  it('closes the relayed socket on Refresh(0) and when a TCP client disconnects', async () => {
    const base = relay.openRelaySockets;
    const baseAllocations = relay.engine.allocationCount;
    const udp = await connect('udp');
    await udp.allocate();
    const tcp = await connect('tcp');
    await tcp.allocate();
    expect(relay.openRelaySockets).toBe(base + 2);
    const zero = await udp.refresh(0);
    expect(udp.lifetimeOf(zero)).toBe(0);
    await tcp.close();
    await waitFor(() => relay.openRelaySockets === base);
    expect(relay.engine.allocationCount).toBe(baseAllocations);
  });

  it('refuses a peer outside the allow list with 403, and data from peers without permission', async () => {
    const c = await connect('udp');
    await c.allocate();
    const res = await c.createPermission({ family: 4, address: '192.168.1.1', port: 9 });
    expect(errorCodeOf(res)).toBe(403);
    // The echo peer sends to the relayed address without a permission: dropped.
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    const drops = relay.engine.drops.noPermission;
    sock.send(bytes(1), c.relayed!.port, c.relayed!.address);
    await waitFor(() => relay.engine.drops.noPermission > drops);
    expect(c.received).toEqual([]);
    await new Promise<void>((r) => sock.close(() => r()));
  });

  it.each([
    ['a wrong password', { ...USER, password: 'bad' }],
    ['an unknown user', { ...USER, username: 'mallory' }],
  ])('refuses %s with 401 over the wire', async (_name, cred) => {
    const c = await connect('udp', cred);
    const res = await c.allocate();
    expect(errorCodeOf(res)).toBe(401);
    expect(c.relayed).toBeUndefined();
  });

  it('keeps serving after garbage on every transport', async () => {
    const udp = await connect('udp');
    udp.sendRaw(bytes(0, 1, 0, 4, 0x21, 0x12));
    udp.sendRaw(new Uint8Array(1500).fill(0xaa));
    const tcp = await connect('tcp');
    tcp.sendRaw(new Uint8Array(64).fill(0xff));
    await waitFor(() => tcp.closed);
    const again = await connect('udp');
    expect((await again.allocate()).cls).toBe(MessageClass.SuccessResponse);
  });
});

describe('relay options', () => {
  const cred = { username: 'a', password: 'b', realm: 'r' };
  type Connect = (transport?: 'udp' | 'tcp') => Promise<TurnTestClient>;

  /** A relay on a free port of `host` with user a:b in realm r plus `args`; closed after `fn`. */
  async function withRelay(
    args: string[],
    fn: (relay: TurnRelay, connect: Connect) => Promise<void>,
    host = '127.0.0.1',
  ): Promise<void> {
    const port = await freePort('both', host);
    const relay = await startInProcessRelay([
      '--listen',
      host,
      '--turn-port',
      String(port),
      '--user',
      'a:b',
      '--realm',
      'r',
      ...args,
    ]);
    const clients: TurnTestClient[] = [];
    const connect: Connect = async (transport = 'udp') => {
      const c = await TurnTestClient.connect({ transport, server: relay.listening[transport][0]!, cred });
      clients.push(c);
      return c;
    };
    try {
      await fn(relay, connect);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await relay.stop();
    }
  }

  it('advertises the external address behind NAT while binding the local one', () =>
    withRelay(['--external-ip', '203.0.113.5', '--no-tcp'], async (_relay, connect) => {
      const res = await (await connect()).allocate();
      expect(xorAddressAttr(res, Attr.XorRelayedAddress)?.address).toBe('203.0.113.5');
    }));

  it('answers 508 when the relayed port range is used up, and serves again once a port frees', async () => {
    const relayPort = await freePort('udp');
    await withRelay(
      ['--min-port', String(relayPort), '--max-port', String(relayPort)],
      async (_relay, connect) => {
        const first = await connect();
        expect((await first.allocate()).cls).toBe(MessageClass.SuccessResponse);
        expect(first.relayed?.port).toBe(relayPort);
        expect(errorCodeOf(await (await connect()).allocate())).toBe(508);
        await first.refresh(0);
        expect((await (await connect()).allocate()).cls).toBe(MessageClass.SuccessResponse);
      },
    );
  });

  it('leaves no socket, server or timer behind once stopped', async () => {
    const handles = () => {
      const counts = new Map<string, number>();
      for (const h of process.getActiveResourcesInfo()) counts.set(h, (counts.get(h) ?? 0) + 1);
      return counts;
    };
    const before = handles();
    let stopped: TurnRelay | undefined;
    await withRelay(['--allow-peer', '127.0.0.0/8'], async (relay, connect) => {
      stopped = relay;
      await (await connect('udp')).allocate([[Attr.EvenPort, new Uint8Array([0x80])]]); // R bit: a reservation too
      await (await connect('tcp')).allocate();
      expect(relay.openRelaySockets).toBe(3);
    });
    expect(stopped?.openRelaySockets).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    // Nothing of any kind more than before the relay started.
    for (const [kind, n] of handles())
      expect({ kind, n }).toEqual({ kind, n: Math.min(n, before.get(kind) ?? 0) });
  });

  it('ends allocations when their lifetime passes and closes their sockets', () =>
    withRelay(['--default-lifetime', '1', '--max-lifetime', '1'], async (relay, connect) => {
      await (await connect()).allocate();
      expect(relay.openRelaySockets).toBe(1);
      await waitFor(() => relay.openRelaySockets === 0, 4000);
      expect(relay.engine.allocationCount).toBe(0);
    }));

  it('serves IPv6 clients and relays on ::1 (fails, saying so, where ::1 is missing)', async () => {
    await requireIpv6Loopback();
    const peer = await echoPeer('::1');
    try {
      await withRelay(
        ['--allow-peer', '::1/128'],
        async (_relay, connect) => {
          const c = await connect();
          expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
          expect(c.relayed).toMatchObject({ family: 6, address: '::1' });
          await c.channelBind(0x4000, peer.addr);
          c.sendChannel(0x4000, bytes(6));
          expect((await c.waitForData(1))[0]).toEqual({ channel: 0x4000, data: bytes(6) });
        },
        '::1',
      );
    } finally {
      await peer.close();
    }
  });

  it('answers Allocate with 508 while draining and lets existing allocations run', async () => {
    const peer = await echoPeer();
    try {
      await withRelay(['--allow-peer', '127.0.0.0/8'], async (relay, connect) => {
        const c = await connect();
        await c.allocate();
        await c.channelBind(0x4000, peer.addr);
        const drained = relay.drain(1500);
        expect(errorCodeOf(await (await connect()).allocate())).toBe(508);
        c.sendChannel(0x4000, bytes(1));
        await c.waitForData(1);
        expect(relay.ready).toBe(false);
        await drained;
        expect(relay.engine.allocationCount).toBe(0);
      });
    } finally {
      await peer.close();
    }
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
