import { describe, expect, it } from 'vitest';
import { MemoryCallQualityStore } from '../../src/allocation/call-store.ts';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { createEdgeApp } from '../../workers/app.ts';
import { relayRecord } from '../support/relay-record.ts';

const NOW = 1_800_000_000_000;
const PARIS = relayRecord('eu-paris', '192.0.2.10', 48.86, 2.35, { tls: true });

/** An edge whose client address is whatever `ip.current` says. */
function edge(calls = new MemoryCallQualityStore(), random = () => 0.99) {
  const ip = { current: '203.0.113.7' };
  const app = createEdgeApp({
    relays: async () => [PARIS],
    learned: new MemoryLearnedStore(),
    secrets: () => ['edge-secret'],
    credentialTtlSeconds: 600,
    clientIp: () => ip.current,
    clientCountry: () => (ip.current.startsWith('203.') ? 'fr' : 'jp'),
    defaultPlace: { lat: 50, lon: 8 },
    now: () => NOW,
    random,
    calls,
  });
  const post = (path: string, body: unknown, type = 'application/json') =>
    app.request(path, {
      method: 'POST',
      headers: { 'content-type': type },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  return { app, ip, post, calls };
}

const lossy = { path: 'direct', rttMs: 90, loss: 0.04, jitterMs: 3 };

describe('POST /v1/calls/choice and /v1/calls/report', () => {
  it('learns from reports that direct calls between two networks are poor, and then tells them to relay', async () => {
    const { ip, post } = edge();
    // Ten calls between the same two networks, each reported by both sides after going direct.
    for (let k = 0; k < 10; k++) {
      const room = `room-${k}`;
      ip.current = '203.0.113.7';
      expect((await post('/v1/calls/choice', { room })).status).toBe(200);
      ip.current = '198.51.100.9';
      const second = await post('/v1/calls/choice', { room });
      expect(second.status).toBe(200);
      for (const addr of ['203.0.113.7', '198.51.100.9']) {
        ip.current = addr;
        const r = await post('/v1/calls/report', { room, ...lossy });
        expect(r.status).toBe(202);
        expect(await r.json()).toEqual({ accepted: true, path: 'direct', levels: 3 });
      }
    }
    ip.current = '203.0.113.99'; // another host of the same /24
    await post('/v1/calls/choice', { room: 'next' });
    ip.current = '198.51.100.1';
    const answer = (await (await post('/v1/calls/choice', { room: 'next' })).json()) as {
      path: string;
      forceRelay: boolean;
      reason: string;
      expected: { direct: { poor: number; calls: number } };
    };
    expect(answer.path).toBe('relay');
    expect(answer.forceRelay).toBe(true);
    expect(answer.reason).toBe('expected');
    expect(answer.expected.direct.poor).toBeGreaterThan(0.5);
    expect(answer.expected.direct.calls).toBeCloseTo(20, 0);
  });

  it('answers a lone participant from what is known overall, saying it has no peer yet', async () => {
    const { post } = edge();
    const r = await post('/v1/calls/choice', { room: 'alone' });
    expect(await r.json()).toMatchObject({
      room: 'alone',
      path: 'direct',
      forceRelay: false,
      reason: 'no peer yet',
    });
  });

  it('takes one report per participant and room, and none from a room without a peer', async () => {
    const { ip, post } = edge();
    const alone = await post('/v1/calls/report', { room: 'r', ...lossy });
    expect(alone.status).toBe(409);
    expect(((await alone.json()) as { title: string }).title).toBe('No peer');
    ip.current = '198.51.100.9';
    await post('/v1/calls/choice', { room: 'r' });
    ip.current = '203.0.113.7';
    expect((await post('/v1/calls/report', { room: 'r', ...lossy })).status).toBe(202);
    const again = await post('/v1/calls/report', { room: 'r', ...lossy });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { title: string }).title).toBe('Already reported');
  });

  it.each([
    [{ room: 'r', path: 'tunnel', rttMs: 1, loss: 0, jitterMs: 1 }, 422, /path must be/],
    [{ room: 'r', path: 'direct', rttMs: 1, loss: 2, jitterMs: 1 }, 422, /loss a fraction/],
    [{ path: 'direct', rttMs: 1, loss: 0, jitterMs: 1 }, 422, /room must be/],
    [{ room: 'a b', path: 'direct', rttMs: 1, loss: 0, jitterMs: 1 }, 422, /room must be/],
    ['{', 400, /JSON/],
    [[1], 422, /JSON object/],
  ])('refuses a bad report with problem JSON (%#)', async (body, status, detail) => {
    const { post } = edge();
    const r = await post('/v1/calls/report', body);
    expect(r.status).toBe(status);
    expect(r.headers.get('content-type')).toBe('application/problem+json');
    expect(((await r.json()) as { detail: string }).detail).toMatch(detail);
  });

  it('refuses bodies that are not JSON or too large', async () => {
    const { post } = edge();
    expect((await post('/v1/calls/choice', 'room=x', 'text/plain')).status).toBe(415);
    expect((await post('/v1/calls/choice', { room: 'x', pad: 'x'.repeat(20_000) })).status).toBe(413);
  });

  it('has no call routes without a call store', async () => {
    const app = createEdgeApp({
      relays: async () => [PARIS],
      learned: new MemoryLearnedStore(),
      secrets: () => ['s'],
      credentialTtlSeconds: 600,
      clientIp: () => '203.0.113.7',
      defaultPlace: { lat: 0, lon: 0 },
    });
    const r = await app.request('/v1/calls/choice', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"room":"x"}',
    });
    expect(r.status).toBe(404);
  });
});
