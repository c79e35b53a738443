/**
 * Backbone frames (docs/BACKBONE.md): what relays exchange on the backbone port. Probes and probe
 * replies measure one relay-to-relay link; data frames carry a relayed datagram from an allocation
 * on one relay to an allocation on another, maybe through a third. A frame is a fixed 24-byte
 * header, a type-specific body and a 16-byte tag: RFC 8439's ChaCha20-Poly1305 tag over
 * everything before it (the hop-limit byte, the only field a forwarding relay changes, read as
 * zero), under the run key of the frame's sender (a mesh key and the sender's run, key-ring.ts),
 * with the sender field and the 48-bit seq as the nonce. The shell's frame MAC (frame-mac.ts)
 * computes it, one call per frame, over the frame where it lies. The layout and types are in
 * frame-format.ts.
 *
 * Data path: decoding returns numbers and views into the datagram (no copies, no strings, no
 * nested objects); it never throws, and a malformed frame gives an error code and its offset.
 */
import { concatBytes } from '../crypto/encoding.ts';
import type { IpFamily } from '../net/address.ts';
import { AddressFamily } from '../stun/constants.ts';
import {
  type BundleFrame,
  DATA_FIXED_LENGTH,
  type DataFrame,
  type DataFrameInit,
  DEFAULT_HOP_LIMIT,
  dataOverhead,
  FRAME_HEADER_LENGTH,
  FRAME_MAGIC,
  FRAME_TAG_LENGTH,
  FRAME_VERSION,
  type FrameDecodeError,
  type FrameDecodeResult,
  type FrameInit,
  FrameOffset,
  FrameType,
  ipLength,
  MAX_FRAME_LENGTH,
  MAX_SEQ,
  PROBE_BODY_LENGTH,
  type ProbeFrame,
  type ProbeInit,
  type ProbeReplyFrame,
  type ProbeReplyInit,
  REPLY_BODY_LENGTH,
  type WireAddress,
} from './frame-format.ts';
import type { RunKeys } from './key-ring.ts';
import { MAX_RELAY_HASH } from './relay-hash.ts';

// Callers of the codec import the format's names (FrameType, wireAddress, ...) from here too.
export * from './frame-format.ts';

/**
 * A data frame sealed with the current key, as one buffer: header, addresses, payload (copied
 * once, into the frame) and tag. Throws (a caller fault) on a bad address, seq, relay hash, hop
 * limit or flags, or a frame over MAX_FRAME_LENGTH: check dataOverhead() first. With `into`
 * (a buffer the caller reuses, large enough), the frame is a view of its start; otherwise fresh
 * memory.
 */
export function encodeDataFrame(init: DataFrameInit, keys: RunKeys, into?: Uint8Array): Uint8Array {
  const length = untaggedLength(init) + FRAME_TAG_LENGTH;
  const out = into !== undefined && into.length >= length ? into.subarray(0, length) : carve(length);
  writeDataFrame(out, init, keys);
  return seal(out, keys, out[FrameOffset.HopLimit]!);
}

/**
 * Bytes of `init` as a data frame without its tag: what a bundle entry holds. Throws (a caller
 * fault) on a bad address or a frame over MAX_FRAME_LENGTH.
 */
export function untaggedLength(init: DataFrameInit): number {
  const { source: s, destination: d, payload } = init;
  checkAddress(s, 'source');
  checkAddress(d, 'destination');
  const length = dataOverhead(s.family, d.family) + payload.length;
  if (length > MAX_FRAME_LENGTH) {
    throw new RangeError(`a data frame of ${length} bytes exceeds ${MAX_FRAME_LENGTH}`);
  }
  return length - FRAME_TAG_LENGTH;
}

/**
 * Writes `init` as a data frame without its tag, hop limit included, into `out` (at least
 * untaggedLength(init) bytes; every byte of them is written): the body of seal, and a bundle
 * entry as it is.
 */
