/**
 * The dashboard's short memory, bounded in size whatever the traffic:
 * - `DecisionWindow`: how many allocations the edge answered on each basis (probe, learned,
 *   distance) per bucket of time over the last minutes, as a ring of counters;
 * - `ChangeLog`: the last N topology changes, newest last.
 * Pure: time comes in as `now`.
 */
import type { RttBasis } from '../allocation/rank.ts';
import type { TopologyChange } from './changes.ts';

export const BASES: readonly RttBasis[] = ['probe', 'learned', 'distance'];

export interface DecisionSeries {
  /** Start of the oldest bucket, ms since the epoch. */
  readonly start: number;
  readonly bucketMs: number;
  /** One count per bucket, oldest first, for each basis. */
  readonly counts: Readonly<Record<RttBasis, readonly number[]>>;
}

export class DecisionWindow {
  readonly #counts: Record<RttBasis, number[]>;
  /** Index of the bucket that `#epoch` (a bucket number since the epoch) maps to. */
  #epoch = -1;

  constructor(
    readonly bucketMs = 10_000,
    readonly buckets = 60,
  ) {
    if (!(bucketMs > 0 && Number.isInteger(buckets) && buckets > 0)) {
      throw new RangeError('DecisionWindow needs a positive bucket length and count');
    }
    this.#counts = { probe: [], learned: [], distance: [] };
    for (const b of BASES) this.#counts[b] = new Array(buckets).fill(0);
  }

  /** Moves the window to `now`, zeroing the buckets that fell out of it. */
  #advance(now: number): number {
    const epoch = Math.floor(now / this.bucketMs);
    if (this.#epoch < 0) this.#epoch = epoch;
    if (epoch > this.#epoch) {
      const steps = Math.min(this.buckets, epoch - this.#epoch);
      for (let i = 1; i <= steps; i++) {
        for (const b of BASES) this.#counts[b][(this.#epoch + i) % this.buckets] = 0;
      }
      this.#epoch = epoch;
    }
    return this.#epoch;
  }

  record(basis: RttBasis, now: number): void {
    const epoch = this.#advance(now);
    // A sample from before the window's newest bucket (a clock step back) lands in the newest.
    this.#counts[basis][epoch % this.buckets]! += 1;
  }

  series(now: number): DecisionSeries {
    const epoch = this.#advance(now);
    const counts = { probe: [] as number[], learned: [] as number[], distance: [] as number[] };
    for (let i = this.buckets - 1; i >= 0; i--) {
      const slot = (((epoch - i) % this.buckets) + this.buckets) % this.buckets;
      for (const b of BASES) counts[b].push(this.#counts[b][slot]!);
    }
    return { start: (epoch - this.buckets + 1) * this.bucketMs, bucketMs: this.bucketMs, counts };
  }
}

export class ChangeLog {
  readonly #items: TopologyChange[] = [];
  constructor(readonly capacity = 200) {}

  push(changes: readonly TopologyChange[]): void {
    this.#items.push(...changes);
    if (this.#items.length > this.capacity) this.#items.splice(0, this.#items.length - this.capacity);
  }

  list(): readonly TopologyChange[] {
    return [...this.#items];
  }
}
