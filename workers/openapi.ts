/**
 * The OpenAPI 3.1 document of the edge, built from the same schemas that validate requests, so
 * the two cannot drift apart. Served at GET /v1/openapi.json.
 */
import type { Schema } from './schema.ts';
import { AllocateSchema, MeasurementsSchema, ProbeSchema, RevokeSchema, TokenSchema } from './schemas.ts';

const Problem: Schema = {
  type: 'object',
  description: 'RFC 9457 problem details',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'number' },
    detail: { type: 'string', description: 'what to change to make the request work' },
  },
};

const IceServer: Schema = {
  type: 'object',
  description: 'one RTCIceServer: pass the list straight to new RTCPeerConnection({ iceServers })',
  properties: {
    urls: { type: 'array', items: { type: 'string' } },
    username: { type: 'string' },
    credential: { type: 'string' },
  },
};

const RankedRelay: Schema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    region: { type: 'string' },
    predictedRttMs: { type: 'number' },
    basis: { type: 'string', description: 'probe, learned or distance' },
  },
};

const Alternate: Schema = {
  type: 'object',
  description: 'a relay not in iceServers, next in rank, for a reconnect',
  properties: {
    ...RankedRelay.properties,
    iceServer: {
      ...IceServer,
      description:
        'ready to use in place of the iceServers entry, with the same credential: good for a new allocation until expiresAt, then ask again',
    },
  },
};

const AllocateAnswer: Schema = {
  type: 'object',
  properties: {
    iceServers: {
      type: 'array',
      items: IceServer,
      description:
        'the chosen relay (stun: on its UDP address, then its TURN URLs of the asked transports); more relays only when the request asks with "relays"',
    },
    relay: RankedRelay,
    alternates: { type: 'array', items: Alternate },
    transports: {
      type: 'array',
      items: { type: 'string', enum: ['udp', 'tcp', 'tls'] },
      description: 'the transports whose URLs the answer carries',
    },
    ttl: {
      type: 'number',
      description: 'seconds the credentials can create allocations; allocations made with them outlive them',
    },
    expiresAt: { type: 'number', description: 'unix seconds' },
    client: {
      type: 'string',
      description: "client id in the TURN username (`expiry:tenant:client`): the request's user, else random",
    },
    location: {
      type: 'object',
      properties: {
        source: { type: 'string', description: 'platform, geoip, hint or default' },
        lat: { type: 'number' },
        lon: { type: 'number' },
      },
    },
    directory: {
      type: 'object',
      description: 'stale: the coordinator was away and this answer comes from an older directory copy',
      properties: { stale: { type: 'boolean' }, ageMs: { type: 'number' } },
    },
    prefix: { type: 'string', description: "the client's network prefix (/24 or /48)" },
    probeTicket: {
      type: 'string',
      description:
        'signed: these probeTargets, this network, ten minutes; send it back with the probes to /v1/measurements and /v1/allocate',
    },
    probeTargets: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          stun: {
            type: 'string',
            description: 'stun: URL on the relay UDP port, for ICE or STUN Binding probes',
          },
          ping: {
            type: 'string',
            description:
              "the relay's /ping: https:// when it serves a public HTTPS ping (any page may fetch it), else http://",
          },
        },
      },
    },
  },
};

const str: Schema = { type: 'string' };
const num: Schema = { type: 'number' };
const hopsPath: Schema = {
  type: 'object',
  description: 'null when there is none',
  properties: { hops: { type: 'array', items: str }, cost: num },
};

/** GET /v1/admin/topology: src/topology's Topology, with the change log and decision counts. */
const Topology: Schema = {
  type: 'object',
  properties: {
    at: { type: 'number', description: 'when it was read, ms since the epoch' },
    relays: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: str,
          region: str,
          lat: num,
          lon: num,
          state: { type: 'string', description: 'active or draining' },
          version: str,
          startedAt: num,
          capacity: num,
          allocations: num,
          pps: num,
          bps: num,
          utilization: { type: 'number', description: 'allocations / capacity, 0..1' },
        },
      },
    },
    links: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          from: str,
          to: str,
          rttMs: num,
          jitterMs: num,
          lossRate: num,
          health: { type: 'string', description: 'up, degraded (loss > 1.2 % or jitter > 12 ms) or dead' },
          ageMs: num,
          cost: { type: 'number', description: 'routing cost in effective ms; null when unusable' },
        },
      },
    },
    routes: {
      type: 'array',
      description: 'best and alternate overlay path for every ordered pair (up to 40 relays)',
      items: {
        type: 'object',
        properties: { from: str, to: str, best: hopsPath, alternate: hopsPath },
      },
    },
    changes: {
      type: 'array',
      description: 'the last 200 changes, oldest first: relay-up/-down/-draining/-active, link, path',
      items: { type: 'object', properties: { type: str, at: num } },
    },
    decisions: {
      type: 'object',
      description: 'allocations answered per basis (probe, learned, distance) per 10 s over 10 minutes',
      properties: { start: num, bucketMs: num, counts: { type: 'object', properties: {} } },
    },
  },
};

