/**
 * Free ports on loopback for tests: bind port 0, read what the kernel gave, close. 'both' finds a
 * port free for UDP and TCP at once (TURN serves both on one port).
 */
import dgram from 'node:dgram';
import net from 'node:net';

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
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
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

export async function freePort(kind: 'udp' | 'tcp' | 'both', host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = kind === 'udp' ? await udpPort(host) : await tcpPort(host);
    if (first === undefined) continue;
    if (kind !== 'both') return first;
    if ((await udpPort(host, first)) !== undefined) return first;
  }
  throw new Error(`no free ${kind} port on ${host}`);
}

export async function freePorts(
  n: number,
  kind: 'udp' | 'tcp' | 'both',
  host = '127.0.0.1',
): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n) {
    const p = await freePort(kind, host);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}
