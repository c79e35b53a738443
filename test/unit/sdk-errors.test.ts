/**
 * The SDK's error parts that need no socket: Retry-After in both of its forms (RFC 9110 §10.2.3),
 * and the EdgeError made from an answer whose body is problem JSON, plain text or nothing.
 * test/integration/sdk-errors.test.ts covers the same against a real edge and real sockets.
 */
import { describe, expect, it } from 'vitest';
import { EdgeError, fetchError, httpError, parseRetryAfter } from '../../sdk/errors.ts';

const NOW = Date.parse('2026-11-30T12:00:00Z');

describe('SDK errors (pure parts)', () => {
  it('reads Retry-After as seconds or as an HTTP-date, and nothing else', () => {
    expect(parseRetryAfter('5', NOW)).toBe(5);
    expect(parseRetryAfter(' 120 ', NOW)).toBe(120);
    expect(parseRetryAfter('Mon, 30 Nov 2026 12:00:30 GMT', NOW)).toBe(30);
    expect(parseRetryAfter('Mon, 30 Nov 2026 11:00:00 GMT', NOW)).toBe(0);
    for (const bad of [null, undefined, '', '-1', '1.5', 'soon', '2026-11-30'])
      expect(parseRetryAfter(bad, NOW), String(bad)).toBeUndefined();
  });

  it('keeps the fields of a problem body and the status alone otherwise', async () => {
    const problem = await httpError(
      new Response(
        JSON.stringify({ type: 'https://e.example/limit', title: 'Too many', detail: 'slow down' }),
        {
          status: 429,
          headers: { 'content-type': 'application/problem+json', 'retry-after': '7' },
        },
      ),
      'allocate',
    );
    expect(problem).toBeInstanceOf(EdgeError);
    expect(problem).toMatchObject({
      code: 'ERR_EDGE_HTTP',
      status: 429,
      type: 'https://e.example/limit',
      title: 'Too many',
      detail: 'slow down',
      retryAfter: 7,
    });
    expect(problem.message).toBe('allocate: edge answered 429 Too many: slow down');
    const text = await httpError(new Response('<html>bad gateway</html>', { status: 502 }), 'allocate');
    expect(text).toMatchObject({ status: 502, type: undefined, title: undefined, retryAfter: undefined });
    expect(text.message).toBe('allocate: edge answered 502');
  });

  it("tells the caller's abort from a timeout and from the network", () => {
    const caller = new AbortController();
    const timeout = new DOMException('timed out', 'TimeoutError');
    expect(fetchError(timeout, 'x', caller.signal).code).toBe('ERR_EDGE_TIMEOUT');
    expect(fetchError(new TypeError('fetch failed'), 'x', undefined).code).toBe('ERR_EDGE_NETWORK');
    caller.abort(new Error('left'));
    const aborted = fetchError(timeout, 'x', caller.signal);
    expect(aborted.code).toBe('ERR_EDGE_ABORTED');
    expect((aborted.cause as Error).message).toBe('left');
  });
});
