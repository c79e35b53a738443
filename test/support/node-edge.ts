/**
 * The Node edge (workers/node.ts) and the key CLI (scripts/keys.ts) as child processes, the way
 * an operator runs them: started with an environment, ready when the edge prints its ready line.
 */
import type { ChildProcess } from 'node:child_process';
import { freePort } from './ports.ts';
import { runToExit, startUntilReady } from './process.ts';

export { runToExit } from './process.ts';

export interface NodeEdge {
  readonly base: string;
  readonly child: ChildProcess;
  /** Everything the edge wrote so far, stdout and stderr. */
  output(): string;
  stop(): Promise<void>;
}

export async function startNodeEdge(env: Record<string, string>): Promise<NodeEdge> {
  const port = await freePort('tcp');
  const { child, output, exited } = await startUntilReady(
    ['workers/node.ts'],
    { EDGE_PORT: String(port), ...env },
    'edge',
  );
  return {
    base: `http://127.0.0.1:${port}`,
    child,
    output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** `npm run keys -- ...args`: the JSON lines it printed; throws on a non-zero exit. */
export async function keysCli(
  args: string[],
  redisUrl: string,
  prefix: string,
): Promise<Record<string, unknown>[]> {
  const r = await runToExit(['scripts/keys.ts', ...args], { REDIS_URL: redisUrl, EDGE_REDIS_PREFIX: prefix });
  if (r.code !== 0) throw new Error(`keys ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
