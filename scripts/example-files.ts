/**
 * The files `npm start` serves beside the edge, on the edge's origin: the two-party call example
 * (examples/two-party/) at /examples/two-party/, and the built SDK (sdk/dist, `npm run build:sdk`)
 * at /sdk/, where the example's import map points. GET and HEAD only; a name outside those two
 * folders (`..`, encoded or not) is not found. Everything else goes to the edge. A development
 * convenience of the local stack, not part of the production edge.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.css': 'text/css; charset=utf-8',
};

/** URL prefix to folder; the example's index is its folder's index.html. */
export function exampleMounts(root: string): Record<string, string> {
  return {
    '/examples/two-party/': join(root, 'examples', 'two-party'),
    '/sdk/': join(root, 'sdk', 'dist'),
  };
}

/** The response for a request to one of the mounts, or undefined when it is not theirs. */
export function serveExampleFile(req: Request, mounts: Record<string, string>): Response | undefined {
  const { pathname } = new URL(req.url);
  if (pathname === '/examples/two-party')
    return Response.redirect(`${new URL(req.url).origin}${pathname}/`, 308);
  const prefix = Object.keys(mounts).find((p) => pathname.startsWith(p));
  if (!prefix) return undefined;
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return new Response('method not allowed\n', { status: 405 });
  const dir = mounts[prefix]!;
  let rel: string;
  try {
    rel = decodeURIComponent(pathname.slice(prefix.length)) || 'index.html';
  } catch {
    return new Response('not found\n', { status: 404 });
  }
  const file = normalize(join(dir, rel));
  const type = TYPES[extname(file)];
  if (!file.startsWith(dir + sep) || !type || !existsSync(file) || !statSync(file).isFile())
    return new Response('not found\n', { status: 404 });
  return new Response(req.method === 'HEAD' ? null : readFileSync(file), {
    headers: { 'content-type': type, 'cache-control': 'no-store' },
  });
}
