/**
 * The address strings and bytes the backbone core's data path needs (core.ts), from small caches
 * keyed by numbers, so none is built per packet: the bytes of the IP literals packets are routed
 * from and to, and for frames delivered here, the literal of their source and the addressKey of
 * the relayed address they are for. A relay sends between few relayed IPs; each cache starts
 * again past ADDRESS_CACHE_LIMIT entries, which bounds memory, not speed. Pure.
 */
import { addressKey } from '../net/address.ts';
import { formatIp, parseIp } from '../net/ip.ts';

/** Entries a cache holds before it starts again. */
export const ADDRESS_CACHE_LIMIT = 4096;

export class AddressCache {
  /** IP literal -> its bytes (null: not a literal), for the addresses of packets routed out. */
  readonly #ipBytes = new Map<string, Uint8Array | null>();
  /** IPv4 as a u32 -> its literal, for the sources of frames delivered. */
  readonly #ip4Text = new Map<number, string>();
  /** IPv4 u32 * 65536 + port -> addressKey, for the relayed addresses frames are delivered to. */
  readonly #ip4Key = new Map<number, string>();

  /** The bytes of an IP literal (null: not one). */
  bytesOf(ip: string): Uint8Array | null {
    let b = this.#ipBytes.get(ip);
    if (b === undefined) {
      if (this.#ipBytes.size >= ADDRESS_CACHE_LIMIT) this.#ipBytes.clear();
      b = parseIp(ip) ?? null;
      this.#ipBytes.set(ip, b);
    }
    return b;
  }

  /** The literal of an address in a frame; IPv4 from the cache keyed by its value. */
  textOf(ip: Uint8Array): string {
    if (ip.length !== 4) return formatIp(ip);
    const n = ((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0;
    let t = this.#ip4Text.get(n);
    if (t === undefined) {
      if (this.#ip4Text.size >= ADDRESS_CACHE_LIMIT) this.#ip4Text.clear();
      t = formatIp(ip);
      this.#ip4Text.set(n, t);
    }
    return t;
  }

  /** addressKey of a relayed address in a frame; IPv4 from the cache keyed by address and port. */
  relayedKey(ip: Uint8Array, port: number): string {
    if (ip.length !== 4) return addressKey({ family: 6, address: formatIp(ip), port });
    const n = (((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) >>> 0) * 65536 + port;
    let k = this.#ip4Key.get(n);
    if (k === undefined) {
      if (this.#ip4Key.size >= ADDRESS_CACHE_LIMIT) this.#ip4Key.clear();
      k = addressKey({ family: 4, address: this.textOf(ip), port });
      this.#ip4Key.set(n, k);
    }
    return k;
  }
}
