/**
 * The relay's stream listeners under abuse (issue 12), on real loopback sockets: connection caps
 * per source address and relay-wide, the pre-authentication timeout, idle connections whose
 * allocation ended, the TLS handshake timeout and bounded pre-authentication reads.
 */
import dgram from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TurnRelay } from '../../relay/turn-relay.ts';
import { Attr, MessageClass, Method } from '../../src/stun/constants.ts';
import { freePort } from '../support/ports.ts';
import { startInProcessRelay, startRelayProcess } from '../support/relay.ts';
import { errorCodeOf, indication, newTid, peerAttr, request } from '../support/stun-builders.ts';
import { makeSelfSignedCert } from '../support/tls-cert.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const USER = { username: 'alice', password: 'pw', realm: 'test.realm' };

interface Conn {
  readonly socket: net.Socket;
  closed: boolean;
  closedAt: number;
}

function open(port: number, localAddress = '127.0.0.1'): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    const c: Conn = { socket, closed: false, closedAt: 0 };
    socket.on('error', () => {});
    socket.on('close', () => {
      c.closed = true;
      c.closedAt = Date.now();
    });
    socket.once('connect', () => resolve(c));
    socket.once('error', reject);
  });
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
}

async function refused(relay: TurnRelay, reason: string): Promise<number> {
  const text = await relay.metrics.registry.metrics();
  const m = new RegExp(`^turn_refused_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

describe('relay UDP listener under abuse', () => {
  it('answers a flood of bare 20-byte requests from one address with at most the burst, 76 bytes each', async () => {
    const port = await freePort('both');
    const child = await startRelayProcess([
      '--listen',
      '127.0.0.1',
      '--turn-port',
      String(port),
      '--http-port',
      '0',
      '--realm',
      'relay.local',
      '--unauth-rate',
      '5',
      '--unauth-burst',
      '10',
    ]);
    const socket = dgram.createSocket('udp4');
    const sizes: number[] = [];
    socket.on('message', (m) => sizes.push(m.length));
    try {
      await new Promise<void>((res) => socket.bind(0, '127.0.0.1', res));
      for (let i = 0; i < 200; i++) socket.send(request(Method.Allocate, []).bytes, port, '127.0.0.1');
      await new Promise((res) => setTimeout(res, 1000));
      // The burst, plus what the rate refilled while the flood was sent and read.
      expect(sizes.length).toBeGreaterThanOrEqual(10);
      expect(sizes.length).toBeLessThanOrEqual(20);
      expect(new Set(sizes)).toEqual(new Set([76]));
      const text = await (await fetch(`http://127.0.0.1:${child.ready.httpPort}/metrics`)).text();
      const refused = /turn_refused_total\{reason="unauthenticated_rate_limited"\} (\d+)/.exec(text);
      expect(Number(refused?.[1])).toBe(200 - sizes.length);
    } finally {
      socket.close();
      child.kill();
      await child.exited;
    }
  });
});

