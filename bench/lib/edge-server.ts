/**
 * A server for the edge benchmark, in a process of its own, serving one of bench/lib/edge-apps.ts.
 *   node --import tsx bench/lib/edge-server.ts edge|edge-keys|bare|floor PORT
 */
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { type BenchKind, benchApp } from './edge-apps.ts';

const [kind, portText] = process.argv.slice(2);
if (kind !== 'edge' && kind !== 'edge-keys' && kind !== 'bare' && kind !== 'floor') {
  process.stderr.write('usage: edge-server.ts edge|edge-keys|bare|floor PORT\n');
  process.exit(2);
}
const app = await benchApp(kind as BenchKind, (c) => getConnInfo(c).remote.address);
serve({ fetch: app.fetch, hostname: '127.0.0.1', port: Number(portText) }, () =>
  process.stdout.write('ready\n'),
);
