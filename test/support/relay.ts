/**
 * Starts our relay for integration tests: in-process (to look at its engine and counters) or as a
 * child process through the real CLI (to test flags, exit codes and signals).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { parseRelayConfig } from '../../relay/config.ts';
import { TurnRelay } from '../../relay/turn-relay.ts';

export async function startInProcessRelay(args: string[]): Promise<TurnRelay> {
  const parsed = parseRelayConfig(args, {}, { fileExists: existsSync });
  if (!parsed.ok) throw new Error(parsed.error);
  if (!('config' in parsed)) throw new Error('help requested');
  const relay = new TurnRelay(parsed.config, {
    logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  });
  await relay.start();
  return relay;
}

export interface RelayChild {
  readonly child: ChildProcess;
  readonly ready: {
    udp: { port: number }[];
    tcp: { port: number }[];
    tls: { port: number }[];
    httpPort: number;
  };
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

const ROOT = new URL('../..', import.meta.url).pathname;
const MAIN = new URL('../../relay/main.ts', import.meta.url).pathname;

/** Runs `relay/main.ts` with `args` and waits for its ready line. */
export function startRelayProcess(args: string[], env: Record<string, string> = {}): Promise<RelayChild> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`relay did not start:\n${out}`)), 20_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'));
      if (line) {
        clearTimeout(timer);
        resolve({
          child,
          ready: JSON.parse(line),
          output: () => out,
          exited,
          kill: (s = 'SIGTERM') => void child.kill(s),
        });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`relay exited with ${code}:\n${out}`));
    });
  });
}

/** Runs the relay CLI to completion (for --help and bad flags). */
export function runRelayCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
