/**
 * --workers N: the main thread serves TURN as worker 0 (relay/node.ts, with everything else a relay
 * runs: the HTTP port, registration, revocations, signals) and this pool runs workers 1..N-1, each
 * a worker thread with its own TurnRelay on the same TURN ports (SO_REUSEPORT) and its own slice of
 * the relayed ports (relay/worker-config.ts). The kernel hashes each client to one socket of the
 * port, so an allocation lives whole in one thread. The pool is the main thread's view of the
 * others: their counts (polled every second, so registration reads them at once), their metrics
 * for /metrics, and the commands that must reach every worker (revocations, certificate reload,
 * drain, stop). A worker that dies ends the relay (`onFailure`): its clients would hash to the
 * others, which do not know their allocations.
 *
 * With --backbone-port P each worker runs its own backbone on port P+index (relay/backbone.ts):
 * the main thread's backbone sends them the directory and its routes (`backboneUpdate`, once a
 * second and on route changes), and they report their data counts (`backbone-counts`, every
 * 250 ms) to `hooks`. Frames never cross threads.
 */
import { Worker } from 'node:worker_threads';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { PeerCounts } from '../src/backbone/core-actions.ts';
import type { Revocations } from '../src/credentials/revocation.ts';
import type { TrafficCounters } from '../src/turn/allocation.ts';
import type { BackboneUpdate } from './backbone.ts';
import type { RelayConfig } from './config.ts';
import type { Logger } from './logger.ts';
import type { SiblingHooks } from './node.ts';
import { workerConfig } from './worker-config.ts';

export type WorkerMetrics = MetricObjectWithValues<MetricValue<string>>[];

/** What a worker reports about itself. */
export interface WorkerStats {
  readonly allocations: number;
  readonly traffic: TrafficCounters;
  readonly ready: boolean;
}

/** Main thread to worker. Requests carry an id that the answer repeats. */
export type ToWorker =
  | { readonly type: 'stats'; readonly id: number }
  | { readonly type: 'metrics'; readonly id: number }
  | { readonly type: 'drain'; readonly id: number; readonly timeoutMs: number }
  | { readonly type: 'stop'; readonly id: number }
  | { readonly type: 'revoked'; readonly revocations: Revocations }
  | { readonly type: 'reload' }
  | { readonly type: 'backbone'; readonly update: BackboneUpdate }
  | { readonly type: 'faults'; readonly spec: string };

/** Worker to main thread. */
export type FromWorker =
  | { readonly type: 'started' }
  | { readonly type: 'failed'; readonly error: string }
  | { readonly type: 'stats'; readonly id: number; readonly stats: WorkerStats }
  | { readonly type: 'metrics'; readonly id: number; readonly metrics: WorkerMetrics }
  | { readonly type: 'done'; readonly id: number }
  | { readonly type: 'backbone-counts'; readonly counts: PeerCounts[] };

/** What the thread is started with (workerData). */
export interface WorkerStart {
  readonly index: number;
  readonly config: RelayConfig;
  /** The relay process's backbone run (SiblingHooks), which its backbone thread seals under. */
  readonly backboneRun: string;
}

const STATS_PERIOD_MS = 1000;
const NO_TRAFFIC: TrafficCounters = {
  packetsToPeer: 0,
  bytesToPeer: 0,
  packetsToClient: 0,
  bytesToClient: 0,
};

/** The worker's entry file beside this one: .ts under a TypeScript loader, .js once built. */
const FROM_SOURCE = import.meta.url.endsWith('.ts');
const ENTRY = new URL(`./relay-worker${FROM_SOURCE ? '.ts' : '.js'}`, import.meta.url);

/**
 * A worker thread on ENTRY. From source, Node 20's worker threads do not get the main thread's
 * `--import tsx` hooks (Node 22 and later pass them on), so the thread loads ENTRY through tsx's
 * own API instead; built, it runs ENTRY as it is.
 */
