/**
 * The live processes a fuzz run attacks, and what it measures on them: two relay processes with a
 * backbone (A with TCP and TLS listeners too), the Node edge, all on one Redis under a prefix of
 * their own; a made-up relay F registered in the directory at a UDP socket of this process, so
 * that the fuzzer's backbone frames come from an address the relays know; a steady call from a
 * client on A to a client on B, across the backbone, that counts every packet; and per process
 * the live heap (after full GCs and the finalizers they let run), RSS, file descriptors and sockets.
 */
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { TransportAddress } from '../../src/net/address.ts';
import { RedisDirectory } from '../../src/redis/redis-directory.ts';
import {
  relayBackbone,
  relayRoute,
  startTestRelay,
  stopTestRelays,
  type TestRelay,
  until,
} from './backbone-relays.ts';
import { type NodeEdge, startNodeEdge } from './node-edge.ts';
import { freePort } from './ports.ts';
import { countFds, countTcpSockets, countUdpSockets, rssBytes } from './proc-sockets.ts';
import { deleteKeys, redisUrl, uniquePrefix } from './redis.ts';
import { relayRecord } from './relay-record.ts';
import { makeSelfSignedCert } from './tls-cert.ts';
import { TurnTestClient } from './turn-client.ts';

/** The relays' static user (the fuzzer re-signs with it), and the edge's REST secret. */
export const FUZZ_CRED = { username: 'fuzz-user', password: 'fuzz-pw', realm: 'r' };
/** The steady call's own user: no fuzzed revocation names it. */
export const STEADY_CRED = { username: 'steady-call-user', password: 'steady-pw', realm: 'r' };
export const EDGE_SECRET = 'fuzz-edge-secret-0123456789';
export const HOSTS = { a: '127.0.0.21', b: '127.0.0.22', fake: '127.0.0.23', peer: '127.0.0.24' } as const;
export const FAKE_RELAY = 'F';