export function writeDataFrame(out: Uint8Array, init: DataFrameInit, keys: RunKeys): void {
  const { source: s, destination: d, payload } = init;
  const hop = init.hopLimit ?? DEFAULT_HOP_LIMIT;
  let o = writeHeader(out, FrameType.Data, init, hop, keys);
  out[o] = s.family === 4 ? AddressFamily.IPv4 : AddressFamily.IPv6;
  out[o + 1] = d.family === 4 ? AddressFamily.IPv4 : AddressFamily.IPv6;
  writeU16(out, o + 2, s.port);
  writeU16(out, o + 4, d.port);
  o += DATA_FIXED_LENGTH;
  out.set(s.ip, o);
  o += s.ip.length;
  out.set(d.ip, o);
  out.set(payload, o + d.ip.length);
  out[FrameOffset.HopLimit] = hop;
}

/**
 * A data frame from a bundle (untagged, as decodeBundled accepted it) as a frame of its own, sealed
 * with the current key: for a next hop that takes no bundles, or a bundle of one. The entry is copied.
 */
export function sealUntagged(entry: Uint8Array, keys: RunKeys): Uint8Array {
  const out = carve(entry.length + FRAME_TAG_LENGTH);
  out.set(entry);
  const hop = entry[FrameOffset.HopLimit]!;
  out[FrameOffset.KeyId] = keys.current.id;
  return seal(out, keys, hop);
}

/**
 * Seals a bundle: the first `used` bytes of `out` are a blank header and the entries; the header
 * is written here, with hop limit 1 (a bundle crosses one link). Returns the datagram, a view of
 * `out`.
 */
export function sealBundle(out: Uint8Array, used: number, init: FrameInit, keys: RunKeys): Uint8Array {
  const frame = out.subarray(0, used + FRAME_TAG_LENGTH);
  writeHeader(frame, FrameType.Bundle, init, 1, keys);
  return seal(frame, keys, 1);
}

/** The data path's name for encodeDataFrame: one buffer, one MAC call. */
export const sealDataFrame = encodeDataFrame;

/** The bytes of a frame given as parts (tests, and anything that needs one buffer). */
export const joinParts = concatBytes;

/** A probe crosses one link: its hop limit is 1, so it is never forwarded. */
export function encodeProbe(init: ProbeInit, keys: RunKeys): Uint8Array {
  checkTime(init.sentAt, 'sentAt');
  const out = carve(FRAME_HEADER_LENGTH + PROBE_BODY_LENGTH + FRAME_TAG_LENGTH);
  const o = writeHeader(out, FrameType.Probe, init, 1, keys);
  new DataView(out.buffer, out.byteOffset).setFloat64(o, init.sentAt);
  return seal(out, keys, 1);
}

/** Echoes the probe's seq and sent-at, so the prober needs no clock agreement with the replier. */
export function encodeProbeReply(init: ProbeReplyInit, keys: RunKeys): Uint8Array {
  checkSeq(init.probeSeq, 'probeSeq');
  checkTime(init.probeSentAt, 'probeSentAt');
  const out = carve(FRAME_HEADER_LENGTH + REPLY_BODY_LENGTH + FRAME_TAG_LENGTH);
  const o = writeHeader(out, FrameType.ProbeReply, init, 1, keys);
  writeU48(out, o, init.probeSeq);
  new DataView(out.buffer, out.byteOffset).setFloat64(o + 6, init.probeSentAt);
  return seal(out, keys, 1);
}

/**
 * Decodes and authenticates one frame. Cheap header checks come first; the body is parsed only
 * once the tag has verified, so unauthenticated bytes never reach the body parser.
 */
