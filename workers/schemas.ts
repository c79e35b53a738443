/**
 * Request bodies of the edge API, one zod schema each: it validates the request (the route's
 * hook turns a failure into problem JSON, workers/validation.ts), gives the handler its type
 * (z.infer, defaults filled) and is published in the OpenAPI document (workers/api-routes.ts).
 * Runtime-free: the Workers bundle imports it. Must not import relay/.
 */
import { z } from '@hono/zod-openapi';
import { MAX_RELAYS, TRANSPORTS } from '../src/allocation/answer.ts';
import { PROBE_METHODS } from '../src/allocation/probe-method.ts';
import { MAX_TTL_SECONDS } from '../src/credentials/turn-rest.ts';
import { TOKEN_TTL } from '../src/tenants/client-token.ts';
import './validation.ts'; // zod's messages for the client

/** Client ids travel inside TURN usernames (`expiry:tenant:client`), so no ':' and no spaces. */
export const CLIENT_ID_PATTERN = '^[A-Za-z0-9._~-]{1,64}$';

const unique = <T>(items: readonly T[]) => new Set(items.map((v) => JSON.stringify(v))).size === items.length;

export const Probe = z
  .strictObject({
    relay: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .describe('relay id, from probeTargets'),
    rttMs: z.number().min(0).max(10_000).describe('round-trip time in milliseconds'),
    method: z
      .enum(PROBE_METHODS)
      .optional()
      .describe(
        "how it was measured: ice-stun (the browser's ICE, to the relay's server-reflexive candidate), https or http (GET of the relay's /ping), stun (a STUN Binding over UDP)",
      ),
  })
  .describe('One RTT measurement of a relay by the client.')
  .openapi('Probe');
export type ProbeResult = z.infer<typeof Probe>;

const probes = z.array(Probe).max(64);
const probeTicket = z
  .string()
  .min(1)
  .max(2048)
  .describe('the probeTicket of the /v1/allocate answer whose probeTargets these probes measured');

export const AllocateRequest = z
  .strictObject({
    probes: probes.default([]),
    probeTicket: probeTicket.optional(),
    region: z.string().min(1).max(64).optional().describe('preferred region; wins near ties'),
    room: z
      .string()
      .min(1)
      .max(128)
      .optional()
      .describe('call id: participants close to the room relay share it'),
    user: z
      .string()
      .regex(new RegExp(CLIENT_ID_PATTERN))
      .optional()
      .describe(
        "the app's name for this user, used as the client id in the TURN username (revocable with POST /v1/credentials/revoke); without it every call gets a random client id",
      ),
    location: z
      .strictObject({ lat: z.number().min(-90).max(90), lon: z.number().min(-180).max(180) })
      .optional()
      .describe("the client's own location, used when the platform gives none"),
    relays: z
      .int()
      .min(1)
      .max(MAX_RELAYS)
      .default(1)
      .describe(
        'relays in iceServers, best first; 1 (the default) gives the chosen relay alone, the next ones travel as alternates',
      ),
    transports: z
      .array(z.enum(TRANSPORTS))
      .min(1)
      .max(TRANSPORTS.length)
      .refine(unique, 'transports must not repeat an item')
      .default([...TRANSPORTS])
      .openapi({ uniqueItems: true })
      .describe(
        'TURN transports to hand out (udp: turn:...?transport=udp, tcp: turn:...?transport=tcp, tls: turns:); all by default. Only relays offering one of them are ranked',
      ),
    ttl: z
      .int()
      .min(1)
      .max(MAX_TTL_SECONDS)
      .optional()
      .describe(
        "credential lifetime in seconds, within the tenant's bounds (default: the edge's EDGE_CREDENTIAL_TTL)",
      ),
  })
  .describe('All fields optional: an empty object asks for the best relay by location alone.')
  .openapi('AllocateRequest');
export type AllocateBody = z.infer<typeof AllocateRequest>;

export const MeasurementsRequest = z
  .strictObject({ probes: probes.min(1), probeTicket: probeTicket.optional() })
  .openapi('MeasurementsRequest');
export type MeasurementsBody = z.infer<typeof MeasurementsRequest>;

const EITHER = 'give either username or tenant (with or without client)';

export const RevokeRequest = z
  .strictObject({
    username: z.string().min(1).max(512).optional().describe('one TURN username'),
    tenant: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,31}$/)
      .optional()
      .describe('a tenant id'),
    client: z.string().regex(new RegExp(CLIENT_ID_PATTERN)).optional().describe('a client id of that tenant'),
    seconds: z
      .int()
      .min(1)
      .max(MAX_TTL_SECONDS)
      .optional()
      .describe(
        `how long the revocation stands (default ${MAX_TTL_SECONDS}, the longest credential); a username stays revoked at least until it expires`,
      ),
  })
  .superRefine((b, ctx) => {
    if ((b.username === undefined) === (b.tenant === undefined))
      ctx.addIssue({ code: 'custom', message: EITHER });
    else if (b.username !== undefined && b.client !== undefined)
      ctx.addIssue({ code: 'custom', message: 'client goes with tenant, not with username' });
  })
  .describe(
    'Either username, or tenant (with client: that client only; without: every client of the tenant).',
  )
  .openapi('RevokeRequest');
export type RevokeBody = z.infer<typeof RevokeRequest>;

export const TokenRequest = z
  .strictObject({
    client: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/)
      .optional()
      .describe('your id for the end user (1-64 of A-Z a-z 0-9 . _ -); a random one when missing'),
    room: z.string().min(1).max(128).optional().describe('the one room this token may allocate for'),
    ttl: z
      .int()
      .min(TOKEN_TTL.min)
      .max(TOKEN_TTL.max)
      .default(TOKEN_TTL.default)
      .describe(`seconds the token lives (default ${TOKEN_TTL.default})`),
    origins: z
      .array(z.string().max(256).describe('https://app.example.com'))
      .max(8)
      .optional()
      .describe("web origins whose pages may use the token; the key's own origins when missing"),
  })
  .openapi('TokenRequest');
export type TokenBody = z.infer<typeof TokenRequest>;

const ROOM_RULE = 'room must be 1-128 letters, digits or . _ : -';
const room = z
  .string({ error: ROOM_RULE })
  .regex(/^[\w.:-]{1,128}$/, { error: ROOM_RULE })
  .describe('the call: the same id for both participants');

export const CallChoiceRequest = z.looseObject({ room }).openapi('CallChoiceRequest');

const REPORT_RULE =
  "path must be 'direct' or 'relay', rttMs and jitterMs numbers from 0 to 60000, loss a fraction from 0 to 1";
const ms = z
  .number({ error: REPORT_RULE })
  .min(0, { error: REPORT_RULE })
  .max(60_000, { error: REPORT_RULE });

export const CallReportRequest = z
  .looseObject({
    room,
    path: z.enum(['direct', 'relay'], { error: REPORT_RULE }).describe('the path the call took'),
    rttMs: ms.describe('round-trip time the call measured (getStats), ms'),
    loss: z
      .number({ error: REPORT_RULE })
      .min(0, { error: REPORT_RULE })
      .max(1, { error: REPORT_RULE })
      .describe('packet loss, a fraction from 0 to 1'),
    jitterMs: ms.describe('jitter, ms'),
  })
  .openapi('CallReportRequest');
export type CallReportBody = z.infer<typeof CallReportRequest>;
