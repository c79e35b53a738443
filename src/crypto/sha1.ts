/**
 * SHA-1 (FIPS 180-4) in TypeScript, synchronous, for STUN MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489
 * §14.5) in the synchronous TURN engine. Web Crypto is asynchronous, so it cannot serve here.
 * Works on one reused 80-word schedule; the only allocations are the padded tail and the digest.
 */
const W = new Int32Array(80);

function rotl(x: number, n: number): number {
  return (x << n) | (x >>> (32 - n));
}

function block(h: Int32Array, view: DataView, offset: number): void {
  for (let i = 0; i < 16; i++) W[i] = view.getInt32(offset + i * 4);
  for (let i = 16; i < 80; i++) W[i] = rotl(W[i - 3]! ^ W[i - 8]! ^ W[i - 14]! ^ W[i - 16]!, 1);
  let a = h[0]!;
  let b = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  for (let i = 0; i < 80; i++) {
    let f: number;
    let k: number;
    if (i < 20) {
      f = (b & c) | (~b & d);
      k = 0x5a827999;
    } else if (i < 40) {
      f = b ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (i < 60) {
      f = (b & c) | (b & d) | (c & d);
      k = 0x8f1bbcdc;
    } else {
      f = b ^ c ^ d;
      k = 0xca62c1d6;
    }
    const t = (rotl(a, 5) + f + e + k + W[i]!) | 0;
    e = d;
    d = c;
    c = rotl(b, 30);
    b = a;
    a = t;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
}

/** SHA-1 over the concatenation of `parts`, without joining them first when they are block-aligned. */
export function sha1Parts(parts: readonly Uint8Array[]): Uint8Array {
  const h = new Int32Array([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0]);
  let total = 0;
  for (const p of parts) total += p.length;
  // Feed whole blocks straight from the parts where a block does not straddle two parts.
  const buf = new Uint8Array(64);
  const bufView = new DataView(buf.buffer);
  let filled = 0;
  for (const p of parts) {
    let i = 0;
    if (filled > 0) {
      const take = Math.min(64 - filled, p.length);
      buf.set(p.subarray(0, take), filled);
      filled += take;
      i = take;
      if (filled === 64) {
        block(h, bufView, 0);
        filled = 0;
      }
    }
    if (i < p.length) {
      const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
      for (; i + 64 <= p.length; i += 64) block(h, view, i);
      buf.set(p.subarray(i), 0);
      filled = p.length - i;
    }
  }
  // Padding: 0x80, zeros, then the bit length as a 64-bit big-endian number.
  const tail = new Uint8Array(128);
  tail.set(buf.subarray(0, filled), 0);
  tail[filled] = 0x80;
  const padded = filled + 1 + 8 <= 64 ? 64 : 128;
  const tailView = new DataView(tail.buffer, 0, padded);
  tailView.setUint32(padded - 8, Math.floor(total / 0x20000000));
  tailView.setUint32(padded - 4, (total * 8) >>> 0);
  block(h, tailView, 0);
  if (padded === 128) block(h, tailView, 64);
  const out = new Uint8Array(20);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 5; i++) outView.setInt32(i * 4, h[i]!);
  return out;
}

export function sha1(data: Uint8Array): Uint8Array {
  return sha1Parts([data]);
}
