/**
 * A small TURN client over real sockets (UDP, TCP, TLS) for integration tests: sends requests,
 * retransmits over UDP, follows the 401/438 challenge, and collects Data indications and
 * ChannelData. Built on the project's codec; the third-party client checks use turnutils_uclient.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import type { TransportAddress } from '../../src/net/address.ts';
import { channelDataLength, encodeChannelData, looksLikeChannelData } from '../../src/stun/channel-data.ts';
import { Attr, MessageClass, Method } from '../../src/stun/constants.ts';
import { decodeMessage, findAttribute, type StunMessage } from '../../src/stun/message.ts';
import { StreamFramer } from '../../src/stun/stream-framer.ts';
import {
  type AttrList,
  type Credentials,
  channel,
  errorCodeOf,
  indication,
  lifetime,
  newTid,
  peerAttr,
  request,
  textAttr,
  transportUdp,
  u32Attr,
  xorAddressAttr,
} from './stun-builders.ts';

export interface Received {
  readonly peer?: TransportAddress;
  readonly channel?: number;
  readonly data: Uint8Array;
}

export interface TurnClientOptions {
  readonly transport: 'udp' | 'tcp' | 'tls';
  readonly server: TransportAddress;
  readonly cred?: Omit<Credentials, 'nonce'>;
  /** Local address to bind (UDP) or connect from. */
  readonly localAddress?: string;
}

export class TurnTestClient {
  readonly received: Received[] = [];
  readonly #pending = new Map<string, (m: StunMessage) => void>();
  readonly #waiters: (() => void)[] = [];
  #udp: dgram.Socket | undefined;
  #stream: net.Socket | undefined;
  #cred: Credentials | undefined;
  relayed: TransportAddress | undefined;
  mapped: TransportAddress | undefined;
  closed = false;
  #shut = false;

  private constructor(readonly opts: TurnClientOptions) {
    this.#cred = opts.cred ? { ...opts.cred } : undefined;
  }

  static async connect(opts: TurnClientOptions): Promise<TurnTestClient> {
    const c = new TurnTestClient(opts);
    await c.#open();
    return c;
  }

  async #open(): Promise<void> {
    const { transport, server } = this.opts;
    if (transport === 'udp') {
      const s = dgram.createSocket(server.family === 6 ? 'udp6' : 'udp4');
      s.on('message', (m) => this.#onBytes(new Uint8Array(m)));
      await new Promise<void>((r) =>
        s.bind(
          { address: this.opts.localAddress ?? (server.family === 6 ? '::1' : '127.0.0.1'), port: 0 },
          r,
        ),
      );
      this.#udp = s;
      return;
    }
    const framer = new StreamFramer();
    const s =
      transport === 'tls'
        ? tls.connect({ host: server.address, port: server.port, rejectUnauthorized: false })
        : net.connect({ host: server.address, port: server.port, localAddress: this.opts.localAddress });
    await new Promise<void>((resolve, reject) => {
      s.once(transport === 'tls' ? 'secureConnect' : 'connect', () => resolve());
      s.once('error', reject);
    });
    s.on('data', (chunk) => {
      for (const f of framer.push(chunk)) this.#onBytes(new Uint8Array(f.bytes));
    });
    s.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    s.on('error', () => {});
    this.#stream = s;
  }

  /** The nonce learned from the server's last challenge. */
  get nonce(): string | undefined {
    return this.#cred?.nonce;
  }

  get localPort(): number {
    return this.#udp ? this.#udp.address().port : (this.#stream?.localPort ?? 0);
  }

