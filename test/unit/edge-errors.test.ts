import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { createEdgeApp, type EdgeDeps } from '../../workers/app.ts';
import { webBodyReader } from '../../workers/body.ts';
import { nodeBodyReader } from '../../workers/node-body.ts';
import { relayRecord } from '../support/relay-record.ts';

const PARIS = relayRecord('eu-paris', '192.0.2.10', 48.86, 2.35);
const INTERNAL = 'connect ECONNREFUSED 10.1.2.3:6379 (rb:{dir}:relays)';

function edge(over: Partial<EdgeDeps> = {}) {
  const reported: string[] = [];
  const app = createEdgeApp({
    relays: async () => [PARIS],
    learned: new MemoryLearnedStore(),
    secrets: () => ['edge-secret'],
    credentialTtlSeconds: 600,
    clientIp: () => '203.0.113.77',
    defaultPlace: { lat: 50, lon: 8 },
    report: (err) => reported.push(String((err as Error).message)),
    ...over,
  });
  return { app, reported };
}

/** A body of `total` bytes in 64 KiB chunks that counts how much of it was pulled. */
function countedBody(total: number) {
  const chunk = new Uint8Array(65_536).fill(0x20);
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(ctrl) {
      if (pulled >= total) return ctrl.close();
      pulled += chunk.length;
      ctrl.enqueue(chunk);
    },
  });
  return { stream, pulled: () => pulled };
}

const problemOf = async (res: Response) => {
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  return (await res.json()) as { title: string; status: number; detail: string };
};

describe('request bodies', () => {
  it('refuses an 80 MB streamed body after reading no more than the limit', async () => {
    const { app } = edge();
    const body = countedBody(80 * 1024 * 1024);
    const res = await app.request('/v1/allocate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body.stream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect((await problemOf(res)).title).toBe('Body too large');
    expect(body.pulled()).toBeLessThan(16_384 + 2 * 65_536);
  });

  it('refuses a body whose Content-Length is over the limit without reading it', async () => {
    const { app } = edge();
    const body = countedBody(80 * 1024 * 1024);
    const res = await app.request('/v1/measurements', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(80 * 1024 * 1024) },
      body: body.stream,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(body.pulled()).toBeLessThanOrEqual(2 * 65_536);
  });
});

/** node-server's binding: the socket's request stream, `total` bytes in 64 KiB chunks, counted. */
function countedIncoming(total: number, chunk = Buffer.alloc(65_536, 0x20)) {
  let pulled = 0;
  const incoming = Readable.from(
    (function* () {
      while (pulled < total) {
        const part = chunk.subarray(0, Math.min(chunk.length, total - pulled));
        pulled += part.length;
        yield part;
      }
    })(),
    { objectMode: false },
  );
  return { incoming, pulled: () => pulled };
}

const post = (path: string, headers: Record<string, string> = {}) =>
  new Request(`http://edge.test${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
  });

describe('request bodies on Node, read from the socket (workers/node-body.ts)', () => {
  it('refuses an 80 MB streamed body after reading no more than the limit', async () => {
    const { app } = edge({ readBody: nodeBodyReader });
    const body = countedIncoming(80 * 1024 * 1024);
    const res = await app.fetch(post('/v1/allocate'), { incoming: body.incoming });
    expect(res.status).toBe(413);
    expect((await problemOf(res)).title).toBe('Body too large');
    expect(body.pulled()).toBeLessThan(16_384 + 2 * 65_536);
  });

  it('refuses a body whose Content-Length is over the limit without reading it', async () => {
    const { app } = edge({ readBody: nodeBodyReader });
    const body = countedIncoming(80 * 1024 * 1024);
    const res = await app.fetch(post('/v1/measurements', { 'content-length': String(80 * 1024 * 1024) }), {
      incoming: body.incoming,
    });
    expect(res.status).toBe(413);
    expect(body.pulled()).toBe(0);
  });

  it('decodes a body in pieces, with a byte order mark, as the standard reader does', async () => {
    const text = JSON.stringify({ room: 'caf\u00e9 \u{1f600}' });
    const bytes = Buffer.from(`\ufeff${text}`, 'utf8');
    // Cut inside the two-byte é and the four-byte emoji: bytes are joined before decoding.
    const cuts = [bytes.indexOf(0xc3) + 1, bytes.indexOf(0xf0) + 2];
    const parts = [bytes.subarray(0, cuts[0]), bytes.subarray(cuts[0], cuts[1]), bytes.subarray(cuts[1])];
    const fromSocket = await nodeBodyReader({ env: { incoming: Readable.from(parts) } } as never, 16_384);
    const standard = await webBodyReader(
      { req: { raw: new Request('http://edge.test/', { method: 'POST', body: bytes }) } } as never,
      16_384,
    );
    expect(fromSocket).toBe(text);
    expect(standard).toBe(text);
  });

  it('answers malformed JSON with 400 and an empty body as {}', async () => {
    const { app } = edge({ readBody: nodeBodyReader });
    const bad = await app.fetch(post('/v1/allocate'), { incoming: Readable.from([Buffer.from('{"loc')]) });
    expect(bad.status).toBe(400);
    expect((await problemOf(bad)).title).toBe('Malformed JSON');
    const empty = await app.fetch(post('/v1/allocate'), { incoming: Readable.from([]) });
    expect(empty.status).toBe(200);
  });
});

describe('problem bodies', () => {
  it('never carry a coordinator error message; the operator gets it through report', async () => {
    const { app, reported } = edge({ relays: async () => Promise.reject(new Error(INTERNAL)) });
    for (const path of ['/v1/allocate', '/v1/measurements']) {
      const res = await app.request(path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ probes: [{ relay: 'eu-paris', rttMs: 5 }] }),
      });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      const text = JSON.stringify(await problemOf(res));
      expect(text).not.toContain('ECONNREFUSED');
      expect(text).not.toContain('10.1.2.3');
    }
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(503);
    expect(await ready.text()).not.toContain('ECONNREFUSED');
    expect(reported).toEqual([INTERNAL, INTERNAL, INTERNAL]);
  });

  it('answer an unexpected failure with a bare 500 from the one error handler', async () => {
    const { app, reported } = edge({
      secrets: () => {
        throw new TypeError('cannot read properties of undefined (reading "split")');
      },
    });
    const res = await app.request('/v1/allocate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(500);
    const p = await problemOf(res);
    expect(p.title).toBe('Internal error');
    expect(p.detail).not.toContain('split');
    expect(reported).toEqual(['cannot read properties of undefined (reading "split")']);
  });

  it('say only that malformed JSON is malformed, not what the parser said', async () => {
    const { app } = edge();
    const res = await app.request('/v1/allocate', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"probes": [',
    });
    expect(res.status).toBe(400);
    expect(await problemOf(res)).toMatchObject({
      title: 'Malformed JSON',
      detail: 'the body is not valid JSON',
    });
  });
});
