/**
 * The soak run's churn, every part bounded in count and time: a pool of allocations (UDP and TCP,
 * static or edge-issued TURN REST credentials) where each tick deletes some, creates some and
 * refreshes some; TCP connections opened and dropped at every stage (right after connect, in the
 * middle of a header, after one Binding); short calls across the backbone; and allocation
 * requests to the edge. Each kind counts what worked and what failed, with the time of each.
 */
import net from 'node:net';
import type { TransportAddress } from '../../src/net/address.ts';
import type { Rng } from '../../src/sim/random.ts';
import { CHURN_POOL } from '../../src/soak/report.ts';
import { MessageClass, Method } from '../../src/stun/constants.ts';
import { request } from '../../test/support/stun-builders.ts';
import { TurnTestClient } from '../../test/support/turn-client.ts';
import type { RelayId } from './stack.ts';

const STATIC = { username: 'a', password: 'b', realm: 'r' };
const OP_TIMEOUT_MS = 5000;

export type OpKind = 'allocate' | 'refresh' | 'delete' | 'tcp-drop' | 'call' | 'edge';

export interface OpCount {
  ok: number;
  failed: number;
  /** Seconds since the start at which the last success happened. */
  lastOk: number;
}

interface Pooled {
  readonly client: TurnTestClient;
  readonly relay: RelayId;
}

export interface ChurnTarget {
  readonly relays: readonly RelayId[];
  turn(id: RelayId): TransportAddress;
  readonly edgeBase: string;
  /** Seconds since the start. */
  elapsed(): number;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

export class Churn {
  readonly ops: Record<OpKind, OpCount> = {
    allocate: { ok: 0, failed: 0, lastOk: 0 },
    refresh: { ok: 0, failed: 0, lastOk: 0 },
    delete: { ok: 0, failed: 0, lastOk: 0 },
    'tcp-drop': { ok: 0, failed: 0, lastOk: 0 },
    call: { ok: 0, failed: 0, lastOk: 0 },
    edge: { ok: 0, failed: 0, lastOk: 0 },
  };
  readonly #pool: Pooled[] = [];
  readonly #busy = new Set<string>();
  readonly #running = new Set<Promise<unknown>>();
  #tick = 0;

  constructor(
    readonly target: ChurnTarget,
    readonly rng: Rng,
  ) {}

  get poolSize(): number {
    return this.#pool.length;
  }

  #count(kind: OpKind, ok: boolean): void {
    const c = this.ops[kind];
    if (ok) {
      c.ok++;
      c.lastOk = this.target.elapsed();
    } else c.failed++;
  }

  /** Runs `task` unless the previous one of its name is still running. */
  #once(name: string, task: () => Promise<void>): void {
    if (this.#busy.has(name)) return;
    this.#busy.add(name);
    const p = task()
      .catch(() => undefined)
      .finally(() => {
        this.#busy.delete(name);
        this.#running.delete(p);
      });
    this.#running.add(p);
  }

