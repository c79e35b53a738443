/**
 * The Node edge (workers/node.ts) and the key CLI (scripts/keys.ts) as child processes, the way
 * an operator runs them: started with an environment, ready when the edge prints its ready line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { freePort } from './ports.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface NodeEdge {
  readonly base: string;
  readonly child: ChildProcess;
  /** Everything the edge wrote to stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

export async function startNodeEdge(env: Record<string, string>): Promise<NodeEdge> {
  const port = await freePort('tcp');
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/node.ts'], {
    cwd: ROOT,
    env: { ...process.env, EDGE_PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`edge did not start: ${stderr}`)), 20_000);
    child.once('exit', (code) => reject(new Error(`edge exited ${code}: ${stderr}`)));
    child.stdout!.on('data', (d: Buffer) => {
      if (d.toString().includes('"event":"ready"')) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  return {
    base: `http://127.0.0.1:${port}`,
    child,
    stderr: () => stderr,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** Runs a process of this repo to its end: exit code and output. */
export function runToExit(
  args: string[],
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} kept running`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
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
