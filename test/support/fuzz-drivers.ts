/**
 * Drives the fuzz generators against live processes, one protocol each: UDP datagrams to a TURN
 * port, TCP and TLS streams cut at random points, backbone frames from a registered relay address,
 * and HTTP requests to the edge. Each driver keeps to a rate and a deadline (a Pacer), reports
 * progress, and counts what it sent so the caller can compare with what the process took in.
 */
import type dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { Pool } from 'undici';
import { decodeFrame, FrameType } from '../../src/backbone/frame.ts';
import type { RunKeys } from '../../src/backbone/key-ring.ts';
import type { TransportAddress } from '../../src/net/address.ts';
import { MessageClass, Method } from '../../src/stun/constants.ts';
import { asFrame, type Fuzzer } from './fuzz.ts';
import type { BackboneFuzzer } from './fuzz-backbone.ts';
import type { EdgeFuzzer } from './fuzz-edge.ts';
import { request } from './stun-builders.ts';
import type { TurnTestClient } from './turn-client.ts';

/** At most `rate` messages a second, and nothing after `deadline` (ms since the epoch). */
export class Pacer {
  readonly #start = Date.now();
  #sent = 0;

  constructor(
    readonly rate: number,
    readonly deadline: number,
    private readonly progress: (sent: number) => void = () => {},
  ) {}

  get expired(): boolean {
    return Date.now() > this.deadline;
  }

  /** `n` more sent: reports progress, and waits if that is ahead of the rate. */
  async sent(n: number): Promise<void> {
    this.#sent += n;
    this.progress(this.#sent);
    const due = this.#start + (this.#sent / this.rate) * 1000;
    const wait = due - Date.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  }
}

/** UDP messages between two Binding round trips (the barrier that keeps the socket buffer small). */
const UDP_BATCH = 200;

/**
 * `n` fuzzed datagrams from the fuzzing client's socket, with a Binding round trip every
 * UDP_BATCH as a barrier, sent once (no retransmission) so that every datagram is counted.
 */
export async function fuzzUdp(
  fuzzer: Fuzzer,
  client: TurnTestClient,
  n: number,
  pace: Pacer,
): Promise<{ fuzzed: number; datagrams: number }> {
  let fuzzed = 0;
  let datagrams = 0;
  while (fuzzed < n && !pace.expired) {
    const batch = Math.min(UDP_BATCH, n - fuzzed);
    for (let i = 0; i < batch; i++) client.sendRaw(fuzzer.next());
    fuzzed += batch;
    const { tid, bytes } = request(Method.Binding, []);
    const res = await client.transact(bytes, tid, 5000, false);
    if (res.cls !== MessageClass.SuccessResponse)
      throw new Error('the relay did not answer a Binding barrier');
    datagrams += batch + 1;
    client.received.length = 0; // echoes of fuzzed Sends: not kept
    await pace.sent(batch);
  }
  return { fuzzed, datagrams };
}

export interface StreamResult {
  /** Frames written on connections (all of which the relay must take in). */
  frames: number;
  connections: number;
  /** Connections that ended with non-TURN bytes, which the relay closed as it must. */
  closedByRelay: number;
  /** Connections opened at once past the per-address cap, and how many of them the relay closed. */
  storm: { opened: number; closed: number };
}

type Kind = 'tcp' | 'tls';

function connect(kind: Kind, server: TransportAddress): Promise<net.Socket> {
  const s =
    kind === 'tls'
      ? tls.connect({ host: server.address, port: server.port, rejectUnauthorized: false })
      : net.connect({ host: server.address, port: server.port });
  return new Promise((resolve, reject) => {
    s.once(kind === 'tls' ? 'secureConnect' : 'connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/**
 * `storm` connections at once and held (past the relay's per-address cap: the rest must be
 * closed by it, at once), then `n` fuzzed frames over `workers` connections at a time, each of
 * 20 to 400 frames, its bytes cut into writes of 1 to 1,500 bytes at random points. About half
 * the connections end with bytes that are not TURN, which the relay must answer by closing.
 */
export async function fuzzStream(
  kind: Kind,
  fuzzer: Fuzzer,
  random: () => number,
  server: TransportAddress,
  n: number,
  pace: Pacer,
  o: { workers: number; storm: number },
): Promise<StreamResult> {
  const result: StreamResult = {
    frames: 0,
    connections: 0,
    closedByRelay: 0,
    storm: await storm(kind, server, o.storm),
  };
  let planned = 0;
  const worker = async () => {
    while (planned < n && !pace.expired) {
      const count = Math.min(n - planned, 20 + Math.floor(random() * 380));
      planned += count;
      const garbage = random() < 0.5;
      const parts: Uint8Array[] = [];
      for (let i = 0; i < count; i++) parts.push(asFrame(fuzzer.next()));
      if (garbage) parts.push(new Uint8Array([0xc0 | Math.floor(random() * 64), 1, 2, 3, 4, 5, 6, 7]));
      const cuts: number[] = [];
      for (let at = 0, total = parts.reduce((s, p) => s + p.length, 0); at < total; ) {
        at += 1 + Math.floor(random() * 1500);
        cuts.push(at);
      }
      await oneConnection(kind, server, Buffer.concat(parts), cuts, garbage, random() < 0.3);
      result.connections++;
      result.frames += count;
      if (garbage) result.closedByRelay++;
      await pace.sent(count);
    }
  };
  await Promise.all(Array.from({ length: o.workers }, worker));
  return result;
}

async function oneConnection(
  kind: Kind,
  server: TransportAddress,
  stream: Buffer,
  cuts: readonly number[],
  garbage: boolean,
  yieldBetween: boolean,
): Promise<void> {
  const sock = await connect(kind, server);
  sock.setNoDelay(true);
  sock.on('error', () => {});
  sock.on('data', () => {});
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  let at = 0;
  for (const cut of cuts) {
    if (sock.destroyed) break;
    const ok = sock.write(stream.subarray(at, cut));
    at = cut;
    if (!ok) await new Promise<void>((r) => sock.once('drain', r).once('close', r));
    if (yieldBetween) await new Promise((r) => setImmediate(r));
  }
  if (!garbage) sock.end();
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 5000).unref());
  if ((await Promise.race([closed, timeout])) === 'timeout') {
    sock.destroy();
    throw new Error(
      `${kind}: the relay did not close a connection (${garbage ? 'after non-TURN bytes' : 'after FIN'})`,
    );
  }
}

/** `count` connections opened together and held for a moment; how many the relay closed. */
async function storm(
  kind: Kind,
  server: TransportAddress,
  count: number,
): Promise<{ opened: number; closed: number }> {
  const socks = await Promise.all(
    Array.from({ length: count }, () => connect(kind, server).catch(() => undefined)),
  );
  const open = socks.filter((s): s is net.Socket => s !== undefined);
  for (const s of open) s.on('error', () => {});
  await new Promise((r) => setTimeout(r, 500));
  const closed = open.filter((s) => s.destroyed || s.readableEnded).length + (count - open.length);
  await Promise.all(
    open.map((s) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r()).destroy()))),
  );
  return { opened: count, closed };
}

