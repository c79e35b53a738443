/**
 * What the TURN engine (engine.ts) is configured with: lifetimes, limits and their defaults, the
 * hooks it calls, and its options as a whole. Types and constants only; imports no engine code.
 */
import type { SourceLimit } from '../limits/source-limiter.ts';
import type { IpFamily } from '../net/address.ts';
import type { PeerPolicy } from '../net/peer-policy.ts';
import type { StunCrypto } from '../stun/stun-crypto.ts';
import type { Allocation, EndReason } from './allocation.ts';
import type { Authenticator } from './auth.ts';
import type { NonceManager } from './nonce.ts';

export interface TurnLifetimes {
  /** Seconds; RFC 8656 §7.2 default 600 and maximum 3600. */
  readonly defaultAllocation: number;
  readonly maxAllocation: number;
  /** Seconds; RFC 8656 §9: 300. */
  readonly permission: number;
  /** Seconds; RFC 8656 §12: 600. */
  readonly channel: number;
  /**
   * Seconds an allocation may live in all, however often it is refreshed and whether or not its
   * credential has expired since (the credential's expiry bounds only Allocate). Infinity: none.
   */
  readonly maxAllocationAge: number;
}

export interface TurnLimits {
  /** Relay-wide cap on allocations (508 past it). */
  readonly maxAllocations: number;
  /** Per-username cap (486 past it). */
  readonly userQuota: number;
  /** Per-tenant cap over all its usernames (486 past it); static users have no tenant. */
  readonly tenantQuota: number;
  /** Per-allocation caps, each direction; 0 = unlimited. */
  readonly allocPps: number;
  readonly allocBps: number;
  readonly maxPeersPerAllocation: number;
  /** Channels per allocation (508 past it); DEFAULT_MAX_CHANNELS when absent. */
  readonly maxChannelsPerAllocation?: number;
  /** Requests larger than this get 400 before any credential is checked; DEFAULT_MAX_REQUEST_BYTES. */
  readonly maxRequestBytes?: number;
}

/**
 * A channel costs a binding and two map entries; WebRTC binds one per peer candidate in use, a
 * handful. 256 leaves room for any real client and keeps a full allocation near 22 KB instead
 * of the 16,384 channels (~1.4 MB) RFC 8656 §12 numbers allow.
 */
export const DEFAULT_MAX_CHANNELS = 256;
/**
 * The largest request a real client sends is an Allocate or CreatePermission of a few hundred
 * bytes (USERNAME is at most 513, RFC 8489 §14.3; our REALM and NONCE are short). 2048 leaves
 * room for that and bounds the HMAC work a forged request can ask for (one per shared secret).
 */
export const DEFAULT_MAX_REQUEST_BYTES = 2048;
/**
 * Answers to requests that did not authenticate (401, 438, 4xx, Binding), per source IP: enough
 * for a few hundred clients behind one NAT starting at once (UDP retransmits absorb the rest),
 * and at most ~4 KB/s of 76-byte challenges towards any one address a forger names.
 */
export const DEFAULT_UNAUTHENTICATED_LIMIT: SourceLimit = { ratePerSecond: 50, burst: 100, capacity: 65_536 };

export interface TurnHooks<H = unknown, S extends object = object> {
  allocationCreated?(alloc: Allocation<H, S>, now: number): void;
  allocationEnded?(alloc: Allocation<H, S>, reason: EndReason, now: number): void;
  requestFailed?(method: number, code: number, reason?: string): void;
  /** An authenticated request succeeded; `credentialExpired` when its credential had expired. */
  requestSucceeded?(method: number, credentialExpired: boolean): void;
  authFailed?(reason: string): void;
}

export interface TurnEngineOptions<H = unknown, S extends object = object> {
  readonly realm: string;
  readonly software?: string | undefined;
  readonly auth: Authenticator;
  readonly nonces: NonceManager;
  readonly peerPolicy: PeerPolicy;
  /** Address families for which this server can bind relayed sockets. */
  readonly relayFamilies: readonly IpFamily[];
  readonly lifetimes: TurnLifetimes;
  readonly limits: TurnLimits;
  readonly hooks?: TurnHooks<H, S>;
  /** Per-source limit on unauthenticated answers; DEFAULT_UNAUTHENTICATED_LIMIT when absent. */
  readonly unauthenticatedLimit?: SourceLimit;
  /** 12 random bytes chosen at start; transaction ids of Data indications count up from them. */
  readonly transactionSeed: Uint8Array;
  /** The platform's HMAC-SHA1 and CRC-32 for MESSAGE-INTEGRITY and FINGERPRINT (the shell's). */
  readonly crypto: StunCrypto;
}
