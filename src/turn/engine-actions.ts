/**
 * What the TURN engine (engine.ts) and its shell say to each other: the actions the engine returns
 * for the shell to execute, what the shell reports back when a relayed socket is bound, where a
 * Send indication's payload goes, and the engine's drop and refusal counts the shell exports.
 * Types only; imports no engine code.
 */
import type { TransportAddress } from '../net/address.ts';
import type { Allocation, ClientContext, EndReason } from './allocation.ts';

export type TurnAction<H = unknown, S extends object = object> =
  | { readonly type: 'reply'; readonly client: ClientContext<H>; readonly bytes: Uint8Array }
  | {
      readonly type: 'bind-relay';
      readonly allocation: Allocation<H, S>;
      /** RFC 8656 §7.2: an even port; with `reserveNext`, also hold port+1 and hand back a token. */
      readonly evenPort: boolean;
      readonly reserveNext: boolean;
      /** RFC 8656 §14.9: use the port held under this token by an earlier Allocate. */
      readonly reservationToken: Uint8Array | undefined;
    }
  | {
      readonly type: 'release-relay';
      readonly allocation: Allocation<H, S>;
      /** The shell's state given in relayBound, now taken off the allocation. */
      readonly shell: S;
      readonly reason: EndReason;
    }
  /** RFC 8656 §7.2: a port held by EVEN-PORT's R bit was not claimed in time; close it. */
  | { readonly type: 'release-reservation'; readonly token: Uint8Array }
  | {
      readonly type: 'to-peer';
      readonly allocation: Allocation<H, S>;
      readonly peer: TransportAddress;
      readonly data: Uint8Array;
    };

/** What the shell reports when a relayed socket is bound (relayBound). */
export interface RelayBound<S extends object> {
  /** The address the relayed socket is bound to. */
  readonly relayed: TransportAddress;
  /** The address advertised in XOR-RELAYED-ADDRESS (differs behind NAT). */
  readonly advertised: TransportAddress;
  /** The shell's state for the socket, handed back in release-relay. */
  readonly shell: S;
  /** RFC 8656 §7.2: the token of the port reserved beside this one (EVEN-PORT with R). */
  readonly reservationToken?: Uint8Array | undefined;
}

/** Where a Send indication's payload goes (sendFromAllocation). */
export interface SendTarget {
  readonly peer: TransportAddress;
  readonly data: Uint8Array;
}

/** Packets dropped on the data path, by reason; the shell exports them as metrics. */
export interface DropCounters {
  noAllocation: number;
  noChannel: number;
  noPermission: number;
  rateLimited: number;
  malformed: number;
}

/** Requests refused before any work was done for them, by reason; exported as metrics. */
export interface RefusalCounters {
  requestTooLarge: number;
  unauthenticatedRateLimited: number;
}
