/**
 * The edge API's contract, one createRoute per operation: method, path, security, request body
 * and every answer with its schema (workers/schemas.ts, workers/answers.ts). The app registers
 * each in its OpenAPI registry and serves it with the same request schema: validJson(schema)
 * (workers/validation.ts) validates the body and types the handler; routes without a body go
 * through app.openapi. The OpenAPI document is generated from these definitions (workers/openapi.ts).
 * Runtime-free. Must not import relay/.
 */
import { createRoute, type RouteConfig, z } from '@hono/zod-openapi';
import {
  AllocateAnswer,
  CallChoiceAnswer,
  CallReportAnswer,
  Health,
  MeasurementsAnswer,
  Problem,
  Ready,
  RevokeAnswer,
  TokenAnswer,
  Topology,
} from './answers.ts';
import type { ProblemStatus } from './problems.ts';
import {
  AllocateRequest,
  CallChoiceRequest,
  CallReportRequest,
  MeasurementsRequest,
  RevokeRequest,
  TokenRequest,
} from './schemas.ts';

/** What each problem status means on this API, in the document's words. */
const PROBLEM_MEANING: Record<ProblemStatus, string> = {
  400: 'malformed JSON, or the edge cannot tell the client network',
  401: 'no valid API key, client token or admin token',
  403: 'the key or token does not allow this (origin, room, user)',
  404: 'no such route',
  409: 'conflicts with what the edge already has',
  413: 'the body is larger than the edge accepts (EDGE_MAX_BODY_BYTES)',
  415: 'the body is not application/json',
  422: 'the body does not match the schema, or names what this edge cannot serve',
  429: 'rate limit: wait Retry-After seconds',
  500: 'the edge is misconfigured or failed',
  503: 'the coordinator (directory, learned map, key store) is away, or no relay is usable: retry after Retry-After',
};

const problems = <const S extends readonly ProblemStatus[]>(...codes: S) =>
  Object.fromEntries(
    codes.map((code) => [
      code,
      {
        description: PROBLEM_MEANING[code],
        content: { 'application/problem+json': { schema: Problem } },
      },
    ]),
  ) as {
    [K in S[number]]: {
      description: string;
      content: { 'application/problem+json': { schema: typeof Problem } };
    };
  };

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

const body = <T extends z.ZodType>(schema: T, required = true) => ({
  required,
  content: { 'application/json': { schema } },
});

const keyed: Record<string, string[]>[] = [{ apiKey: [] }, { apiKeyHeader: [] }, { clientToken: [] }];
const keyOnly: Record<string, string[]>[] = [{ apiKey: [] }, { apiKeyHeader: [] }];
const admin: Record<string, string[]>[] = [{ admin: [] }];

export const allocateRoute = createRoute({
  method: 'post',
  path: '/v1/allocate',
  tags: ['clients'],
  summary:
    'iceServers for the chosen relay (more on request) and alternates, with short-lived TURN credentials',
  security: keyed,
  request: { body: body(AllocateRequest, false) },
  responses: {
    200: json(AllocateAnswer, 'ranked relays'),
    ...problems(400, 401, 403, 413, 415, 422, 429, 500, 503),
  },
});

export const measurementsRoute = createRoute({
  method: 'post',
  path: '/v1/measurements',
  tags: ['clients'],
  summary:
    "report RTTs the client measured with the probeTicket of the answer that asked for them; they feed its network's learned map",
  security: keyed,
  request: { body: body(MeasurementsRequest) },
  responses: {
    200: json(MeasurementsAnswer, 'what was learned'),
    ...problems(400, 401, 403, 413, 415, 422, 429, 503),
  },
});

export const tokensRoute = createRoute({
  method: 'post',
  path: '/v1/tokens',
  tags: ['clients'],
  summary:
    'a short-lived client token for a web page (API key only): scoped to a client id, a room and origins',
  description: 'Served when the edge has API keys (a tenant store).',
  security: keyOnly,
  request: { body: body(TokenRequest, false) },
  responses: {
    200: json(TokenAnswer, 'the token'),
    ...problems(400, 401, 403, 413, 415, 422, 429, 500, 503),
  },
});

export const callChoiceRoute = createRoute({
  method: 'post',
  path: '/v1/calls/choice',
  tags: ['calls'],
  summary: 'direct or relay for this call, from what earlier calls between these networks reported',
  description: 'Served when the edge has a call store (the Node edge with Redis).',
  security: keyed,
  request: { body: body(CallChoiceRequest) },
  responses: {
    200: json(CallChoiceAnswer, 'the choice'),
    ...problems(400, 401, 413, 415, 422, 429, 503),
  },
});

export const callReportRoute = createRoute({
  method: 'post',
  path: '/v1/calls/report',
  tags: ['calls'],
  summary: 'what the call measured on the path it took; once per participant and room',
  description: 'Served when the edge has a call store (the Node edge with Redis).',
  security: keyed,
  request: { body: body(CallReportRequest) },
  responses: {
    202: json(CallReportAnswer, 'filed'),
    ...problems(400, 401, 409, 413, 415, 422, 429, 503),
  },
});

export const revokeRoute = createRoute({
  method: 'post',
  path: '/v1/credentials/revoke',
  tags: ['operators'],
  summary:
    'revoke a TURN username, a client or a tenant (admin token): relays refuse its credentials and end its allocations',
  description: 'Served when the edge has an admin token and a revocation store.',
  security: admin,
  request: { body: body(RevokeRequest) },
  responses: { 200: json(RevokeAnswer, 'revoked'), ...problems(401, 413, 415, 422, 503) },
});

export const healthRoute = createRoute({
  method: 'get',
  path: '/healthz',
  tags: ['operators'],
  summary: 'the process answers',
  responses: { 200: json(Health, 'alive') },
});

export const readyRoute = createRoute({
  method: 'get',
  path: '/readyz',
  tags: ['operators'],
  summary: 'the directory can be read: relays known and whether the copy is stale',
  responses: { 200: json(Ready, 'ready'), ...problems(503) },
});

/** Served by workers/dashboard.ts; documented here so the document lists every public route. */
export const documentedOnly: RouteConfig[] = [
  createRoute({
    method: 'get',
    path: '/v1/admin/topology',
    tags: ['operators'],
    summary:
      'relays, links, paths, recent changes and allocation decisions (admin token or dashboard session)',
    security: admin,
    responses: { 200: json(Topology, 'the backbone now'), ...problems(401, 503) },
  }),
  createRoute({
    method: 'get',
    path: '/v1/admin/topology/events',
    tags: ['operators'],
    summary: 'the topology as server-sent events: `topology` (the whole body) and `changes`',
    security: admin,
    responses: {
      200: { description: 'an event stream', content: { 'text/event-stream': { schema: z.string() } } },
      ...problems(401, 503),
    },
  }),
  createRoute({
    method: 'get',
    path: '/metrics',
    tags: ['operators'],
    summary: 'Prometheus metrics of this edge process',
    responses: {
      200: { description: 'text exposition format 0.0.4', content: { 'text/plain': { schema: z.string() } } },
    },
  }),
];
