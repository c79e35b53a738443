/**
 * Where the per-call choice (call-choice.ts) keeps what it learned: path quality per level key and
 * path, and who is in a call room (network prefix and country, so a report can be filed under
 * the pair). A port with three implementations of one contract
 * (test/integration/call-store-contract.test.ts): in memory here (one process; bounded: rooms live
 * an hour, at most `maxParticipants` per room, at most `maxEntries` keys of either kind), on Redis
 * (src/redis/redis-calls.ts, the Node edge: every edge learns from every report) and on Workers KV
 * (workers/kv-stores.ts).
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

  constructor(
    o: CallChoiceOptions = DEFAULT_CALL_CHOICE,
    maxEntries = 200_000,
    maxParticipants = CALL_ROOM_MAX_PARTICIPANTS,
  ) {
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
    r.people = joinRoom(r.people, who, now, this.#maxParticipants);
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

/** Most participants a room keeps (the oldest make way), in every store. */
export const CALL_ROOM_MAX_PARTICIPANTS = 16;

const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A stored PathQuality read back (from Redis or KV), or undefined when it is not one. */
export function storedPathQuality(v: unknown): PathQuality | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const q = v as Record<string, unknown>;
  if (!finite(q.calls) || !finite(q.poor) || !finite(q.rttMs) || !finite(q.updatedAt)) return undefined;
  if (q.calls < 0 || q.poor < 0 || q.poor > q.calls + 1e-9 || q.rttMs < 0) return undefined;
  return { calls: q.calls, poor: q.poor, rttMs: q.rttMs, updatedAt: q.updatedAt };
}

/** A stored room read back: its well-formed participants (none when it is not a list). */
export function storedParticipants(v: unknown): CallParticipant[] {
  if (!Array.isArray(v)) return [];
  const out: CallParticipant[] = [];
  for (const p of v as unknown[]) {
    if (!p || typeof p !== 'object') continue;
    const x = p as Record<string, unknown>;
    if (typeof x.prefix !== 'string' || typeof x.country !== 'string' || !finite(x.joinedAt)) continue;
    out.push({ prefix: x.prefix, country: x.country, joinedAt: x.joinedAt, reported: x.reported === true });
  }
  return out;
}

/**
 * A room after `who` joined at `now`: unchanged when already in, else appended, the oldest
 * making way past `max`. The rule the memory and KV stores apply (Redis runs it as Lua).
 */
export function joinRoom(
  people: readonly CallParticipant[],
  who: { prefix: string; country: string },
  now: number,
  max: number,
): CallParticipant[] {
  if (people.some((p) => p.prefix === who.prefix)) return [...people];
  const next = [...people, { prefix: who.prefix, country: who.country, joinedAt: now, reported: false }];
  return next.slice(Math.max(0, next.length - max));
}
