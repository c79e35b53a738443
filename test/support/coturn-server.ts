/**
 * coturn's `turnserver` (Debian package `coturn`) in the foreground, configured from the command
 * line only, listening on loopback only: the reference TURN server for benchmarks and for
 * validating the test harness (test/integration/harness-coturn.test.ts).
 *
 * coturn cannot mix static users (--lt-cred-mech --user) with a TURN REST secret
 * (--use-auth-secret): it prints "CONFIGURATION ALERT ... Shared secret overrides username/password
 * based auth method" and static users then fail. So one instance takes `users` or `secret`, never
 * both; start two when a test needs both.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertLoopback, waitForStunBinding, waitForTcp } from './ports.ts';

export interface CoturnOptions {
  /** The one listening and relay address; loopback only. */
  readonly listen: string;
  /** UDP and TCP listener (--listening-port). */
  readonly port: number;
  /** TLS listener (--tls-listening-port); needs cert and key. Without it TLS is off (--no-tls). */
  readonly tlsPort?: number;
  readonly cert?: string;
  readonly key?: string;
  /** Long-term credentials (--lt-cred-mech --user name:password). */
  readonly users?: readonly { readonly name: string; readonly password: string }[];
  /** TURN REST API secret (--use-auth-secret --static-auth-secret). */
  readonly secret?: string;
  readonly realm: string;
  /** --relay-threads; coturn's default is one per CPU. */
  readonly relayThreads?: number;
  /** Relay port range (--min-port/--max-port); coturn's default is 49152-65535. */
  readonly minPort?: number;
  readonly maxPort?: number;
  /** Seconds (--max-allocate-lifetime); coturn's default is 3600. */
  readonly maxAllocateLifetime?: number;
  /** Loopback peers are refused by coturn unless --allow-loopback-peers; the tests' peers are all loopback. */
  readonly allowLoopback: true;
  /** Extra turnserver flags, appended last. */
  readonly extraArgs?: readonly string[];
  /** How long to wait for the listeners; default 10 s. */
  readonly startTimeoutMs?: number;
}

export interface CoturnServer {
  readonly pid: number;
  readonly port: number;
  readonly tlsPort: number | undefined;
  /** The full command line, for reports. */
  readonly args: readonly string[];
  /** What turnserver printed so far (stdout and stderr, last 256 KiB). */
  log(): string;
  stop(): Promise<void>;
}

/** The turnserver command line for `o`, without the program name. Throws on contradictory options. */
export function coturnArgs(o: CoturnOptions, stateDir: string): string[] {
  assertLoopback(o.listen, 'coturn listen address');
  const hasUsers = (o.users?.length ?? 0) > 0;
  if (hasUsers && o.secret !== undefined) {
    throw new Error('coturn cannot take static users and a REST secret at once; start two instances');
  }
  if (!hasUsers && o.secret === undefined) {
    throw new Error('coturn needs users or a secret (this harness never runs it without authentication)');
  }
  if (o.tlsPort !== undefined && (o.cert === undefined || o.key === undefined)) {
    throw new Error('coturn tlsPort needs cert and key');
  }
  const args = [
    '-n', // no configuration file: the command line is the whole config
    '--no-cli', // the telnet CLI would bind 127.0.0.1:5766 in every instance
    '--listening-ip',
    o.listen,
    '--relay-ip',
    o.listen,
    '--listening-port',
    String(o.port),
    '--realm',
    o.realm,
    '--allow-loopback-peers',
    '--no-multicast-peers',
    '--no-dtls',
    '--no-rfc5780', // one IP only: no CHANGE-REQUEST alternate address to offer anyway
    '--log-file',
    'stdout',
    '--simple-log',
    // Keep every instance's files apart: the pid file defaults to /var/run/turnserver.pid and the
    // SQLite user database to /var/lib/turn/turndb.
    '--pidfile',
    join(stateDir, 'turnserver.pid'),
    '--userdb',
    join(stateDir, 'turndb'),
  ];
  if (hasUsers) {
    args.push('--lt-cred-mech');
    for (const u of o.users ?? []) args.push('--user', `${u.name}:${u.password}`);
  } else {
    args.push('--use-auth-secret', '--static-auth-secret', o.secret!);
  }
  if (o.tlsPort !== undefined) {
    args.push('--tls-listening-port', String(o.tlsPort), '--cert', o.cert!, '--pkey', o.key!);
  } else {
    args.push('--no-tls');
  }
  if (o.relayThreads !== undefined) args.push('--relay-threads', String(o.relayThreads));
  if (o.minPort !== undefined) args.push('--min-port', String(o.minPort));
  if (o.maxPort !== undefined) args.push('--max-port', String(o.maxPort));
  if (o.maxAllocateLifetime !== undefined)
    args.push('--max-allocate-lifetime', String(o.maxAllocateLifetime));
  args.push(...(o.extraArgs ?? []));
  return args;
}

const LOG_LIMIT = 256 * 1024;

/**
 * Starts turnserver and resolves once it answers a STUN Binding on UDP and accepts TCP (and TLS,
 * when asked for) connections. Rejects with its output when it exits or does not come up in time.
 */
export async function startCoturn(o: CoturnOptions): Promise<CoturnServer> {
  const stateDir = mkdtempSync(join(tmpdir(), 'coturn-'));
  let args: string[];
  try {
    args = coturnArgs(o, stateDir);
  } catch (err) {
    rmSync(stateDir, { recursive: true, force: true });
    throw err;
  }
  const child: ChildProcess = spawn('turnserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const append = (c: string) => {
    output += c;
    if (output.length > LOG_LIMIT) output = output.slice(-LOG_LIMIT);
  };
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err) =>
      reject(new Error(`could not run turnserver (Debian package coturn): ${err.message}`, { cause: err })),
    );
    void exited.then(() =>
      reject(new Error(`turnserver exited during startup (code ${child.exitCode}):\n${lastLines(output)}`)),
    );
  });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(stateDir, { recursive: true, force: true });
  };

  const timeoutMs = o.startTimeoutMs ?? 10_000;
  try {
    await Promise.race([
      failed,
      (async () => {
        await waitForStunBinding(o.listen, o.port, timeoutMs);
        await waitForTcp(o.listen, o.port, timeoutMs);
        if (o.tlsPort !== undefined) await waitForTcp(o.listen, o.tlsPort, timeoutMs);
      })(),
    ]);
  } catch (err) {
    await stop().catch(() => undefined);
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`coturn did not come up on ${o.listen}:${o.port}: ${why}\n${lastLines(output)}`, {
      cause: err,
    });
  }
  return { pid: child.pid!, port: o.port, tlsPort: o.tlsPort, args, log: () => output, stop };
}

function lastLines(text: string, n = 15): string {
  return text.trim().split('\n').slice(-n).join('\n');
}
