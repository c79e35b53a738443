/**
 * A seeded fuzz run against a live relay process: well over 100,000 random, byte-mutated and
 * structure-mutated (and validly re-signed) STUN and ChannelData messages over UDP and TCP. On TCP
 * every fuzzed message is sent as one well-formed frame (its length field made to match), the
 * stream cut into writes at random points, and about half the connections end with bytes that are
 * not TURN, which the relay must answer by closing the connection. The relay's own count of
 * messages it took in (turn_messages_parsed_total) must equal what was sent, on each transport.
 * Then the relay must still answer valid requests, keep relaying for the allocation that was live
 * before, and have logged no uncaught exception; and across the rounds of the run its heap, RSS,
 * file descriptors and sockets must have stopped rising, within bounds derived from the number of
 * messages sent. FUZZ_SEED=n reproduces a run; FUZZ_COUNT=n changes its size.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TransportAddress } from '../../src/net/address.ts';
import { encodeChannelData } from '../../src/stun/channel-data.ts';
import { Attr, MessageClass, Method } from '../../src/stun/constants.ts';
import { Fuzzer, rng } from '../support/fuzz.ts';
import { freePort } from '../support/ports.ts';
import { countFds, countTcpSockets, countUdpSockets, rssBytes } from '../support/proc-sockets.ts';
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
/** The run is cut into rounds; memory and descriptors are sampled after each. */
const ROUNDS = 6;
/** UDP messages between two Binding round trips (the barrier that keeps the socket buffer small). */
const UDP_BATCH = 200;
/**
 * Memory a message may leave behind for good: a leak of this much per message, over the rounds
 * after the first, fails the run. Plus a fixed allowance for noise: the heap is measured live
 * (after a full GC in the relay), RSS is not (V8 keeps pages it grew into).
 */
const LEAK_BYTES_PER_MESSAGE = 20;
const HEAP_NOISE = 2e6;
const RSS_NOISE = 32e6;
/** The engine's retransmission cache: 40 s (RFC 8489 §6.3.1), at most 50,000 responses. */
const RETRANSMISSION_CACHE_MS = 40_000;
const CACHE_CAP_BYTES = 50_000 * 400;

interface Sample {
  readonly heap: number;
  readonly rss: number;
  readonly fds: number;
  readonly udp: number;
  readonly tcp: number;
}

async function metricsText(httpPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
}

function metricValue(text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? 0 : Number(line.slice(sample.length + 1));
}

const parsedOf = async (httpPort: number) => {
  const text = await metricsText(httpPort);
  return {
    udp: metricValue(text, 'turn_messages_parsed_total{transport="udp"}'),
    tcp: metricValue(text, 'turn_messages_parsed_total{transport="tcp"}'),
  };
};

/** Loaded into the relay: a full GC and the live heap on SIGUSR2 (see the file). */
const GC_PRELOAD = new URL('../support/gc-on-signal.mjs', import.meta.url).pathname;

/** The relay's live heap: a full GC in the relay, then the heapUsed it reports. */
async function liveHeap(relay: RelayChild): Promise<number> {
  const lines = () => relay.output().match(/\{"event":"gc","heapUsed":\d+\}/g) ?? [];
  const before = lines().length;
  relay.child.kill('SIGUSR2');
  const end = Date.now() + 5000;
  while (lines().length === before) {
    if (Date.now() > end) throw new Error('the relay did not report its heap after SIGUSR2');
    await new Promise((r) => setTimeout(r, 20));
  }
  return (JSON.parse(lines().at(-1)!) as { heapUsed: number }).heapUsed;
}

async function sample(relay: RelayChild): Promise<Sample> {
  await new Promise((r) => setTimeout(r, 300)); // closes and ends in flight settle
  const pid = relay.child.pid!;
  return {
    heap: await liveHeap(relay),
    rss: rssBytes(pid),
    fds: countFds(pid),
    udp: countUdpSockets(pid),
    tcp: countTcpSockets(pid),
  };
}

const mb = (n: number) => (n / 1e6).toFixed(1);

