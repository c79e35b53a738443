/**
 * node-turn 0.0.6, the reference peer of DESIGN.md, in a child process (see node-turn-child.cjs).
 * It speaks UDP only, so only `port` on UDP is used. What it does and does not do against
 * turnutils_uclient is written down in docs/node-turn-notes.md.
 */
import { spawn } from 'node:child_process';
import { assertLoopback, waitForStunBinding } from './ports.ts';

export interface NodeTurnOptions {
  /** Listening and relay address; loopback only. */
  readonly listen: string;
  /** UDP listening port. */
  readonly port: number;
  /** Long-term credentials, name → password. */
  readonly users: Readonly<Record<string, string>>;
  /** Default 'node-turn.test'. */
  readonly realm?: string;
  /** Relay port range; node-turn's default is 49152-65535. */
  readonly minPort?: number;
  readonly maxPort?: number;
  /**
   * Seconds, set as both node-turn's default and maximum allocation lifetime (its option names are
   * defaultAllocatetLifetime (sic) and maxAllocateLifetime). node-turn's defaults are 600 and 3600.
   */
  readonly lifetime?: number;
  /** node-turn's debugLevel (ALL, TRACE, DEBUG, INFO, WARN, ERROR, FATAL, OFF); default OFF. Logs go to stderr. */
  readonly debugLevel?: 'ALL' | 'TRACE' | 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'FATAL' | 'OFF';
  /** Default 10 s. */
  readonly startTimeoutMs?: number;
}

export interface NodeTurnServer {
  readonly pid: number;
  readonly port: number;
  /** What node-turn logged so far (stderr, last 256 KiB). */
  log(): string;
  stop(): Promise<void>;
}

const CHILD = new URL('./node-turn-child.cjs', import.meta.url).pathname;
const LOG_LIMIT = 256 * 1024;

/** Starts node-turn and resolves once its socket is bound and it answers a STUN Binding. */
export async function startNodeTurn(opts: NodeTurnOptions): Promise<NodeTurnServer> {
  assertLoopback(opts.listen, 'node-turn listen address');
  const { startTimeoutMs = 10_000, ...childOpts } = opts;
  const child = spawn(process.execPath, [CHILD, JSON.stringify({ realm: 'node-turn.test', ...childOpts })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    log += c;
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    }
  };
  const ready = new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.includes('node-turn ready')) resolve();
    });
    child.once('error', (err) =>
      reject(new Error(`could not start node-turn: ${err.message}`, { cause: err })),
    );
    void exited.then(() => reject(new Error(`node-turn exited during startup (code ${child.exitCode})`)));
  });
  const deadline = new Promise<never>((_, reject) => {
    const t = setTimeout(() => reject(new Error(`not ready within ${startTimeoutMs} ms`)), startTimeoutMs);
    void ready.finally(() => clearTimeout(t)).catch(() => undefined);
  });
  try {
    await Promise.race([ready, deadline]);
    await waitForStunBinding(opts.listen, opts.port, startTimeoutMs);
  } catch (err) {
    await stop();
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`node-turn did not come up on ${opts.listen}:${opts.port}: ${why}\n${log.trim()}`, {
      cause: err,
    });
  }
  return { pid: child.pid!, port: opts.port, log: () => log, stop };
}
