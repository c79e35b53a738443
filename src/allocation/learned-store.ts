/**
 * Where learned per-prefix RTTs and the path inflation factor live: a port with an in-memory
 * implementation (single process, tests); the Redis one keeps the same shape under
 * `PREFIX{learn}:PREFIX` hashes and `PREFIX{learn}:inflation`.
 */
import {
  DEFAULT_LEARN,
  decayedWeight,
  INITIAL_INFLATION,
  type Inflation,
  inflationFactor,
  type LearnedRtt,
  learn,
  learnInflation,
} from './learned.ts';

export interface LearnedStore {
  /** Learned RTT per relay for one network prefix, with weights decayed to `now`. */
  get(prefix: string, now: number): Promise<Map<string, { rttMs: number; weight: number }>>;
  record(prefix: string, relayId: string, rttMs: number, now: number): Promise<void>;
  /** Measured RTT over fiber RTT, learned from every client whose location is known. */
  inflation(now: number): Promise<number>;
  /** An RTT measured across `km` of great-circle distance, access delay taken out (inflationEvidence). */
  recordInflation(rttMs: number, km: number, now: number): Promise<void>;
}

export class MemoryLearnedStore implements LearnedStore {
  readonly #byPrefix = new Map<string, Map<string, LearnedRtt>>();
  #inflation: Inflation = INITIAL_INFLATION;

  async inflation(_now?: number): Promise<number> {
    return inflationFactor(this.#inflation);
  }

  async recordInflation(rttMs: number, km: number): Promise<void> {
    this.#inflation = learnInflation(this.#inflation, rttMs, km);
  }

  async get(prefix: string, now: number): Promise<Map<string, { rttMs: number; weight: number }>> {
    const out = new Map<string, { rttMs: number; weight: number }>();
    for (const [relay, e] of this.#byPrefix.get(prefix) ?? [])
      out.set(relay, { rttMs: e.rttMs, weight: decayedWeight(e, now) });
    return out;
  }

  async record(prefix: string, relayId: string, rttMs: number, now: number): Promise<void> {
    if (this.#byPrefix.size > 200_000 && !this.#byPrefix.has(prefix)) this.#byPrefix.clear(); // bounded
    const row = this.#byPrefix.get(prefix) ?? new Map<string, LearnedRtt>();
    row.set(relayId, learn(row.get(relayId), rttMs, now, DEFAULT_LEARN));
    this.#byPrefix.set(prefix, row);
  }
}