  #send(bytes: Uint8Array): void {
    // A retransmission timer may fire after close(); sending on a closed dgram socket throws.
    if (this.#shut) return;
    if (this.#udp) this.#udp.send(bytes, this.opts.server.port, this.opts.server.address);
    else this.#stream?.write(bytes);
  }

  /** Raw bytes to the server, for malformed-input tests. */
  sendRaw(bytes: Uint8Array): void {
    this.#send(bytes);
  }

  /** When set, ChannelData goes here (a view, valid during the call) instead of into `received`. */
  onChannelData: ((channel: number, data: Uint8Array) => void) | undefined;

  #onBytes(b: Uint8Array): void {
    if (looksLikeChannelData(b)) {
      const len = channelDataLength(b);
      if (len >= 0 && this.onChannelData) this.onChannelData((b[0]! << 8) | b[1]!, b.subarray(4, 4 + len));
      else if (len >= 0)
        this.received.push({ channel: (b[0]! << 8) | b[1]!, data: new Uint8Array(b.subarray(4, 4 + len)) });
      this.#wake();
      return;
    }
    const r = decodeMessage(b);
    if (!r.ok) return;
    const m = r.message;
    if (m.cls === MessageClass.Indication && m.method === Method.Data) {
      const data = findAttribute(m, Attr.Data)?.value;
      const peer = xorAddressAttr(m, Attr.XorPeerAddress);
      if (data && peer) this.received.push({ peer, data: new Uint8Array(data) });
      this.#wake();
      return;
    }
    const key = Buffer.from(m.transactionId).toString('hex');
    this.#pending.get(key)?.(m);
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /**
   * One transaction: UDP retransmits (RFC 8489 §6.2.1, shortened) unless `retransmit` is false
   * (for tests that count every datagram), streams send once.
   */
  transact(bytes: Uint8Array, tid: Uint8Array, timeoutMs = 3000, retransmit = true): Promise<StunMessage> {
    const key = Buffer.from(tid).toString('hex');
    return new Promise((resolve, reject) => {
      let rto = 100;
      let timer: NodeJS.Timeout | undefined;
      const deadline = setTimeout(() => {
        clearTimeout(timer);
        this.#pending.delete(key);
        reject(new Error(`no answer to transaction ${key}`));
      }, timeoutMs);
      this.#pending.set(key, (m) => {
        clearTimeout(timer);
        clearTimeout(deadline);
        this.#pending.delete(key);
        resolve(m);
      });
      const send = () => {
        this.#send(bytes);
        if (this.#udp && retransmit) {
          rto *= 2;
          timer = setTimeout(send, rto);
        }
      };
      send();
    });
  }

  /** A request with credentials, following 401 and 438 challenges once each. */
  async ask(method: number, attrs: (tid: Uint8Array) => AttrList): Promise<StunMessage> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const tid = newTid();
      const { bytes } = request(method, attrs(tid), this.#cred, { tid, fingerprint: true });
      const res = await this.transact(bytes, tid);
      const code = errorCodeOf(res);
      if ((code === 401 || code === 438) && this.#cred && attempt < 2) {
        const nonce = textAttr(res, Attr.Nonce);
        if (nonce && (code === 438 || this.#cred.nonce === undefined)) {
          this.#cred.nonce = nonce;
          continue;
        }
      }
      return res;
    }
    throw new Error('unreachable');
  }

  async allocate(extra: AttrList = []): Promise<StunMessage> {
    const res = await this.ask(Method.Allocate, () => [transportUdp(), ...extra]);
    if (res.cls === MessageClass.SuccessResponse) {
      this.relayed = xorAddressAttr(res, Attr.XorRelayedAddress);
      this.mapped = xorAddressAttr(res, Attr.XorMappedAddress);
    }
    return res;
  }

  refresh(seconds?: number): Promise<StunMessage> {
    return this.ask(Method.Refresh, () => (seconds === undefined ? [] : [lifetime(seconds)]));
  }

  createPermission(...peers: TransportAddress[]): Promise<StunMessage> {
    return this.ask(Method.CreatePermission, (tid) => peers.map((p) => peerAttr(p, tid)));
  }

  channelBind(ch: number, peer: TransportAddress): Promise<StunMessage> {
    return this.ask(Method.ChannelBind, (tid) => [channel(ch), peerAttr(peer, tid)]);
  }

  sendIndication(peer: TransportAddress, data: Uint8Array): void {
    const tid = newTid();
    this.#send(indication(Method.Send, [peerAttr(peer, tid), [Attr.Data, data]], tid));
  }

  sendChannel(ch: number, data: Uint8Array): void {
    this.#send(encodeChannelData(ch, data, this.opts.transport !== 'udp'));
  }

  /** Wait until `n` data messages have arrived, or fail after `timeoutMs`. */
  async waitForData(n: number, timeoutMs = 3000): Promise<Received[]> {
    const end = Date.now() + timeoutMs;
    while (this.received.length < n) {
      const left = end - Date.now();
      if (left <= 0) throw new Error(`expected ${n} data messages, got ${this.received.length}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 50));
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.received;
  }

  lifetimeOf(m: StunMessage): number | undefined {
    return u32Attr(m, Attr.Lifetime);
  }

  async close(): Promise<void> {
    if (this.#shut) return;
    this.#shut = true;
    if (this.#udp) await new Promise<void>((r) => this.#udp!.close(() => r()));
    if (this.#stream) {
      const s = this.#stream;
      await new Promise<void>((r) => {
        if (s.destroyed) return r();
        s.once('close', () => r());
        s.destroy();
      });
    }
  }
}
