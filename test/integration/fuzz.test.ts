/**
 * A seeded fuzz run against a live relay process: well over 100,000 random, byte-mutated and
 * structure-mutated (and validly re-signed) STUN and ChannelData messages over UDP and TCP. Then
 * the relay must still answer valid requests, keep relaying for the allocation that was live
 * before, have logged no uncaught exception, and its memory must have settled.
 * FUZZ_SEED=n reproduces a run; FUZZ_COUNT=n changes its size.
 */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransportAddress } from '../../src/net/address.ts';
import { encodeChannelData } from '../../src/stun/channel-data.ts';
import { Attr, MessageClass, Method } from '../../src/stun/constants.ts';
import { Fuzzer } from '../support/fuzz.ts';
import { freePort } from '../support/ports.ts';
import { type RelayChild, startRelayProcess } from '../support/relay.ts';
import {
  type Credentials,
  channel,
  indication,
  lifetime,
  newTid,
  peerAttr,
  request,
  transportUdp,
} from '../support/stun-builders.ts';
import { TurnTestClient } from '../support/turn-client.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
/** At least 100,000 messages unless FUZZ_COUNT says otherwise (for quick local runs). */
const COUNT = Number(process.env.FUZZ_COUNT ?? 120_000);
const CRED = { username: 'fuzz', password: 'pw', realm: 'fuzz.test' };

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

async function heapUsed(httpPort: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(/^nodejs_heap_size_used_bytes (\d+(?:\.\d+)?(?:e\+\d+)?)/m.exec(text)?.[1] ?? Number.NaN);
}

describe(`fuzzing a live relay (seed ${SEED})`, () => {
  let relay: RelayChild;
  let server: TransportAddress;
  let echo: dgram.Socket;
  let peer: TransportAddress;

  beforeAll(async () => {
    const port = await freePort('both');
    relay = await startRelayProcess([
      '--turn-port',
      String(port),
      '--http-port',
      '0',
      '--user',
      `${CRED.username}:${CRED.password}`,
      '--realm',
      CRED.realm,
      '--allow-peer',
      '127.0.0.0/8',
      '--log-level',
      'warn',
      '--min-port',
      '42000',
      '--max-port',
      '43999',
      '--user-quota',
      '1000',
    ]);
    server = { family: 4, address: '127.0.0.1', port };
    echo = dgram.createSocket('udp4');
    echo.on('message', (m, r) => echo.send(m, r.port, r.address));
    await new Promise<void>((r) => echo.bind(0, '127.0.0.1', r));
    peer = { family: 4, address: '127.0.0.1', port: echo.address().port };
  });

  afterAll(async () => {
    echo?.close();
    relay?.kill('SIGINT');
    await relay?.exited;
  });

  it('survives, keeps relaying, and settles its memory', { timeout: 240_000 }, async () => {
    // A call that is running before the fuzzing starts, and must still work afterwards.
    const live = await TurnTestClient.connect({ transport: 'udp', server, cred: CRED });
    expect((await live.allocate()).cls).toBe(MessageClass.SuccessResponse);
    await live.channelBind(0x4000, peer);

    // The fuzzing client has an allocation of its own, so mutated requests reach its state.
    const fuzzClient = await TurnTestClient.connect({ transport: 'udp', server, cred: CRED });
    await fuzzClient.allocate();
    const cred: Credentials & { nonce: string } = { ...CRED, nonce: fuzzClient.nonce! };
    const corpus = buildCorpus(cred, peer);
    const fuzzer = new Fuzzer(SEED, cred, corpus);

    const udpShare = Math.ceil(COUNT * 0.6);
    const warm = Math.min(10_000, udpShare);
    let sent = await fuzzUdp(fuzzer, fuzzClient, warm);
    const warmRss = rssBytes(relay.child.pid!);
    const warmHeap = await heapUsed(relay.ready.httpPort);
    sent += await fuzzUdp(fuzzer, fuzzClient, udpShare - warm);
    sent += await fuzzTcp(fuzzer, server, COUNT - udpShare);
    expect(sent).toBe(COUNT);

    // Still alive and answering valid requests.
    expect(relay.child.exitCode).toBeNull();
    const health = await fetch(`http://127.0.0.1:${relay.ready.httpPort}/healthz`);
    expect(health.status).toBe(200);
    const fresh = await TurnTestClient.connect({ transport: 'udp', server, cred: CRED });
    expect((await fresh.allocate()).cls).toBe(MessageClass.SuccessResponse);
    // The call from before the fuzzing still relays.
    live.sendChannel(0x4000, new Uint8Array([1, 2, 3]));
    const got = await live.waitForData(1);
    expect(got[0]).toEqual({ channel: 0x4000, data: new Uint8Array([1, 2, 3]) });
    expect(relay.output()).not.toMatch(/uncaught exception/i);

    // Memory settled: heap and RSS close to where they were after the warm-up.
    await new Promise((r) => setTimeout(r, 1500));
    const heaps: number[] = [];
    for (let i = 0; i < 3; i++) {
      heaps.push(await heapUsed(relay.ready.httpPort));
      await new Promise((r) => setTimeout(r, 300));
    }
    const endHeap = Math.min(...heaps);
    const endRss = rssBytes(relay.child.pid!);
    console.log(
      `fuzz seed=${SEED} sent=${sent} heap ${(warmHeap / 1e6).toFixed(1)} -> ${(endHeap / 1e6).toFixed(1)} MB, ` +
        `rss ${(warmRss / 1e6).toFixed(1)} -> ${(endRss / 1e6).toFixed(1)} MB`,
    );
    expect(endHeap - warmHeap).toBeLessThan(32e6);
    // RSS is noisy (V8 keeps pages it grew into); a leak of even 1 KB per message would show as 120 MB.
    expect(endRss - warmRss).toBeLessThan(96e6);
    await Promise.all([live.close(), fuzzClient.close(), fresh.close()]);
  });
});

