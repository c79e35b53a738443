/**
 * Wrappers around coturn's test tools (Debian package `coturn`), the TURN client and peer that
 * nobody on this project wrote: `turnutils_peer` echoes every datagram it receives, and
 * `turnutils_uclient` allocates, binds, sends and counts what comes back.
 *
 * How uclient behaves (coturn 4.6.1, src/apps/uclient/{mainuclient,uclient}.c):
 * - It runs "sessions". Without -c every client is an RTP/RTCP pair, so -m is rounded up to an even
 *   number of sessions (-m 1 gives 2); with -c there are exactly -m. Each session sends -n messages,
 *   so tot_send_msgs = sessions × n. See {@link uclientSessions}.
 * - Each session starts sending 1 to 6 s (random) after setup, so a run takes a few seconds however
 *   small -n is. Run independent uclients concurrently.
 * - Everything, errors included, is printed on stdout ("0: : ERROR: Cannot complete Allocation");
 *   stderr only carries usage errors. A failed setup exits with 255 and prints no summary.
 * - There is no realm flag: -r is the peer port. The realm comes from the server's 401 response.
 * - -W <secret> (TURN REST): the username becomes `<now + 86400>:<-u user>` (or just the timestamp
 *   without -u) and the password base64(HMAC-SHA1(secret, username)).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { assertLoopback, waitForUdpEcho } from './ports.ts';

export interface UclientOptions {
  readonly server: string;
  readonly port: number;
  /** udp (default transport), tcp (-t), tls (-t -S). */
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** channel: ChannelBind + ChannelData (uclient's default); send-indication: Send/Data indications (-s). */
  readonly mode: 'channel' | 'send-indication';
  /** -u */
  readonly user?: string;
  /** -w */
  readonly password?: string;
  /** TURN REST API shared secret (-W); `user`, when given, becomes the part after the timestamp. */
  readonly secret?: string;
  /** -e and -r (the peer port). */
  readonly peer: { readonly host: string; readonly port: number };
  /** Messages per session (-n); default 20. */
  readonly messages?: number;
  /** Bytes per message (-l); default 100. uclient raises values below its own header size. */
  readonly messageSize?: number;
  /** Clients (-m); default 2. See {@link uclientSessions} for how many sessions that makes. */
  readonly clients?: number;
  /** -c: no RTCP companion session per client (then sessions = clients exactly). */
  readonly noRtcp?: boolean;
  /** Per-session packet interval in ms (-z); uclient's default is 20. */
  readonly intervalMs?: number;
  /** Hard limit; uclient is killed with SIGKILL after it. Default 30 s. */
  readonly timeoutMs?: number;
  /** Appended before the server address, e.g. ['-v'] or ['-E', 'ca.pem']. */
  readonly extraArgs?: readonly string[];
}

export interface UclientResult {
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  /** tot_send_msgs of the closing summary, over all sessions. */
  readonly messagesSent: number;
  /** tot_recv_msgs of the closing summary (uclient clamps it to tot_send_msgs). */
  readonly messagesReceived: number;
  readonly lostPackets: number;
  readonly lossPercent: number;
  readonly avgRttMs: number;
  readonly jitterMs: number;
  /** "Total transmit time is N" (whole seconds). */
  readonly transmitSeconds: number;
  readonly stdout: string;
  readonly stderr: string;
}

export type UclientErrorCode = 'ERR_UCLIENT_NO_SUMMARY' | 'ERR_UCLIENT_TIMEOUT' | 'ERR_UCLIENT_SPAWN';

