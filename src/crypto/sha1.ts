/**
 * SHA-1 (FIPS 180-4 §6.1) in TypeScript, synchronous, for what src/ derives once from
 * configuration: relay ids on the wire (backbone/relay-hash.ts) and mesh-key ids
 * (backbone/key-ring.ts). Nothing on the data path hashes here: MACs, MD5 and CRC-32 come from
 * the platform through the shell (relay/platform-crypto.ts).
 *
 * Whole blocks are read straight from the caller's bytes into one reused 80-word schedule; the
 * only per-hash allocation is the 20-byte digest. Not reentrant, which is fine: nothing here
 * yields or calls back.
 */

/** The message schedule, shared by every hasher (each block is consumed before the next starts). */
const W = new Int32Array(80);

/** Compresses the 64 bytes of `b` at `o` into the five state words `h` (FIPS 180-4 §6.1.2). */
function compress(h: Int32Array, b: Uint8Array, o: number): void {
  for (let i = 0; i < 16; i++, o += 4) {
    W[i] = (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
  }
  for (let i = 16; i < 80; i++) {
    const x = W[i - 3]! ^ W[i - 8]! ^ W[i - 14]! ^ W[i - 16]!;
    W[i] = (x << 1) | (x >>> 31);
  }
  let a = h[0]!;
  let bb = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  // Four rounds of 20 steps, each with its own function and constant (FIPS 180-4 §4.1.1, §4.2.1).
  let i = 0;
  for (; i < 20; i++) {
    const t = (((a << 5) | (a >>> 27)) + ((bb & c) | (~bb & d)) + e + 0x5a827999 + W[i]!) | 0;
    e = d;
    d = c;
    c = (bb << 30) | (bb >>> 2);
    bb = a;
    a = t;
  }
  for (; i < 40; i++) {
    const t = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + 0x6ed9eba1 + W[i]!) | 0;
    e = d;
    d = c;
    c = (bb << 30) | (bb >>> 2);
    bb = a;
    a = t;
  }
  for (; i < 60; i++) {
    const t = (((a << 5) | (a >>> 27)) + ((bb & c) | (bb & d) | (c & d)) + e + 0x8f1bbcdc + W[i]!) | 0;
    e = d;
    d = c;
    c = (bb << 30) | (bb >>> 2);
    bb = a;
    a = t;
  }
  for (; i < 80; i++) {
    const t = (((a << 5) | (a >>> 27)) + (bb ^ c ^ d) + e + 0xca62c1d6 + W[i]!) | 0;
    e = d;
    d = c;
    c = (bb << 30) | (bb >>> 2);
    bb = a;
    a = t;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + bb) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
}

/**
 * An incremental SHA-1: `reset()`, any number of `update()`, then `digestInto()` or `digest()`.
 * Instances are meant to be reused, so a hash costs no allocation beyond
 * its output.
 */
export class Sha1 {
  private readonly h = new Int32Array(5);
  private readonly buf = new Uint8Array(64);
  private filled = 0;
  private total = 0;

  constructor() {
    this.reset();
  }

  /** Back to the initial hash value H(0) (FIPS 180-4 §5.3.1). */
  reset(): this {
    const h = this.h;
    h[0] = 0x67452301;
    h[1] = 0xefcdab89 | 0;
    h[2] = 0x98badcfe | 0;
    h[3] = 0x10325476;
    h[4] = 0xc3d2e1f0 | 0;
    this.filled = 0;
    this.total = 0;
    return this;
  }

  update(data: Uint8Array): this {
    const n = data.length;
    this.total += n;
    let i = 0;
    if (this.filled > 0) {
      const take = Math.min(64 - this.filled, n);
      this.buf.set(data.subarray(0, take), this.filled);
      this.filled += take;
      i = take;
      if (this.filled < 64) return this;
      compress(this.h, this.buf, 0);
      this.filled = 0;
    }
    // Whole blocks straight from the input, no copy.
    for (; i + 64 <= n; i += 64) compress(this.h, data, i);
    if (i < n) {
      this.buf.set(data.subarray(i), 0);
      this.filled = n - i;
    }
    return this;
  }

  /** Pads (FIPS 180-4 §5.1.1), writes the 20-byte digest to `out` at `offset`, and resets. */
  digestInto(out: Uint8Array, offset = 0): void {
    const buf = this.buf;
    const bits = this.total * 8;
    let f = this.filled;
    buf[f++] = 0x80;
    if (f > 56) {
      buf.fill(0, f);
      compress(this.h, buf, 0);
      f = 0;
    }
    buf.fill(0, f, 56);
    // The message length in bits as a 64-bit big-endian number.
    const hi = Math.floor(bits / 0x100000000);
    const lo = bits >>> 0;
    buf[56] = hi >>> 24;
    buf[57] = hi >>> 16;
    buf[58] = hi >>> 8;
    buf[59] = hi;
    buf[60] = lo >>> 24;
    buf[61] = lo >>> 16;
    buf[62] = lo >>> 8;
    buf[63] = lo;
    compress(this.h, buf, 0);
    for (let k = 0; k < 5; k++) {
      const w = this.h[k]!;
      const o = offset + k * 4;
      out[o] = w >>> 24;
      out[o + 1] = w >>> 16;
      out[o + 2] = w >>> 8;
      out[o + 3] = w;
    }
    this.reset();
  }

  digest(): Uint8Array {
    const out = new Uint8Array(20);
    this.digestInto(out);
    return out;
  }
}

const shared = new Sha1();

/** SHA-1 of `data`: 20 bytes. */
export function sha1(data: Uint8Array): Uint8Array {
  return shared.reset().update(data).digest();
}

/** SHA-1 over the concatenation of `parts`, without joining them. */
export function sha1Parts(parts: readonly Uint8Array[]): Uint8Array {
  shared.reset();
  for (const p of parts) shared.update(p);
  return shared.digest();
}