/** Loaded into each process: full GCs until finalizers have run, and the live heap, on SIGUSR2 (see the file). */
const GC_PRELOAD = new URL('./gc-on-signal.mjs', import.meta.url).pathname;
const GC_ENV = {
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --expose-gc --import ${GC_PRELOAD}`.trim(),
};

export interface Watched {
  readonly name: string;
  readonly pid: number;
  readonly signal: (s: NodeJS.Signals) => void;
  output(): string;
  alive(): boolean;
}

export interface FuzzStack {
  readonly a: TestRelay;
  readonly b: TestRelay;
  readonly edge: NodeEdge;
  readonly tls: TransportAddress;
  readonly adminToken: string;
  readonly snapshotToken: string;
  /** F's socket (the fuzzer's backbone frames leave from it) and A's backbone address. */
  readonly fake: dgram.Socket;
  readonly aBackbone: { host: string; port: number; run: string };
  readonly watched: readonly Watched[];
  stop(): Promise<void>;
}

export async function startFuzzStack(): Promise<FuzzStack> {
  const url = await redisUrl();
  const prefix = uniquePrefix('fuzz');
  const redis = { url, prefix };
  const certDir = mkdtempSync(join(tmpdir(), 'fuzz-tls-'));
  const { cert, key } = await makeSelfSignedCert(certDir, { ips: [HOSTS.a] });
  const users = ['--user', `${FUZZ_CRED.username}:${FUZZ_CRED.password}`, '--secret', EDGE_SECRET];
  const tlsPort = await freePort('tcp', HOSTS.a);
  const [a, b] = await Promise.all([
    startTestRelay({
      id: 'A',
      host: HOSTS.a,
      redis,
      user: `${STEADY_CRED.username}:${STEADY_CRED.password}`,
      env: GC_ENV,
      extra: [
        ...users,
        ...['--tls-port', String(tlsPort), '--tls-cert', cert, '--tls-key', key],
        '--user-quota',
        '1000',
        // This run is about parsing whatever arrives; the abuse limits (their own tests are in
        // relay-hardening.test.ts) would otherwise drop most of one source's unauthenticated
        // answers and close its pre-allocation streams at the first large frame.
        ...['--unauth-rate', '1000000', '--unauth-burst', '1000000', '--max-request-bytes', '65535'],
      ],
    }),
    startTestRelay({
      id: 'B',
      host: HOSTS.b,
      redis,
      user: `${STEADY_CRED.username}:${STEADY_CRED.password}`,
      env: GC_ENV,
      extra: users,
    }),
  ]);
  await until(async () => (await relayRoute(a, 'B')) === 'A-B', 15_000, 'route A-B');

  // F: registered like a relay, at an address of ours, heartbeating while the run lasts.
  const fake = dgram.createSocket('udp4');
  await new Promise<void>((r) => fake.bind(0, HOSTS.fake, r));
  const client = new Redis(url);
  const subscriber = new Redis(url);
  const directory = new RedisDirectory({ client, subscriber, prefix });
  const record = relayRecord(FAKE_RELAY, HOSTS.fake, 50, 8, {
    backbone: `${HOSTS.fake}:${fake.address().port}`,
  });
  const beat = () => directory.register({ ...record, updatedAt: Date.now() }, 6000, Date.now());
  await beat();
  await directory.publish({ type: 'relay-up', id: FAKE_RELAY, at: Date.now() });
  const heartbeat = setInterval(() => void beat().catch(() => undefined), 1500);

  const adminToken = 'fuzz-admin-token-0123456789';
  const snapshotToken = 'fuzz-snapshot-token-0123456789';
  const edge = await startNodeEdge({
    REDIS_URL: url,
    EDGE_REDIS_PREFIX: prefix,
    EDGE_SECRETS: EDGE_SECRET,
    EDGE_API_KEYS: 'off',
    EDGE_ADDRESS_RATE: 'off',
    EDGE_ADMIN_TOKEN: adminToken,
    EDGE_SNAPSHOT_TOKEN: snapshotToken,
    ...GC_ENV,
  });
  const watch = (
    name: string,
    child: { pid?: number; exitCode: number | null; kill(s: NodeJS.Signals): boolean },
    output: () => string,
  ): Watched => ({
    name,
    pid: child.pid!,
    signal: (s) => void child.kill(s),
    output,
    alive: () => child.exitCode === null,
  });
  return {
    a,
    b,
    edge,
    tls: { family: 4, address: HOSTS.a, port: tlsPort },
    adminToken,
    snapshotToken,
    fake,
    aBackbone: await relayBackbone(a),
    watched: [
      watch('relay A', a.child.child, a.child.output),
      watch('relay B', b.child.child, b.child.output),
      watch('edge', edge.child, edge.output),
    ],
    stop: async () => {
      clearInterval(heartbeat);
      await Promise.all([edge.stop(), stopTestRelays([a, b])]);
      await directory.deregister(FAKE_RELAY).catch(() => undefined);
      client.disconnect();
      subscriber.disconnect();
      fake.close();
      await deleteKeys(url, prefix);
      rmSync(certDir, { recursive: true, force: true });
    },
  };
}

export interface Sample {
  /** Live V8 heap plus external memory (Buffers, ArrayBuffers), after full GCs and the finalizers they let run. */
  readonly heap: number;
  readonly rss: number;
  readonly fds: number;
  readonly udp: number;
  readonly tcp: number;
}

/** The process's live memory: full GCs in it until finalizers have run (gc-on-signal.mjs), then the heap it uses plus its external memory. */
async function liveHeap(p: Watched): Promise<number> {
  const lines = () => p.output().match(/\{"event":"gc","heapUsed":\d+,"external":\d+[^}]*\}/g) ?? [];
  const before = lines().length;
  p.signal('SIGUSR2');
  const end = Date.now() + 5000;
  while (lines().length === before) {
    if (Date.now() > end) throw new Error(`${p.name} did not report its heap after SIGUSR2`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const { heapUsed, external } = JSON.parse(lines().at(-1)!) as { heapUsed: number; external: number };
  return heapUsed + external;
}

export async function sample(p: Watched): Promise<Sample> {
  return {
    heap: await liveHeap(p),
    rss: rssBytes(p.pid),
    fds: countFds(p.pid),
    udp: countUdpSockets(p.pid),
    tcp: countTcpSockets(p.pid),
  };
}

/** Packets each way every 20 ms on a channel from a client on A to a client on B, numbered. */
export class SteadyCall {
  readonly #sent = [0, 0];
  readonly #got = [new Set<number>(), new Set<number>()];
  #timer: NodeJS.Timeout | undefined;
  #refresher: NodeJS.Timeout | undefined;

  private constructor(private readonly ends: readonly [TurnTestClient, TurnTestClient]) {}

  static async start(a: TestRelay, b: TestRelay): Promise<SteadyCall> {
    const c1 = await TurnTestClient.connect({ transport: 'udp', server: a.turn, cred: STEADY_CRED });
    const c2 = await TurnTestClient.connect({ transport: 'udp', server: b.turn, cred: STEADY_CRED });
    for (const c of [c1, c2]) await c.allocate();
    await c1.channelBind(0x4000, c2.relayed!);
    await c2.channelBind(0x4000, c1.relayed!);
    const call = new SteadyCall([c1, c2]);
    c1.onChannelData = (_ch, d) => call.#got[1]!.add(new DataView(d.buffer, d.byteOffset).getUint32(0));
    c2.onChannelData = (_ch, d) => call.#got[0]!.add(new DataView(d.buffer, d.byteOffset).getUint32(0));
    call.#timer = setInterval(() => {
      for (const i of [0, 1]) {
        const d = new Uint8Array(160);
        new DataView(d.buffer).setUint32(0, call.#sent[i]!++);
        call.ends[i]!.sendChannel(0x4000, d);
      }
    }, 20);
    // Like any client: the allocation, the channels and their permissions expire (600 s, 600 s,
    // 300 s: RFC 8656 §7, §12, §9) unless refreshed, so each end refreshes them every minute.
    call.#refresher = setInterval(() => {
      for (const [c, other] of [
        [c1, c2],
        [c2, c1],
      ] as const) {
        void c.refresh(600).catch(() => undefined);
        void c.channelBind(0x4000, other.relayed!).catch(() => undefined);
      }
    }, 60_000);
    return call;
  }

  /** Stops sending, waits for stragglers, and counts. */
  async stop(): Promise<{ sent: number; received: number; lost: number }[]> {
    clearInterval(this.#timer);
    clearInterval(this.#refresher);
    await new Promise((r) => setTimeout(r, 1000));
    await Promise.all(this.ends.map((c) => c.close()));
    return [0, 1].map((i) => {
      const sent = this.#sent[i]!;
      const received = this.#got[i]!.size;
      return { sent, received, lost: sent - received };
    });
  }
}