function buildCorpus(cred: Credentials, peer: TransportAddress): Uint8Array[] {
  const signed = (method: number, attrs: (tid: Uint8Array) => [number, Uint8Array][]) => {
    const tid = newTid();
    return request(method, attrs(tid), cred, { tid, fingerprint: true }).bytes;
  };
  const tid = newTid();
  return [
    request(Method.Binding, []).bytes,
    request(Method.Allocate, [transportUdp()]).bytes,
    signed(Method.Allocate, () => [transportUdp(), lifetime(1200)]),
    signed(Method.Refresh, () => [lifetime(600)]),
    signed(Method.CreatePermission, (t) => [peerAttr(peer, t)]),
    signed(Method.ChannelBind, (t) => [channel(0x4001), peerAttr(peer, t)]),
    indication(Method.Send, [peerAttr(peer, tid), [Attr.Data, new Uint8Array(40)]], tid),
    encodeChannelData(0x4001, new Uint8Array(100), false),
  ];
}

/** Sends `n` messages from the fuzzing client's socket, with a Binding round trip every 250 as a barrier. */
async function fuzzUdp(fuzzer: Fuzzer, client: TurnTestClient, n: number): Promise<number> {
  let sent = 0;
  while (sent < n) {
    const batch = Math.min(250, n - sent);
    for (let i = 0; i < batch; i++) client.sendRaw(fuzzer.next());
    sent += batch;
    const { tid, bytes } = request(Method.Binding, []);
    const res = await client.transact(bytes, tid, 5000);
    expect(res.cls).toBe(MessageClass.SuccessResponse);
  }
  return sent;
}

/** Streams `n` messages over TCP, several per write, reconnecting whenever the relay hangs up. */
async function fuzzTcp(fuzzer: Fuzzer, server: TransportAddress, n: number): Promise<number> {
  let sent = 0;
  let connections = 0;
  while (sent < n) {
    const sock = net.connect({ host: server.address, port: server.port });
    connections++;
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    sock.on('error', () => {});
    sock.on('data', () => {});
    let open = true;
    sock.once('close', () => {
      open = false;
    });
    while (open && sent < n) {
      const chunk: Uint8Array[] = [];
      for (let i = 0; i < 20 && sent < n; i++, sent++) chunk.push(fuzzer.next());
      const ok = sock.write(Buffer.concat(chunk));
      if (!ok) {
        await new Promise<void>((r) => {
          const done = () => {
            sock.off('drain', done);
            sock.off('close', done);
            r();
          };
          sock.once('drain', done);
          sock.once('close', done);
        });
      }
      await new Promise((r) => setImmediate(r));
    }
    sock.destroy();
  }
  expect(connections).toBeGreaterThan(0);
  return sent;
}
