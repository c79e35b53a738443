/**
 * STUN and TURN numbers: methods, classes, attribute types, error codes.
 * RFC 8489 (STUN) §18 and RFC 8656 (TURN) §18 are the IANA registries these come from.
 * Owns no logic; imported by the codec and the TURN state machine.
 */

/** RFC 8489 §5: the fixed value in bytes 4..7 of every STUN message. */
export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_LENGTH = 20;
export const TRANSACTION_ID_LENGTH = 12;

export const Method = {
  Binding: 0x001,
  Allocate: 0x003,
  Refresh: 0x004,
  Send: 0x006,
  Data: 0x007,
  CreatePermission: 0x008,
  ChannelBind: 0x009,
} as const;
export type Method = (typeof Method)[keyof typeof Method];

export const MessageClass = {
  Request: 0,
  Indication: 1,
  SuccessResponse: 2,
  ErrorResponse: 3,
} as const;
export type MessageClass = (typeof MessageClass)[keyof typeof MessageClass];

export const Attr = {
  MappedAddress: 0x0001,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  ChannelNumber: 0x000c,
  Lifetime: 0x000d,
  XorPeerAddress: 0x0012,
  Data: 0x0013,
  Realm: 0x0014,
  Nonce: 0x0015,
  XorRelayedAddress: 0x0016,
  RequestedAddressFamily: 0x0017,
  EvenPort: 0x0018,
  RequestedTransport: 0x0019,
  DontFragment: 0x001a,
  MessageIntegritySha256: 0x001c,
  PasswordAlgorithm: 0x001d,
  Userhash: 0x001e,
  XorMappedAddress: 0x0020,
  ReservationToken: 0x0022,
  Priority: 0x0024,
  UseCandidate: 0x0025,
  AdditionalAddressFamily: 0x8000,
  AddressErrorCode: 0x8001,
  PasswordAlgorithms: 0x8002,
  AlternateDomain: 0x8003,
  Icmp: 0x8004,
  Software: 0x8022,
  AlternateServer: 0x8023,
  Fingerprint: 0x8028,
  IceControlled: 0x8029,
  IceControlling: 0x802a,
  ResponseOrigin: 0x802b,
  OtherAddress: 0x802c,
} as const;
export type Attr = (typeof Attr)[keyof typeof Attr];

/** RFC 8489 §14: attribute types below 0x8000 are comprehension-required. */
export function isComprehensionRequired(type: number): boolean {
  return type < 0x8000;
}

export const ErrorCode = {
  TryAlternate: 300,
  BadRequest: 400,
  Unauthorized: 401,
  Forbidden: 403,
  UnknownAttribute: 420,
  AllocationMismatch: 437,
  StaleNonce: 438,
  AddressFamilyNotSupported: 440,
  WrongCredentials: 441,
  UnsupportedTransportProtocol: 442,
  PeerAddressFamilyMismatch: 443,
  AllocationQuotaReached: 486,
  ServerError: 500,
  InsufficientCapacity: 508,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Reason phrases as the RFCs name them (RFC 8489 §14.8, RFC 8656 §18.4). */
export const ERROR_REASONS: Readonly<Record<number, string>> = {
  300: 'Try Alternate',
  400: 'Bad Request',
  401: 'Unauthenticated',
  403: 'Forbidden',
  420: 'Unknown Attribute',
  437: 'Allocation Mismatch',
  438: 'Stale Nonce',
  440: 'Address Family not Supported',
  441: 'Wrong Credentials',
  442: 'Unsupported Transport Protocol',
  443: 'Peer Address Family Mismatch',
  486: 'Allocation Quota Reached',
  500: 'Server Error',
  508: 'Insufficient Capacity',
};

/** RFC 8489 §14.1: address family byte in (XOR-)MAPPED-ADDRESS. */
export const AddressFamily = { IPv4: 0x01, IPv6: 0x02 } as const;

/** RFC 8656 §14.7: REQUESTED-TRANSPORT protocol numbers. */
export const TransportProtocol = { UDP: 17, TCP: 6 } as const;

/**
 * Channel numbers a client may bind. RFC 8656 §12 narrowed the range to 0x4000-0x4FFF, but RFC 5766
 * clients (coturn's turnutils_uclient among them) still pick numbers up to 0x7FFF, and coturn
 * accepts them; so do we. ChannelData demultiplexing (first byte 0x40-0x7F) covers the whole range.
 */
export const MIN_CHANNEL = 0x4000;
export const MAX_CHANNEL = 0x7fff;

/** RFC 8489 §14.7: FINGERPRINT is the CRC-32 XORed with this. */
export const FINGERPRINT_XOR = 0x5354554e;