/** uclient ran but left no summary to read (setup failed, it was killed, or it could not start). */
export class UclientError extends Error {
  override readonly name = 'UclientError';
  constructor(
    readonly code: UclientErrorCode,
    message: string,
    readonly details: {
      readonly exitCode: number | null;
      readonly timedOut: boolean;
      readonly stdout: string;
      readonly stderr: string;
    },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The command line for `o`, without the program name. */
export function uclientArgs(o: UclientOptions): string[] {
  const args: string[] = [];
  if (o.transport !== 'udp') args.push('-t');
  if (o.transport === 'tls') args.push('-S');
  if (o.mode === 'send-indication') args.push('-s');
  if (o.noRtcp) args.push('-c');
  if (o.user !== undefined) args.push('-u', o.user);
  if (o.password !== undefined) args.push('-w', o.password);
  if (o.secret !== undefined) args.push('-W', o.secret);
  args.push('-e', o.peer.host, '-r', String(o.peer.port));
  args.push('-n', String(o.messages ?? 20), '-l', String(o.messageSize ?? 100), '-m', String(o.clients ?? 2));
  if (o.intervalMs !== undefined) args.push('-z', String(o.intervalMs));
  args.push(...(o.extraArgs ?? []), '-p', String(o.port), o.server);
  return args;
}

/** How many sessions uclient runs for `o` (start_mclient in uclient.c), for the non -y/-T modes used here. */
export function uclientSessions(o: Pick<UclientOptions, 'clients' | 'noRtcp' | 'extraArgs'>): number {
  const clients = Math.max(1, o.clients ?? 2);
  const noRtcp = o.noRtcp === true || (o.extraArgs ?? []).includes('-c');
  return noRtcp ? clients : clients + (clients % 2);
}

/** A number as printed by C's %f / %u, including the nan and inf it prints after dividing by zero. */
const NUM = String.raw`(-?(?:nan|inf|\d+(?:\.\d+)?))`;
const toNumber = (s: string): number => {
  if (/nan/.test(s)) return Number.NaN;
  if (/inf/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  return Number(s);
};

const SUMMARY = {
  totals: /start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/m,
  transmit: /Total transmit time is (\d+)/,
  lost: new RegExp(String.raw`Total lost packets (\d+) \(${NUM}%\)`),
  rtt: new RegExp(`Average round trip delay ${NUM} ms`),
  jitter: new RegExp(`Average jitter ${NUM} ms`),
} as const;

/**
 * Reads uclient's closing summary (the lines printed after the last session ends). Throws a
 * UclientError naming the missing line and quoting the last lines when it is not all there.
 */
export function parseUclientOutput(
  stdout: string,
  stderr = '',
): Omit<UclientResult, 'exitCode' | 'timedOut' | 'stdout' | 'stderr'> {
  const totals = SUMMARY.totals.exec(stdout);
  const transmit = SUMMARY.transmit.exec(stdout);
  const lost = SUMMARY.lost.exec(stdout);
  const rtt = SUMMARY.rtt.exec(stdout);
  const jitter = SUMMARY.jitter.exec(stdout);
  if (!totals || !transmit || !lost || !rtt || !jitter) {
    const missing = Object.entries({ totals, transmit, lost, rtt, jitter })
      .filter(([, m]) => !m)
      .map(([k]) => k)
      .join(', ');
    throw new UclientError(
      'ERR_UCLIENT_NO_SUMMARY',
      `turnutils_uclient printed no complete summary (missing: ${missing}); last lines:\n${tail(stdout, stderr)}`,
      { exitCode: null, timedOut: false, stdout, stderr },
    );
  }
  return {
    messagesSent: Number(totals[1]),
    messagesReceived: Number(totals[2]),
    lostPackets: Number(lost[1]),
    lossPercent: toNumber(lost[2]!),
    avgRttMs: toNumber(rtt[1]!),
    jitterMs: toNumber(jitter[1]!),
    transmitSeconds: Number(transmit[1]),
  };
}

function tail(stdout: string, stderr: string, n = 8): string {
  const lines = `${stdout}\n${stderr}`.trim().split('\n').filter(Boolean);
  return lines.slice(-n).join('\n') || '(no output)';
}

/**
 * Runs turnutils_uclient against `o.server` and resolves with its summary. Rejects with a
 * UclientError when the run leaves no summary: a failed Allocate (exit 255), a timeout, a spawn
 * failure. Server and peer must be loopback addresses.
 */
export function runUclient(o: UclientOptions): Promise<UclientResult> {
  assertLoopback(o.server, 'uclient server');
  assertLoopback(o.peer.host, 'uclient peer');
  const timeoutMs = o.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawn('turnutils_uclient', uclientArgs(o), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(
        new UclientError(
          'ERR_UCLIENT_SPAWN',
          `could not run turnutils_uclient (Debian package coturn): ${err.message}`,
          { exitCode: null, timedOut, stdout, stderr },
          { cause: err },
        ),
      );
    });
    // 'close', not 'exit': the pipes are drained by then.
    child.once('close', (exitCode) => {
      clearTimeout(timer);
      try {
        resolve({ exitCode, timedOut, stdout, stderr, ...parseUclientOutput(stdout, stderr) });
      } catch (err) {
        const details = { exitCode, timedOut, stdout, stderr };
        reject(
          timedOut
            ? new UclientError(
                'ERR_UCLIENT_TIMEOUT',
                `turnutils_uclient was killed after ${timeoutMs} ms; last lines:\n${tail(stdout, stderr)}`,
                details,
              )
            : new UclientError(
                'ERR_UCLIENT_NO_SUMMARY',
                `turnutils_uclient exited with ${exitCode} and no summary; last lines:\n${tail(stdout, stderr)}`,
                details,
                { cause: err },
              ),
        );
      }
    });
  });
}

export interface Peer {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * Starts `turnutils_peer -L host -p port` (a UDP echo server) and resolves once it echoes a probe
 * datagram. The positional form `(host, port)` is kept for older callers.
 */
export function startTurnutilsPeer(opts: { host: string; port: number; timeoutMs?: number }): Promise<Peer>;
export function startTurnutilsPeer(host: string, port: number): Promise<Peer>;
export async function startTurnutilsPeer(
  a: string | { host: string; port: number; timeoutMs?: number },
  b?: number,
): Promise<Peer> {
  const { host, port, timeoutMs = 5000 } = typeof a === 'string' ? { host: a, port: b! } : a;
  assertLoopback(host, 'turnutils_peer listen address');
  const child: ChildProcess = spawn('turnutils_peer', ['-L', host, '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Kept for error messages only, and capped: a verbose peer logs every datagram.
  let output = '';
  const append = (c: string) => {
    if (output.length < 64 * 1024) output += c;
  };
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const spawnError = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(
        new Error(`could not run turnutils_peer (Debian package coturn): ${err.message}`, { cause: err }),
      ),
    ),
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  try {
    await Promise.race([
      waitForUdpEcho(host, port, timeoutMs),
      spawnError,
      exited.then(() => {
        throw new Error(`exited with code ${child.exitCode}`);
      }),
    ]);
  } catch (err) {
    await stop().catch(() => undefined);
    const why = err instanceof Error ? err.message : String(err);
    throw new Error(`turnutils_peer did not come up on ${host}:${port}: ${why}\n${tail(output, '')}`, {
      cause: err,
    });
  }
  return { host, port, pid: child.pid!, stop };
}