function startThread(workerData: WorkerStart): Worker {
  if (!FROM_SOURCE) return new Worker(ENTRY, { workerData });
  const api = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(api)}).then((t) => t.tsImport(${JSON.stringify(ENTRY.href)}, ${JSON.stringify(import.meta.url)}))`;
  return new Worker(code, { eval: true, workerData });
}

class RelayWorker {
  #nextId = 1;
  readonly #pending = new Map<number, (answer: FromWorker) => void>();
  stats: WorkerStats = { allocations: 0, traffic: NO_TRAFFIC, ready: false };
  exited = false;

  constructor(
    readonly index: number,
    readonly thread: Worker,
  ) {
    thread.on('message', (m: FromWorker) => {
      if (m.type === 'stats' || m.type === 'metrics' || m.type === 'done') {
        this.#pending.get(m.id)?.(m);
        this.#pending.delete(m.id);
      }
    });
  }

  ask(message: (id: number) => ToWorker): Promise<FromWorker> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      if (this.exited) return resolve({ type: 'done', id });
      this.#pending.set(id, resolve);
      this.thread.postMessage(message(id));
    });
  }

  tell(message: ToWorker): void {
    if (!this.exited) this.thread.postMessage(message);
  }

  /** Answers nobody will send any more (the thread is gone): settle them. */
  settle(): void {
    for (const [id, resolve] of this.#pending) resolve({ type: 'done', id });
    this.#pending.clear();
  }
}

export class WorkerPool {
  readonly #workers: RelayWorker[];
  readonly #poll: NodeJS.Timeout;
  #stopping = false;

  private constructor(workers: RelayWorker[]) {
    this.#workers = workers;
    this.#poll = setInterval(() => void this.refresh(), STATS_PERIOD_MS);
    this.#poll.unref();
  }

  /**
   * Starts workers 1..config.workers-1 and waits until each serves (or one fails: the others are
   * stopped and the error thrown). `onFailure` runs when a worker dies later.
   */
  static async start(
    config: RelayConfig,
    logger: Logger,
    onFailure: (error: string) => void,
    hooks: SiblingHooks,
  ): Promise<WorkerPool> {
    const log = logger.child({ part: 'workers' });
    const workers: RelayWorker[] = [];
    const started: Promise<void>[] = [];
    for (let index = 1; index < config.workers; index++) {
      const data: WorkerStart = {
        index,
        config: workerConfig(config, index),
        backboneRun: hooks.backboneRun,
      };
      const thread = startThread(data);
      const worker = new RelayWorker(index, thread);
      workers.push(worker);
      thread.on('message', (m: FromWorker) => {
        if (m.type === 'backbone-counts') hooks.backboneCounts(index, m.counts);
      });
      started.push(
        new Promise<void>((resolve, reject) => {
          thread.on('message', (m: FromWorker) => {
            if (m.type === 'started') resolve();
            else if (m.type === 'failed') reject(new Error(`worker ${index}: ${m.error}`));
          });
          thread.on('error', (err) => reject(new Error(`worker ${index}: ${err.message}`)));
          thread.on('exit', (code) => {
            worker.exited = true;
            worker.settle();
            reject(new Error(`worker ${index} exited with code ${code}`));
          });
        }),
      );
    }
    const pool = new WorkerPool(workers);
    try {
      await Promise.all(started);
    } catch (err) {
      await pool.stop();
      throw err;
    }
    for (const w of workers) {
      w.thread.on('exit', (code) => {
        if (pool.#stopping) return;
        log.fatal({ worker: w.index, code }, 'a TURN worker stopped; ending the relay');
        onFailure(`worker ${w.index} exited with code ${code}`);
      });
    }
    await pool.refresh();
    log.info({ workers: config.workers }, 'TURN workers up');
    return pool;
  }

  /** Workers beside the main thread. */
  get size(): number {
    return this.#workers.length;
  }

  /** Reads every worker's counts now (they are also read every second). */
  async refresh(): Promise<void> {
    await Promise.all(
      this.#workers.map(async (w) => {
        const answer = await w.ask((id) => ({ type: 'stats', id }));
        if (answer.type === 'stats') w.stats = answer.stats;
      }),
    );
  }

  /** Each worker's counts, as last read, in worker order (1..N-1). */
  stats(): WorkerStats[] {
    return this.#workers.map((w) => w.stats);
  }

  /** Allocations on the workers, as last read. */
  allocations(): number {
    return this.#workers.reduce((n, w) => n + w.stats.allocations, 0);
  }

  /** Packets and bytes relayed by the workers since start, as last read. */
  traffic(): TrafficCounters {
    const t = { ...NO_TRAFFIC };
    for (const w of this.#workers) {
      t.packetsToPeer += w.stats.traffic.packetsToPeer;
      t.bytesToPeer += w.stats.traffic.bytesToPeer;
      t.packetsToClient += w.stats.traffic.packetsToClient;
      t.bytesToClient += w.stats.traffic.bytesToClient;
    }
    return t;
  }

  /** Every worker serves and none drains, as last read. */
  ready(): boolean {
    return this.#workers.every((w) => w.stats.ready && !w.exited);
  }

  /** Each worker's metrics (getMetricsAsJSON), for the main thread to aggregate. */
  async metrics(): Promise<WorkerMetrics[]> {
    const answers = await Promise.all(this.#workers.map((w) => w.ask((id) => ({ type: 'metrics', id }))));
    return answers.flatMap((a) => (a.type === 'metrics' ? [a.metrics] : []));
  }

  setRevoked(revocations: Revocations): void {
    for (const w of this.#workers) w.tell({ type: 'revoked', revocations });
  }

  reloadCertificates(): void {
    for (const w of this.#workers) w.tell({ type: 'reload' });
  }

  backboneUpdate(update: BackboneUpdate): void {
    for (const w of this.#workers) w.tell({ type: 'backbone', update });
  }

  setFaults(spec: string): void {
    for (const w of this.#workers) w.tell({ type: 'faults', spec });
  }

  /** Drains every worker (as TurnRelay.drain) and resolves when all are done. */
  async drain(timeoutMs: number): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.ask((id) => ({ type: 'drain', id, timeoutMs }))));
  }

  /** Stops every worker's relay and ends the threads. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#poll);
    await Promise.all(
      this.#workers.map(async (w) => {
        await w.ask((id) => ({ type: 'stop', id }));
        if (!w.exited) await w.thread.terminate();
      }),
    );
  }
}