export function decodeFrame(bytes: Uint8Array, keys: RunKeys): FrameDecodeResult {
  if (bytes.length < FRAME_HEADER_LENGTH + FRAME_TAG_LENGTH) return fail('ERR_TOO_SHORT', 0);
  const version = badVersion(bytes);
  if (version) return version;
  const type = bytes[FrameOffset.Type]!;
  if (type < FrameType.Data || type > FrameType.Bundle) return fail('ERR_UNKNOWN_TYPE', FrameOffset.Type);
  const keyId = bytes[FrameOffset.KeyId]!;
  const key = keys.accepted.get(keyId);
  if (key === undefined) return fail('ERR_UNKNOWN_KEY', FrameOffset.KeyId);
  const hopLimit = bytes[FrameOffset.HopLimit]!;
  const initialHopLimit = bytes[FrameOffset.InitialHopLimit]!;
  const hops = badHops(hopLimit, initialHopLimit);
  if (hops) return hops;
  const end = bytes.length - FRAME_TAG_LENGTH;
  if (!key.mac.verify(bytes, end)) return fail('ERR_BAD_TAG', end);

  const flags = bytes[FrameOffset.Flags]!;
  const seq = readU48(bytes, FrameOffset.Seq);
  const sender = readU48(bytes, FrameOffset.Sender);
  const target = readU48(bytes, FrameOffset.Target);
  if (type === FrameType.Data) {
    return dataFrame(bytes, end, keyId, hopLimit, initialHopLimit, flags, seq, sender, target);
  }
  const o = FRAME_HEADER_LENGTH;
  if (type === FrameType.Bundle) {
    if (initialHopLimit !== 1) return fail('ERR_HOP_LIMIT_RAISED', FrameOffset.InitialHopLimit);
    const body = bytes.subarray(o, end);
    const frame: BundleFrame = {
      type: FrameType.Bundle,
      keyId,
      hopLimit,
      initialHopLimit,
      flags,
      seq,
      sender,
      target,
      body,
    };
    return { ok: true, frame };
  }
  const body = type === FrameType.Probe ? PROBE_BODY_LENGTH : REPLY_BODY_LENGTH;
  if (end - o < body) return fail('ERR_TRUNCATED', o);
  if (end - o > body) return fail('ERR_TRAILING_BYTES', o + body);
  const view = new DataView(bytes.buffer, bytes.byteOffset, end);
  if (type === FrameType.Probe) {
    const sentAt = view.getFloat64(o);
    if (!Number.isFinite(sentAt)) return fail('ERR_BAD_TIMESTAMP', o);
    const frame: ProbeFrame = {
      type: FrameType.Probe,
      keyId,
      hopLimit,
      initialHopLimit,
      flags,
      seq,
      sender,
      target,
      sentAt,
    };
    return { ok: true, frame };
  }
  const probeSeq = readU48(bytes, o);
  const probeSentAt = view.getFloat64(o + 6);
  if (!Number.isFinite(probeSentAt)) return fail('ERR_BAD_TIMESTAMP', o + 6);
  const frame: ProbeReplyFrame = {
    type: FrameType.ProbeReply,
    keyId,
    hopLimit,
    initialHopLimit,
    flags,
    seq,
    sender,
    target,
    probeSeq,
    probeSentAt,
  };
  return { ok: true, frame };
}

/**
 * One entry of a bundle whose tag has verified: a data frame without a tag. The same checks as
 * decodeFrame but the key and tag (its key id byte is not read: the bundle's key covered it).
 */
export function decodeBundled(bytes: Uint8Array): FrameDecodeResult {
  if (bytes.length < FRAME_HEADER_LENGTH) return fail('ERR_TOO_SHORT', 0);
  const version = badVersion(bytes);
  if (version) return version;
  if (bytes[FrameOffset.Type] !== FrameType.Data) return fail('ERR_UNKNOWN_TYPE', FrameOffset.Type);
  const hopLimit = bytes[FrameOffset.HopLimit]!;
  const initialHopLimit = bytes[FrameOffset.InitialHopLimit]!;
  const hops = badHops(hopLimit, initialHopLimit);
  if (hops) return hops;
  return dataFrame(
    bytes,
    bytes.length,
    bytes[FrameOffset.KeyId]!,
    hopLimit,
    initialHopLimit,
    bytes[FrameOffset.Flags]!,
    readU48(bytes, FrameOffset.Seq),
    readU48(bytes, FrameOffset.Sender),
    readU48(bytes, FrameOffset.Target),
  );
}