const problems = (codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [
      String(code),
      {
        description: 'problem',
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      },
    ]),
  );

const body = (ref: string) => ({
  required: true,
  content: { 'application/json': { schema: { $ref: `#/components/schemas/${ref}` } } },
});

export function openApiDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'relay-backbone edge', version: '1' },
    paths: {
      '/v1/allocate': {
        post: {
          summary:
            'iceServers for the chosen relay (more on request) and alternates, with short-lived TURN credentials',
          security: [{ apiKey: [] }, { apiKeyHeader: [] }, { clientToken: [] }],
          requestBody: body('AllocateRequest'),
          responses: {
            '200': {
              description: 'ranked relays',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/AllocateAnswer' } } },
            },
            ...problems([400, 401, 413, 415, 422, 429, 503]),
          },
        },
      },
      '/v1/measurements': {
        post: {
          summary:
            "report RTTs the client measured with the probeTicket of the answer that asked for them; they feed its network's learned map",
          security: [{ apiKey: [] }, { apiKeyHeader: [] }, { clientToken: [] }],
          requestBody: body('MeasurementsRequest'),
          responses: {
            '200': {
              description:
                '`accepted`: relays learned from (one sample each); `ignored`: relays the ticket does not cover; `prefix`',
            },
            ...problems([400, 401, 413, 415, 422, 429, 503]),
          },
        },
      },
      '/v1/credentials/revoke': {
        post: {
          summary:
            'revoke a TURN username, a client or a tenant (admin token): relays refuse its credentials and end its allocations',
          security: [{ admin: [] }],
          requestBody: body('RevokeRequest'),
          responses: { '200': { description: 'revoked' }, ...problems([401, 422, 503]) },
        },
      },
      '/v1/tokens': {
        post: {
          summary:
            'a short-lived client token for a web page (API key only): scoped to a client id, a room and origins',
          security: [{ apiKey: [] }, { apiKeyHeader: [] }],
          requestBody: body('TokenRequest'),
          responses: {
            '200': {
              description: 'the token; send it as Authorization: Bearer to /v1/allocate and /v1/measurements',
              content: {
                'application/json': {
                  schema: {
                    type: 'object',
                    properties: {
                      token: { type: 'string' },
                      expiresAt: { type: 'number', description: 'unix seconds' },
                      tenant: { type: 'string' },
                      client: { type: 'string' },
                      room: { type: 'string' },
                      origins: { type: 'array', items: { type: 'string' } },
                    },
                  },
                },
              },
            },
            ...problems([401, 403, 413, 415, 422, 429, 503]),
          },
        },
      },
      '/v1/admin/topology': {
        get: {
          summary:
            'relays, links, paths, recent changes and allocation decisions (admin token or dashboard session)',
          security: [{ admin: [] }],
          responses: {
            '200': {
              description: 'the backbone now',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/Topology' } } },
            },
            ...problems([401, 503]),
          },
        },
      },
      '/v1/admin/topology/events': {
        get: {
          summary: 'the topology as server-sent events: `topology` (the whole body) and `changes`',
          security: [{ admin: [] }],
          responses: {
            '200': { description: 'an event stream', content: { 'text/event-stream': {} } },
            ...problems([401, 503]),
          },
        },
      },
    },
    components: {
      securitySchemes: {
        admin: { type: 'http', scheme: 'bearer' },
        apiKey: { type: 'http', scheme: 'bearer', description: 'an API key, rbk_<id>_<secret>' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        clientToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'from POST /v1/tokens',
        },
      },
      schemas: {
        AllocateRequest: AllocateSchema,
        MeasurementsRequest: MeasurementsSchema,
        RevokeRequest: RevokeSchema,
        TokenRequest: TokenSchema,
        Probe: ProbeSchema,
        AllocateAnswer,
        Topology,
        Problem,
      },
    },
  };
}
