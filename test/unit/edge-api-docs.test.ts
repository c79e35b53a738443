import { describe, expect, it } from 'vitest';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { escapeHtml, renderApiDocs } from '../../workers/api-docs.ts';
import { createEdgeApp } from '../../workers/app.ts';

const app = () =>
  createEdgeApp({
    relays: async () => [],
    learned: new MemoryLearnedStore(),
    secrets: () => ['s'],
    credentialTtlSeconds: 600,
    clientIp: () => undefined,
    defaultPlace: { lat: 0, lon: 0 },
  });

describe('GET /docs', () => {
  it('serves one page listing every operation of the document, its fields and its problems, under a CSP without scripts', async () => {
    const edge = app();
    const doc = (await (await edge.request('/v1/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    const res = await edge.request('/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'/);
    const html = await res.text();
    for (const [path, item] of Object.entries(doc.paths))
      for (const method of Object.keys(item))
        expect(html).toContain(`${method.toUpperCase()}</span> <code>${path}</code>`);
    // Request fields with their limits, answers, and the problem statuses.
    expect(html).toContain('<code>probeTicket</code>');
    expect(html).toContain('matches <code>^[A-Za-z0-9._-]{1,64}$</code>');
    expect(html).toContain('1..5');
    expect(html).toContain('id="schema-AllocateAnswer"');
    expect(html).toContain('<code>ice-stun</code>');
    expect(html).toMatch(/<span class="status err">415<\/span><\/td><td>the body is not application\/json/);
    // Self-contained: nothing loaded from elsewhere, nothing run.
    expect(html).not.toMatch(/<script|<link|src=|@import|https?:\/\/(?!app\.example\.com)/);
  });

  it('escapes what the document says, so a description cannot become markup', () => {
    expect(escapeHtml(`<img src=x onerror="a('b')">&`)).toBe(
      '&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt;&amp;',
    );
    const html = renderApiDocs({
      openapi: '3.1.0',
      info: { title: '<b>t</b>' },
      paths: { '/x': { get: { summary: '<script>alert(1)</script>', responses: {} } } },
    });
    expect(html).not.toContain('<script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('&lt;b&gt;t&lt;/b&gt;');
  });
});
