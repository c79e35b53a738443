/**
 * Relay processes with a backbone for integration tests, e2e tests and benchmarks: start one on a
 * loopback address of its own, read its metrics and routes over HTTP, and wait for conditions.
 */
import { nodeCryptoMac } from '../../relay/frame-mac.ts';
import { nativeUdpIo, type UdpIoMode } from '../../relay/udp-io.ts';
import { createKeyRing, parseRunId, type RunKeys } from '../../src/backbone/key-ring.ts';
import type { TransportAddress } from '../../src/net/address.ts';
import { parseHostPort } from '../../src/net/ip.ts';
import { freePort, freeUdpRun } from './ports.ts';
import { type RelayChild, startRelayProcess } from './relay.ts';
import { requireOnHost } from './requirements.ts';

export const TEST_MESH_KEY = 'test-mesh-key-0123456789';
/** The bearer token of PUT /faults on the test relays (--fault-api-token). */
export const TEST_FAULT_TOKEN = 'test-fault-token-0123456789';

export interface TestRelay {
  readonly id: string;
  readonly child: RelayChild;
  readonly turn: TransportAddress;
  /** Base URL of its HTTP port. */
  readonly http: string;
}

export interface TestRelayOptions {
  readonly id: string;
  readonly host: string;
  /** Without it the relay has no backbone (plain relay-to-relay UDP). */
  readonly redis?: { readonly url: string; readonly prefix: string };
  readonly user?: string;
  readonly extra?: readonly string[];
  /** More environment for the process (NODE_OPTIONS, for one). */
  readonly env?: Record<string, string>;
  /** The Node binary (test/support/newer-node.ts, for --workers), and how long to wait for it. */
  readonly node?: string;
  /** Backbone ports to keep free from the one chosen on (--workers N uses N). */
  readonly backbonePorts?: number;
  /** Flags for node itself (`--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
}

/** A relay on `host` allowing loopback peers, with user a:b in realm r unless told otherwise. */
export async function startTestRelay(o: TestRelayOptions): Promise<TestRelay> {
  const turnPort = await freePort('both', o.host);
  const httpPort = await freePort('tcp');
  const args = [
    '--id',
    o.id,
    '--listen',
    o.host,
    '--turn-port',
    String(turnPort),
    '--http-port',
    String(httpPort),
    '--user',
    o.user ?? 'a:b',
    '--realm',
    'r',
    '--allow-peer',
    '127.0.0.0/8',
    '--log-level',
    'warn',
  ];
  if (o.redis) {
    args.push(
      '--redis',
      o.redis.url,
      '--redis-prefix',
      o.redis.prefix,
      '--heartbeat-ttl',
      '2',
      '--fault-api-token',
      TEST_FAULT_TOKEN,
    );
    args.push(
      '--backbone-port',
      String(await freeUdpRun(o.backbonePorts ?? 1, o.host)),
      '--mesh-key',
      TEST_MESH_KEY,
    );
  }
  const child = await startRelayProcess([...args, ...(o.extra ?? [])], o.env, {
    ...(o.node ? { node: o.node, readyMs: 60_000 } : {}),
    ...(o.nodeArgs ? { nodeArgs: o.nodeArgs } : {}),
  });
  return {
    id: o.id,
    child,
    turn: { family: 4, address: o.host, port: turnPort },
    http: `http://127.0.0.1:${httpPort}`,
  };
}

export async function stopTestRelays(relays: Iterable<TestRelay>): Promise<void> {
  await Promise.all(
    [...relays].map(async (r) => {
      r.child.kill('SIGINT');
      await r.child.exited;
    }),
  );
}

/** One sample of a Prometheus metric, e.g. `backbone_data_frames_total{action="sent"}`; 0 when absent. */
export async function relayMetric(r: Pick<TestRelay, 'http'>, sample: string): Promise<number> {
  const text = await (await fetch(`${r.http}/metrics`)).text();
  const m = new RegExp(`^${sample.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** Before starting relays on `io`: native needs the addon built (else a missing-requirement failure). */
export function requireUdpIo(io: UdpIoMode): void {
  if (io === 'native')
    requireOnHost(
      nativeUdpIo() !== undefined,
      'the native UDP addon is not built',
      'run npm run build:native',
    );
}

/** The UDP I/O the relay's backbone port runs on (dgram or native). */
export async function relayBackboneIo(r: TestRelay): Promise<string | undefined> {
  const body = (await (await fetch(`${r.http}/healthz`)).json()) as { backbone?: { io: string } };
  return body.backbone?.io;
}

/** The UDP I/O the relay's TURN side runs on (/healthz `udpIo`: native or dgram). */
export async function relayUdpIo(r: TestRelay): Promise<string | undefined> {
  const body = (await (await fetch(`${r.http}/healthz`)).json()) as { udpIo?: string };
  return body.udpIo;
}

/** Who computes the relay's frame tags (openssl-native or node-crypto). */
export async function relayBackboneMac(r: TestRelay): Promise<string | undefined> {
  const body = (await (await fetch(`${r.http}/healthz`)).json()) as { backbone?: { mac: string } };
  return body.backbone?.mac;
}

/** A relay's backbone as /healthz says: its address (`ip:port`), run, and frame MAC. */
export interface RelayBackbone {
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** `backboneRun`: its frames are sealed under this run's keys (src/backbone/key-ring.ts). */
  readonly run: string;
  readonly mac: string;
}

export async function relayBackbone(r: TestRelay): Promise<RelayBackbone> {
  const body = (await (await fetch(`${r.http}/healthz`)).json()) as {
    backbone: { address: string; run: string; mac: string };
  };
  const at = parseHostPort(body.backbone.address)!;
  return { ...body.backbone, host: at.host, port: at.port };
}

/** The keys a relay's run seals with, under `meshKeys` (node:crypto's MAC). */
export function runKeysOf(run: string, meshKeys: readonly string[] = [TEST_MESH_KEY]): RunKeys {
  return createKeyRing(meshKeys, nodeCryptoMac).forRun(parseRunId(run)!);
}

/** The relay's current path to another relay, as `A-C-B`. */
export async function relayRoute(r: TestRelay, to: string): Promise<string | undefined> {
  const body = (await (await fetch(`${r.http}/healthz`)).json()) as {
    backbone?: { routes: Record<string, string[]> };
  };
  return body.backbone?.routes[to]?.join('-');
}

export async function setRelayFaults(r: TestRelay, spec: string): Promise<void> {
  const res = await fetch(`${r.http}/faults`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${TEST_FAULT_TOKEN}` },
    body: spec,
  });
  if (res.status !== 200) throw new Error(`PUT /faults ${spec}: ${res.status} ${await res.text()}`);
}

/** Polls `cond` every 50 ms; resolves with the time it took, or throws naming `what`. */
export async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return Date.now() - start;
}
