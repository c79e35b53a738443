/**
 * A TURN load generator: N allocations, each on its own UDP socket, each sending to an echo peer
 * through the relay (ChannelData or Send indications) and timing the echo. Two patterns: a fixed
 * rate per allocation (latency under a known load), or a fixed number of packets in flight per
 * allocation (saturation throughput). The same tool drives every server under test.
 *
 * At a fixed rate every allocation sends on the same timer tick, so packets leave in bursts (one
 * per allocation per tick); each payload carries its send time and its burst's number, so the
 * slowest 1 % of round trips can be traced to the bursts they left in (LoadResult.tail).
 */
import dgram from 'node:dgram';
import type { TransportAddress } from '../../src/net/address.ts';
import { channelDataLength, encodeChannelData } from '../../src/stun/channel-data.ts';
import { Attr, MessageClass, Method } from '../../src/stun/constants.ts';
import { decodeMessage, findAttribute } from '../../src/stun/message.ts';
import {
  type Credentials,
  channel,
  errorCodeOf,
  indication,
  lifetime,
  newTid,
  peerAttr,
  request,
  textAttr,
  transportUdp,
} from '../../test/support/stun-builders.ts';

export type LoadMode = 'channel' | 'send';
export type LoadPattern =
  | { readonly kind: 'rate'; readonly pps: number }
  | { readonly kind: 'window'; readonly inFlight: number };

export interface LoadOptions {
  readonly server: TransportAddress;
  readonly cred: Omit<Credentials, 'nonce'>;
  readonly peer: TransportAddress;
  readonly allocations: number;
  readonly mode: LoadMode;
  readonly pattern: LoadPattern;
  readonly payloadBytes: number;
  readonly durationMs: number;
}

export interface LoadResult {
  readonly allocations: number;
  readonly sent: number;
  readonly received: number;
  readonly lossPercent: number;
  /** Round trips per second (each is two relayed packets: to the peer and back). */
  readonly roundTripsPerSecond: number;
  readonly relayedPacketsPerSecond: number;
  readonly rttMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  /** Every round trip measured, in ms, sorted: for percentiles over several runs together. */
  readonly rtts: Float64Array;
  /** At a fixed rate: which bursts the round trips at or above p99 left in. */
  readonly tail?: TailBursts;
}

/**
 * Where a fixed-rate run's slowest 1 % of round trips came from. At 50 allocations a 5-second run
 * sends 250 bursts of 50 packets, so its p99 is set by a handful of bursts: whole bursts held up
 * (a stall somewhere on the path) look different from a few late packets in many.
 */
export interface TailBursts {
  /** Bursts sent. */
  readonly bursts: number;
  /** Bursts holding at least one round trip at or above the run's p99. */
  readonly slow: number;
  /** Of those, the ones sent in the run's first second. */
  readonly slowInFirstSecond: number;
  /** The p99 of the round trips that left after the first second: the run without its start. */
  readonly p99AfterFirstSecondMs: number;
}

interface Flow {
  readonly socket: dgram.Socket;
  /** Ends the allocation (Refresh with LIFETIME 0), so runs do not pile up allocations. */
  readonly release: () => Promise<void>;
  readonly channel: number;
  inFlight: number;
  lastEcho: number;
}

const CHANNEL = 0x4000;

/** One request/response on a socket, retried twice. */
function transact(socket: dgram.Socket, server: TransportAddress, bytes: Uint8Array, tid: Uint8Array) {
  return new Promise<ReturnType<typeof decodeMessage>>((resolve, reject) => {
    let tries = 0;
    const key = Buffer.from(tid).toString('hex');
    const onMessage = (m: Buffer) => {
      const r = decodeMessage(new Uint8Array(m));
      if (r.ok && Buffer.from(r.message.transactionId).toString('hex') === key) {
        clearInterval(timer);
        socket.off('message', onMessage);
        resolve(r);
      }
    };
    const send = () => {
      if (tries++ >= 3) {
        clearInterval(timer);
        socket.off('message', onMessage);
        reject(new Error('no answer from the TURN server'));
        return;
      }
      socket.send(bytes, server.port, server.address);
    };
    socket.on('message', onMessage);
    const timer = setInterval(send, 1000);
    send();
  });
}

async function setUpFlow(o: LoadOptions, index: number): Promise<Flow> {
  const socket = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20, sendBufferSize: 1 << 20 });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  try {
    return await handshake(o, index, socket);
  } catch (err) {
    socket.close();
    throw err;
  }
}

async function handshake(o: LoadOptions, index: number, socket: dgram.Socket): Promise<Flow> {
  const cred: Credentials = { ...o.cred };
  const ask = async (method: number, attrs: (tid: Uint8Array) => [number, Uint8Array][]) => {
    for (let attempt = 0; attempt < 2; attempt++) {
      const tid = newTid();
      const r = await transact(socket, o.server, request(method, attrs(tid), cred, { tid }).bytes, tid);
      if (!r.ok) throw new Error(`undecodable answer: ${r.error}`);
      const code = errorCodeOf(r.message);
      if ((code === 401 || code === 438) && attempt === 0) {
        cred.nonce = textAttr(r.message, Attr.Nonce);
        continue;
      }
      if (r.message.cls !== MessageClass.SuccessResponse)
        throw new Error(`${method}: error ${code} (flow ${index})`);
      return;
    }
  };
  await ask(Method.Allocate, () => [transportUdp()]);
  if (o.mode === 'channel') await ask(Method.ChannelBind, (tid) => [channel(CHANNEL), peerAttr(o.peer, tid)]);
  else await ask(Method.CreatePermission, (tid) => [peerAttr(o.peer, tid)]);
  const release = () => ask(Method.Refresh, () => [lifetime(0)]).catch(() => undefined);
  return { socket, release, channel: CHANNEL, inFlight: 0, lastEcho: 0 };
}

