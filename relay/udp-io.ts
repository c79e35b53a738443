/**
 * The relay's UDP ports behind one small interface, served either by Node's dgram or by the
 * native addon (relay/native/native-udp.c, --udp-io native): the TURN listeners and the relayed
 * sockets use a UdpPort and do not know which. The native side reads every ready socket with
 * recvmmsg and hands what it read to JS in one call per loop turn (not one per socket); it copies
 * each datagram sent into a pool flushed with sendmmsg once per loop turn. Its drops are counted,
 * never thrown (nativeUdpStats).
 * Owns: dispatching the addon's batches (relay/native-addon.ts loads it). Must not import src/turn
 * or the relay.
 */
import type dgram from 'node:dgram';
import type { IpFamily } from '../src/net/address.ts';
import type { UdpIoMode } from './config-options.ts';
import { nativeAddon, type UdpAddon } from './native-addon.ts';
import { bindUdp, reusePortAvailable } from './socket-util.ts';
import type { UdpIoFacts, UdpIoKind } from './udp-io-choice.ts';

export type { UdpIoKind, UdpIoMode };

/**
 * One datagram received. A native port's `msg` is a view of the shared receive area, valid only
 * during the call: copy what must outlive it (sending it on copies).
 */
export type UdpHandler = (msg: Buffer, address: string, port: number, family: IpFamily) => void;

export interface UdpPort {
  readonly family: IpFamily;
  readonly address: string;
  readonly port: number;
  /** Sends to an IP literal; never throws (a failure is an error event, or a counted drop). */
  send(bytes: Uint8Array, port: number, address: string): void;
  onMessage(handler: UdpHandler): void;
  /** Socket errors (dgram only; native ports count them instead). */
  onError(handler: (err: Error) => void): void;
  /** Runs once the port is closed. */
  onClose(handler: () => void): void;
  close(): Promise<void>;
}

export interface UdpBindOptions {
  /** SO_REUSEPORT: other sockets (worker threads) on the same port. */
  readonly shared?: boolean;
  /** 4 MiB kernel buffers each way, as the TURN listeners want (relayed sockets keep defaults). */
  readonly bigBuffers?: boolean;
}

export interface UdpIo {
  readonly mode: UdpIoKind;
  /**
   * Whether `send` is done with the bytes when it returns (native: copied into the send pool, or
   * sent), so the caller may write the next datagram into the same buffer. Not with dgram, whose
   * send reads them later.
   */
  readonly copiesOnSend: boolean;
  /** The native addon's counts on this thread; absent for dgram. */
  readonly stats?: () => NativeUdpStats;
  /**
   * Sends now what this thread queued (native: the send pool, otherwise flushed once per loop turn
   * in the addon's check and prepare hooks); a no-op with dgram. For datagrams queued from a
   * setImmediate, which runs after the addon's check hook: the backbone's bundles.
   */
  flush(): void;
  /** Binds host:port (0: any free port); rejects with the system error (err.code, e.g. EADDRINUSE). */
  bind(host: string, family: IpFamily, port: number, options?: UdpBindOptions): Promise<UdpPort>;
}

/** What the addon counted on this thread since it was loaded (turn_native_udp_* metrics). */
export interface NativeUdpStats {
  received: number;
  sent: number;
  batches: number;
  sendCalls: number;
  dropOversized: number;
  dropSendFull: number;
  dropSendError: number;
  dropBadInput: number;
  recvErrors: number;
  open: number;
}

const BIG_BUFFER = 4 << 20;

// ---- dgram ----

class DgramPort implements UdpPort {
  readonly family: IpFamily;
  readonly address: string;
  readonly port: number;
  readonly #socket: dgram.Socket;

  constructor(socket: dgram.Socket) {
    this.#socket = socket;
    const a = socket.address();
    this.family = a.family === 'IPv6' ? 6 : 4;
    this.address = a.address;
    this.port = a.port;
  }

  send(bytes: Uint8Array, port: number, address: string): void {
    this.#socket.send(bytes, port, address);
  }

  onMessage(handler: UdpHandler): void {
    this.#socket.on('message', (msg, r) => handler(msg, r.address, r.port, r.family === 'IPv6' ? 6 : 4));
  }

  onError(handler: (err: Error) => void): void {
    this.#socket.on('error', handler);
  }

  onClose(handler: () => void): void {
    this.#socket.once('close', handler);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#socket.removeAllListeners('message');
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });
  }
}

export const dgramIo: UdpIo = {
  mode: 'dgram',
  copiesOnSend: false,
  flush() {},
  async bind(host, _family, port, options = {}) {
    const socket = await bindUdp(host, port, options.shared ?? false, options.bigBuffers ?? false);
    return new DgramPort(socket);
  },
};

// ---- native ----

/** A batch holds the datagrams of every socket that was ready; each row's `handlers[id]` takes it. */
class NativeIo implements UdpIo {
  readonly mode = 'native';
  readonly copiesOnSend = true;
  readonly #addon: UdpAddon;
  readonly #handlers: (UdpHandler | undefined)[] = [];
  readonly #meta: Int32Array;
  readonly #metaBytes: Buffer;
  readonly #slots: Buffer[] = [];
  readonly #metaInts: number;
  /** IPv4 addresses as text, by their 32-bit value: no string is built per datagram. */
  readonly #v4 = new Map<number, string>();

