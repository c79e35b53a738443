/**
 * This repository's programs as child processes, the way an operator runs them
 * (`node --import tsx <script> ...`, from the repository root; or the built JavaScript with plain
 * `node`; optionally inside a network namespace): started until they print their ready line, or
 * run to their exit.
 */
import { type ChildProcess, spawn } from 'node:child_process';

const ROOT = new URL('../..', import.meta.url).pathname;

export interface LaunchOptions {
  /**
   * Run built JavaScript from this directory with plain `node` (no TypeScript loader, no
   * NODE_OPTIONS); `args` then name `.js` files under it. Without it: the sources through tsx.
   */
  readonly built?: string;
  /** Run inside this network namespace (`ip netns exec NS node ...`; needs root). */
  readonly netns?: string;
  /** How long `startUntilReady` waits for the ready line (20 s). */
  readonly readyMs?: number;
  /** Give the child a stdin pipe (for programs driven line by line); otherwise it reads nothing. */
  readonly stdin?: boolean;
  /** The Node binary to run (test/support/newer-node.ts); the one running the tests by default. */
  readonly node?: string;
  /** Flags for node itself, before the script (`--cpu-prof`, which NODE_OPTIONS does not take). */
  readonly nodeArgs?: readonly string[];
}

function start(args: readonly string[], env: Record<string, string>, o: LaunchOptions = {}): ChildProcess {
  const bin = o.node ?? process.execPath;
  const flags = o.nodeArgs ?? [];
  const node = o.built ? [bin, ...flags, ...args] : [bin, ...flags, '--import', 'tsx', ...args];
  const argv = o.netns ? ['ip', 'netns', 'exec', o.netns, ...node] : node;
  return spawn(argv[0]!, argv.slice(1), {
    cwd: o.built ?? ROOT,
    env: { ...process.env, ...(o.built ? { NODE_OPTIONS: '' } : {}), ...env },
    stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
}

export interface Started {
  readonly child: ChildProcess;
  /** The JSON of the line with `"event":"ready"`. */
  readonly ready: unknown;
  /** Everything it wrote so far, stdout and stderr. */
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
}

/** Starts `args` and waits up to 20 s (`o.readyMs`) for its ready line; rejects if it exits first. */
export function startUntilReady(
  args: readonly string[],
  env: Record<string, string>,
  what: string,
  o: LaunchOptions = {},
): Promise<Started> {
  const child = start(args, env, o);
  let out = '';
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${out}`)), o.readyMs ?? 20_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'));
      if (line) {
        clearTimeout(timer);
        resolve({ child, ready: JSON.parse(line), output: () => out, exited });
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited with ${code}:\n${out}`));
    });
  });
}

/** Runs `args` to its end: exit code and output; after `timeoutMs` it is killed and this rejects. */
export function runToExit(
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs = 20_000,
  o: LaunchOptions = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = start(args, env, o);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
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