/** Frames between two probe round trips. */
const BACKBONE_BATCH = 100;

/**
 * `n` fuzzed frames from the registered relay's socket to `to`, with a probe every
 * BACKBONE_BATCH whose reply is awaited (the receiver's pace). Returns frames sent, barriers apart.
 */
export async function fuzzBackbone(
  fuzzer: BackboneFuzzer,
  keys: RunKeys,
  socket: dgram.Socket,
  to: { host: string; port: number },
  n: number,
  pace: Pacer,
): Promise<{ frames: number; barriers: number }> {
  let waiting: { seq: number; done: () => void } | undefined;
  const onMessage = (m: Buffer) => {
    const r = decodeFrame(new Uint8Array(m), keys);
    if (r.ok && r.frame.type === FrameType.ProbeReply && r.frame.probeSeq === waiting?.seq) waiting.done();
  };
  socket.on('message', onMessage);
  let frames = 0;
  let barriers = 0;
  try {
    while (frames < n && !pace.expired) {
      const batch = Math.min(BACKBONE_BATCH, n - frames);
      for (let i = 0; i < batch; i++) socket.send(fuzzer.next(), to.port, to.host);
      frames += batch;
      const { probe, seq } = fuzzer.probe(Date.now());
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('backbone: no reply to a probe within 5 s')), 5000);
        waiting = {
          seq,
          done: () => {
            clearTimeout(t);
            resolve();
          },
        };
        socket.send(probe, to.port, to.host);
      });
      barriers++;
      await pace.sent(batch);
    }
  } finally {
    socket.off('message', onMessage);
  }
  return { frames, barriers };
}

export interface EdgeResult {
  requests: number;
  /** Responses by status code. */
  statuses: Record<string, number>;
  /** Requests answered 500 or not at all: what they were (the first 20). */
  failures: { method: string; path: string; body: string; status: number | string }[];
  failureCount: number;
  /** Requests sent again after the edge closed their connection under them. */
  resent: number;
}

/** `n` fuzzed requests to the edge at `base`, `concurrency` in flight over keep-alive connections. */
export async function fuzzEdge(
  fuzzer: EdgeFuzzer,
  base: string,
  n: number,
  pace: Pacer,
  concurrency: number,
): Promise<EdgeResult> {
  const pool = new Pool(base, { connections: concurrency, pipelining: 1 });
  const result: EdgeResult = { requests: 0, statuses: {}, failures: [], failureCount: 0, resent: 0 };
  let planned = 0;
  const fail = (req: ReturnType<EdgeFuzzer['next']>, status: number | string) => {
    result.failureCount++;
    if (result.failures.length < 20)
      result.failures.push({
        method: req.method,
        path: req.path,
        body: Buffer.from(req.body ?? [])
          .subarray(0, 300)
          .toString('latin1'),
        status,
      });
  };
  const worker = async () => {
    while (planned < n && !pace.expired) {
      planned++;
      const req = fuzzer.next();
      const send = () =>
        pool.request({
          method: req.method,
          path: req.path,
          headers: req.headers,
          body: req.body === undefined || req.method === 'GET' ? undefined : Buffer.from(req.body),
        });
      try {
        // A keep-alive connection the edge closed just as the next request went out on it (it
        // closes after an answer when it did not read the whole body): sent again once, counted.
        const res = await send().catch((err: { code?: string }) => {
          if (err.code !== 'UND_ERR_SOCKET') throw err;
          result.resent++;
          return send();
        });
        await res.body.dump({ limit: 1 << 20 });
        result.statuses[res.statusCode] = (result.statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode >= 500 && res.statusCode !== 503) fail(req, res.statusCode);
      } catch (err) {
        fail(req, (err as Error).message);
      }
      result.requests++;
      await pace.sent(1);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.close();
  }
  return result;
}
