/**
 * The per-call choice's store on Redis (keys: `callKeys` in src/directory/keys.ts), so every Node
 * edge learns from every client's report. Path quality: one string per level and path, read
 * with one MGET, updated by read, fold (`recordCall`) and write; two edges folding the same key
 * at the same instant lose one report, which a decaying average hardly notices. Rooms: one string
 * per room holding its participants, changed only by Lua scripts, so a participant joins once and
 * a report is taken once per participant and room even with several edges.
 */
import type { Cluster, Redis } from 'ioredis';
import {
  type CallChoiceOptions,
  type CallPath,
  type CallReport,
  DEFAULT_CALL_CHOICE,
  type PathQuality,
  recordCall,
} from '../allocation/call-choice.ts';
import {
  CALL_ROOM_MAX_PARTICIPANTS,
  CALL_ROOM_TTL_MS,
  type CallParticipant,
  type CallQualityStore,
  storedParticipants,
  storedPathQuality,
} from '../allocation/call-store.ts';
import { CALL_QUALITY_TTL_MS, type CallKeys, callKeys } from '../directory/keys.ts';
import { parseStoredJson } from './stored-json.ts';

// KEYS[1] room; ARGV: prefix, country, now, TTL ms, most participants. Returns the room as JSON.
// Same rule as joinRoom() in call-store.ts. cjson writes an empty table as {}, so a room that
// somehow has nobody left is written back as [] by hand.
const JOIN = `
local raw = redis.call('GET', KEYS[1])
local ok, people = pcall(cjson.decode, raw or '[]')
if not ok or type(people) ~= 'table' then people = {} end
local found = false
for _, p in ipairs(people) do
  if p.prefix == ARGV[1] then found = true end
end
if not found then
  table.insert(people, { prefix = ARGV[1], country = ARGV[2], joinedAt = tonumber(ARGV[3]), reported = false })
  while #people > tonumber(ARGV[5]) do table.remove(people, 1) end
end
local out = #people > 0 and cjson.encode(people) or '[]'
redis.call('SET', KEYS[1], out, 'PX', ARGV[4])
return out`;

// KEYS[1] room; ARGV: prefix. 1 when this call marked the participant reported, else 0.
const MARK = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, people = pcall(cjson.decode, raw)
if not ok or type(people) ~= 'table' then return 0 end
for _, p in ipairs(people) do
  if p.prefix == ARGV[1] then
    if p.reported == true then return 0 end
    p.reported = true
    redis.call('SET', KEYS[1], cjson.encode(people), 'KEEPTTL')
    return 1
  end
end
return 0`;

export class RedisCallQualityStore implements CallQualityStore {
  readonly #keys: CallKeys;

  constructor(
    private readonly client: Redis | Cluster,
    prefix: string,
    private readonly o: CallChoiceOptions = DEFAULT_CALL_CHOICE,
    private readonly maxParticipants = CALL_ROOM_MAX_PARTICIPANTS,
  ) {
    this.#keys = callKeys(prefix);
  }

  async quality(keys: readonly string[], path: CallPath): Promise<(PathQuality | undefined)[]> {
    if (keys.length === 0) return [];
    const values = await this.client.mget(...keys.map((k) => this.#keys.quality(k, path)));
    return values.map((v) => storedPathQuality(parseStoredJson(v)));
  }

  async record(keys: readonly string[], report: CallReport, now: number): Promise<void> {
    if (keys.length === 0) return;
    const names = keys.map((k) => this.#keys.quality(k, report.path));
    const before = await this.client.mget(...names);
    const multi = this.client.multi();
    names.forEach((name, i) => {
      const next = recordCall(storedPathQuality(parseStoredJson(before[i])), report, now, this.o);
      multi.set(name, JSON.stringify(next), 'PX', CALL_QUALITY_TTL_MS);
    });
    await multi.exec();
  }

  async join(
    room: string,
    who: { prefix: string; country: string },
    now: number,
  ): Promise<readonly CallParticipant[]> {
    const out = await this.client.eval(
      JOIN,
      1,
      this.#keys.room(room),
      who.prefix,
      who.country,
      now,
      CALL_ROOM_TTL_MS,
      this.maxParticipants,
    );
    return storedParticipants(parseStoredJson(String(out)));
  }

  async markReported(room: string, prefix: string): Promise<boolean> {
    return (await this.client.eval(MARK, 1, this.#keys.room(room), prefix)) === 1;
  }
}
