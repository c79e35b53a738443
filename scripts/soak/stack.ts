/**
 * The soak run's local stack as child processes: a redis-server of its own on a free port (so it
 * can be killed and restarted), three relays with a backbone on 127.0.0.61-63 and the Node edge,
 * each with fixed ports so a restarted process comes back where clients expect it. Every process
 * runs the way an operator runs it (the relay CLI, workers/node.ts, redis-server).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import type { TransportAddress } from '../../src/net/address.ts';
import { type NodeEdge, startNodeEdge } from '../../test/support/node-edge.ts';
import { freePort } from '../../test/support/ports.ts';
import { redisAnswers } from '../../test/support/redis.ts';
import { type RelayChild, startRelayProcess } from '../../test/support/relay.ts';

export const SOAK_SECRET = 'soak-turn-rest-secret';
const MESH_KEY = 'soak-mesh-key-0123456789abcdef';
const PREFIX = 'soak:';

export const RELAY_SPECS = [
  { id: 'A', host: '127.0.0.61', lat: 48.86, lon: 2.35, region: 'eu' },
  { id: 'B', host: '127.0.0.62', lat: 40.71, lon: -74.0, region: 'us' },
  { id: 'C', host: '127.0.0.63', lat: 35.68, lon: 139.65, region: 'ap' },
] as const;
export type RelayId = (typeof RELAY_SPECS)[number]['id'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One RESP command to Redis; resolves with the raw reply text. */
export function redisCommand(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port });
    let out = '';
    s.setTimeout(2000, () => {
      s.destroy();
      reject(new Error('redis command timed out'));
    });
    s.once('error', reject);
    s.once('connect', () =>
      s.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`),
    );
    s.on('data', (d) => {
      out += d.toString();
      if (out.endsWith('\r\n')) {
        s.destroy();
        resolve(out);
      }
    });
  });
}

interface Relay {
  readonly spec: (typeof RELAY_SPECS)[number];
  readonly turnPort: number;
  readonly httpPort: number;
  readonly backbonePort: number;
  child: RelayChild | undefined;
}

export class SoakStack {
  #redis: ChildProcess | undefined;
  #edge: NodeEdge | undefined;
  readonly #relays = new Map<RelayId, Relay>();

  private constructor(
    readonly redisPort: number,
    readonly edgePort: number,
  ) {}

  static async start(): Promise<SoakStack> {
    const stack = new SoakStack(await freePort('tcp'), await freePort('tcp'));
    await stack.startRedis();
    for (const spec of RELAY_SPECS) {
      stack.#relays.set(spec.id, {
        spec,
        turnPort: await freePort('both', spec.host),
        httpPort: await freePort('tcp'),
        backbonePort: await freePort('udp', spec.host),
        child: undefined,
      });
    }
    await Promise.all(RELAY_SPECS.map((s) => stack.startRelay(s.id)));
    await stack.startEdge();
    return stack;
  }

  get redisUrl(): string {
    return `redis://127.0.0.1:${this.redisPort}`;
  }

  get edgeBase(): string {
    return `http://127.0.0.1:${this.edgePort}`;
  }

  turn(id: RelayId): TransportAddress {
    const r = this.#relays.get(id)!;
    return { family: 4, address: r.spec.host, port: r.turnPort };
  }

  relayHttp(id: RelayId): string {
    return `http://127.0.0.1:${this.#relays.get(id)!.httpPort}`;
  }

  /** Pids by process name (relay A..C, edge, redis); absent while a process is down. */
  pids(): Record<string, number | undefined> {
    const out: Record<string, number | undefined> = {};
    for (const [id, r] of this.#relays)
      out[`relay ${id}`] = r.child?.child.exitCode === null ? r.child.child.pid : undefined;
    out.edge = this.#edge?.child.exitCode === null ? this.#edge.child.pid : undefined;
    out.redis = this.#redis?.exitCode === null ? this.#redis.pid : undefined;
    return out;
  }

  async startRedis(): Promise<void> {
    const child = spawn(
      'redis-server',
      ['--port', String(this.redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    this.#redis = child;
    for (let i = 0; i < 100 && !(await redisAnswers('127.0.0.1', this.redisPort)); i++) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      await sleep(100);
    }
  }

  /** SIGKILL, `downMs` without Redis, then a fresh (empty) redis-server on the same port. */
  async restartRedis(downMs: number): Promise<void> {
    const r = this.#redis;
    if (r && r.exitCode === null) {
      const gone = new Promise((res) => r.once('exit', res));
      r.kill('SIGKILL');
      await gone;
    }
    await sleep(downMs);
    await this.startRedis();
  }

  async startRelay(id: RelayId): Promise<void> {
    const r = this.#relays.get(id)!;
    const { spec } = r;
    r.child = await startRelayProcess([
      '--id',
      spec.id,
      '--listen',
      spec.host,
      '--turn-port',
      String(r.turnPort),
      '--http-port',
      String(r.httpPort),
      '--user',
      'a:b',
      '--realm',
      'r',
      '--secret',
      SOAK_SECRET,
      '--allow-peer',
      '127.0.0.0/8',
      '--lat',
      String(spec.lat),
      '--lon',
      String(spec.lon),
      '--region',
      spec.region,
      '--redis',
      this.redisUrl,
      '--redis-prefix',
      PREFIX,
      '--heartbeat-ttl',
      '2',
      '--backbone-port',
      String(r.backbonePort),
      '--mesh-key',
      MESH_KEY,
      '--log-level',
      'error',
    ]);
  }

  /** SIGKILL (no drain, no goodbye), `downMs` of nothing, then the same relay on the same ports. */
  async killRelay(id: RelayId, downMs: number): Promise<void> {
    const r = this.#relays.get(id)!;
    if (r.child) {
      r.child.kill('SIGKILL');
      await r.child.exited;
      r.child = undefined;
    }
    await sleep(downMs);
    await this.startRelay(id);
  }

  async startEdge(): Promise<void> {
    this.#edge = await startNodeEdge({
      EDGE_PORT: String(this.edgePort),
      REDIS_URL: this.redisUrl,
      EDGE_REDIS_PREFIX: PREFIX,
      EDGE_SECRETS: SOAK_SECRET,
      EDGE_API_KEYS: 'off',
      EDGE_ADDRESS_RATE: '1000',
      EDGE_ADDRESS_BURST: '1000',
      EDGE_DEFAULT_LAT: '48.86',
      EDGE_DEFAULT_LON: '2.35',
      LOG_LEVEL: 'error',
    });
  }

  /** SIGTERM (a deploy), wait for the exit, start again on the same port. */
  async restartEdge(): Promise<void> {
    await this.#edge?.stop();
    await this.startEdge();
  }

  /** SIGKILL to every child still running, synchronously: for `process.on('exit')`. */
  killAll(): void {
    for (const r of this.#relays.values()) if (r.child?.child.exitCode === null) r.child.kill('SIGKILL');
    if (this.#edge?.child.exitCode === null) this.#edge.child.kill('SIGKILL');
    if (this.#redis?.exitCode === null) this.#redis.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.#relays.values()].map(async (r) => {
        if (!r.child) return;
        r.child.kill('SIGINT');
        await r.child.exited;
      }),
    );
    await this.#edge?.stop();
    if (this.#redis && this.#redis.exitCode === null) {
      const r = this.#redis;
      const gone = new Promise((res) => r.once('exit', res));
      r.kill('SIGTERM');
      await gone;
    }
  }
}
