/**
 * Small promise wrappers around Node's socket APIs used by the relay's listeners.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import { isIP, type default as net } from 'node:net';
import type { TransportAddress } from '../src/net/address.ts';
import { Method } from '../src/stun/constants.ts';

/**
 * dgram's `lookup` for the relay's sockets, which send only to IP literals (addresses as the
 * socket layer reported them, or decoded from XOR-PEER-ADDRESS): answers at once. The default,
 * dns.lookup, answers an IP literal on the next tick, so every datagram sent paid a deferred
 * callback and a trip through the tick queue before its system call. Names still go to DNS.
 */
export function literalLookup(
  host: string,
  options: number | { family?: number | string | undefined },
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(host);
  if (family !== 0) {
    callback(null, host, family);
    return;
  }
  const wanted = typeof options === 'number' ? options : Number(options.family ?? 0);
  dns.lookup(host, { family: wanted === 6 ? 6 : wanted === 4 ? 4 : 0 }, callback);
}

/**
 * SO_REUSEPORT through Node's options (dgram `reusePort`, net `listen({ reusePort })`): Node 22.12
 * and 23.1 added them; @types/node 20 does not know them, and Node 20 ignores them silently.
 */
type SharedUdpOptions = dgram.SocketOptions & { reusePort?: boolean };
type SharedListenOptions = net.ListenOptions & { reusePort?: boolean };

/**
 * Whether this Node binds UDP sockets with SO_REUSEPORT: two sockets bound to one loopback port
 * with `reusePort` both succeed. A Node that ignores the option fails the second with EADDRINUSE.
 * (Asked on loopback, not on the relay's listen address, so that an unusable listen address is
 * reported as such when the relay binds it, not as a Node without reusePort.)
 */
export async function reusePortAvailable(host = '127.0.0.1'): Promise<boolean> {
  const options: SharedUdpOptions = { type: host.includes(':') ? 'udp6' : 'udp4', reusePort: true };
  const bind = (port: number) =>
    new Promise<dgram.Socket | undefined>((resolve) => {
      const s = dgram.createSocket(options);
      s.once('error', () => {
        s.close();
        resolve(undefined);
      });
      s.bind({ address: host, port, exclusive: true }, () => resolve(s));
    });
  const first = await bind(0);
  if (!first) return false;
  const second = await bind(first.address().port);
  first.close();
  second?.close();
  return second !== undefined;
}

/**
 * A UDP socket bound to host:port; `shared` binds with SO_REUSEPORT (workers on one port).
 * `bigBuffers` asks for 4 MiB kernel buffers each way (the TURN listeners); relayed sockets keep
 * the defaults. Rejects with the bind error (err.code, e.g. EADDRINUSE).
 */
export function bindUdp(
  host: string,
  port: number,
  shared = false,
  bigBuffers = true,
): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const family = host.includes(':') ? 'udp6' : 'udp4';
    const options: SharedUdpOptions = {
      type: family,
      ipv6Only: family === 'udp6',
      lookup: literalLookup,
      ...(bigBuffers ? { recvBufferSize: 4 << 20 } : {}),
      ...(shared ? { reusePort: true } : {}),
    };
    const socket = dgram.createSocket(options);
    const onError = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', onError);
      try {
        if (bigBuffers) socket.setSendBufferSize(4 << 20);
      } catch {
        // The kernel caps buffer sizes at net.core.[rw]mem_max; what it grants is enough.
      }
      resolve(socket);
    });
  });
}

/** Listens on host:port; `shared` listens with SO_REUSEPORT (workers on one port). */
export function listenStream(
  server: net.Server,
  host: string,
  port: number,
  shared = false,
): Promise<TransportAddress> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const options: SharedListenOptions = {
      host,
      port,
      exclusive: true,
      ...(shared ? { reusePort: true } : {}),
    };
    server.listen(options, () => {
      server.off('error', reject);
      const a = server.address() as net.AddressInfo;
      resolve({ family: a.family === 'IPv6' ? 6 : 4, address: a.address, port: a.port });
    });
  });
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

const METHOD_NAMES = new Map<number, string>(Object.entries(Method).map(([name, code]) => [code, name]));

export function methodName(method: number): string {
  return METHOD_NAMES.get(method) ?? 'unknown';
}
