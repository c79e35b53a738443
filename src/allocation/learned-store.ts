/**
 * Where learned per-prefix RTTs live: a port with an in-memory implementation (single process,
 * tests); the Redis one keeps the same shape under `PREFIX{learn}:PREFIX` hashes.
 */
import { DEFAULT_LEARN, decayedWeight, type LearnedRtt, learn } from './learned.ts';

export interface LearnedStore {
  /** Learned RTT per relay for one network prefix, with weights decayed to `now`. */
  get(prefix: string, now: number): Promise<Map<string, { rttMs: number; weight: number }>>;
  record(prefix: string, relayId: string, rttMs: number, now: number): Promise<void>;
}

export class MemoryLearnedStore implements LearnedStore {
  readonly #byPrefix = new Map<string, Map<string, LearnedRtt>>();

  async get(prefix: string, now: number): Promise<Map<string, { rttMs: number; weight: number }>> {
    const out = new Map<string, { rttMs: number; weight: number }>();
    for (const [relay, e] of this.#byPrefix.get(prefix) ?? [])
      out.set(relay, { rttMs: e.rttMs, weight: decayedWeight(e, now) });
    return out;
  }

  async record(prefix: string, relayId: string, rttMs: number, now: number): Promise<void> {
    const row = this.#byPrefix.get(prefix) ?? new Map<string, LearnedRtt>();
    row.set(relayId, learn(row.get(relayId), rttMs, now, DEFAULT_LEARN));
    this.#byPrefix.set(prefix, row);
  }
}