/** A data frame's body, from the header on to `end` (the tag, or the entry's end). */
function dataFrame(
  bytes: Uint8Array,
  end: number,
  keyId: number,
  hopLimit: number,
  initialHopLimit: number,
  flags: number,
  seq: number,
  sender: number,
  target: number,
): FrameDecodeResult {
  let o = FRAME_HEADER_LENGTH;
  if (end - o < DATA_FIXED_LENGTH) return fail('ERR_TRUNCATED', o);
  const srcFamily = familyOf(bytes[o]!);
  if (srcFamily === undefined) return fail('ERR_ADDRESS_FAMILY', o);
  const dstFamily = familyOf(bytes[o + 1]!);
  if (dstFamily === undefined) return fail('ERR_ADDRESS_FAMILY', o + 1);
  const srcPort = readU16(bytes, o + 2);
  const dstPort = readU16(bytes, o + 4);
  o += DATA_FIXED_LENGTH;
  const srcEnd = o + ipLength(srcFamily);
  if (srcEnd > end) return fail('ERR_TRUNCATED', o);
  const dstEnd = srcEnd + ipLength(dstFamily);
  if (dstEnd > end) return fail('ERR_TRUNCATED', srcEnd);
  const srcIp = bytes.subarray(o, srcEnd);
  const dstIp = bytes.subarray(srcEnd, dstEnd);
  const payload = bytes.subarray(dstEnd, end);
  // One flat literal per type: no intermediate objects.
  const frame: DataFrame = {
    type: FrameType.Data,
    keyId,
    hopLimit,
    initialHopLimit,
    flags,
    seq,
    sender,
    target,
    srcFamily,
    srcPort,
    srcIp,
    dstFamily,
    dstPort,
    dstIp,
    payload,
  };
  return { ok: true, frame };
}

/**
 * The frame (or bundle entry) with its hop limit one lower, for the next relay on the path, changed in place (the
 * received datagram is the receiver's to pass on: no copy); undefined when the result would be 0
 * (drop it). The tag stays valid: it was computed with that byte as 0.
 */
export function forwardFrame(bytes: Uint8Array): Uint8Array | undefined {
  // A header is enough: a bundle entry has no tag (and may be shorter than a header and a tag).
  if (bytes.length < FRAME_HEADER_LENGTH) return undefined;
  const hop = bytes[FrameOffset.HopLimit]!;
  if (hop <= 1) return undefined;
  bytes[FrameOffset.HopLimit] = hop - 1;
  return bytes;
}

/**
 * The sender field of a datagram at least a header long, read before any MAC work (unauthenticated
 * until decodeFrame says otherwise): lets a receiver drop a frame from the wrong address cheaply.
 */
export function peekSender(bytes: Uint8Array): number {
  return readU48(bytes, FrameOffset.Sender);
}

const fail = (error: FrameDecodeError, offset: number): FrameDecodeResult => ({ ok: false, error, offset });

/** Byte 0 of any frame, alone or in a bundle: the magic and version 3. */
function badVersion(bytes: Uint8Array): FrameDecodeResult | undefined {
  const b0 = bytes[0]!;
  if ((b0 & 0xf0) !== FRAME_MAGIC) return fail('ERR_NOT_BACKBONE', FrameOffset.Version);
  if ((b0 & 0x0f) !== FRAME_VERSION) return fail('ERR_BAD_VERSION', FrameOffset.Version);
  return undefined;
}

/** A hop limit on the wire is 1 to the initial hops. */
function badHops(hopLimit: number, initialHopLimit: number): FrameDecodeResult | undefined {
  if (hopLimit === 0) return fail('ERR_HOP_LIMIT_EXHAUSTED', FrameOffset.HopLimit);
  if (hopLimit > initialHopLimit) return fail('ERR_HOP_LIMIT_RAISED', FrameOffset.HopLimit);
  return undefined;
}

