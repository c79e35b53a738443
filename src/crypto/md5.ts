/**
 * MD5 (RFC 1321) in TypeScript, synchronous. STUN's long-term credential key is
 * MD5(username ":" realm ":" password) (RFC 8489 §9.2.2), and Web Crypto has no MD5 at all.
 * Owns the hash only; it is not used anywhere collision resistance matters.
 *
 * Whole blocks are read straight from the input; only the padded tail goes through a reused buffer.
 */

/** T[i] = floor(2^32 * abs(sin(i + 1))) (RFC 1321 §3.4), written out so no engine's sin() matters. */
const T = Int32Array.from([
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501, 0x698098d8,
  0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
  0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87,
  0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
  0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039,
  0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
  0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
  0xeb86d391,
]);

/** Per-round shift amounts, four per round (RFC 1321 §3.4). */
const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];

/** Which message word step i reads (RFC 1321 §3.4: rounds 2-4 walk the block in strides 5, 3, 7). */
const G = Uint8Array.from({ length: 64 }, (_, i) =>
  i < 16 ? i : i < 32 ? (5 * i + 1) % 16 : i < 48 ? (3 * i + 5) % 16 : (7 * i) % 16,
);

const X = new Int32Array(16);
const state = new Int32Array(4);
const tail = new Uint8Array(128);

function compress(b: Uint8Array, o: number): void {
  // Words are little-endian (RFC 1321 §2).
  for (let i = 0; i < 16; i++, o += 4)
    X[i] = b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);
  let a = state[0]!;
  let bb = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  for (let i = 0; i < 64; i++) {
    let f: number;
    if (i < 16)
      f = (bb & c) | (~bb & d); // F(X,Y,Z)
    else if (i < 32)
      f = (bb & d) | (c & ~d); // G(X,Y,Z)
    else if (i < 48)
      f = bb ^ c ^ d; // H(X,Y,Z)
    else f = c ^ (bb | ~d); // I(X,Y,Z)
    const s = S[((i >> 4) << 2) | (i & 3)]!;
    const t = (a + f + T[i]! + X[G[i]!]!) | 0;
    a = d;
    d = c;
    c = bb;
    bb = (bb + ((t << s) | (t >>> (32 - s)))) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + bb) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
}

/** MD5 of `data`: 16 bytes. */
export function md5(data: Uint8Array): Uint8Array {
  // Initial buffer A, B, C, D (RFC 1321 §3.3).
  state[0] = 0x67452301;
  state[1] = 0xefcdab89 | 0;
  state[2] = 0x98badcfe | 0;
  state[3] = 0x10325476;
  const n = data.length;
  const whole = n - (n % 64);
  for (let o = 0; o < whole; o += 64) compress(data, o);
  // Padding: 0x80, zeros to 56 mod 64, then the bit length as 64 bits little-endian (RFC 1321 §3.1-3.2).
  const rest = n - whole;
  const size = rest + 9 <= 64 ? 64 : 128;
  tail.fill(0);
  tail.set(data.subarray(whole), 0);
  tail[rest] = 0x80;
  const bits = n * 8;
  const lo = bits >>> 0;
  const hi = Math.floor(bits / 0x100000000);
  for (let k = 0; k < 4; k++) {
    tail[size - 8 + k] = lo >>> (8 * k);
    tail[size - 4 + k] = hi >>> (8 * k);
  }
  compress(tail, 0);
  if (size === 128) compress(tail, 64);
  const out = new Uint8Array(16);
  for (let k = 0; k < 4; k++) {
    const w = state[k]!;
    out[k * 4] = w;
    out[k * 4 + 1] = w >>> 8;
    out[k * 4 + 2] = w >>> 16;
    out[k * 4 + 3] = w >>> 24;
  }
  return out;
}
