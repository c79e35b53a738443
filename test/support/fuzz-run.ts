/**
 * One seeded fuzz run (scripts/fuzz.ts is its command line; test/integration/fuzz.test.ts runs a
 * short one): starts the live stack (fuzz-stack.ts), a steady call across the backbone, then for
 * each protocol asked sends its messages (fuzz-drivers.ts), checks the relays took in every TCP
 * and TLS frame and every UDP datagram, and afterwards that every process still serves, the call
 * lost nothing, and heap, descriptors and sockets came back to the baseline within the bounds
 * below after a settle period. Returns a report; `failures` empty means it passed.
 */
import { nodeCryptoMac } from '../../relay/frame-mac.ts';
import { createKeyRing, parseRunId, type RunKeys } from '../../src/backbone/key-ring.ts';
import type { TransportAddress } from '../../src/net/address.ts';
import { encodeChannelData } from '../../src/stun/channel-data.ts';
import { Attr, MessageClass, Method } from '../../src/stun/constants.ts';
import { relayMetric, TEST_MESH_KEY } from './backbone-relays.ts';
import { Fuzzer, rng } from './fuzz.ts';
import { BackboneFuzzer } from './fuzz-backbone.ts';
import { fuzzBackbone, fuzzEdge, fuzzStream, fuzzUdp, Pacer } from './fuzz-drivers.ts';
import { EdgeFuzzer } from './fuzz-edge.ts';
import {
  FAKE_RELAY,
  FUZZ_CRED,
  type FuzzStack,
  HOSTS,
  type Sample,
  SteadyCall,
  sample,
  startFuzzStack,
} from './fuzz-stack.ts';
import {
  type Credentials,
  channel,
  indication,
  lifetime,
  peerAttr,
  request,
  transportUdp,
} from './stun-builders.ts';
import { TurnTestClient } from './turn-client.ts';