describe(`fuzzing a live relay (seed ${SEED})`, () => {
  let relay: RelayChild;
  let server: TransportAddress;
  let echo: dgram.Socket;
  let peer: TransportAddress;

  beforeAll(async () => {
    const port = await freePort('both');
    relay = await startRelayProcess(
      [
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
        // This run is about parsing whatever arrives; the abuse limits (their own tests are in
        // relay-hardening.test.ts) would otherwise drop most of one source's unauthenticated
        // answers and close its pre-allocation streams at the first large frame.
        '--unauth-rate',
        '1000000',
        '--unauth-burst',
        '1000000',
        '--max-request-bytes',
        '65535',
      ],
      { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc --import ${GC_PRELOAD}`.trim() },
    );
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

  it('parses all of it, survives, keeps relaying, and stops growing', { timeout: 360_000 }, async () => {
    // A call that is running before the fuzzing starts, and must still work afterwards.
    const live = await TurnTestClient.connect({ transport: 'udp', server, cred: CRED });
    expect((await live.allocate()).cls).toBe(MessageClass.SuccessResponse);
    await live.channelBind(0x4000, peer);

    // The fuzzing client has an allocation of its own, so mutated requests reach its state.
    const fuzzClient = await TurnTestClient.connect({ transport: 'udp', server, cred: CRED });
    await fuzzClient.allocate();
    const cred: Credentials & { nonce: string } = { ...CRED, nonce: fuzzClient.nonce! };
    const fuzzer = new Fuzzer(SEED, cred, buildCorpus(cred, peer));
    const split = rng(SEED ^ 0x5eed);

    const parsedBefore = await parsedOf(relay.ready.httpPort);
    const perRound = Math.ceil(COUNT / ROUNDS);
    const samples: Sample[] = [];
    const sent = { udp: 0, tcp: 0, connections: 0, closedByRelay: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const n = Math.min(perRound, COUNT - round * perRound);
      const udpShare = Math.ceil(n * 0.6);
      sent.udp += await fuzzUdp(fuzzer, fuzzClient, udpShare);
      const tcp = await fuzzTcp(fuzzer, split, server, n - udpShare);
      sent.tcp += tcp.frames;
      sent.connections += tcp.connections;
      sent.closedByRelay += tcp.closedByRelay;
      samples.push(await sample(relay));
    }

    // Everything sent reached the engine: one count per UDP datagram (the Binding barriers
    // included, sent without retransmission) and per TCP frame.
    const parsed = await parsedOf(relay.ready.httpPort);
    const fuzzed = sent.udp + sent.tcp;
    console.log(
      `fuzz seed=${SEED} sent udp=${sent.udp} (with barriers) tcp=${sent.tcp} frames over ${sent.connections} ` +
        `connections (${sent.closedByRelay} closed by the relay after non-TURN bytes); parsed ` +
        `udp=${parsed.udp - parsedBefore.udp} tcp=${parsed.tcp - parsedBefore.tcp}`,
    );
    expect(fuzzed).toBeGreaterThanOrEqual(COUNT);
    expect(parsed.udp - parsedBefore.udp).toBe(sent.udp);
    expect(parsed.tcp - parsedBefore.tcp).toBe(sent.tcp);

    // Still alive and answering valid requests.
    expect(relay.child.exitCode).toBeNull();
    const health = await fetch(`http://127.0.0.1:${relay.ready.httpPort}/healthz`);
    expect(health.status).toBe(200);
    const fresh = await TurnTestClient.connect({ transport: 'udp', server, cred: CRED });
    expect((await fresh.allocate()).cls).toBe(MessageClass.SuccessResponse);
    expect((await fresh.refresh(0)).cls).toBe(MessageClass.SuccessResponse); // and gone again
    // The call from before the fuzzing still relays.
    live.sendChannel(0x4000, new Uint8Array([1, 2, 3]));
    const got = await live.waitForData(1);
    expect(got[0]).toEqual({ channel: 0x4000, data: new Uint8Array([1, 2, 3]) });
    expect(relay.output()).not.toMatch(/uncaught exception/i);

    // Stopped rising. The first round warms up (code, caches, the socket pool); after it, what
    // the rest of the run may leave behind is bounded by its message count. Descriptors and
    // sockets do not grow with messages at all: every TCP connection, and every allocation made
    // on one, is gone at the end of its round.
    for (const [i, x] of samples.entries())
      console.log(
        `round ${i + 1}: heap ${mb(x.heap)} MB, rss ${mb(x.rss)} MB, fds ${x.fds}, udp ${x.udp}, tcp ${x.tcp}`,
      );
    const first = samples[0]!;
    const leakBound = (COUNT - perRound) * LEAK_BYTES_PER_MESSAGE;
    for (const x of samples.slice(1)) {
      expect(x.fds).toBeLessThanOrEqual(first.fds);
      expect(x.udp).toBeLessThanOrEqual(first.udp);
      expect(x.tcp).toBeLessThanOrEqual(first.tcp);
      // While it runs the heap also holds the retransmission cache (below), at most its cap.
      expect(x.heap - first.heap).toBeLessThan(CACHE_CAP_BYTES + leakBound + HEAP_NOISE);
    }
    // The engine keeps every response for 40 s to answer retransmissions (RFC 8489 §6.3.1), so
    // the live heap rises by design while requests keep coming. Once that window has passed
    // with nothing new, the heap is back where the first round left it, give or take the leak
    // bound, and several samples in a row show it has stopped moving.
    await new Promise((r) => setTimeout(r, RETRANSMISSION_CACHE_MS + 2000));
    const settled: Sample[] = [];
    for (let i = 0; i < 3; i++) {
      settled.push(await sample(relay));
      await new Promise((r) => setTimeout(r, 500));
    }
    for (const [i, x] of settled.entries())
      console.log(`settled ${i + 1}: heap ${mb(x.heap)} MB, rss ${mb(x.rss)} MB, fds ${x.fds}`);
    for (const x of settled) {
      expect(x.heap - first.heap).toBeLessThan(leakBound + HEAP_NOISE);
      expect(x.rss - first.rss).toBeLessThan(leakBound + RSS_NOISE);
      expect(x.fds).toBeLessThanOrEqual(first.fds);
      expect(x.udp).toBeLessThanOrEqual(first.udp);
      expect(x.tcp).toBeLessThanOrEqual(first.tcp);
    }
    const heaps = settled.map((x) => x.heap);
    expect(Math.max(...heaps) - Math.min(...heaps)).toBeLessThan(HEAP_NOISE / 2);
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

/**
 * Sends `n` fuzzed datagrams from the fuzzing client's socket, with a Binding round trip every
 * UDP_BATCH as a barrier, sent once (no retransmission) so that every datagram is counted.
 * Returns the datagrams sent, barriers included.
 */
async function fuzzUdp(fuzzer: Fuzzer, client: TurnTestClient, n: number): Promise<number> {
  let sent = 0;
  let datagrams = 0;
  while (sent < n) {
    const batch = Math.min(UDP_BATCH, n - sent);
    for (let i = 0; i < batch; i++) client.sendRaw(fuzzer.next());
    sent += batch;
    const { tid, bytes } = request(Method.Binding, []);
    const res = await client.transact(bytes, tid, 5000, false);
    expect(res.cls).toBe(MessageClass.SuccessResponse);
    datagrams += batch + 1;
  }
  return datagrams;
}

/**
 * One fuzzed message as one well-formed stream frame: a first byte that says STUN or ChannelData,
 * a length field that matches the bytes that follow, ChannelData padded to 4 (RFC 8656 §12.5).
 * The content stays as hostile as the fuzzer made it.
 */
function asFrame(msg: Uint8Array): Uint8Array {
  let b = new Uint8Array(msg);
  if ((b[0] ?? 0) & 0x80) b[0]! &= 0x7f; // 10xxxxxx -> STUN, 11xxxxxx -> ChannelData
  if (((b[0] ?? 0) & 0xc0) === 0x40) {
    if (b.length < 4) b = Uint8Array.from({ length: 4 }, (_, i) => b[i] ?? 0);
    const len = Math.min(b.length - 4, 0xffff);
    b = b.subarray(0, 4 + len);
    const out = new Uint8Array(4 + ((len + 3) & ~3));
    out.set(b);
    out[2] = len >> 8;
    out[3] = len & 0xff;
    return out;
  }
  if (b.length < 20) b = Uint8Array.from({ length: 20 }, (_, i) => b[i] ?? 0);
  const len = Math.min(b.length - 20, 0xffff);
  b = b.subarray(0, 20 + len);
  b[2] = len >> 8;
  b[3] = len & 0xff;
  return b;
}

/**
 * Streams `n` fuzzed messages over TCP as well-formed frames, on connections of 20 to 400 frames
 * each; the bytes of a connection are cut into writes at random points (1 to 1,500 bytes), so
 * frames arrive split and joined every way. About half the connections end with bytes that are
 * not TURN and must be closed by the relay; the rest end with a FIN.
 */
async function fuzzTcp(
  fuzzer: Fuzzer,
  random: () => number,
  server: TransportAddress,
  n: number,
): Promise<{ frames: number; connections: number; closedByRelay: number }> {
  let frames = 0;
  let connections = 0;
  let closedByRelay = 0;
  while (frames < n) {
    const count = Math.min(n - frames, 20 + Math.floor(random() * 380));
    const garbage = random() < 0.5;
    const parts: Uint8Array[] = [];
    for (let i = 0; i < count; i++) parts.push(asFrame(fuzzer.next()));
    if (garbage) parts.push(new Uint8Array([0xc0 | Math.floor(random() * 64), 1, 2, 3, 4, 5, 6, 7]));
    const stream = Buffer.concat(parts);

    const sock = net.connect({ host: server.address, port: server.port });
    sock.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    connections++;
    sock.on('error', () => {});
    sock.on('data', () => {});
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    let at = 0;
    while (at < stream.length && !sock.destroyed) {
      const size = 1 + Math.floor(random() * 1500);
      const ok = sock.write(stream.subarray(at, at + size));
      at += size;
      if (!ok) await new Promise<void>((r) => sock.once('drain', r).once('close', r));
      if (random() < 0.3) await new Promise((r) => setImmediate(r));
    }
    frames += count;
    if (!garbage) sock.end();
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000).unref());
    if ((await Promise.race([closed, timeout])) === 'timeout') {
      sock.destroy();
      throw new Error(
        `the relay did not close connection ${connections} (${garbage ? 'non-TURN bytes' : 'FIN'})`,
      );
    }
    if (garbage) closedByRelay++; // it closed without being asked, as it must
  }
  return { frames, connections, closedByRelay };
}
