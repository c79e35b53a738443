/**
 * Where the per-call choice (call-choice.ts) keeps what it learned: path quality per level key and
 * path, and who is in a call room (network prefix and country, so a report can be filed under
 * the pair). A port with an in-memory implementation (one process); a Redis implementation is not
 * written yet, so each Node edge learns on its own. Bounded: rooms live an hour, at most
 * `maxParticipants` per room, at most `maxEntries` keys of either kind.
 */
import {
  type CallChoiceOptions,
  type CallPath,
  type CallReport,
  DEFAULT_CALL_CHOICE,
  type PathQuality,
  recordCall,
} from './call-choice.ts';

export interface CallParticipant {
  readonly prefix: string;
  readonly country: string;
  readonly joinedAt: number;
  /** Set once this participant's report was taken: one report per participant and room. */
  readonly reported: boolean;
}

export interface CallQualityStore {
  /** Path quality at each level key (coarsest first) for one path. */
  quality(keys: readonly string[], path: CallPath, now: number): Promise<(PathQuality | undefined)[]>;
  record(keys: readonly string[], report: CallReport, now: number): Promise<void>;
  /** The room's participants, after adding or refreshing this one. */
  join(
    room: string,
    who: { prefix: string; country: string },
    now: number,
  ): Promise<readonly CallParticipant[]>;
  /** Marks this participant's report taken; false when it already was, or is not in the room. */
  markReported(room: string, prefix: string, now: number): Promise<boolean>;
}

export const CALL_ROOM_TTL_MS = 3_600_000;

export class MemoryCallQualityStore implements CallQualityStore {
  readonly #quality = new Map<string, PathQuality>();
  readonly #rooms = new Map<string, { until: number; people: CallParticipant[] }>();
  readonly #o: CallChoiceOptions;
  readonly #maxEntries: number;
  readonly #maxParticipants: number;

  constructor(o: CallChoiceOptions = DEFAULT_CALL_CHOICE, maxEntries = 200_000, maxParticipants = 16) {
    this.#o = o;
    this.#maxEntries = maxEntries;
    this.#maxParticipants = maxParticipants;
  }

  async quality(keys: readonly string[], path: CallPath): Promise<(PathQuality | undefined)[]> {
    return keys.map((k) => this.#quality.get(`${k}|${path}`));
  }

  async record(keys: readonly string[], report: CallReport, now: number): Promise<void> {
    for (const k of keys) {
      const key = `${k}|${report.path}`;
      if (this.#quality.size >= this.#maxEntries && !this.#quality.has(key)) this.#quality.clear();
      this.#quality.set(key, recordCall(this.#quality.get(key), report, now, this.#o));
    }
  }

  async join(
    room: string,
    who: { prefix: string; country: string },
    now: number,
  ): Promise<readonly CallParticipant[]> {
    let r = this.#rooms.get(room);
    if (!r || r.until <= now) {
      if (this.#rooms.size >= this.#maxEntries) this.#rooms.clear();
      r = { until: 0, people: [] };
      this.#rooms.set(room, r);
    }
    r.until = now + CALL_ROOM_TTL_MS;
    if (!r.people.some((p) => p.prefix === who.prefix)) {
      if (r.people.length >= this.#maxParticipants) r.people.shift();
      r.people.push({ ...who, joinedAt: now, reported: false });
    }
    return [...r.people];
  }

  async markReported(room: string, prefix: string, now: number): Promise<boolean> {
    const r = this.#rooms.get(room);
    if (!r || r.until <= now) return false;
    const k = r.people.findIndex((p) => p.prefix === prefix);
    if (k < 0 || r.people[k]!.reported) return false;
    r.people[k] = { ...r.people[k]!, reported: true };
    return true;
  }
}
