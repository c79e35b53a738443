/**
 * Starts our relay for integration tests: in-process (to look at its engine and counters) or as a
 * child process through the real CLI (to test flags, exit codes and signals).
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pino } from 'pino';
import { parseRelayConfig } from '../../relay/config.ts';
import { TurnRelay } from '../../relay/turn-relay.ts';
import { type LaunchOptions, runToExit, startUntilReady } from './process.ts';

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
    /** The public ping ports, with --ping-port and --ping-tls-port. */
    pingPort?: number;
    pingTlsPort?: number;
  };
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

const MAIN = new URL('../../relay/main.ts', import.meta.url).pathname;

/** Runs `relay/main.ts` with `args` and waits for its ready line. */
export async function startRelayProcess(
  args: string[],
  env: Record<string, string> = {},
  launch: LaunchOptions = {},
): Promise<RelayChild> {
  const started = await startUntilReady([MAIN, ...args], env, 'relay', launch);
  const { child } = started;
  return {
    child,
    ready: started.ready as RelayChild['ready'],
    output: started.output,
    exited: started.exited,
    kill: (s = 'SIGTERM') => void child.kill(s),
  };
}

/** Runs the relay CLI to completion (for --help and bad flags). */
export function runRelayCli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runToExit([MAIN, ...args], env);
}