  constructor(addon: UdpAddon) {
    this.#addon = addon;
    const area = addon.setup((count) => this.#batch(count));
    this.#meta = new Int32Array(area.meta);
    this.#metaBytes = Buffer.from(area.meta);
    this.#metaInts = area.metaInts;
    for (let i = 0; i * area.slot < area.data.byteLength; i++)
      this.#slots.push(Buffer.from(area.data, i * area.slot, area.slot));
  }

  readonly stats = (): NativeUdpStats => this.#addon.stats();

  flush(): void {
    this.#addon.flush();
  }

  #batch(count: number): void {
    const meta = this.#meta;
    const width = this.#metaInts;
    const handlers = this.#handlers;
    let failure: unknown;
    for (let i = 0, row = 0; i < count; i++, row += width) {
      // Looked up per row: a handler may close its own socket or another one of the batch (their
      // rows are then dropped; the addon gives no closed id to a new socket during the call).
      const handler = handlers[meta[row]!];
      if (handler === undefined) continue;
      const family = meta[row + 3] === 6 ? 6 : 4;
      const address = family === 4 ? this.#ipv4(meta[row + 4]!) : this.#ipv6(row);
      const msg = this.#slots[meta[row + 6]!]!.subarray(0, meta[row + 1]!);
      try {
        handler(msg, address, meta[row + 2]!, family);
      } catch (err) {
        failure ??= err;
      }
    }
    // As with dgram, a throwing handler is an uncaught exception, after the batch is served.
    if (failure !== undefined) throw failure;
  }

  #ipv4(value: number): string {
    let text = this.#v4.get(value);
    if (text === undefined) {
      text = `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
      if (this.#v4.size >= 65_536) this.#v4.clear();
      this.#v4.set(value, text);
    }
    return text;
  }

  #ipv6(row: number): string {
    const start = (row + 8) * 4;
    return this.#metaBytes.toString('latin1', start, start + this.#meta[row + 5]!);
  }

  async bind(host: string, family: IpFamily, port: number, options: UdpBindOptions = {}): Promise<UdpPort> {
    const addon = this.#addon;
    const id = addon.open(family, host, port, options.shared ?? false);
    if (id < 0) throw errnoError(-id, `bind ${host}:${port}`);
    if (options.bigBuffers) addon.setBuffers(id, BIG_BUFFER, BIG_BUFFER);
    const handlers = this.#handlers;
    const closers: (() => void)[] = [];
    let open = true;
    return {
      family,
      address: host,
      port: addon.localPort(id),
      send: (bytes, toPort, toAddress) => addon.send(id, bytes, toPort, toAddress),
      onMessage: (handler) => {
        if (open) handlers[id] = handler;
      },
      onError: () => {},
      onClose: (handler) => {
        closers.push(handler);
      },
      close: () => {
        if (open) {
          open = false;
          handlers[id] = undefined;
          addon.close(id);
          for (const c of closers) c();
        }
        return Promise.resolve();
      },
    };
  }
}

const ERRNO: Record<number, string> = {
  1: 'EPERM',
  9: 'EBADF',
  12: 'ENOMEM',
  13: 'EACCES',
  22: 'EINVAL',
  24: 'EMFILE',
  97: 'EAFNOSUPPORT',
  98: 'EADDRINUSE',
  99: 'EADDRNOTAVAIL',
};

function errnoError(errno: number, what: string): NodeJS.ErrnoException {
  const code = ERRNO[errno] ?? `errno ${errno}`;
  const err: NodeJS.ErrnoException = new Error(`${what}: ${code}`);
  err.code = code;
  err.errno = -errno;
  return err;
}

let native: NativeIo | null | undefined;
let nativeFailure: string | undefined;

/**
 * The native I/O of this thread (the addon keeps one state per Node environment), or undefined
 * when the addon is not built (npm run build:native) or cannot load here (nativeUdpUnavailable
 * says why).
 */
export function nativeUdpIo(): UdpIo | undefined {
  if (native === undefined) {
    const loaded = nativeAddon();
    try {
      native = 'addon' in loaded ? new NativeIo(loaded.addon) : null;
      if ('error' in loaded) nativeFailure = loaded.error;
    } catch (err) {
      native = null;
      nativeFailure = `the native addon did not set up: ${(err as Error).message}`;
    }
  }
  return native ?? undefined;
}

/** Undefined when the addon loads on this thread; otherwise why not (and what to do). */
export function nativeUdpUnavailable(): string | undefined {
  return nativeUdpIo() ? undefined : nativeFailure;
}

/**
 * The UdpIo for a mode: `auto` is native when the addon loads here, else dgram; `native` without
 * the addon is dgram too, and `onFallback` says so once (relay/main.ts refuses that case before
 * anything starts: this fallback serves relays built in-process, tests and the local stack).
 */
export function udpIo(mode: UdpIoMode, onFallback: (why: string) => void): UdpIo {
  if (mode === 'dgram') return dgramIo;
  const io = nativeUdpIo();
  if (io) return io;
  if (mode === 'native') onFallback(nativeFailure ?? 'the native addon did not load');
  return dgramIo;
}

/**
 * What relay/udp-io-choice.ts needs to know about this machine for `mode` and this many workers.
 * The addon is loaded only when the mode may use it, and reusePort probed only for workers.
 */
export async function udpIoFacts(mode: UdpIoMode, workers: number): Promise<UdpIoFacts> {
  return {
    addonUnavailable: mode === 'dgram' ? 'not asked for (--udp-io dgram)' : nativeUdpUnavailable(),
    // With one thread nothing is shared and the answer is not used.
    nodeReusePort: workers > 1 ? await reusePortAvailable() : true,
    nodeVersion: process.version,
  };
}
