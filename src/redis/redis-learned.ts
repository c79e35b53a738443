/**
 * The learned per-prefix RTT map on Redis: one hash per network prefix,
 * `PREFIX{learn}:NETWORK` (field = relay id, value = LearnedRtt JSON with its window of samples,
 * one per source), expiring 7 days after its last update so prefixes nobody uses again disappear
 * by themselves. The path model is one string, `PREFIX{learn}:inflation` (Inflation JSON with
 * its window of evidence, one per source network), read at most every 10 s per edge. Updates
 * read, fold and write back: two edges folding at the same instant lose one sample, which a
 * window of robust statistics does not notice.
 */
import type { Cluster, Redis } from 'ioredis';
import {
  DEFAULT_LEARN,
  decayedWeight,
  type Inflation,
  type InflationEvidence,
  learn,
  learnPathModel,
  type PathModel,
  pathModelOf,
  storedInflation,
  storedLearnedRtt,
} from '../allocation/learned.ts';
import type { LearnedStore } from '../allocation/learned-store.ts';
import { parseStoredJson } from './stored-json.ts';

const KEEP_SECONDS = 7 * 86_400;

export class RedisLearnedStore implements LearnedStore {
  constructor(
    private readonly client: Redis | Cluster,
    private readonly prefix: string,
  ) {}

  #inflation: { at: number; value: PathModel } | undefined;

  get #inflationKey(): string {
    return `${this.prefix}{learn}:inflation`;
  }

  async #readInflation(): Promise<Inflation> {
    return storedInflation(parseStoredJson(await this.client.get(this.#inflationKey)));
  }

  async pathModel(now: number): Promise<PathModel> {
    if (this.#inflation && now - this.#inflation.at < 10_000) return this.#inflation.value;
    const value = pathModelOf(await this.#readInflation());
    this.#inflation = { at: now, value };
    return value;
  }

  async recordPathEvidence(e: InflationEvidence, now: number, source?: string): Promise<void> {
    const next = learnPathModel(await this.#readInflation(), e, now, source);
    await this.client.set(this.#inflationKey, JSON.stringify(next));
    this.#inflation = { at: now, value: pathModelOf(next) };
  }

  #key(network: string): string {
    return `${this.prefix}{learn}:${network}`;
  }

  async get(network: string, now: number): Promise<Map<string, { rttMs: number; weight: number }>> {
    const row = await this.client.hgetall(this.#key(network));
    const out = new Map<string, { rttMs: number; weight: number }>();
    for (const [relay, json] of Object.entries(row)) {
      const e = storedLearnedRtt(parseStoredJson(json));
      if (e) out.set(relay, { rttMs: e.rttMs, weight: decayedWeight(e, now) });
    }
    return out;
  }

  async record(network: string, relayId: string, rttMs: number, now: number, source?: string): Promise<void> {
    const key = this.#key(network);
    const prev = storedLearnedRtt(parseStoredJson(await this.client.hget(key, relayId)));
    await this.client
      .multi()
      .hset(key, relayId, JSON.stringify(learn(prev, rttMs, now, DEFAULT_LEARN, source)))
      .expire(key, KEEP_SECONDS)
      .exec();
  }
}
