/**
 * Wrappers around coturn's test tools (Debian package `coturn`), the TURN client and peer that
 * nobody on this project wrote: `turnutils_peer` echoes every datagram it receives, and
 * `turnutils_uclient` allocates, binds, sends and counts what comes back.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';

export interface UclientOptions {
  readonly server: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp' | 'tls';
  /** channel: ChannelData (default); send-indication: Send and Data indications (-s). */
  readonly mode: 'channel' | 'send-indication';
  readonly user?: string;
  readonly password?: string;
  /** TURN REST API shared secret (-W); the client derives a timestamped username. */
  readonly secret?: string;
  readonly peer: { readonly host: string; readonly port: number };
  readonly messages?: number;
  readonly messageSize?: number;
  readonly clients?: number;
  /** Per-session packet interval in ms (-z). */
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  readonly extraArgs?: readonly string[];
}

export interface UclientResult {
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly messagesSent: number;
  readonly messagesReceived: number;
  readonly lostPackets: number;
  readonly lossPercent: number;
  readonly avgRttMs: number;
  readonly jitterMs: number;
  readonly transmitSeconds: number;
  readonly output: string;
}

export function uclientArgs(o: UclientOptions): string[] {
  const args: string[] = [];
  if (o.transport !== 'udp') args.push('-t'); // TCP; with -S, TLS
  if (o.transport === 'tls') args.push('-S');
  if (o.mode === 'send-indication') args.push('-s');
  if (o.user !== undefined) args.push('-u', o.user);
  if (o.password !== undefined) args.push('-w', o.password);
  if (o.secret !== undefined) args.push('-W', o.secret);
  args.push('-e', o.peer.host, '-r', String(o.peer.port));
  args.push('-n', String(o.messages ?? 20), '-l', String(o.messageSize ?? 100), '-m', String(o.clients ?? 2));
  if (o.intervalMs !== undefined) args.push('-z', String(o.intervalMs));
  args.push(...(o.extraArgs ?? []), '-p', String(o.port), o.server);
  return args;
}

const num = (re: RegExp, text: string): number | undefined => {
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
};

/** Reads uclient's closing summary; throws when it is not there (the run failed early). */
export function parseUclientOutput(output: string): Omit<UclientResult, 'exitCode' | 'timedOut' | 'output'> {
  const sent = num(/start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=\d+\s*$/m, output);
  const received = num(/start_mclient: tot_send_msgs=\d+, tot_recv_msgs=(\d+)\s*$/m, output);
  const lost = num(/Total lost packets (\d+) \(/, output);
  const lossPercent = num(/Total lost packets \d+ \(([\d.]+)%\)/, output);
  const rtt = num(/Average round trip delay ([\d.]+) ms/, output);
  const jitter = num(/Average jitter ([\d.]+) ms/, output);
  const seconds = num(/Total transmit time is (\d+)/, output);
  if (sent === undefined || received === undefined || lost === undefined || rtt === undefined) {
    const tail = output.trim().split('\n').slice(-6).join('\n');
    throw new Error(`turnutils_uclient printed no summary; last lines:\n${tail}`);
  }
  return {
    messagesSent: sent,
    messagesReceived: received,
    lostPackets: lost,
    lossPercent: lossPercent ?? 0,
    avgRttMs: rtt,
    jitterMs: jitter ?? 0,
    transmitSeconds: seconds ?? 0,
  };
}

export function runUclient(o: UclientOptions): Promise<UclientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('turnutils_uclient', uclientArgs(o), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 30_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      try {
        resolve({ exitCode, timedOut, output, ...parseUclientOutput(output) });
      } catch (err) {
        reject(err);
      }
    });
  });
}

export interface Peer {
  readonly host: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts `turnutils_peer` and waits until it echoes a probe datagram. */
export async function startTurnutilsPeer(host: string, port: number): Promise<Peer> {
  const child: ChildProcess = spawn('turnutils_peer', ['-L', host, '-p', String(port)], { stdio: 'ignore' });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  const probe = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = setTimeout(() => reject(new Error('turnutils_peer did not echo within 5 s')), 5000);
      const tick = setInterval(() => probe.send(Buffer.from('probe'), port, host), 50);
      probe.once('message', () => {
        clearTimeout(deadline);
        clearInterval(tick);
        resolve();
      });
    });
  } catch (err) {
    await stop();
    throw err;
  } finally {
    probe.close();
  }
  return { host, port, stop };
}
