/**
 * Keeps the edge's live view of the backbone for the dashboard: reads relays and links from the
 * directory (at most once per `minIntervalMs`, however many pages watch), builds the topology with
 * src/topology, appends what changed to a bounded change log and wakes the pages' streams. The
 * Node edge also refreshes it on a timer so the timeline fills while no page is open; on Workers
 * it refreshes while a page streams. Must not import relay/.
 */

import type { DirectoryEvent, LinkRecord, RelayRecord } from '../src/directory/types.ts';
import { diffTopology, type TopologyChange } from '../src/topology/changes.ts';
import { ChangeLog, DecisionWindow } from '../src/topology/recent.ts';
import { buildTopology, type Topology } from '../src/topology/topology.ts';

export interface TopologySource {
  readonly relays: (now: number) => Promise<readonly RelayRecord[]>;
  readonly links: (now: number) => Promise<readonly LinkRecord[]>;
  /** Directory events, when the platform can subscribe (Node with Redis or in memory). */
  readonly subscribe?: ((handler: (e: DirectoryEvent) => void) => Promise<() => Promise<void>>) | undefined;
}

export type WatchListener = (topology: Topology, changes: readonly TopologyChange[]) => void;

export class TopologyWatcher {
  readonly decisions = new DecisionWindow();
  readonly changes = new ChangeLog();
  #current: Topology | undefined;
  #inflight: Promise<Topology> | undefined;
  #listeners = new Set<WatchListener>();
  #unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    private readonly source: TopologySource,
    private readonly now: () => number,
    private readonly minIntervalMs = 500,
  ) {}

  get current(): Topology | undefined {
    return this.#current;
  }

  /** The latest topology no older than `minIntervalMs`, reading the directory when needed. */
  refresh(): Promise<Topology> {
    const t = this.now();
    if (this.#current && t - this.#current.at < this.minIntervalMs) return Promise.resolve(this.#current);
    this.#inflight ??= this.#read(t).finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #read(t: number): Promise<Topology> {
    const [relays, links] = await Promise.all([this.source.relays(t), this.source.links(t)]);
    const next = buildTopology(relays, links, t);
    const changes = diffTopology(this.#current, next);
    this.#current = next;
    this.changes.push(changes);
    for (const l of this.#listeners) l(next, changes);
    return next;
  }

  /** Calls `listener` after every refresh; returns the function that stops it. */
  listen(listener: WatchListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get listeners(): number {
    return this.#listeners.size;
  }

  /**
   * Refreshes at once on directory events (a relay up, draining or down; links announced), when
   * the source can subscribe. Idempotent.
   */
  async follow(): Promise<void> {
    if (this.#unsubscribe || !this.source.subscribe) return;
    this.#unsubscribe = await this.source.subscribe(() => {
      void this.refresh().catch(() => {});
    });
  }

  async close(): Promise<void> {
    const u = this.#unsubscribe;
    this.#unsubscribe = undefined;
    this.#listeners.clear();
    await u?.();
  }
}
