/**
 * Response bodies of the edge API, one zod schema each: the handlers' return types come from
 * them (z.infer) and the OpenAPI document publishes them (workers/api-routes.ts). They describe,
 * they do not check: answers are not parsed on the way out. Runtime-free. Must not import relay/.
 */
import { z } from '@hono/zod-openapi';
import { TRANSPORTS } from '../src/allocation/answer.ts';

/** The body an answer schema describes; handlers check what they send with `satisfies`. */
export type Answer<S extends z.ZodType> = z.input<S>;

export const Problem = z
  .object({
    type: z.string().describe('about:blank: the title says it'),
    title: z.string().describe('the kind of problem, the same for every request it happens to'),
    status: z.int().describe('the HTTP status'),
    detail: z.string().describe('what to change to make the request work'),
  })
  .describe('RFC 9457 problem details')
  .openapi('Problem');

const IceServer = z
  .object({ urls: z.array(z.string()), username: z.string(), credential: z.string() })
  .describe('one RTCIceServer: pass the list straight to new RTCPeerConnection({ iceServers })')
  .openapi('IceServer');

const RankedRelay = z.object({
  id: z.string(),
  region: z.string(),
  predictedRttMs: z.number(),
  basis: z.enum(['probe', 'learned', 'distance']).describe('what the prediction rests on'),
});

export const AllocateAnswer = z
  .object({
    iceServers: z
      .array(IceServer)
      .describe(
        'the chosen relay (stun: on its UDP address, then its TURN URLs of the asked transports); more relays only when the request asks with "relays"',
      ),
    relay: RankedRelay.extend({ reason: z.string().describe('why this relay, in words') }),
    alternates: z
      .array(
        RankedRelay.extend({
          iceServer: IceServer.describe(
            'ready to use in place of the iceServers entry, with the same credential: good for a new allocation until expiresAt, then ask again',
          ),
        }),
      )
      .describe('relays not in iceServers, next in rank, for a reconnect'),
    transports: z.array(z.enum(TRANSPORTS)).describe('the transports whose URLs the answer carries'),
    ttl: z
      .int()
      .describe('seconds the credentials can create allocations; allocations made with them outlive them'),
    expiresAt: z.int().describe('unix seconds'),
    client: z
      .string()
      .describe("client id in the TURN username (`expiry:tenant:client`): the request's user, else random"),
    location: z.object({
      source: z.enum(['platform', 'geoip', 'hint', 'default']),
      lat: z.number(),
      lon: z.number(),
    }),
    prefix: z.string().optional().describe("the client's network prefix (/24 or /48)"),
    directory: z
      .object({ stale: z.boolean(), ageMs: z.number() })
      .describe('stale: the coordinator was away and this answer comes from an older directory copy'),
    probeTicket: z
      .string()
      .optional()
      .describe(
        'signed: these probeTargets, this network, ten minutes; send it back with the probes to /v1/measurements and /v1/allocate',
      ),
    probeTargets: z.array(
      z.object({
        id: z.string(),
        stun: z.string().optional().describe('stun: URL on the relay UDP address'),
        ping: z.string().optional().describe('HTTP(S) URL answering GET /ping'),
      }),
    ),
  })
  .openapi('AllocateAnswer');
export type AllocateAnswer = z.infer<typeof AllocateAnswer>;

export const MeasurementsAnswer = z
  .object({
    accepted: z.int().describe('relays learned from, one sample each'),
    ignored: z.array(z.string()).describe('relays the ticket does not cover'),
    prefix: z.string(),
  })
  .openapi('MeasurementsAnswer');

export const TokenAnswer = z
  .object({
    token: z.string().describe('send it as Authorization: Bearer to /v1/allocate and /v1/measurements'),
    expiresAt: z.int().describe('unix seconds'),
    tenant: z.string(),
    client: z.string(),
    room: z.string().optional(),
    origins: z.array(z.string()),
  })
  .openapi('TokenAnswer');

export const RevokeAnswer = z
  .object({
    revoked: z.object({ username: z.string(), tenant: z.string(), client: z.string() }).partial(),
    until: z.int().describe('ms since the epoch'),
  })
  .openapi('RevokeAnswer');

const PathQuality = z.object({ poor: z.number(), rttMs: z.number(), calls: z.number() });

export const CallChoiceAnswer = z
  .object({
    room: z.string(),
    path: z.enum(['direct', 'relay']),
    forceRelay: z.boolean().describe('true: set iceTransportPolicy "relay"'),
    reason: z.string(),
    expected: z.object({ direct: PathQuality, relay: PathQuality }),
  })
  .openapi('CallChoiceAnswer');

export const CallReportAnswer = z
  .object({
    accepted: z.literal(true),
    path: z.enum(['direct', 'relay']),
    levels: z.int().describe('aggregates the report was filed under'),
  })
  .openapi('CallReportAnswer');

export const Health = z.object({ status: z.literal('ok') }).openapi('Health');
export const Ready = z.object({ ready: z.boolean(), relays: z.int(), stale: z.boolean() }).openapi('Ready');

const num = z.number();
const hops = z
  .object({ hops: z.array(z.string()), cost: num })
  .nullable()
  .describe('null when there is none');

/** GET /v1/admin/topology: src/topology's Topology, with the change log and decision counts. */
export const Topology = z
  .object({
    at: num.describe('when it was read, ms since the epoch'),
    relays: z.array(
      z.looseObject({
        id: z.string(),
        region: z.string(),
        lat: num,
        lon: num,
        state: z.enum(['active', 'draining']),
        capacity: num,
        allocations: num,
        utilization: num.describe('allocations / capacity, 0..1'),
      }),
    ),
    links: z.array(
      z.looseObject({
        from: z.string(),
        to: z.string(),
        rttMs: num,
        jitterMs: num,
        lossRate: num,
        health: z.enum(['up', 'degraded', 'dead']).describe('degraded: loss > 1.2 % or jitter > 12 ms'),
        cost: num.nullable().describe('routing cost in effective ms; null when unusable'),
      }),
    ),
    routes: z
      .array(z.object({ from: z.string(), to: z.string(), best: hops, alternate: hops }))
      .describe('best and alternate overlay path for every ordered pair (up to 40 relays)'),
    changes: z
      .array(z.looseObject({ type: z.string(), at: num }))
      .describe('the last 200 changes, oldest first: relay-up/-down/-draining/-active, link, path'),
    decisions: z
      .object({ start: num, bucketMs: num, counts: z.record(z.string(), z.array(num)) })
      .describe('allocations answered per basis (probe, learned, distance) per 10 s over 10 minutes'),
  })
  .openapi('Topology');
