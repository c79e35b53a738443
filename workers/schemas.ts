/**
 * Request bodies of the edge API: one schema each, which validates requests (workers/schema.ts)
 * and is published as-is in the OpenAPI document (workers/openapi.ts).
 */

import { MAX_RELAYS, TRANSPORTS, type Transport } from '../src/allocation/answer.ts';
import { PROBE_METHODS, type ProbeMethod } from '../src/allocation/probe-method.ts';
import type { RevocationTarget } from '../src/credentials/revocation.ts';
import { MAX_TTL_SECONDS } from '../src/credentials/turn-rest.ts';
import { TOKEN_TTL } from '../src/tenants/client-token.ts';
import { type Schema, validate } from './schema.ts';

export interface ProbeResult {
  readonly relay: string;
  readonly rttMs: number;
  /** How the client measured it (ice-stun, https, http, stun); older clients leave it out. */
  readonly method?: ProbeMethod;
}

export interface AllocateBody {
  readonly probes: readonly ProbeResult[];
  readonly region: string | undefined;
  readonly room: string | undefined;
  /** The app's name for its user: the client id in the TURN username (else a random one). */
  readonly user: string | undefined;
  /** The client's own idea of where it is; used when the platform has none. */
  readonly location: { readonly lat: number; readonly lon: number } | undefined;
  /** Relays in iceServers: 1 (the chosen one) unless asked. */
  readonly relays: number;
  /** TURN transports whose URLs the answer carries: all unless asked. */
  readonly transports: readonly Transport[];
  /** Credential lifetime asked for, seconds; checked against the tenant's bounds by the route. */
  readonly ttl: number | undefined;
  /** The probeTicket of the answer whose probeTargets the probes measured. */
  readonly probeTicket: string | undefined;
}

export interface MeasurementsBody {
  readonly probes: readonly ProbeResult[];
  readonly probeTicket: string | undefined;
}

/** Client ids travel inside TURN usernames (`expiry:tenant:client`), so no ':' and no spaces. */
export const CLIENT_ID_PATTERN = '^[A-Za-z0-9._~-]{1,64}$';

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export const ProbeSchema: Schema = {
  type: 'object',
  description: 'One RTT measurement of a relay by the client.',
  properties: {
    relay: { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'relay id, from probeTargets' },
    rttMs: { type: 'number', minimum: 0, maximum: 10_000, description: 'round-trip time in milliseconds' },
    method: {
      type: 'string',
      enum: [...PROBE_METHODS],
      description:
        "how it was measured: ice-stun (the browser's ICE, to the relay's server-reflexive candidate), https or http (GET of the relay's /ping), stun (a STUN Binding over UDP)",
    },
  },
  required: ['relay', 'rttMs'],
  additionalProperties: false,
};

const probes: Schema = { type: 'array', items: ProbeSchema, maxItems: 64 };
const probeTicket: Schema = {
  type: 'string',
  minLength: 1,
  maxLength: 2048,
  description: 'the probeTicket of the /v1/allocate answer whose probeTargets these probes measured',
};

export const AllocateSchema: Schema = {
  type: 'object',
  description: 'All fields optional: an empty object asks for the best relay by location alone.',
  properties: {
    probes,
    probeTicket,
    region: { type: 'string', minLength: 1, maxLength: 64, description: 'preferred region; wins near ties' },
    room: {
      type: 'string',
      minLength: 1,
      maxLength: 128,
      description: 'call id: participants close to the room relay share it',
    },
    user: {
      type: 'string',
      pattern: CLIENT_ID_PATTERN,
      description:
        "the app's name for this user, used as the client id in the TURN username (revocable with " +
        'POST /v1/credentials/revoke); without it every call gets a random client id',
    },
    location: {
      type: 'object',
      description: "the client's own location, used when the platform gives none",
      properties: {
        lat: { type: 'number', minimum: -90, maximum: 90 },
        lon: { type: 'number', minimum: -180, maximum: 180 },
      },
      required: ['lat', 'lon'],
      additionalProperties: false,
    },
    relays: {
      type: 'integer',
      minimum: 1,
      maximum: MAX_RELAYS,
      description:
        'relays in iceServers, best first; 1 (the default) gives the chosen relay alone, the next ones travel as alternates',
    },
    transports: {
      type: 'array',
      items: { type: 'string', enum: TRANSPORTS },
      minItems: 1,
      maxItems: TRANSPORTS.length,
      uniqueItems: true,
      description:
        'TURN transports to hand out (udp: turn:...?transport=udp, tcp: turn:...?transport=tcp, tls: turns:); all by default. Only relays offering one of them are ranked',
    },
    ttl: {
      type: 'integer',
      minimum: 1,
      maximum: MAX_TTL_SECONDS,
      description:
        "credential lifetime in seconds, within the tenant's bounds (default: the edge's EDGE_CREDENTIAL_TTL)",
    },
  },
  additionalProperties: false,
};

