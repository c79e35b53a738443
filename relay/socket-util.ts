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

export function bindUdp(host: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const family = host.includes(':') ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({
      type: family,
      ipv6Only: family === 'udp6',
      recvBufferSize: 4 << 20,
      lookup: literalLookup,
    });
    socket.once('error', reject);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', reject);
      try {
        socket.setSendBufferSize(4 << 20);
      } catch {
        // The kernel caps buffer sizes at net.core.[rw]mem_max; what it grants is enough.
      }
      resolve(socket);
    });
  });
}

export function listenStream(server: net.Server, host: string, port: number): Promise<TransportAddress> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
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
