/**
 * Byte and text helpers that run on Node and Workers alike (no Buffer, only TextEncoder, TextDecoder,
 * atob and btoa): UTF-8, base64, hex, constant-time comparison, copying and joining bytes.
 */
const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF as data instead of silently dropping it.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** UTF-8 bytes of `s`; a lone surrogate becomes U+FFFD. */
export function utf8Encode(s: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(s);
}

/** Decodes UTF-8; malformed sequences become U+FFFD (never throws). */
export function utf8Decode(b: Uint8Array): string {
  return decoder.decode(b);
}

/** Standard base64 with padding (RFC 4648 §4). */
export function toBase64(b: Uint8Array): string {
  // btoa takes a "binary string" (one char per byte); build it in chunks to bound argument counts.
  let s = '';
  for (let i = 0; i < b.length; i += 0x2000) s += String.fromCharCode(...b.subarray(i, i + 0x2000));
  return btoa(s);
}

/**
 * Decodes standard, padded base64 (RFC 4648 §4). Anything else (whitespace, the URL-safe alphabet
 * of §5, missing or misplaced '=') gives undefined. Non-zero pad bits (§3.5) are tolerated.
 */
export function fromBase64(s: string): Uint8Array | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  try {
    const bin = atob(s);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!];
  return s;
}

/** Decodes hex of either case; odd length or a non-hex digit gives undefined. */
export function fromHex(s: string): Uint8Array | undefined {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return undefined;
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * Compares in time independent of where equal-length inputs differ (no early exit); false at once on
 * different lengths, so only the length can leak.
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * A copy that owns its memory. (Node's Buffer#slice returns a view, so `.slice()` on bytes that may
 * be a Buffer is not a copy; this is.)
 */
export function copyBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b);
}

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
