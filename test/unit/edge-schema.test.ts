import type { z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { AllocateRequest, MeasurementsRequest, RevokeRequest } from '../../workers/schemas.ts';
import { firstProblem } from '../../workers/validation.ts';

const problemOf = (schema: z.ZodType, body: unknown): string | undefined => {
  const r = schema.safeParse(body);
  return r.success ? undefined : firstProblem(r.error);
};

const app = () =>
  createEdgeApp({
    relays: async () => [],
    learned: new MemoryLearnedStore(),
    secrets: () => ['s'],
    credentialTtlSeconds: 600,
    clientIp: () => undefined,
    defaultPlace: { lat: 0, lon: 0 },
  });

describe('request schemas', () => {
  it.each([
    [{}, undefined],
    [
      { probes: [{ relay: 'eu-1', rttMs: 12.5 }], region: 'eu', room: 'r', location: { lat: 1, lon: 2 } },
      undefined,
    ],
    [{ probes: [{ relay: 'eu-1', rttMs: 12.5, method: 'ice-stun' }] }, undefined],
    [[], 'the body must be a JSON object'],
    [
      { prob: [] },
      'unknown field prob (known: probes, probeTicket, region, room, user, location, relays, transports, ttl)',
    ],
    [{ probes: {} }, 'probes must be an array'],
    [{ probes: [{ relay: 'eu 1', rttMs: 1 }] }, 'probes[0].relay must match ^[A-Za-z0-9._-]{1,64}$'],
    [{ probes: [{ relay: 'eu-1', rttMs: 20_000 }] }, 'probes[0].rttMs must be at most 10000'],
    [
      { probes: [{ relay: 'eu-1', rttMs: 1, method: 'carrier-pigeon' }] },
      'probes[0].method must be one of ice-stun, https, http, stun',
    ],
    [{ probes: [{ relay: 'eu-1' }] }, 'rttMs is required'],
    [
      {
        probes: [
          { relay: 'eu-1', rttMs: 8, method: 'ice-stun' },
          { relay: 'eu-2', rttMs: 9, method: 'https' },
        ],
      },
      undefined,
    ],
    [
      { probes: [{ relay: 'eu-1', rttMs: 8, method: 'carrier-pigeon' }] },
      'probes[0].method must be one of ice-stun, https, http, stun',
    ],
    [{ location: { lat: 91, lon: 0 } }, 'location.lat must be at most 90'],
    [{ region: '' }, 'region must have at least 1 character(s)'],
    [{ region: 'x'.repeat(65) }, 'region may have at most 64 characters'],
    [
      { probes: Array.from({ length: 65 }, () => ({ relay: 'a', rttMs: 1 })) },
      'probes may hold at most 64 items',
    ],
  ])('checks an allocate body %#', (body, problem) => {
    expect(problemOf(AllocateRequest, body)).toBe(problem);
  });

  it('needs at least one measurement', () => {
    expect(problemOf(MeasurementsRequest, { probes: [] })).toBe('probes must hold at least 1 item(s)');
    expect(problemOf(MeasurementsRequest, {})).toBe('probes is required');
  });

  it('says which revocation a body must name', () => {
    expect(problemOf(RevokeRequest, { tenant: 'acme' })).toBeUndefined();
    expect(problemOf(RevokeRequest, {})).toBe('give either username or tenant (with or without client)');
  });

  it('fills the optional fields of an allocate body', () => {
    expect(AllocateRequest.parse({})).toEqual({ probes: [], relays: 1, transports: ['udp', 'tcp', 'tls'] });
  });
});

describe('GET /v1/openapi.json', () => {
  it('is generated from the routes the app validates with, every operation listed', async () => {
    const res = await app().request('/v1/openapi.json');
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: unknown; responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, { properties?: Record<string, { enum?: string[] }> }> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/healthz',
        '/readyz',
        '/metrics',
        '/v1/allocate',
        '/v1/measurements',
        '/v1/credentials/revoke',
        '/v1/tokens',
        '/v1/calls/choice',
        '/v1/calls/report',
        '/v1/admin/topology',
        '/v1/admin/topology/events',
      ].sort(),
    );
    const allocate = doc.paths['/v1/allocate']!.post!;
    expect(allocate.requestBody).toMatchObject({
      content: { 'application/json': { schema: { $ref: '#/components/schemas/AllocateRequest' } } },
    });
    expect(Object.keys(allocate.responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '413', '415', '422', '429', '503']),
    );
    expect(allocate.responses['422']).toMatchObject({
      content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
    });
    expect(doc.components.schemas.Probe!.properties!.method!.enum).toEqual([
      'ice-stun',
      'https',
      'http',
      'stun',
    ]);
    // The very schema that validates: JSON Schema from the same zod object.
    expect(Object.keys(doc.components.schemas.AllocateRequest!.properties!)).toEqual(
      Object.keys(AllocateRequest.shape),
    );
  });

  it('answers a body the schema refuses with the sentence the schema gives, as problem JSON', async () => {
    const res = await app().request('/v1/allocate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ probes: [{ relay: 'eu-1', rttMs: 20_000 }] }),
    });
    expect(res.status).toBe(422);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toEqual({
      type: 'about:blank',
      title: 'Invalid request',
      status: 422,
      detail: 'probes[0].rttMs must be at most 10000',
    });
  });
});
