/**
 * How the edge reads a request body: as text, counting bytes while they stream in and refusing
 * the body (413, `bodyTooLarge`) as soon as it passes the limit, whether or not it came with a
 * Content-Length (the app checks that header before anything reads; workers/app.ts). Each
 * platform fills `BodyReader` with its cheapest way: the standard Request stream here (Workers,
 * `app.fetch` in tests), the socket's IncomingMessage on Node (workers/node-body.ts), which spares
 * building a WHATWG Request and two web streams per request. Either way the text is UTF-8 with a
 * leading byte order mark dropped, as `Request.text()` decodes it. Runtime-free: the Workers
 * bundle imports it. Must not import node:* or relay/.
 */
import type { Context } from 'hono';
import { bodyTooLarge } from './problems.ts';

/** The body of `c` as text; throws bodyTooLarge (an EdgeProblem, 413) past `limit` bytes. */
export type BodyReader = (c: Context, limit: number) => Promise<string>;

/** Where validJson finds the app's reader (workers/app.ts sets it per request). */
export const BODY_READER = 'readBody';

/** The reader bound to one request and the app's limit. */
export type BoundBodyReader = () => Promise<string>;

const decoder = new TextDecoder(); // drops a leading BOM, as Request.text() does

/** Whether a Content-Length header says more than `limit` bytes (a malformed one is left to the stream count). */
export function declaredTooLarge(contentLength: string | undefined, limit: number): boolean {
  return contentLength !== undefined && /^\d+$/.test(contentLength) && Number(contentLength) > limit;
}

/** The standard Request body stream, read chunk by chunk and cancelled past the limit. */
export const webBodyReader: BodyReader = async (c, limit) => {
  const body = c.req.raw.body;
  if (!body) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      void reader.cancel().catch(() => {});
      throw bodyTooLarge(limit);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return decoder.decode(chunks[0]);
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return decoder.decode(all);
};
