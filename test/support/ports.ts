/**
 * Ports on loopback for tests: find free ones (bind port 0, read what the kernel gave, close) and
 * wait until a server answers on one. 'both' finds a port free for UDP and TCP at once, because TURN
 * serves both on one port.
 *
 * A port found free can be taken by someone else before the caller binds it; callers that start a
 * server on it should fail loudly (the wrappers here do) rather than retry silently.
 */
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';

export type PortKind = 'udp' | 'tcp' | 'both';

/** Loopback only: 127.0.0.0/8 and ::1. Tests never send anything off the machine. */
export function isLoopback(host: string): boolean {
  if (host === '::1' || host === '0:0:0:0:0:0:0:1') return true;
  const v4 = host.startsWith('::ffff:') ? host.slice(7) : host;
  return net.isIPv4(v4) && v4.startsWith('127.');
}

/** Throws when `host` is not a loopback address literal (a programmer fault in a test). */
export function assertLoopback(host: string, what: string): void {
  if (!isLoopback(host)) {
    throw new Error(`${what} must be a loopback address (127.0.0.0/8 or ::1), got "${host}"`);
  }
}

const udpType = (host: string) => (net.isIPv6(host) ? 'udp6' : 'udp4');

function tcpPort(host: string, port = 0): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(undefined));
    s.listen({ host, port, exclusive: true }, () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

function udpPort(host: string, port = 0): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(udpType(host));
    s.once('error', () => {
      s.close();
      resolve(undefined);
    });
    s.bind({ address: host, port, exclusive: true }, () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

export async function freePort(kind: PortKind, host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = kind === 'udp' ? await udpPort(host) : await tcpPort(host);
    if (first === undefined) continue;
    if (kind !== 'both') return first;
    if ((await udpPort(host, first)) !== undefined) return first;
  }
  throw new Error(`no free ${kind} port on ${host} after 50 attempts`);
}

/** `n` distinct free ports. */
export async function freePorts(n: number, kind: PortKind, host = '127.0.0.1'): Promise<number[]> {
  const out: number[] = [];
  for (let attempt = 0; out.length < n; attempt++) {
    if (attempt >= n * 20) throw new Error(`found only ${out.length} of ${n} distinct free ${kind} ports`);
    const p = await freePort(kind, host);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** The first of `n` consecutive free UDP ports (a relay with --workers N uses N backbone ports). */
export async function freeUdpRun(n: number, host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await freePort('udp', host);
    let all = first + n - 1 <= 65535;
    for (let p = first + 1; p < first + n && all; p++) all = (await udpPort(host, p)) !== undefined;
    if (all) return first;
  }
  throw new Error(`no ${n} consecutive free UDP ports on ${host} after 50 attempts`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once a TCP connect to host:port succeeds; rejects after `timeoutMs`. */
export async function waitForTcp(host: string, port: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.setTimeout(500, () => s.destroy());
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('close', () => resolve(false));
      s.once('error', () => undefined);
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing accepted TCP connections on ${host}:${port} within ${timeoutMs} ms`);
}

/**
 * Sends `payload` to host:port over UDP every 50 ms until a datagram that `accept` likes comes back
 * from that address; rejects after `timeoutMs`. UDP has no connect, so this is how a UDP server is
 * seen to be up.
 */
export function waitForUdpReply(
  host: string,
  port: number,
  payload: () => Uint8Array,
  accept: (reply: Buffer) => boolean,
  timeoutMs = 5000,
): Promise<void> {
  const sock = dgram.createSocket(udpType(host));
  return new Promise<void>((resolve, reject) => {
    const finish = (err?: Error) => {
      clearInterval(tick);
      clearTimeout(deadline);
      sock.close();
      if (err) reject(err);
      else resolve();
    };
    const deadline = setTimeout(
      () => finish(new Error(`no UDP reply from ${host}:${port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const send = () => sock.send(payload(), port, host, () => undefined);
    const tick = setInterval(send, 50);
    // ICMP port unreachable surfaces as an error on some platforms; keep polling until the deadline.
    sock.on('error', () => undefined);
    sock.on('message', (msg, rinfo) => {
      if (rinfo.port === port && accept(msg)) finish();
    });
    sock.bind(0, host, send);
  });
}

/** Waits until host:port echoes a datagram back unchanged (turnutils_peer, any UDP echo server). */
export function waitForUdpEcho(host: string, port: number, timeoutMs = 5000): Promise<void> {
  const probe = Buffer.from(`echo-probe-${randomBytes(6).toString('hex')}`);
  return waitForUdpReply(
    host,
    port,
    () => probe,
    (reply) => reply.equals(probe),
    timeoutMs,
  );
}

/**
 * Waits until a STUN server on host:port answers a Binding request (RFC 8489 §6: 20-byte header,
 * method 0x001, magic cookie 0x2112A442) with a response carrying the same transaction ID. Binding
 * needs no credentials on any TURN server here, so it proves the UDP listener is up and parsing.
 */
export function waitForStunBinding(host: string, port: number, timeoutMs = 5000): Promise<void> {
  const request = Buffer.alloc(20);
  request.writeUInt16BE(0x0001, 0); // Binding request
  request.writeUInt32BE(0x2112a442, 4);
  randomBytes(12).copy(request, 8);
  const isAnswer = (reply: Buffer) =>
    reply.length >= 20 &&
    (reply.readUInt16BE(0) === 0x0101 || reply.readUInt16BE(0) === 0x0111) && // success or error response
    reply.subarray(8, 20).equals(request.subarray(8, 20));
  return waitForUdpReply(host, port, () => request, isAnswer, timeoutMs);
}