/**
 * A fresh local port can be one the server still holds an allocation for (437) when the kernel
 * reuses it soon after an earlier run; take another port then.
 */
async function setUpFlowRetrying(o: LoadOptions, index: number): Promise<Flow> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await setUpFlow(o, index);
    } catch (err) {
      if (attempt >= 3 || !/error 437/.test((err as Error).message)) throw err;
    }
  }
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function runLoad(o: LoadOptions, onProgress?: (done: number) => void): Promise<LoadResult> {
  const flows: Flow[] = [];
  // Set flows up a few at a time: servers rate their own control path differently.
  for (let i = 0; i < o.allocations; i += 20) {
    const batch = Array.from({ length: Math.min(20, o.allocations - i) }, (_, k) =>
      setUpFlowRetrying(o, i + k),
    );
    flows.push(...(await Promise.all(batch)));
  }
  const rtts = new Float64Array(4_000_000);
  /** The burst each measured round trip left in (fixed rate only). */
  const burstOf = new Uint32Array(rtts.length);
  let samples = 0;
  let sent = 0;
  let received = 0;
  let running = true;
  const payload = Buffer.alloc(o.payloadBytes);
  const tid = newTid();

  const send = (f: Flow, burst = 0) => {
    payload.writeDoubleBE(performance.now(), 0);
    payload.writeUInt32BE(burst, 8);
    const out =
      o.mode === 'channel'
        ? encodeChannelData(f.channel, payload, false)
        : indication(Method.Send, [peerAttr(o.peer, tid), [Attr.Data, payload]], tid);
    f.socket.send(out, o.server.port, o.server.address);
    f.inFlight++;
    sent++;
  };

  for (const f of flows) {
    f.socket.removeAllListeners('message');
    f.socket.on('message', (m: Buffer) => {
      let data: Uint8Array | undefined;
      if ((m[0]! & 0xc0) === 0x40) {
        if (channelDataLength(m) >= 8) data = m.subarray(4);
      } else {
        const r = decodeMessage(m);
        if (r.ok && r.message.method === Method.Data) data = findAttribute(r.message, Attr.Data)?.value;
      }
      if (!data || data.length < 12) return;
      const now = performance.now();
      const echoed = new DataView(data.buffer, data.byteOffset, 12);
      const rtt = now - echoed.getFloat64(0);
      received++;
      f.inFlight = Math.max(0, f.inFlight - 1);
      f.lastEcho = now;
      if (samples < rtts.length) {
        burstOf[samples] = echoed.getUint32(8);
        rtts[samples++] = rtt;
      }
      if (running && o.pattern.kind === 'window') send(f);
    });
  }

  const start = performance.now();
  /** Fixed rate: bursts sent so far (one packet per allocation each), the next one's number. */
  let bursts = 0;
  let timer: NodeJS.Timeout;
  if (o.pattern.kind === 'rate') {
    const interval = 1000 / o.pattern.pps;
    timer = setInterval(
      () => {
        const target = Math.floor((performance.now() - start) / interval);
        for (; bursts < target; bursts++) for (const f of flows) send(f, bursts);
      },
      Math.max(1, Math.min(10, interval / 2)),
    );
  } else {
    const window = o.pattern.inFlight;
    for (const f of flows) for (let i = 0; i < window; i++) send(f);
    // Refill a flow whose packets were lost, so the window does not shrink for good.
    timer = setInterval(() => {
      const now = performance.now();
      for (const f of flows) {
        if (now - f.lastEcho > 200 && f.inFlight > 0) {
          f.inFlight = 0;
          f.lastEcho = now;
          for (let i = 0; i < window; i++) send(f);
        }
      }
    }, 100);
  }
  const progress = setInterval(
    () => onProgress?.(Math.min(1, (performance.now() - start) / o.durationMs)),
    1000,
  );
  await new Promise((r) => setTimeout(r, o.durationMs));
  running = false;
  clearInterval(timer);
  clearInterval(progress);
  const elapsed = (performance.now() - start) / 1000;
  await new Promise((r) => setTimeout(r, 300)); // let the last echoes land
  for (const f of flows) f.socket.removeAllListeners('message');
  await Promise.all(flows.map((f) => f.release()));
  await Promise.all(flows.map((f) => new Promise<void>((r) => f.socket.close(() => r()))));

  const sorted = rtts.slice(0, samples).sort();
  const p99 = percentile(sorted, 99);
  let tail: TailBursts | undefined;
  if (o.pattern.kind === 'rate') {
    const firstSecond = o.pattern.pps; // bursts 0 .. pps-1 leave in the first second
    const slow = new Set<number>();
    const later: number[] = [];
    for (let i = 0; i < samples; i++) {
      if (rtts[i]! >= p99) slow.add(burstOf[i]!);
      if (burstOf[i]! >= firstSecond) later.push(rtts[i]!);
    }
    tail = {
      bursts,
      slow: slow.size,
      slowInFirstSecond: [...slow].filter((b) => b < firstSecond).length,
      p99AfterFirstSecondMs: percentile(Float64Array.from(later).sort(), 99),
    };
  }
  return {
    allocations: o.allocations,
    sent,
    received,
    lossPercent: sent === 0 ? 0 : (100 * Math.max(0, sent - received)) / sent,
    roundTripsPerSecond: received / elapsed,
    relayedPacketsPerSecond: (2 * received) / elapsed,
    rttMs: {
      p50: percentile(sorted, 50),
      p90: percentile(sorted, 90),
      p99,
      max: sorted.length ? sorted[sorted.length - 1]! : Number.NaN,
    },
    rtts: sorted,
    tail,
  };
}
