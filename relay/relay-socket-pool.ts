/**
 * Relayed UDP sockets: picks a free port in the configured range, binds it on the relay address
 * of the wanted family (with the relay's UdpIo: dgram or native), and keeps count of what is open
 * so tests and metrics can see that every socket is closed when its allocation ends.
 */
import type { IpFamily } from '../src/net/address.ts';
import type { UdpIo, UdpPort } from './udp-io.ts';

export interface PortRange {
  readonly min: number;
  readonly max: number;
}

export class RelaySocketPool {
  readonly #inUse = new Set<string>();
  #open = 0;

  constructor(
    private readonly range: PortRange,
    private readonly io: UdpIo,
    private readonly random: () => number = Math.random,
  ) {}

  get open(): number {
    return this.#open;
  }

  /** Bind one given port of the range, if free. */
  async bindPort(address: string, family: IpFamily, port: number): Promise<UdpPort | undefined> {
    if (port < this.range.min || port > this.range.max) return undefined;
    return this.#take(address, family, port);
  }

  async #take(address: string, family: IpFamily, port: number): Promise<UdpPort | undefined> {
    const key = `${address}|${port}`;
    if (this.#inUse.has(key)) return undefined;
    this.#inUse.add(key);
    const socket = await this.io.bind(address, family, port).catch(() => undefined);
    if (!socket) {
      this.#inUse.delete(key);
      return undefined;
    }
    this.#open++;
    socket.onClose(() => {
      this.#open--;
      this.#inUse.delete(key);
    });
    return socket;
  }

  /**
   * Bind a UDP socket on `address` with a port from the range (even when asked, RFC 8656 §7.2).
   * Tries random ports first, then gives up after a bounded number of attempts.
   */
  async bind(address: string, family: IpFamily, evenPort: boolean): Promise<UdpPort | undefined> {
    const span = this.range.max - this.range.min + 1;
    const attempts = Math.min(span, 64);
    for (let i = 0; i < attempts; i++) {
      let port = this.range.min + Math.floor(this.random() * span);
      if (evenPort && port % 2 === 1) port = port + 1 <= this.range.max ? port + 1 : port - 1;
      if (evenPort && port % 2 === 1) continue;
      const socket = await this.#take(address, family, port);
      if (socket) return socket;
    }
    return undefined;
  }
}

/** Binds an even port and the odd one above it (RFC 8656 §7.2, EVEN-PORT with the R bit). */
export async function bindPair(
  pool: RelaySocketPool,
  address: string,
  family: IpFamily,
): Promise<[UdpPort, UdpPort] | undefined> {
  for (let attempt = 0; attempt < 16; attempt++) {
    const even = await pool.bind(address, family, true);
    if (!even) return undefined;
    const next = await pool.bindPort(address, family, even.port + 1);
    if (next) return [even, next];
    void even.close();
  }
  return undefined;
}
