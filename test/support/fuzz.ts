/**
 * Seeded generators of hostile STUN/TURN input: random bytes shaped to pass the first
 * demultiplexing checks, byte-level mutations of valid messages, and structure-aware mutations
 * (attributes added, dropped, resized, retyped) re-signed with valid credentials so that they get
 * past authentication and reach the request handlers. Same seed, same messages.
 */

import { stunCrypto } from '../../relay/platform-crypto.ts';
import { encodeChannelData } from '../../src/stun/channel-data.ts';
import { Attr, MAGIC_COOKIE, MessageClass, Method } from '../../src/stun/constants.ts';
import { decodeMessage, encodeMessage } from '../../src/stun/message.ts';
import { type Credentials, ltKey } from './stun-builders.ts';

/** mulberry32: small, fast, good enough to drive a fuzzer reproducibly. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ATTR_TYPES = Object.values(Attr) as number[];
const METHODS = Object.values(Method) as number[];
const CLASSES = Object.values(MessageClass) as number[];

export class Fuzzer {
  readonly #r: () => number;

  constructor(
    seed: number,
    private readonly cred: Credentials & { nonce: string },
    private readonly corpus: readonly Uint8Array[],
  ) {
    this.#r = rng(seed);
  }

  #int(n: number): number {
    return Math.floor(this.#r() * n);
  }

  #pick<T>(xs: readonly T[]): T {
    return xs[this.#int(xs.length)]!;
  }

  #bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.#int(256);
    return b;
  }

  /** One hostile message. */
  next(): Uint8Array {
    const kind = this.#int(4);
    if (kind === 0) return this.#random();
    if (kind === 1) return this.#mutateBytes(this.#pick(this.corpus));
    if (kind === 2) return this.#structured();
    return this.#channelData();
  }

  #random(): Uint8Array {
    const b = this.#bytes(this.#int(600));
    if (b.length >= 8 && this.#r() < 0.6) {
      // Look like STUN: top bits clear, the magic cookie, a plausible length.
      b[0]! &= 0x3f;
      new DataView(b.buffer).setUint32(4, MAGIC_COOKIE);
      if (this.#r() < 0.5) new DataView(b.buffer).setUint16(2, Math.max(0, b.length - 20) & ~3);
    }
    return b;
  }

  #mutateBytes(src: Uint8Array): Uint8Array {
    let b = new Uint8Array(src);
    const n = 1 + this.#int(6);
    for (let i = 0; i < n; i++) {
      const op = this.#int(6);
      const at = this.#int(Math.max(1, b.length));
      if (op === 0) b[at] = this.#int(256);
      else if (op === 1) b[at]! ^= 1 << this.#int(8);
      else if (op === 2) b[at] = this.#pick([0, 0xff, 0x7f, 0x80, 0x40]);
      else if (op === 3) b = b.slice(0, at);
      else if (op === 4) b = new Uint8Array([...b, ...this.#bytes(this.#int(64))]);
      else if (b.length > 4) new DataView(b.buffer).setUint16(2, this.#int(65536));
    }
    return b;
  }

  /** Decode a corpus message, change its attributes, and sign it again with valid credentials. */
  #structured(): Uint8Array {
    const src = decodeMessage(this.#pick(this.corpus));
    const attrs: [number, Uint8Array][] = [];
    if (src.ok) {
      for (const a of src.message.attributes) {
        if (a.type !== Attr.MessageIntegrity && a.type !== Attr.Fingerprint)
          attrs.push([a.type, new Uint8Array(a.value)]);
      }
    }
    const n = 1 + this.#int(4);
    for (let i = 0; i < n; i++) {
      const op = this.#int(5);
      const at = this.#int(Math.max(1, attrs.length));
      if (op === 0) attrs.push([this.#pick(ATTR_TYPES), this.#bytes(this.#int(24))]);
      else if (op === 1 && attrs.length > 0) attrs.splice(at, 1);
      else if (op === 2 && attrs[at]) attrs[at] = [attrs[at]![0], this.#bytes(this.#int(40))];
      else if (op === 3 && attrs[at]) attrs.push([attrs[at]![0], attrs[at]![1]]);
      else attrs.push([this.#int(0x10000), this.#bytes(this.#int(16))]);
    }
    // Keep credentials valid so the mutated request reaches the method handlers.
    const withCred = attrs.filter(([t]) => t !== Attr.Username && t !== Attr.Realm && t !== Attr.Nonce);
    const enc = new TextEncoder();
    withCred.push(
      [Attr.Username, enc.encode(this.cred.username)],
      [Attr.Realm, enc.encode(this.cred.realm)],
      [Attr.Nonce, enc.encode(this.cred.nonce)],
    );
    const method = this.#r() < 0.8 && src.ok ? src.message.method : this.#pick(METHODS);
    const cls = this.#r() < 0.8 ? MessageClass.Request : this.#pick(CLASSES);
    return encodeMessage(method, cls as MessageClass, this.#bytes(12), withCred, {
      integrityKey: ltKey(this.cred),
      fingerprint: this.#r() < 0.5,
      crypto: stunCrypto,
    });
  }

  #channelData(): Uint8Array {
    const channel = 0x4000 + this.#int(0x4000);
    const data = this.#bytes(this.#int(300));
    const b = encodeChannelData(channel, data, this.#r() < 0.5);
    return this.#r() < 0.5 ? this.#mutateBytes(b) : b;
  }
}

/**
 * One fuzzed message as one well-formed stream frame: a first byte that says STUN or ChannelData,
 * a length field that matches the bytes that follow, ChannelData padded to 4 (RFC 8656 §12.5).
 * The content stays as hostile as the fuzzer made it.
 */
export function asFrame(msg: Uint8Array): Uint8Array {
  let b = new Uint8Array(msg);
  if ((b[0] ?? 0) & 0x80) b[0]! &= 0x7f; // 10xxxxxx -> STUN, 11xxxxxx -> ChannelData
  if (((b[0] ?? 0) & 0xc0) === 0x40) {
    if (b.length < 4) b = Uint8Array.from({ length: 4 }, (_, i) => b[i] ?? 0);
    const len = Math.min(b.length - 4, 0xffff);
    b = b.subarray(0, 4 + len);
    const out = new Uint8Array(4 + ((len + 3) & ~3));
    out.set(b);
    out[2] = len >> 8;
    out[3] = len & 0xff;
    return out;
  }
  if (b.length < 20) b = Uint8Array.from({ length: 20 }, (_, i) => b[i] ?? 0);
  const len = Math.min(b.length - 20, 0xffff);
  b = b.subarray(0, 20 + len);
  b[2] = len >> 8;
  b[3] = len & 0xff;
  return b;
}
