/**
 * The backbone frame format, version 3 (docs/BACKBONE.md has the byte diagram): constants, header
 * offsets, and the shapes of decoded frames and of encoder inputs. The codec is in frame.ts.
 */
import type { IpFamily, TransportAddress } from '../net/address.ts';
import { formatIp, parseIp } from '../net/ip.ts';

/** High nibble of byte 0; the low nibble is the version. */
export const FRAME_MAGIC = 0xb0;
/**
 * 3: a ChaCha20-Poly1305 tag under a per-run key, 48-bit sequence numbers (version 1 had HMAC-SHA1,
 * version 2 a truncated SHA-256 tag; their frames are refused as ERR_BAD_VERSION).
 */
export const FRAME_VERSION = 3;
export const FRAME_HEADER_LENGTH = 24;
/** The tag: RFC 8439's ChaCha20-Poly1305 AEAD tag, whole (frame-mac.ts). */
export const FRAME_TAG_LENGTH = 16;
/** Sequence numbers are 48 bits and never wrap: a thread's counter would need 2^48 frames. */
export const MAX_SEQ = 2 ** 48 - 1;
/** The largest UDP payload over IPv4 (65,535 - 20 - 8). */
export const MAX_FRAME_LENGTH = 65_507;
/** Relay-to-relay links a data frame may cross; overlay paths are one to three links. */
export const DEFAULT_HOP_LIMIT = 4;

/**
 * Bundle: several data frames for one next hop in one datagram under one tag (bundle.ts). Sent
 * only to relays whose directory record says `backboneBundles`; a relay from before bundles
 * refuses the type as ERR_UNKNOWN_TYPE.
 */
export const FrameType = { Data: 1, Probe: 2, ProbeReply: 3, Bundle: 4 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Header byte offsets (docs/BACKBONE.md has the diagram). */
export const FrameOffset = {
  Version: 0,
  Type: 1,
  KeyId: 2,
  HopLimit: 3,
  InitialHopLimit: 4,
  Flags: 5,
  Seq: 6,
  Sender: 12,
  Target: 18,
} as const;

/** Data body before the addresses: source family, destination family, source port, destination port. */
export const DATA_FIXED_LENGTH = 6;
/** Probe body: sent-at (f64). */
export const PROBE_BODY_LENGTH = 8;
/** Probe-reply body: probe seq (u48), probe sent-at (f64). */
export const REPLY_BODY_LENGTH = 14;

/** Before each frame in a bundle: its length (u16). */
export const BUNDLE_ENTRY_HEADER = 2;
/** The smallest frame a bundle entry can hold: a data frame's header and fixed body with IPv4 addresses. */
export const MIN_BUNDLE_ENTRY = FRAME_HEADER_LENGTH + DATA_FIXED_LENGTH + 8;
/** Bytes a bundle adds around its entries: one header and one tag. */
export const BUNDLE_OVERHEAD = FRAME_HEADER_LENGTH + FRAME_TAG_LENGTH;

/** An address ready for the wire: parse it once (wireAddress), not per packet. */
export interface WireAddress {
  readonly family: IpFamily;
  /** 4 or 16 bytes. */
  readonly ip: Uint8Array;
  readonly port: number;
}

export interface FrameHeader {
  readonly keyId: number;
  readonly hopLimit: number;
  readonly initialHopLimit: number;
  readonly flags: number;
  readonly seq: number;
  /** relayHash of the relay that made the frame. */
  readonly sender: number;
  /** relayHash of the relay the frame is for. */
  readonly target: number;
}

export interface DataFrame extends FrameHeader {
  readonly type: typeof FrameType.Data;
  /** The sending allocation's relayed address, flattened so decoding allocates no object for it. */
  readonly srcFamily: IpFamily;
  readonly srcPort: number;
  readonly srcIp: Uint8Array;
  /** The target relay's relayed address the datagram is for. */
  readonly dstFamily: IpFamily;
  readonly dstPort: number;
  readonly dstIp: Uint8Array;
  /** A view into the frame. */
  readonly payload: Uint8Array;
}

export interface ProbeFrame extends FrameHeader {
  readonly type: typeof FrameType.Probe;
  /** The prober's clock, in ms; only the prober reads it back. */
  readonly sentAt: number;
}

export interface ProbeReplyFrame extends FrameHeader {
  readonly type: typeof FrameType.ProbeReply;
  readonly probeSeq: number;
  readonly probeSentAt: number;
}

export interface BundleFrame extends FrameHeader {
  readonly type: typeof FrameType.Bundle;
  /** The entries, each a u16 length and an untagged data frame (walk them with nextBundled). */
  readonly body: Uint8Array;
}

export type BackboneFrame = DataFrame | ProbeFrame | ProbeReplyFrame | BundleFrame;

export type FrameDecodeError =
  | 'ERR_TOO_SHORT'
  | 'ERR_NOT_BACKBONE'
  | 'ERR_BAD_VERSION'
  | 'ERR_UNKNOWN_TYPE'
  | 'ERR_UNKNOWN_KEY'
  | 'ERR_HOP_LIMIT_EXHAUSTED'
  | 'ERR_HOP_LIMIT_RAISED'
  | 'ERR_BAD_TAG'
  | 'ERR_TRUNCATED'
  | 'ERR_TRAILING_BYTES'
  | 'ERR_ADDRESS_FAMILY'
  | 'ERR_BAD_TIMESTAMP';

export type FrameDecodeResult =
  | { readonly ok: true; readonly frame: BackboneFrame }
  | { readonly ok: false; readonly error: FrameDecodeError; readonly offset: number };

/** What every encoder needs. `sender` and `target` are relayHash values. */
export interface FrameInit {
  readonly seq: number;
  readonly sender: number;
  readonly target: number;
  /** None are defined in version 3: senders write 0, receivers ignore them. */
  readonly flags?: number;
}

export interface DataFrameInit extends FrameInit {
  readonly hopLimit?: number;
  readonly source: WireAddress;
  readonly destination: WireAddress;
  readonly payload: Uint8Array;
}

export interface ProbeInit extends FrameInit {
  readonly sentAt: number;
}

export interface ProbeReplyInit extends FrameInit {
  readonly probeSeq: number;
  readonly probeSentAt: number;
}

/** 4 or 16: the bytes of an IP address of `family`. */
export const ipLength = (family: IpFamily): number => (family === 4 ? 4 : 16);

/** Bytes a data frame adds around a payload. */
export function dataOverhead(source: IpFamily, destination: IpFamily): number {
  return (
    FRAME_HEADER_LENGTH + DATA_FIXED_LENGTH + ipLength(source) + ipLength(destination) + FRAME_TAG_LENGTH
  );
}

/** Parses a transport address once, for encodeDataFrame. Throws on a bad literal (a caller fault). */
export function wireAddress(a: TransportAddress): WireAddress {
  const ip = parseIp(a.address);
  if (ip === undefined || ip.length !== ipLength(a.family)) {
    throw new TypeError(`wireAddress: not an IPv${a.family} literal: ${a.address}`);
  }
  return { family: a.family, ip, port: a.port };
}

/** The data frame's source (the sending relayed address) as a TransportAddress: slow path. */
export function frameSource(f: DataFrame): TransportAddress {
  return { family: f.srcFamily, address: formatIp(f.srcIp), port: f.srcPort };
}

/** The data frame's destination (a relayed address on the target relay) as a TransportAddress. */
export function frameDestination(f: DataFrame): TransportAddress {
  return { family: f.dstFamily, address: formatIp(f.dstIp), port: f.dstPort };
}
