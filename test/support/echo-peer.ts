/** A UDP peer on loopback for relay tests. */
import dgram from 'node:dgram';
import type { TransportAddress } from '../../src/net/address.ts';

/** A UDP peer on loopback that echoes every datagram and records who sent it. */
export async function echoPeer(address = '127.0.0.1') {
  const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
  const seen: { address: string; port: number; data: Buffer }[] = [];
  socket.on('message', (data, rinfo) => {
    seen.push({ address: rinfo.address, port: rinfo.port, data });
    socket.send(data, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => socket.bind({ address, port: 0 }, r));
  const a = socket.address();
  const addr: TransportAddress = { family: a.family === 'IPv6' ? 6 : 4, address: a.address, port: a.port };
  return { addr, seen, close: () => new Promise<void>((r) => socket.close(() => r())) };
}