function familyOf(byte: number): IpFamily | undefined {
  return byte === AddressFamily.IPv4 ? 4 : byte === AddressFamily.IPv6 ? 6 : undefined;
}

/** Writes the header with the hop limit as 0 (seal sets it); returns the body offset. */
function writeHeader(out: Uint8Array, type: FrameType, init: FrameInit, hop: number, keys: RunKeys): number {
  checkSeq(init.seq, 'seq');
  checkRelay(init.sender, 'sender');
  checkRelay(init.target, 'target');
  const flags = init.flags ?? 0;
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xff)
    throw new RangeError(`flags: not a byte: ${flags}`);
  if (!Number.isInteger(hop) || hop < 1 || hop > 0xff) throw new RangeError(`hopLimit: not 1-255: ${hop}`);
  out[FrameOffset.Version] = FRAME_MAGIC | FRAME_VERSION;
  out[FrameOffset.Type] = type;
  out[FrameOffset.KeyId] = keys.current.id;
  out[FrameOffset.InitialHopLimit] = hop;
  out[FrameOffset.Flags] = flags;
  writeU48(out, FrameOffset.Seq, init.seq);
  writeU48(out, FrameOffset.Sender, init.sender);
  writeU48(out, FrameOffset.Target, init.target);
  return FRAME_HEADER_LENGTH;
}

/** Frames are carved from slabs of this size, as Node carves small Buffers from its pool. */
const SLAB_BYTES = 16 * 1024;
let slab = new Uint8Array(0);
let slabUsed = 0;

/**
 * A zeroed frame of `length` bytes. Frames up to a quarter slab are carved from a shared zeroed
 * slab, never reused while any view of it lives (a typed array of its own per frame costs a
 * zeroed allocation outside V8's heap: 0.3-0.5 us a frame, measured); larger ones get their own.
 */
function carve(length: number): Uint8Array {
  if (length > SLAB_BYTES >>> 2) return new Uint8Array(length);
  if (slabUsed + length > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + length);
  slabUsed += length;
  return out;
}

/** Sets the hop limit and appends the tag under the current key (the MAC reads the hop limit as 0). */
function seal(out: Uint8Array, keys: RunKeys, hop: number): Uint8Array {
  out[FrameOffset.HopLimit] = hop;
  keys.current.mac.seal(out, out.length - FRAME_TAG_LENGTH);
  return out;
}

function checkAddress(a: WireAddress, name: string): void {
  if (a.ip.length !== ipLength(a.family))
    throw new TypeError(`${name}: IPv${a.family} needs ${ipLength(a.family)} bytes`);
  if (!Number.isInteger(a.port) || a.port < 0 || a.port > 0xffff)
    throw new RangeError(`${name}: bad port ${a.port}`);
}

function checkSeq(n: number, name: string): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_SEQ) throw new RangeError(`${name}: not a u48: ${n}`);
}

function checkRelay(n: number, name: string): void {
  if (!Number.isInteger(n) || n < 0 || n > MAX_RELAY_HASH)
    throw new RangeError(`${name}: not a relayHash: ${n}`);
}

function checkTime(t: number, name: string): void {
  if (!Number.isFinite(t)) throw new RangeError(`${name}: not a finite number: ${t}`);
}

const readU16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const readU32 = (b: Uint8Array, o: number): number =>
  ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const readU48 = (b: Uint8Array, o: number): number => readU16(b, o) * 0x1_0000_0000 + readU32(b, o + 2);

function writeU16(b: Uint8Array, o: number, n: number): void {
  b[o] = n >>> 8;
  b[o + 1] = n;
}

function writeU32(b: Uint8Array, o: number, n: number): void {
  writeU16(b, o, n >>> 16);
  writeU16(b, o + 2, n & 0xffff);
}

function writeU48(b: Uint8Array, o: number, n: number): void {
  writeU16(b, o, Math.floor(n / 0x1_0000_0000));
  writeU32(b, o + 2, n >>> 0);
}