export const MeasurementsSchema: Schema = {
  type: 'object',
  properties: { probes: { ...probes, minItems: 1 } as Schema, probeTicket },
  required: ['probes'],
  additionalProperties: false,
};

export const RevokeSchema: Schema = {
  type: 'object',
  description:
    'Either username, or tenant (with client: that client only; without: every client of the tenant).',
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 512, description: 'one TURN username' },
    tenant: { type: 'string', pattern: '^[a-z0-9][a-z0-9-]{0,31}$', description: 'a tenant id' },
    client: { type: 'string', pattern: CLIENT_ID_PATTERN, description: 'a client id of that tenant' },
    seconds: {
      type: 'integer',
      minimum: 1,
      maximum: MAX_TTL_SECONDS,
      description: `how long the revocation stands (default ${MAX_TTL_SECONDS}, the longest credential); a username stays revoked at least until it expires`,
    },
  },
  additionalProperties: false,
};

export function parseAllocate(v: unknown): Parsed<AllocateBody> {
  const problem = validate(AllocateSchema, v);
  if (problem) return { ok: false, error: problem };
  const b = v as {
    probes?: ProbeResult[];
    region?: string;
    room?: string;
    user?: string;
    location?: { lat: number; lon: number };
    relays?: number;
    transports?: Transport[];
    ttl?: number;
    probeTicket?: string;
  };
  return {
    ok: true,
    value: {
      probes: b.probes ?? [],
      region: b.region,
      room: b.room,
      user: b.user,
      location: b.location,
      relays: b.relays ?? 1,
      transports: b.transports ?? TRANSPORTS,
      ttl: b.ttl,
      probeTicket: b.probeTicket,
    },
  };
}

export function parseMeasurements(v: unknown): Parsed<MeasurementsBody> {
  const problem = validate(MeasurementsSchema, v);
  if (problem) return { ok: false, error: problem };
  const b = v as { probes: ProbeResult[]; probeTicket?: string };
  return { ok: true, value: { probes: b.probes, probeTicket: b.probeTicket } };
}

export function parseRevoke(v: unknown): Parsed<{ target: RevocationTarget; seconds: number | undefined }> {
  const problem = validate(RevokeSchema, v);
  if (problem) return { ok: false, error: problem };
  const b = v as { username?: string; tenant?: string; client?: string; seconds?: number };
  if ((b.username === undefined) === (b.tenant === undefined))
    return { ok: false, error: 'give either username or tenant (with or without client)' };
  if (b.username !== undefined && b.client !== undefined)
    return { ok: false, error: 'client goes with tenant, not with username' };
  const target: RevocationTarget =
    b.username !== undefined
      ? { kind: 'username', username: b.username }
      : b.client !== undefined
        ? { kind: 'client', tenant: b.tenant!, client: b.client }
        : { kind: 'tenant', tenant: b.tenant! };
  return { ok: true, value: { target, seconds: b.seconds } };
}

export interface TokenBody {
  readonly client: string | undefined;
  readonly room: string | undefined;
  readonly ttl: number;
  readonly origins: readonly string[] | undefined;
}

const SCOPED_ID = { type: 'string', pattern: '^[A-Za-z0-9._-]{1,64}$' } as const;

export const TokenSchema: Schema = {
  type: 'object',
  properties: {
    client: {
      ...SCOPED_ID,
      description: 'your id for the end user (1-64 of A-Z a-z 0-9 . _ -); a random one when missing',
    },
    room: {
      type: 'string',
      minLength: 1,
      maxLength: 128,
      description: 'the one room this token may allocate for',
    },
    ttl: {
      type: 'integer',
      minimum: TOKEN_TTL.min,
      maximum: TOKEN_TTL.max,
      description: `seconds the token lives (default ${TOKEN_TTL.default})`,
    },
    origins: {
      type: 'array',
      items: { type: 'string', maxLength: 256, description: 'https://app.example.com' },
      maxItems: 8,
      description: "web origins whose pages may use the token; the key's own origins when missing",
    },
  },
  additionalProperties: false,
};

export function parseToken(v: unknown): Parsed<TokenBody> {
  const problem = validate(TokenSchema, v ?? {});
  if (problem) return { ok: false, error: problem };
  const b = (v ?? {}) as Partial<TokenBody>;
  return {
    ok: true,
    value: { client: b.client, room: b.room, ttl: b.ttl ?? TOKEN_TTL.default, origins: b.origins },
  };
}
