/**
 * Every Redis key and channel the directory uses, with its shape and lifetime (docs/REDIS.md
 * has the same table). All keys carry the hash tag `{dir}` so that, on Redis Cluster, they live
 * in one slot and can change together in MULTI/EXEC.
 */
export interface DirectoryKeys {
  /** STRING: the RelayRecord as JSON. PX = the heartbeat TTL; a dead relay's record expires. */
  relay(id: string): string;
  /** ZSET: member relay id, score = ms time its registration expires. Pruned on every list(). */
  readonly relays: string;
  /** GEO (a ZSET): member relay id at (lon, lat). Pruned together with `relays`. */
  readonly geo: string;
  /** STRING: the LinkRecord[] measured from one relay, as JSON. PX = the link TTL. */
  links(from: string): string;
  /** ZSET: member relay id, score = ms time its published links expire. */
  readonly linkIndex: string;
  /** ZSET: member revoked TURN username, score = ms time the revocation lapses; pruned on read. */
  readonly revoked: string;
  /** ZSET: member `tenant:client` of a revoked client, score = ms time it lapses; pruned on read. */
  readonly revokedClients: string;
  /** ZSET: member revoked tenant id, score = ms time it lapses; pruned on read. */
  readonly revokedTenants: string;
  /** Pub/sub channel: DirectoryEvent as JSON. */
  readonly events: string;
}

export function directoryKeys(prefix: string): DirectoryKeys {
  if (/[{}\s]/.test(prefix))
    throw new TypeError(`directory key prefix must not contain braces or spaces: "${prefix}"`);
  const base = `${prefix}{dir}:`;
  return {
    relay: (id) => `${base}relay:${id}`,
    relays: `${base}relays`,
    geo: `${base}geo`,
    links: (from) => `${base}links:${from}`,
    linkIndex: `${base}links`,
    revoked: `${base}revoked`,
    revokedClients: `${base}revoked-clients`,
    revokedTenants: `${base}revoked-tenants`,
    events: `${base}events`,
  };
}

/** Tenants, API keys and rate-limit state. Hash tag `{tenants}`; rate keys are one per API key. */
export interface TenantKeys {
  /** STRING: the Tenant as JSON. No TTL. */
  tenant(id: string): string;
  /** SET: every tenant id. */
  readonly tenants: string;
  /** STRING: the ApiKeyRecord as JSON (SHA-256 of the secret, never the secret). No TTL. */
  key(id: string): string;
  /** SET: every API key id. */
  readonly keys: string;
  /**
   * STRING: the key's GCRA theoretical arrival time (ms). PX = until that time passes. With API
   * keys off the edge counts per client address under `addr:SOURCE` (IPv4, or an IPv6 /64).
   */
  rate(keyId: string): string;
}

export function tenantKeys(prefix: string): TenantKeys {
  if (/[{}\s]/.test(prefix)) throw new TypeError(`key prefix must not contain braces or spaces: "${prefix}"`);
  const base = `${prefix}{tenants}:`;
  return {
    tenant: (id) => `${base}tenant:${id}`,
    tenants: `${base}tenants`,
    key: (id) => `${base}key:${id}`,
    keys: `${base}keys`,
    rate: (keyId) => `${prefix}{rate:${keyId}}`,
  };
}

/**
 * The per-call choice (src/allocation/call-store.ts). Hash tag `{calls}`. Level keys are those of
 * `callLevelKeys` (`all`, `country:A|B`, `prefix:A|B`).
 */
export interface CallKeys {
  /** STRING: the `PathQuality` of one path at one level, as JSON. PX = `CALL_QUALITY_TTL_MS`. */
  quality(level: string, path: string): string;
  /** STRING: the room's `CallParticipant[]` as JSON. PX = `CALL_ROOM_TTL_MS` after the last join. */
  room(room: string): string;
}

/** Thirty days: ten half-lives of the call choice's default decay, nothing of it is left. */
export const CALL_QUALITY_TTL_MS = 30 * 86_400_000;

export function callKeys(prefix: string): CallKeys {
  if (/[{}\s]/.test(prefix)) throw new TypeError(`key prefix must not contain braces or spaces: "${prefix}"`);
  const base = `${prefix}{calls}:`;
  return {
    quality: (level, path) => `${base}quality:${level}:${path}`,
    room: (room) => `${base}room:${room}`,
  };
}
