/**
 * node-turn 0.0.6, the reference peer of DESIGN.md, in a child process (see node-turn-child.cjs).
 */
import { spawn } from 'node:child_process';

export interface NodeTurnServer {
  readonly pid: number;
  stop(): Promise<void>;
}

const CHILD = new URL('./node-turn-child.cjs', import.meta.url).pathname;

export function startNodeTurn(opts: {
  listen: string;
  port: number;
  users: Record<string, string>;
  realm?: string;
  minPort?: number;
  maxPort?: number;
  /** Default and maximum allocation lifetime in seconds (node-turn's own option names are misspelt). */
  lifetime?: number;
}): Promise<NodeTurnServer> {
  const child = spawn(process.execPath, [CHILD, JSON.stringify({ realm: 'node-turn.test', ...opts })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node-turn did not start: ${err}`)), 10_000);
    child.stdout.on('data', (c: Buffer) => {
      if (c.toString().includes('node-turn ready')) {
        clearTimeout(timer);
        resolve({ pid: child.pid!, stop });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node-turn exited with ${code}: ${err}`));
    });
  });
}
