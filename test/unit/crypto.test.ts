/**
 * The pure helpers left in src/crypto: SHA-1 (relay and mesh-key ids) checked against node:crypto
 * over many lengths, including every padding boundary, plus the FIPS 180 vectors; and the
 * byte/text encodings with their invalid inputs. HMAC, MD5 and CRC-32 come from the platform
 * (relay/platform-crypto.ts), tested through the STUN codec's RFC 5769 vectors.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  concatBytes,
  copyBytes,
  fromBase64,
  fromHex,
  timingSafeEqual,
  toBase64,
  toHex,
  utf8Decode,
  utf8Encode,
} from '../../src/crypto/encoding.ts';
import { Sha1, sha1, sha1Parts } from '../../src/crypto/sha1.ts';

/** Deterministic bytes (xorshift32), so a failure names a length that reproduces. */
function bytes(n: number, seed: number): Uint8Array {
  let x = seed | 1;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
  }
  return out;
}

const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ascii = (s: string) => new TextEncoder().encode(s);

/** Every length 0..300 (so 55, 56, 63, 64, 65, 119, 120, 128 ... are all in), then a few large ones. */
const LENGTHS = [...Array.from({ length: 301 }, (_, i) => i), 1000, 4096, 65_537];

describe('sha1', () => {
  it('matches node:crypto for every length from 0 to 300 and a few large inputs', () => {
    for (const n of LENGTHS) {
      const data = bytes(n, n + 1);
      expect(hexOf(sha1(data)), `length ${n}`).toBe(createHash('sha1').update(data).digest('hex'));
    }
  });

  it('gives the FIPS 180 example digests', () => {
    expect(hexOf(sha1(ascii('')))).toBe('da39a3ee5e6b4b0d3255bfef95601890afd80709');
    expect(hexOf(sha1(ascii('abc')))).toBe('a9993e364706816aba3e25717850c26c9cd0d89d');
    expect(hexOf(sha1(ascii('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')))).toBe(
      '84983e441c3bd26ebaae4aa1f95129e5e54670f1',
    );
  });

  it('hashes a subarray view by its own bytes, not its whole buffer', () => {
    const whole = bytes(200, 7);
    const view = whole.subarray(13, 150);
    expect(hexOf(sha1(view))).toBe(createHash('sha1').update(view).digest('hex'));
  });

  it('hashes parts split anywhere the same as their concatenation', () => {
    const data = bytes(300, 3);
    const want = createHash('sha1').update(data).digest('hex');
    for (const cut of [0, 1, 20, 55, 63, 64, 65, 128, 299, 300]) {
      for (const cut2 of [cut, Math.min(300, cut + 1), Math.min(300, cut + 64), 300]) {
        const parts = [data.subarray(0, cut), data.subarray(cut, cut2), data.subarray(cut2)];
        expect(hexOf(sha1Parts(parts)), `cuts ${cut}/${cut2}`).toBe(want);
      }
    }
  });

  it('lets an incremental hasher be reused after each digest', () => {
    const h = new Sha1();
    for (const n of [0, 64, 100]) {
      const data = bytes(n, 11);
      expect(hexOf(h.update(data).digest())).toBe(createHash('sha1').update(data).digest('hex'));
    }
  });
});

describe('encoding', () => {
  it('round-trips base64 and hex for lengths 0 to 300, agreeing with Buffer', () => {
    for (let n = 0; n <= 300; n++) {
      const data = bytes(n, n + 21);
      const b64 = toBase64(data);
      expect(b64).toBe(Buffer.from(data).toString('base64'));
      expect(fromBase64(b64)).toEqual(data);
      const hx = toHex(data);
      expect(hx).toBe(Buffer.from(data).toString('hex'));
      expect(fromHex(hx)).toEqual(data);
    }
  });

  it('encodes base64 of inputs longer than one internal chunk', () => {
    const data = bytes(100_000, 4);
    expect(toBase64(data)).toBe(Buffer.from(data).toString('base64'));
  });

  it.each([
    ['a length that is not a multiple of 4', 'abc'],
    ['missing padding', 'YQ'],
    ['three padding characters', 'Y==='],
    ['only padding', '===='],
    ['padding in the middle', 'YQ==YQ=='],
    ['padding not at the end', 'Y=Q='],
    ['the URL-safe alphabet', 'ab-_'],
    ['whitespace', 'YW Jj'],
    ['a trailing newline', 'YWJj\n'],
    ['a character outside base64', 'YW*j'],
  ])('rejects base64 with %s', (_name, input) => {
    expect(fromBase64(input)).toBeUndefined();
  });

  it('decodes padded base64 and the empty string', () => {
    expect(fromBase64('')).toEqual(new Uint8Array(0));
    expect(fromBase64('YQ==')).toEqual(ascii('a'));
    expect(fromBase64('YWI=')).toEqual(ascii('ab'));
    expect(fromBase64('YWJj')).toEqual(ascii('abc'));
  });

  it.each([
    ['an odd length', 'abc'],
    ['a non-hex digit', 'zz'],
    ['a 0x prefix', '0x00'],
    ['a sign', '-1'],
    ['a space', '00 11'],
  ])('rejects hex with %s', (_name, input) => {
    expect(fromHex(input)).toBeUndefined();
  });

  it('decodes hex in either case', () => {
    expect(fromHex('DEADbeef')).toEqual(Uint8Array.of(0xde, 0xad, 0xbe, 0xef));
    expect(fromHex('')).toEqual(new Uint8Array(0));
  });

  it('round-trips UTF-8 text, keeping a leading byte-order mark', () => {
    for (const s of ['', 'ascii', '\u30DE\u30C8\u30EA\u30C3\u30AF\u30B9', 'emoji \u{1F600}', '\uFEFFbom']) {
      expect(utf8Encode(s)).toEqual(new Uint8Array(Buffer.from(s, 'utf8')));
      expect(utf8Decode(utf8Encode(s))).toBe(s);
    }
  });

  it('decodes malformed UTF-8 to replacement characters instead of throwing', () => {
    expect(utf8Decode(Uint8Array.of(0x61, 0xff, 0x62))).toBe('a\uFFFDb');
  });

  it('compares bytes for equality, and says false for different lengths', () => {
    expect(timingSafeEqual(ascii('abc'), ascii('abc'))).toBe(true);
    expect(timingSafeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
    expect(timingSafeEqual(ascii('abc'), ascii('abd'))).toBe(false);
    expect(timingSafeEqual(ascii('xbc'), ascii('abc'))).toBe(false);
    expect(timingSafeEqual(ascii('abc'), ascii('abcd'))).toBe(false);
  });

  it('joins parts in order into new memory', () => {
    const a = ascii('ab');
    const joined = concatBytes([a, new Uint8Array(0), ascii('cde')]);
    expect(joined).toEqual(ascii('abcde'));
    a[0] = 0;
    expect(joined[0]).toBe(0x61);
    expect(concatBytes([])).toEqual(new Uint8Array(0));
  });

  it('copies a view into memory of its own', () => {
    const whole = ascii('hello');
    const copy = copyBytes(whole.subarray(1, 4));
    whole[1] = 0;
    expect(copy).toEqual(ascii('ell'));
    expect(copy.byteOffset).toBe(0);
    expect(copy.buffer.byteLength).toBe(3);
  });
});
