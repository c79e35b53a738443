/**
 * Directory records as read back from a store: checked field by field before anything uses them.
 * A record written by an older or newer relay, by hand, or cut short must not take the edge or a
 * relay down (a relay record without `load` once made every /v1/allocate answer 500 and stopped
 * a relay's route updates): a bad record is reported with the field that is wrong and skipped.
 * Pure; the stores call these on read and their callers log what was skipped.
 */
import { RUN_ID_PATTERN } from '../backbone/key-ring.ts';
import { MAX_RELAY_ID_BYTES } from '../backbone/relay-hash.ts';
import type { LinkRecord, RelayRecord } from './types.ts';

export type Checked<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string };

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const nonNegative = (v: unknown): v is number => finite(v) && v >= 0;
const port = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 65535;

/** A relay id: 1-64 UTF-8 bytes (the backbone hashes it, src/backbone/relay-hash.ts). */
export function validRelayId(v: unknown): v is string {
  if (typeof v !== 'string' || v.length === 0) return false;
  return new TextEncoder().encode(v).length <= MAX_RELAY_ID_BYTES;
}

/** A RelayRecord, or the first field that is missing or wrong. */
export function checkRelayRecord(v: unknown): Checked<RelayRecord> {
  if (!isObj(v)) return { ok: false, error: 'not an object' };
  const bad = (field: string) => ({ ok: false as const, error: `${field}: missing or invalid` });
  if (!validRelayId(v.id)) return bad('id');
  if (typeof v.region !== 'string') return bad('region');
  if (!finite(v.lat) || Math.abs(v.lat) > 90) return bad('lat');
  if (!finite(v.lon) || Math.abs(v.lon) > 180) return bad('lon');
  if (!Array.isArray(v.turnUrls) || !v.turnUrls.every((u) => typeof u === 'string')) return bad('turnUrls');
  if (typeof v.backbone !== 'string') return bad('backbone');
  if (typeof v.relayedAddress !== 'string') return bad('relayedAddress');
  const range = v.portRange;
  if (
    !Array.isArray(range) ||
    range.length !== 2 ||
    !port(range[0]) ||
    !port(range[1]) ||
    range[0] > range[1]
  )
    return bad('portRange');
  if (!nonNegative(v.capacity)) return bad('capacity');
  const load = v.load;
  if (!isObj(load) || !nonNegative(load.allocations) || !nonNegative(load.pps) || !nonNegative(load.bps))
    return bad('load');
  if (v.state !== 'active' && v.state !== 'draining') return bad('state');
  if (typeof v.version !== 'string') return bad('version');
  if (!finite(v.startedAt)) return bad('startedAt');
  if (!finite(v.updatedAt)) return bad('updatedAt');
  if (
    v.backboneThreads !== undefined &&
    !validThreads(v.backboneThreads, v.backbone, range as [number, number])
  )
    return bad('backboneThreads');
  if (v.backboneBundles !== undefined && typeof v.backboneBundles !== 'boolean')
    return bad('backboneBundles');
  if (
    v.backboneRun !== undefined &&
    (typeof v.backboneRun !== 'string' || !RUN_ID_PATTERN.test(v.backboneRun))
  )
    return bad('backboneRun');
  // Clients fetch it: only an http(s) URL ending in /ping, never another scheme.
  if (
    v.pingUrl !== undefined &&
    (typeof v.pingUrl !== 'string' || !/^https?:\/\/[^/?#\s]+\/ping$/.test(v.pingUrl))
  )
    return bad('pingUrl');
  return { ok: true, value: v as unknown as RelayRecord };
}

/** Most backbone threads a record may list (--workers allows 64). */
export const MAX_BACKBONE_THREADS = 64;

/**
 * A record's `backboneThreads`: 1-64 entries, each a backbone address string and a port range
 * inside the record's, in ascending order without overlap; entry 0 at the record's `backbone`
 * (what a reader from before threads uses).
 */
function validThreads(v: unknown, backbone: string, range: readonly [number, number]): boolean {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_BACKBONE_THREADS) return false;
  let below = range[0] - 1;
  for (const t of v) {
    if (!isObj(t) || typeof t.backbone !== 'string' || t.backbone === '') return false;
    const r = t.portRange;
    if (!Array.isArray(r) || r.length !== 2 || !port(r[0]) || !port(r[1])) return false;
    if (r[0] <= below || r[0] > r[1] || r[1] > range[1]) return false;
    below = r[1];
  }
  return v[0].backbone === backbone;
}

/** A LinkRecord, or the first field that is missing or wrong. */
export function checkLinkRecord(v: unknown): Checked<LinkRecord> {
  if (!isObj(v)) return { ok: false, error: 'not an object' };
  const bad = (field: string) => ({ ok: false as const, error: `${field}: missing or invalid` });
  if (!validRelayId(v.from)) return bad('from');
  if (!validRelayId(v.to)) return bad('to');
  for (const f of ['rttMs', 'rttP50Ms', 'rttP95Ms', 'jitterMs', 'samples'] as const) {
    if (!nonNegative(v[f])) return bad(f);
  }
  if (!finite(v.lossRate) || v.lossRate < 0 || v.lossRate > 1) return bad('lossRate');
  if (!finite(v.updatedAt)) return bad('updatedAt');
  for (const f of ['dataIn', 'endIn'] as const) if (v[f] !== undefined && !nonNegative(v[f])) return bad(f);
  return { ok: true, value: v as unknown as LinkRecord };
}

/**
 * Why `relay` may not join a directory already holding `others` (its own earlier record
 * excluded), or undefined: two ids with the same 48-bit relay hash, or whose threads' sender ids
 * (hash + thread index) meet (frames could not tell them apart), or relayed port ranges that overlap on the same relayed address (a packet to such a
 * port could belong to either relay).
 */
export function registrationConflict(
  relay: RelayRecord,
  others: readonly RelayRecord[],
  hash: (id: string) => number,
): string | undefined {
  const mine = hash(relay.id);
  const threads = (r: RelayRecord) => Math.max(1, r.backboneThreads?.length ?? 1);
  for (const o of others) {
    if (o.id === relay.id) continue;
    // Thread i seals with hash + i (src/backbone/threads.ts): the two ranges of sender ids must not meet.
    const theirs = hash(o.id);
    const gap = (theirs - mine + 2 ** 48) % 2 ** 48;
    if (gap < threads(relay) || (2 ** 48 - gap) % 2 ** 48 < threads(o))
      return `relay id ${relay.id} has the same backbone hash as ${o.id}; rename one`;
    if (
      o.relayedAddress === relay.relayedAddress &&
      o.portRange[0] <= relay.portRange[1] &&
      relay.portRange[0] <= o.portRange[1]
    ) {
      return (
        `relayed ports ${relay.portRange[0]}-${relay.portRange[1]} on ${relay.relayedAddress} overlap ` +
        `${o.id}'s ${o.portRange[0]}-${o.portRange[1]}`
      );
    }
  }
  return undefined;
}
