import { describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { validate } from '../../workers/schema.ts';
import { AllocateSchema, MeasurementsSchema, parseAllocate } from '../../workers/schemas.ts';

describe('request schemas', () => {
  it.each([
    [{}, undefined],
    [
      { probes: [{ relay: 'eu-1', rttMs: 12.5 }], region: 'eu', room: 'r', location: { lat: 1, lon: 2 } },
      undefined,
    ],
    [[], 'the body must be a JSON object'],
    [
      { prob: [] },
      'unknown field prob (known: probes, probeTicket, region, room, user, location, relays, transports, ttl)',
    ],
    [{ probes: {} }, 'probes must be an array'],
    [{ probes: [{ relay: 'eu 1', rttMs: 1 }] }, 'probes[0].relay must match ^[A-Za-z0-9._-]{1,64}$'],
    [{ probes: [{ relay: 'eu-1', rttMs: 20_000 }] }, 'probes[0].rttMs must be at most 10000'],
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
    [
      { probes: Array.from({ length: 65 }, () => ({ relay: 'a', rttMs: 1 })) },
      'probes may hold at most 64 items',
    ],
  ])('checks an allocate body %#', (body, problem) => {
    expect(validate(AllocateSchema, body)).toBe(problem);
  });

  it('needs at least one measurement', () => {
    expect(validate(MeasurementsSchema, { probes: [] })).toBe('probes must hold at least 1 item(s)');
    expect(validate(MeasurementsSchema, {})).toBe('probes is required');
  });

  it('fills the optional fields of an allocate body', () => {
    expect(parseAllocate({})).toEqual({
      ok: true,
      value: {
        probes: [],
        region: undefined,
        room: undefined,
        location: undefined,
        relays: 1,
        transports: ['udp', 'tcp', 'tls'],
        ttl: undefined,
      },
    });
  });
});

describe('GET /v1/openapi.json', () => {
  it('publishes the very schemas that validate the requests', async () => {
    const app = createEdgeApp({
      relays: async () => [],
      learned: new MemoryLearnedStore(),
      secrets: () => ['s'],
      credentialTtlSeconds: 600,
      clientIp: () => undefined,
      defaultPlace: { lat: 0, lon: 0 },
    });
    const doc = (await (await app.request('/v1/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, unknown>;
      components: { schemas: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual([
      '/v1/allocate',
      '/v1/measurements',
      '/v1/credentials/revoke',
      '/v1/tokens',
      '/v1/admin/topology',
      '/v1/admin/topology/events',
    ]);
    expect(doc.components.schemas.AllocateRequest).toEqual(JSON.parse(JSON.stringify(AllocateSchema)));
  });
});
