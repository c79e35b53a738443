/**
 * The Node edge's body reader (workers/body.ts): the bytes straight from @hono/node-server's
 * IncomingMessage (the `incoming` binding), counted as they arrive and refused past the limit,
 * without the WHATWG Request, Readable.toWeb stream and body stream that `c.req.text()` builds
 * for each request there. Without an IncomingMessage (app.fetch in tests, another adapter) it
 * falls back to the standard reader. Once past the limit it stops reading: node-server drains or
 * closes the rest after the 413 is written. Node only: the Workers bundle never imports this
 * file. Must not import relay/.
 */
import type { IncomingMessage } from 'node:http';
import { type BodyReader, webBodyReader } from './body.ts';
import { bodyTooLarge } from './problems.ts';

const BOM = 0xfeff;

const textOf = (chunks: readonly Buffer[], size: number): string => {
  const text = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)).toString('utf8');
  return text.charCodeAt(0) === BOM ? text.slice(1) : text;
};

export const nodeBodyReader: BodyReader = (c, limit) => {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  // Only a body nobody has started on: else the standard path, which shares node-server's stream.
  if (!incoming || typeof incoming.on !== 'function' || incoming.readableDidRead || incoming.readableEnded)
    return webBodyReader(c, limit);
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('aborted', onAborted);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        done();
        incoming.pause();
        reject(bodyTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(textOf(chunks, size));
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    const onAborted = () => onError(new Error('the client closed the request before its body ended'));
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('aborted', onAborted);
  });
};