export const PROTOCOLS = ['udp', 'stream', 'tls', 'backbone', 'edge'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface FuzzOptions {
  readonly seed: number;
  /** Messages per protocol. */
  readonly messages: number;
  readonly protocols: readonly Protocol[];
  /** Messages a second, per protocol, at most. */
  readonly rate: number;
  /** Each protocol stops after this long (and the run fails: fewer messages than asked). */
  readonly maxSeconds: number;
  /** How long the processes rest before the final samples (the relay keeps answers 40 s). */
  readonly settleSeconds: number;
  /** A progress line now and then. */
  readonly progress?: (line: string) => void;
}

/**
 * Bounds on what a run may leave behind, final sample minus baseline, per process. The baseline
 * is taken after the first slice of every protocol has run (code, caches and pools warmed up),
 * the final after the settle period; both after full GCs and the finalizers they let run. Descriptors and sockets must be back
 * where they were (a little slack for a Redis reconnect); the live heap may differ by noise.
 */
export const BOUNDS = { heapBytes: 8e6, fds: 2, sockets: 2 } as const;
/** The steady call may lose this many packets each way: none. */
export const CALL_LOSS_BOUND = 0;

export interface ProtocolResult {
  readonly protocol: Protocol;
  readonly messages: number;
  readonly seconds: number;
  readonly detail: Record<string, unknown>;
}

export interface FuzzReport {
  readonly seed: number;
  readonly messagesPerProtocol: number;
  readonly protocols: ProtocolResult[];
  readonly call: { sent: number; received: number; lost: number }[];
  readonly processes: Record<string, { baseline: Sample; final: Sample }>;
  readonly backboneRejected: Record<string, number>;
  readonly seconds: number;
  readonly failures: string[];
}

const WARMUP_SHARE = 0.02;
const WARMUP_MAX = 5000;

export async function runFuzz(o: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const say = o.progress ?? (() => {});
  const failures: string[] = [];
  say(
    `fuzz seed ${o.seed}: ${o.messages} messages per protocol (${o.protocols.join(', ')}); starting processes`,
  );
  const stack = await startFuzzStack();
  const results = new Map<Protocol, { messages: number; ms: number; detail: Record<string, unknown> }>();
  let call: SteadyCall | undefined;
  const extra: TurnTestClient[] = [];
  try {
    call = await SteadyCall.start(stack.a, stack.b);
    const drive = await drivers(stack, o, extra);
    const warm = Math.min(WARMUP_MAX, Math.ceil(o.messages * WARMUP_SHARE));
    say(`warm-up: ${warm} messages per protocol`);
    for (const p of o.protocols) await runPhase(p, warm, drive, results, o, say, failures);
    const baseline = await sampleAll(stack);
    for (const p of o.protocols) await runPhase(p, o.messages - warm, drive, results, o, say, failures);

    say('checking that everything still serves');
    await stillServes(stack, failures);
    const callResult = await call.stop();
    call = undefined;
    for (const [i, d] of callResult.entries()) {
      if (d.lost > CALL_LOSS_BOUND)
        failures.push(
          `the steady call lost ${d.lost} of ${d.sent} packets ${i === 0 ? 'A->B' : 'B->A'} (bound ${CALL_LOSS_BOUND})`,
        );
    }
    await Promise.all(extra.splice(0).map((c) => c.close()));
    say(`settling ${o.settleSeconds} s before the final samples`);
    await new Promise((r) => setTimeout(r, o.settleSeconds * 1000));
    const final = await sampleAll(stack);
    const processes: FuzzReport['processes'] = {};
    for (const w of stack.watched) {
      const b = baseline.get(w.name)!;
      const f = final.get(w.name)!;
      processes[w.name] = { baseline: b, final: f };
      checkSettled(w.name, b, f, failures);
      if (/uncaught exception|unhandled rejection/i.test(w.output()))
        failures.push(`${w.name} logged an uncaught exception or unhandled rejection`);
    }
    const backboneRejected: Record<string, number> = {};
    const text = await (await fetch(`${stack.a.http}/metrics`)).text();
    for (const m of text.matchAll(/^backbone_frames_rejected_total\{reason="(\w+)"\} (\d+)/gm))
      backboneRejected[m[1]!] = Number(m[2]);
    return {
      seed: o.seed,
      messagesPerProtocol: o.messages,
      protocols: o.protocols.map((p) => {
        const r = results.get(p)!;
        return { protocol: p, messages: r.messages, seconds: r.ms / 1000, detail: r.detail };
      }),
      call: callResult,
      processes,
      backboneRejected,
      seconds: (Date.now() - started) / 1000,
      failures,
    };
  } finally {
    await call?.stop().catch(() => undefined);
    await Promise.all(extra.map((c) => c.close().catch(() => undefined)));
    await stack.stop();
  }
}

type Driver = (n: number, pace: Pacer) => Promise<{ messages: number; detail: Record<string, unknown> }>;

async function runPhase(
  p: Protocol,
  n: number,
  drive: Record<Protocol, Driver>,
  results: Map<Protocol, { messages: number; ms: number; detail: Record<string, unknown> }>,
  o: FuzzOptions,
  say: (line: string) => void,
  failures: string[],
): Promise<void> {
  const prev = results.get(p) ?? { messages: 0, ms: 0, detail: {} };
  const t0 = Date.now();
  let shown = 0;
  const pace = new Pacer(o.rate, t0 + Math.max(0, o.maxSeconds * 1000 - prev.ms), (sent) => {
    if (Date.now() - shown < 2000) return;
    shown = Date.now();
    const total = prev.messages + sent;
    const rate = Math.round(sent / ((Date.now() - t0) / 1000));
    say(`${p}: ${total}/${o.messages} (${((100 * total) / o.messages).toFixed(1)}%), ${rate}/s`);
  });
  const r = await drive[p](n, pace);
  const ms = Date.now() - t0;
  const detail = { ...prev.detail };
  for (const [k, v] of Object.entries(r.detail))
    detail[k] = typeof v === 'number' && typeof detail[k] === 'number' ? (detail[k] as number) + v : v;
  const messages = prev.messages + r.messages;
  results.set(p, { messages, ms: prev.ms + ms, detail });
  if (r.messages < n)
    failures.push(`${p}: sent ${messages} of ${o.messages} messages before the ${o.maxSeconds} s limit`);
  if (n > 1000) say(`${p}: ${messages} messages in ${((prev.ms + ms) / 1000).toFixed(1)} s`);
  for (const f of (r.detail.failures as string[] | undefined) ?? []) failures.push(`${p}: ${f}`);
}

async function parsedOf(httpBase: string): Promise<{ udp: number; tcp: number; tls: number }> {
  const text = await (await fetch(`${httpBase}/metrics`)).text();
  const get = (t: string) =>
    Number(new RegExp(`^turn_messages_parsed_total\\{transport="${t}"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { udp: get('udp'), tcp: get('tcp'), tls: get('tls') };
}

/** The generators and drivers for each protocol, wired to the stack. */
async function drivers(
  stack: FuzzStack,
  o: FuzzOptions,
  extra: TurnTestClient[],
): Promise<Record<Protocol, Driver>> {
  const server = stack.a.turn;
  // The UDP fuzzer has an allocation of its own, so mutated requests reach its state.
  const fuzzClient = await TurnTestClient.connect({ transport: 'udp', server, cred: FUZZ_CRED });
  extra.push(fuzzClient);
  await fuzzClient.allocate();
  fuzzClient.onChannelData = () => {};
  const echoPeer: TransportAddress = { family: 4, address: HOSTS.peer, port: 9 };
  const cred: Credentials & { nonce: string } = { ...FUZZ_CRED, nonce: fuzzClient.nonce! };
  const corpus = buildCorpus(cred, echoPeer, rng(o.seed ^ 0xc0de));
  const udp = new Fuzzer(o.seed, cred, corpus);
  const stream = new Fuzzer(o.seed + 1, cred, corpus);
  const tlsFuzzer = new Fuzzer(o.seed + 2, cred, corpus);
  const splitTcp = rng(o.seed ^ 0x5eed);
  const splitTls = rng(o.seed ^ 0x7157);

  // Backbone: data frames from F are for an allocation on A that lets HOSTS.peer in.
  const sink = await TurnTestClient.connect({ transport: 'udp', server, cred: FUZZ_CRED });
  extra.push(sink);
  await sink.allocate();
  await sink.createPermission(echoPeer);
  sink.onChannelData = () => {};
  const wire = (a: TransportAddress) => ({
    family: 4 as const,
    ip: Uint8Array.from(a.address.split('.').map(Number)),
    port: a.port,
  });
  const meshKey = TEST_MESH_KEY;
  // A's replies are sealed under A's run.
  const keys = createKeyRing([meshKey], nodeCryptoMac).forRun(parseRunId(stack.aBackbone.run)!);
  const backbone = new BackboneFuzzer(o.seed + 3, {
    meshKey,
    self: FAKE_RELAY,
    receiver: 'A',
    other: 'B',
    destination: wire(sink.relayed!),
    source: wire(echoPeer),
  });
  await waitForPeer(stack, backbone, keys);
  const edge = new EdgeFuzzer(o.seed + 4, { admin: stack.adminToken, snapshot: stack.snapshotToken }, 16_384);

  const a = stack.a.http;
  const counted = async <T>(
    which: 'udp' | 'tcp' | 'tls',
    expected: (r: T) => number,
    run: () => Promise<T>,
  ) => {
    const before = await parsedOf(a);
    const r = await run();
    const after = await parsedOf(a);
    return { r, parsed: after[which] - before[which], want: expected(r) };
  };
  return {
    udp: async (n, pace) => {
      const { r, parsed, want } = await counted(
        'udp',
        (x: { datagrams: number }) => x.datagrams,
        () => fuzzUdp(udp, fuzzClient, n, pace),
      );
      sink.received.length = 0;
      // The steady call's client on A sends 50 a second on the same port: parsed may exceed.
      const failures = parsed < want ? [`relay A took in ${parsed} UDP datagrams of ${want} sent`] : [];
      return { messages: r.fuzzed, detail: { datagrams: r.datagrams, parsed, failures } };
    },
    stream: async (n, pace) => streamDriver('tcp', stream, splitTcp, server, n, pace, a),
    tls: async (n, pace) => streamDriver('tls', tlsFuzzer, splitTls, stack.tls, n, pace, a),
    backbone: async (n, pace) => {
      // The permission lasts 300 s (RFC 8656 §9): renewed, so the delivered frames get through.
      await sink.createPermission(echoPeer);
      const r = await fuzzBackbone(backbone, keys, stack.fake, stack.aBackbone, n, pace);
      const delivered = sink.received.length;
      sink.received.length = 0;
      return { messages: r.frames, detail: { barriers: r.barriers, deliveredToAllocation: delivered } };
    },
    edge: async (n, pace) => {
      const r = await fuzzEdge(edge, stack.edge.base, n, pace, 16);
      const failures =
        r.failureCount > 0
          ? [
              `${r.failureCount} requests answered 500 or not at all, e.g. ${JSON.stringify(r.failures.slice(0, 3))}`,
            ]
          : [];
      return {
        messages: r.requests,
        detail: { statuses: r.statuses, resent: r.resent, failures, examples: r.failures },
      };
    },
  };

  async function streamDriver(
    kind: 'tcp' | 'tls',
    f: Fuzzer,
    split: () => number,
    to: TransportAddress,
    n: number,
    pace: Pacer,
    http: string,
  ) {
    const storm = n > 1000 ? 150 : 0;
    const before = await parsedOf(http);
    const r = await fuzzStream(kind, f, split, to, n, pace, { workers: 8, storm });
    // The relay counts a frame when it hands it on; the last ones may still be on their way.
    const want = before[kind] + r.frames;
    let parsed = 0;
    for (let i = 0; i < 50 && parsed < want; i++) {
      parsed = (await parsedOf(http))[kind];
      if (parsed < want) await new Promise((res) => setTimeout(res, 100));
    }
    const failures =
      parsed - before[kind] !== r.frames
        ? [`relay A took in ${parsed - before[kind]} ${kind} frames of ${r.frames} sent`]
        : [];
    if (storm > 0 && r.storm.closed === 0)
      failures.push(`${kind}: none of ${storm} connections at once were closed (per-address cap)`);
    return {
      messages: r.frames,
      detail: {
        connections: r.connections,
        closedByRelay: r.closedByRelay,
        stormOpened: r.storm.opened,
        stormClosed: r.storm.closed,
        failures,
      },
    };
  }
}

/** F is a peer of A once A answers its probe (A reads the directory when F is announced). */
async function waitForPeer(stack: FuzzStack, f: BackboneFuzzer, keys: RunKeys): Promise<void> {
  const end = Date.now() + 20_000;
  while (Date.now() < end) {
    try {
      await fuzzBackbone(f, keys, stack.fake, stack.aBackbone, 1, new Pacer(1e9, Date.now() + 10_000));
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  throw new Error(`relay A never answered a probe from ${FAKE_RELAY}: it did not take it from the directory`);
}

async function sampleAll(stack: FuzzStack): Promise<Map<string, Sample>> {
  await new Promise((r) => setTimeout(r, 500)); // closes and ends in flight settle
  const out = new Map<string, Sample>();
  for (const w of stack.watched) out.set(w.name, await sample(w));
  return out;
}

function checkSettled(name: string, b: Sample, f: Sample, failures: string[]): void {
  const mb = (n: number) => (n / 1e6).toFixed(1);
  if (f.heap - b.heap > BOUNDS.heapBytes)
    failures.push(
      `${name}: live heap ${mb(b.heap)} MB -> ${mb(f.heap)} MB, over the ${mb(BOUNDS.heapBytes)} MB bound`,
    );
  if (f.fds - b.fds > BOUNDS.fds)
    failures.push(`${name}: file descriptors ${b.fds} -> ${f.fds} (bound +${BOUNDS.fds})`);
  if (f.udp - b.udp > BOUNDS.sockets)
    failures.push(`${name}: UDP sockets ${b.udp} -> ${f.udp} (bound +${BOUNDS.sockets})`);
  if (f.tcp - b.tcp > BOUNDS.sockets)
    failures.push(`${name}: TCP sockets ${b.tcp} -> ${f.tcp} (bound +${BOUNDS.sockets})`);
}

/** A real allocation and data round trip over UDP, TCP and TLS on A, and an edge allocate. */
async function stillServes(stack: FuzzStack, failures: string[]): Promise<void> {
  for (const w of stack.watched) if (!w.alive()) failures.push(`${w.name} has exited`);
  const peer = await TurnTestClient.connect({ transport: 'udp', server: stack.b.turn, cred: FUZZ_CRED });
  try {
    await peer.allocate();
    for (const [transport, server] of [
      ['udp', stack.a.turn],
      ['tcp', stack.a.turn],
      ['tls', stack.tls],
    ] as const) {
      try {
        const c = await TurnTestClient.connect({ transport, server, cred: FUZZ_CRED });
        try {
          if ((await c.allocate()).cls !== MessageClass.SuccessResponse) throw new Error('Allocate refused');
          await c.channelBind(0x4001, peer.relayed!);
          await peer.createPermission(c.relayed!);
          c.sendChannel(0x4001, new Uint8Array([7, 7, 7]));
          const got = await peer.waitForData(peer.received.length + 1, 5000);
          if (got.at(-1)?.data.join() !== '7,7,7') throw new Error('the data came back wrong');
          // Over UDP the allocation would outlive the socket: end it, so the socket counts settle.
          if (transport === 'udp') await c.refresh(0);
        } finally {
          await c.close();
        }
      } catch (err) {
        failures.push(
          `relay A no longer serves a ${transport} allocation with data: ${(err as Error).message}`,
        );
      }
    }
  } finally {
    await peer.refresh(0).catch(() => undefined);
    await peer.close();
  }
  const res = await fetch(`${stack.edge.base}/v1/allocate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  }).catch((err: Error) => err);
  if (res instanceof Error) failures.push(`the edge no longer answers: ${res.message}`);
  else {
    const body = (await res.json().catch(() => ({}))) as { iceServers?: unknown[] };
    if (res.status !== 200 || !Array.isArray(body.iceServers) || body.iceServers.length === 0)
      failures.push(`the edge no longer allocates: ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
  }
  for (const r of [stack.a, stack.b]) {
    const h = await fetch(`${r.http}/healthz`).catch(() => undefined);
    if (h?.status !== 200) failures.push(`relay ${r.id} /healthz answers ${h?.status ?? 'nothing'}`);
  }
  if ((await relayMetric(stack.a, 'backbone_data_frames_total{action="sent"}')) === 0)
    failures.push('relay A sent no data frames: the steady call did not cross the backbone');
}

/** Valid messages to mutate; their transaction ids come from `random`, so a seed gives the same ones. */
function buildCorpus(cred: Credentials, peer: TransportAddress, random: () => number): Uint8Array[] {
  const newTid = () => Uint8Array.from({ length: 12 }, () => Math.floor(random() * 256));
  const signed = (method: number, attrs: (tid: Uint8Array) => [number, Uint8Array][]) => {
    const tid = newTid();
    return request(method, attrs(tid), cred, { tid, fingerprint: true }).bytes;
  };
  const tid = newTid();
  return [
    request(Method.Binding, [], undefined, { tid: newTid() }).bytes,
    request(Method.Allocate, [transportUdp()], undefined, { tid: newTid() }).bytes,
    signed(Method.Allocate, () => [transportUdp(), lifetime(1200)]),
    signed(Method.Refresh, () => [lifetime(600)]),
    signed(Method.CreatePermission, (t) => [peerAttr(peer, t)]),
    signed(Method.ChannelBind, (t) => [channel(0x4001), peerAttr(peer, t)]),
    indication(Method.Send, [peerAttr(peer, tid), [Attr.Data, new Uint8Array(40)]], tid),
    encodeChannelData(0x4001, new Uint8Array(100), false),
  ];
}