  #pick<T>(xs: readonly T[]): T {
    return xs[this.rng.int(xs.length)]!;
  }

  /** One second of churn. */
  tick(): void {
    this.#tick++;
    this.#once('pool', () => this.#churnPool());
    this.#once('tcp', () => this.#tcpDrops());
    this.#once('edge', () => this.#edge());
    if (this.#tick % 3 === 0) this.#once('call', () => this.#call());
  }

  async #credential(): Promise<typeof STATIC> {
    if (this.rng.next() < 0.5) return STATIC;
    const res = await fetch(`${this.target.edgeBase}/v1/allocate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(OP_TIMEOUT_MS),
    });
    if (res.status !== 200) return STATIC;
    const a = (await res.json()) as { iceServers: { username: string; credential: string }[] };
    return { username: a.iceServers[0]!.username, password: a.iceServers[0]!.credential, realm: 'r' };
  }

  async #open(transport: 'udp' | 'tcp'): Promise<void> {
    const relay = this.#pick(this.target.relays);
    let client: TurnTestClient | undefined;
    try {
      const cred = await this.#credential().catch(() => STATIC);
      client = await withTimeout(
        TurnTestClient.connect({ transport, server: this.target.turn(relay), cred }),
        OP_TIMEOUT_MS,
        'connect',
      );
      const ok = (await client.allocate()).cls === MessageClass.SuccessResponse;
      this.#count('allocate', ok);
      if (ok) this.#pool.push({ client, relay });
      else await client.close();
    } catch {
      this.#count('allocate', false);
      await client?.close();
    }
  }

  async #churnPool(): Promise<void> {
    // Delete two (Refresh with lifetime 0, RFC 8656 §7.2), refresh two, top the pool up.
    for (let i = 0; i < 2 && this.#pool.length > 0; i++) {
      const [p] = this.#pool.splice(this.rng.int(this.#pool.length), 1);
      const ok = await p!.client
        .refresh(0)
        .then((m) => m.cls === MessageClass.SuccessResponse)
        .catch(() => false);
      this.#count('delete', ok);
      await p!.client.close();
    }
    for (let i = 0; i < 2 && this.#pool.length > 0; i++) {
      const idx = this.rng.int(this.#pool.length);
      const p = this.#pool[idx]!;
      const ok = await p.client
        .refresh(600)
        .then((m) => m.cls === MessageClass.SuccessResponse)
        .catch(() => false);
      this.#count('refresh', ok);
      // An allocation that cannot be refreshed is gone (its relay restarted): let it go.
      if (!ok) {
        this.#pool.splice(this.#pool.indexOf(p), 1);
        await p.client.close();
      } else
        await p.client
          .createPermission({ family: 4, address: '127.0.0.1', port: 9 + this.rng.int(1000) })
          .catch(() => undefined);
    }
    const udp = this.#pool.filter((p) => p.client.opts.transport === 'udp').length;
    const tcp = this.#pool.length - udp;
    const opens: Promise<void>[] = [];
    for (let i = udp; i < CHURN_POOL.udp; i++) opens.push(this.#open('udp'));
    for (let i = tcp; i < CHURN_POOL.tcp; i++) opens.push(this.#open('tcp'));
    await Promise.all(opens);
  }

  /** Three TCP connections dropped at different stages, none of them allocating. */
  async #tcpDrops(): Promise<void> {
    const stages = ['connect', 'half-header', 'binding'] as const;
    await Promise.all(
      stages.map(async (stage) => {
        const server = this.target.turn(this.#pick(this.target.relays));
        const ok = await new Promise<boolean>((resolve) => {
          const s = net.connect({ host: server.address, port: server.port });
          const done = (v: boolean) => {
            s.destroy();
            resolve(v);
          };
          s.setTimeout(OP_TIMEOUT_MS, () => done(false));
          s.once('error', () => done(false));
          s.once('connect', () => {
            if (stage === 'connect') return done(true);
            const binding = request(Method.Binding, [], undefined, {}).bytes;
            if (stage === 'half-header') {
              s.write(binding.subarray(0, 9));
              return setTimeout(() => done(true), 50);
            }
            s.write(binding);
            s.once('data', () => done(true));
          });
        });
        this.#count('tcp-drop', ok);
      }),
    );
  }

  async #edge(): Promise<void> {
    const ok = await fetch(`${this.target.edgeBase}/v1/allocate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(OP_TIMEOUT_MS),
    })
      .then(async (r) => {
        await r.arrayBuffer();
        return r.status === 200;
      })
      .catch(() => false);
    this.#count('edge', ok);
  }

  /** A short call: clients on two different relays, ten packets each way across the backbone. */
  async #call(): Promise<void> {
    const a = this.#pick(this.target.relays);
    const b = this.#pick(this.target.relays.filter((r) => r !== a));
    const clients: TurnTestClient[] = [];
    let ok = false;
    try {
      await withTimeout(
        (async () => {
          for (const id of [a, b])
            clients.push(
              await TurnTestClient.connect({ transport: 'udp', server: this.target.turn(id), cred: STATIC }),
            );
          const [c1, c2] = clients as [TurnTestClient, TurnTestClient];
          for (const c of clients)
            if ((await c.allocate()).cls !== MessageClass.SuccessResponse) throw new Error('allocate');
          if ((await c1.channelBind(0x4000, c2.relayed!)).cls !== MessageClass.SuccessResponse)
            throw new Error('bind');
          if ((await c2.channelBind(0x4000, c1.relayed!)).cls !== MessageClass.SuccessResponse)
            throw new Error('bind');
          for (let i = 0; i < 10; i++) {
            c1.sendChannel(0x4000, Uint8Array.of(i));
            c2.sendChannel(0x4000, Uint8Array.of(i));
          }
          // Loopback may drop one under load; eight of ten each way is a call that works.
          await Promise.all([c1.waitForData(8, 2000), c2.waitForData(8, 2000)]);
          await Promise.all([c1.refresh(0), c2.refresh(0)]);
          ok = true;
        })(),
        OP_TIMEOUT_MS * 2,
        'call',
      );
    } catch {
      ok = false;
    }
    this.#count('call', ok);
    await Promise.all(clients.map((c) => c.close()));
  }

  /** Drops what belongs to relay `id` (its allocations died with it). */
  async forget(id: RelayId): Promise<void> {
    const gone = this.#pool.filter((p) => p.relay === id);
    for (const p of gone) this.#pool.splice(this.#pool.indexOf(p), 1);
    await Promise.all(gone.map((p) => p.client.close()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#running]);
    await Promise.all(this.#pool.splice(0).map((p) => p.client.close()));
  }
}
