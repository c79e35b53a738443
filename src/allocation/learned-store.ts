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
  type InflationEvidence,
  type LearnedRtt,
  learn,
  learnPathModel,
  type PathModel,
  pathModelOf,
} from './learned.ts';

export interface LearnedStore {
  /** Learned RTT per relay for one network prefix, with weights decayed to `now`. */
  get(prefix: string, now: number): Promise<Map<string, { rttMs: number; weight: number }>>;
  /** One sample from `source` (sourceOf the client's address): one per source counts (learn). */
  record(prefix: string, relayId: string, rttMs: number, now: number, source?: string): Promise<void>;
  /** Inflation factor and typical access delay, learned from clients whose location is known. */
  pathModel(now: number): Promise<PathModel>;
  /** One client's probes as evidence about both (inflationEvidence), from a source network. */
  recordPathEvidence(e: InflationEvidence, now: number, source?: string): Promise<void>;
}

export class MemoryLearnedStore implements LearnedStore {
  readonly #byPrefix = new Map<string, Map<string, LearnedRtt>>();
  #inflation: Inflation = INITIAL_INFLATION;

  async pathModel(_now?: number): Promise<PathModel> {
    return pathModelOf(this.#inflation);
  }

  async recordPathEvidence(e: InflationEvidence, now: number, source?: string): Promise<void> {
    this.#inflation = learnPathModel(this.#inflation, e, now, source);
  }

  async get(prefix: string, now: number): Promise<Map<string, { rttMs: number; weight: number }>> {
    const out = new Map<string, { rttMs: number; weight: number }>();
    for (const [relay, e] of this.#byPrefix.get(prefix) ?? [])
      out.set(relay, { rttMs: e.rttMs, weight: decayedWeight(e, now) });
    return out;
  }

  async record(prefix: string, relayId: string, rttMs: number, now: number, source?: string): Promise<void> {
    if (this.#byPrefix.size > 200_000 && !this.#byPrefix.has(prefix)) this.#byPrefix.clear(); // bounded
    const row = this.#byPrefix.get(prefix) ?? new Map<string, LearnedRtt>();
    row.set(relayId, learn(row.get(relayId), rttMs, now, DEFAULT_LEARN, source));
    this.#byPrefix.set(prefix, row);
  }
}