describe('relay stream listeners under abuse', () => {
  let relay: TurnRelay | undefined;
  const conns: Conn[] = [];
  const clients: TurnTestClient[] = [];

  afterEach(async () => {
    for (const c of conns.splice(0)) c.socket.destroy();
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await relay?.stop();
    relay = undefined;
  });

  const start = async (extra: string[]) => {
    const port = await freePort('both');
    relay = await startInProcessRelay([
      '--listen',
      '127.0.0.1',
      '--turn-port',
      String(port),
      '--realm',
      USER.realm,
      '--user',
      `${USER.username}:${USER.password}`,
      '--min-port',
      '42000',
      '--max-port',
      '42099',
      ...extra,
    ]);
    return relay;
  };

  it('holds at most 64 connections per source address by default; another address still gets in', async () => {
    const r = await start([]);
    const port = r.listening.tcp[0]!.port;
    for (let i = 0; i < 80; i++) conns.push(await open(port));
    await until(() => conns.filter((c) => c.closed).length >= 16, 3000);
    await new Promise((res) => setTimeout(res, 200));
    expect(conns.filter((c) => !c.closed)).toHaveLength(64);
    const other = await open(port, '127.0.0.2');
    conns.push(other);
    await new Promise((res) => setTimeout(res, 200));
    expect(other.closed).toBe(false);
    expect(await refused(r, 'connection_limit_source')).toBe(16);
  });

  it('holds at most --max-connections stream connections relay-wide', async () => {
    const r = await start(['--max-connections', '10', '--max-connections-per-ip', '100']);
    const port = r.listening.tcp[0]!.port;
    for (let i = 0; i < 8; i++) conns.push(await open(port, '127.0.0.1'));
    for (let i = 0; i < 8; i++) conns.push(await open(port, '127.0.0.3'));
    await until(() => conns.filter((c) => c.closed).length >= 6, 3000);
    await new Promise((res) => setTimeout(res, 200));
    expect(conns.filter((c) => !c.closed)).toHaveLength(10);
    expect(await refused(r, 'connection_limit_global')).toBe(6);
  });

  it('closes a connection that has not allocated within --preauth-timeout', async () => {
    const r = await start(['--preauth-timeout', '1']);
    const c = await open(r.listening.tcp[0]!.port);
    conns.push(c);
    const t0 = Date.now();
    await until(() => c.closed, 5000);
    expect(c.closed).toBe(true);
    expect(c.closedAt - t0).toBeGreaterThanOrEqual(900);
    expect(await refused(r, 'preauth_timeout')).toBe(1);
  });

  it('closes a connection whose allocation ended, one timeout later (the idle check re-arms)', async () => {
    const r = await start(['--preauth-timeout', '1']);
    const c = await TurnTestClient.connect({ transport: 'tcp', server: r.listening.tcp[0]!, cred: USER });
    clients.push(c);
    expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
    // Alive across several checks while the allocation lives...
    await new Promise((res) => setTimeout(res, 2500));
    expect(c.closed).toBe(false);
    // ...and closed within about one period once it has ended.
    expect((await c.refresh(0)).cls).toBe(MessageClass.SuccessResponse);
    await until(() => c.closed, 4000);
    expect(c.closed).toBe(true);
  });

  it('refuses a frame larger than --max-request-bytes before the connection has allocated', async () => {
    const r = await start([]);
    const c = await open(r.listening.tcp[0]!.port);
    conns.push(c);
    // A STUN header announcing a 60,000-byte body, then the first kilobyte of it.
    const header = new Uint8Array([0x00, 0x03, 0xea, 0x60, 0x21, 0x12, 0xa4, 0x42, ...new Uint8Array(12)]);
    c.socket.write(header);
    c.socket.write(new Uint8Array(1024));
    await until(() => c.closed, 2000);
    expect(c.closed).toBe(true);
    expect(await refused(r, 'frame_too_large')).toBe(1);
  });

  it('takes a 60 KB Send indication in 4-byte writes once the connection has allocated', async () => {
    const r = await start(['--allow-peer', '127.0.0.0/8']);
    const peer = dgram.createSocket('udp4');
    const got: number[] = [];
    peer.on('message', (m) => got.push(m.length));
    await new Promise<void>((res) => peer.bind(0, '127.0.0.1', res));
    try {
      const c = await TurnTestClient.connect({ transport: 'tcp', server: r.listening.tcp[0]!, cred: USER });
      clients.push(c);
      expect((await c.allocate()).cls).toBe(MessageClass.SuccessResponse);
      const to = { family: 4 as const, address: '127.0.0.1', port: peer.address().port };
      expect((await c.createPermission(to)).cls).toBe(MessageClass.SuccessResponse);
      const tid = newTid();
      const big = indication(
        Method.Send,
        [peerAttr(to, tid), [Attr.Data, new Uint8Array(60_000).fill(7)]],
        tid,
      );
      const t0 = performance.now();
      for (let i = 0; i < big.length; i += 4) c.sendRaw(big.subarray(i, i + 4));
      await until(() => got.length > 0, 10_000);
      expect(got).toEqual([60_000]);
      expect(c.closed).toBe(false);
      // Generous: the point is that it arrives, in one piece, without a quadratic stall.
      expect(performance.now() - t0).toBeLessThan(8_000);
    } finally {
      peer.close();
    }
  });

  it('counts a held EVEN-PORT reservation against the user quota, with its socket open', async () => {
    const r = await start(['--user-quota', '2']);
    const evenR: [number, Uint8Array] = [Attr.EvenPort, new Uint8Array([0x80])];
    const a = await TurnTestClient.connect({ transport: 'udp', server: r.listening.udp[0]!, cred: USER });
    clients.push(a);
    expect((await a.allocate([evenR])).cls).toBe(MessageClass.SuccessResponse);
    expect((await a.refresh(0)).cls).toBe(MessageClass.SuccessResponse);
    await until(() => r.openRelaySockets === 1, 2000);
    expect(r.openRelaySockets).toBe(1); // the reserved port
    expect(await r.metrics.registry.metrics()).toMatch(/^turn_reservations_held 1$/m);
    const b = await TurnTestClient.connect({ transport: 'udp', server: r.listening.udp[0]!, cred: USER });
    clients.push(b);
    expect(errorCodeOf(await b.allocate([evenR]))).toBe(486);
    expect((await b.allocate()).cls).toBe(MessageClass.SuccessResponse);
  });

  it('closes a TLS connection that does not finish its handshake within --tls-handshake-timeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-tls-'));
    const cert = await makeSelfSignedCert(dir);
    const tlsPort = await freePort('tcp');
    const r = await start([
      '--tls-port',
      String(tlsPort),
      '--tls-cert',
      cert.cert,
      '--tls-key',
      cert.key,
      '--tls-handshake-timeout',
      '1',
    ]);
    const c = await open(r.listening.tls[0]!.port);
    conns.push(c);
    const t0 = Date.now();
    await until(() => c.closed, 5000);
    expect(c.closed).toBe(true);
    expect(c.closedAt - t0).toBeLessThan(3000);
    expect(await refused(r, 'tls_handshake_timeout')).toBe(1);
  });
});
