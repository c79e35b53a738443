/**
 * The OpenAPI 3.1 document of the edge, built from the same schemas that validate requests, so
 * the two cannot drift apart. Served at GET /v1/openapi.json.
 */
import type { Schema } from './schema.ts';
import { AllocateSchema, MeasurementsSchema, ProbeSchema, RevokeSchema } from './schemas.ts';

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

const AllocateAnswer: Schema = {
  type: 'object',
  properties: {
    iceServers: { type: 'array', items: IceServer },
    relay: RankedRelay,
    alternates: { type: 'array', items: RankedRelay },
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
    probeTargets: {
      type: 'array',
      items: {
        type: 'object',
        properties: { id: { type: 'string' }, stun: { type: 'string' }, ping: { type: 'string' } },
      },
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
          summary: 'iceServers for the best relay and alternates, with short-lived TURN credentials',
          security: [{ apiKey: [] }, { apiKeyHeader: [] }],
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
          summary: "report RTTs the client measured; they feed its network's learned map",
          security: [{ apiKey: [] }, { apiKeyHeader: [] }],
          requestBody: body('MeasurementsRequest'),
          responses: {
            '200': { description: 'accepted' },
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
    },
    components: {
      securitySchemes: {
        admin: { type: 'http', scheme: 'bearer' },
        apiKey: { type: 'http', scheme: 'bearer', description: 'an API key, rbk_<id>_<secret>' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
      },
      schemas: {
        AllocateRequest: AllocateSchema,
        MeasurementsRequest: MeasurementsSchema,
        RevokeRequest: RevokeSchema,
        Probe: ProbeSchema,
        AllocateAnswer,
        Problem,
      },
    },
  };
}
