/**
 * The edge's copy of the relay directory, shared by the Node entry (reads Redis) and the Workers
 * entry (reads the snapshot endpoint). A copy younger than `freshMs` is used as is; an older one
 * is refreshed, one refresh at a time however many requests arrive. When a refresh fails, a copy
 * up to `maxStaleMs` old answers and is marked stale (the edge says so in its answer); past that,
 * get() throws and the edge answers 503 with Retry-After. After a failed refresh the next one
 * waits `freshMs`, so an outage costs the coordinator one attempt a second, not one per request
 * (and the logs one line a second). Time comes in as `now`.
 */
import type { RelayRecord } from '../src/directory/types.ts';

export interface DirectoryView {
  readonly relays: readonly RelayRecord[];
  /** When this copy was read (ms). */
  readonly at: number;
  /** True when the last refresh failed and this is an older copy. */
  readonly stale: boolean;
}

export interface DirectoryCacheOptions {
  readonly freshMs: number;
  readonly maxStaleMs: number;
  /** Told once per failed refresh that was covered by a stale copy. */
  readonly onStale?: (ageMs: number, err: unknown) => void;
}

export class DirectoryCache {
  #copy: { at: number; relays: readonly RelayRecord[] } | undefined;
  #refresh: Promise<DirectoryView> | undefined;
  #failedAt: number | undefined;

  constructor(
    private readonly read: (now: number) => Promise<readonly RelayRecord[]>,
    private readonly o: DirectoryCacheOptions,
  ) {}

  get(now: number): Promise<DirectoryView> {
    const copy = this.#copy;
    if (copy && now - copy.at < this.o.freshMs) return Promise.resolve({ ...copy, stale: false });
    const failed = this.#failedAt;
    if (copy && failed !== undefined && now - failed < this.o.freshMs && now - copy.at <= this.o.maxStaleMs)
      return Promise.resolve({ ...copy, stale: true });
    this.#refresh ??= this.#load(now).finally(() => {
      this.#refresh = undefined;
    });
    return this.#refresh;
  }

  async #load(now: number): Promise<DirectoryView> {
    try {
      const relays = await this.read(now);
      this.#copy = { at: now, relays };
      this.#failedAt = undefined;
      return { at: now, relays, stale: false };
    } catch (err) {
      this.#failedAt = now;
      const copy = this.#copy;
      if (!copy || now - copy.at > this.o.maxStaleMs) throw err;
      this.o.onStale?.(now - copy.at, err);
      return { ...copy, stale: true };
    }
  }
}
