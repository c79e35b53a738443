/**
 * The learned map and room affinity on Workers KV, so every isolate and location of the Workers
 * edge shares what clients measured. KV is eventually consistent (a write shows up elsewhere
 * within about a minute) and takes about one write per second per key, which suits data that
 * improves choices over hours; a lost race costs one sample. Keys: `learn:NETWORK` (LearnedRtt
 * per relay, 7 days), `learn:inflation` (Inflation), `room:TENANT:ROOM` (relay id, an hour after last use),
 * and for the per-call choice `calls:quality:LEVEL:PATH` (PathQuality, 30 days) and `calls:room:ROOM`
 * (its participants, an hour after the last join). Without a KV binding the Workers edge keeps all
 * of it per isolate. KV has no transactions: two isolates taking one participant's report in the
 * same second may both count it, and a join racing another may drop it until it asks again.
 */

import {
  type CallChoiceOptions,
  type CallPath,
  type CallReport,
  DEFAULT_CALL_CHOICE,
  type PathQuality,
  recordCall,
} from '../src/allocation/call-choice.ts';
import {
  CALL_ROOM_MAX_PARTICIPANTS,
  CALL_ROOM_TTL_MS,
  type CallParticipant,
  type CallQualityStore,
  joinRoom,
  storedParticipants,
  storedPathQuality,
} from '../src/allocation/call-store.ts';
import {
  DEFAULT_LEARN,
  decayedWeight,
  type Inflation,
  type InflationEvidence,
  type LearnedRtt,
  learn,
  learnPathModel,
  type PathModel,
  pathModelOf,
  storedInflation,
  storedLearnedRtt,
} from '../src/allocation/learned.ts';
import type { LearnedStore } from '../src/allocation/learned-store.ts';
import { ROOM_TTL_MS, type RoomStore } from '../src/allocation/rooms.ts';
import { CALL_QUALITY_TTL_MS } from '../src/directory/keys.ts';

/** The part of the Workers KV binding this module uses. */
export interface KvNamespace {
  get(key: string, type: 'json'): Promise<unknown>;
  get(key: string): Promise<string | null>;
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<void>;
}

const KEEP_SECONDS = 7 * 86_400;

export class KvLearnedStore implements LearnedStore {
  #inflation: { at: number; value: Inflation } | undefined;
  constructor(private readonly kv: KvNamespace) {}

  async #row(network: string): Promise<Record<string, LearnedRtt>> {
    const v = await this.kv.get(`learn:${network}`, 'json');
    return v && typeof v === 'object' ? (v as Record<string, LearnedRtt>) : {};
  }

  async get(network: string, now: number): Promise<Map<string, { rttMs: number; weight: number }>> {
    const out = new Map<string, { rttMs: number; weight: number }>();
    for (const [relay, v] of Object.entries(await this.#row(network))) {
      const e = storedLearnedRtt(v);
      if (e) out.set(relay, { rttMs: e.rttMs, weight: decayedWeight(e, now) });
    }
    return out;
  }

  async record(network: string, relayId: string, rttMs: number, now: number, source?: string): Promise<void> {
    const row = await this.#row(network);
    row[relayId] = learn(storedLearnedRtt(row[relayId]), rttMs, now, DEFAULT_LEARN, source);
    await this.kv.put(`learn:${network}`, JSON.stringify(row), { expirationTtl: KEEP_SECONDS });
  }

  async #readInflation(now: number): Promise<Inflation> {
    if (this.#inflation && now - this.#inflation.at < 10_000) return this.#inflation.value;
    const value = storedInflation(await this.kv.get('learn:inflation', 'json'));
    this.#inflation = { at: now, value };
    return value;
  }

  async pathModel(now: number): Promise<PathModel> {
    return pathModelOf(await this.#readInflation(now));
  }

  async recordPathEvidence(e: InflationEvidence, now: number, source?: string): Promise<void> {
    const next = learnPathModel(await this.#readInflation(now), e, now, source);
    this.#inflation = { at: now, value: next };
    await this.kv.put('learn:inflation', JSON.stringify(next));
  }
}

/** Room pins on KV: read, then write when free. KV has no compare-and-set; two isolates pinning
 * one new room in the same second may disagree for up to a minute, then the last write holds. */
export class KvRoomStore implements RoomStore {
  constructor(private readonly kv: KvNamespace) {}
  async get(room: string): Promise<string | undefined> {
    return (await this.kv.get(`room:${room}`)) ?? undefined;
  }
  async pin(room: string, relayId: string, _now: number, replacing?: string): Promise<string> {
    const current = await this.get(room);
    const relay = current === undefined || current === replacing ? relayId : current;
    await this.kv.put(`room:${room}`, relay, { expirationTtl: ROOM_TTL_MS / 1000 });
    return relay;
  }
}

/** The per-call choice's store on KV (read, then write; see the top of this file for the races). */
export class KvCallQualityStore implements CallQualityStore {
  constructor(
    private readonly kv: KvNamespace,
    private readonly o: CallChoiceOptions = DEFAULT_CALL_CHOICE,
    private readonly maxParticipants = CALL_ROOM_MAX_PARTICIPANTS,
  ) {}

  #quality(level: string, path: CallPath): Promise<PathQuality | undefined> {
    return this.kv.get(`calls:quality:${level}:${path}`, 'json').then(storedPathQuality);
  }

  quality(keys: readonly string[], path: CallPath): Promise<(PathQuality | undefined)[]> {
    return Promise.all(keys.map((k) => this.#quality(k, path)));
  }

  async record(keys: readonly string[], report: CallReport, now: number): Promise<void> {
    await Promise.all(
      keys.map(async (k) => {
        const next = recordCall(await this.#quality(k, report.path), report, now, this.o);
        await this.kv.put(`calls:quality:${k}:${report.path}`, JSON.stringify(next), {
          expirationTtl: CALL_QUALITY_TTL_MS / 1000,
        });
      }),
    );
  }

  async #room(room: string): Promise<CallParticipant[]> {
    return storedParticipants(await this.kv.get(`calls:room:${room}`, 'json'));
  }

  async join(
    room: string,
    who: { prefix: string; country: string },
    now: number,
  ): Promise<readonly CallParticipant[]> {
    const people = joinRoom(await this.#room(room), who, now, this.maxParticipants);
    await this.kv.put(`calls:room:${room}`, JSON.stringify(people), {
      expirationTtl: CALL_ROOM_TTL_MS / 1000,
    });
    return people;
  }

  async markReported(room: string, prefix: string): Promise<boolean> {
    const people = await this.#room(room);
    const k = people.findIndex((p) => p.prefix === prefix);
    if (k < 0 || people[k]!.reported) return false;
    people[k] = { ...people[k]!, reported: true };
    // Keeps the room's hour from its last join only roughly: KV cannot keep a TTL, so it restarts.
    await this.kv.put(`calls:room:${room}`, JSON.stringify(people), {
      expirationTtl: CALL_ROOM_TTL_MS / 1000,
    });
    return true;
  }
}
