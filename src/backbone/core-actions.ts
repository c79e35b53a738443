/**
 * What the backbone core (core.ts) and its shell (relay/backbone.ts) say to each other: the core's
 * options, the actions it returns for the shell to execute, the reasons it drops a frame or packet
 * for, and the per-peer data counts a thread reports to thread 0. Also the actions that carry no
 * data (direct, none, drop by reason), made once and shared, so the data path allocates none.
 * Types and constants only; imports no core code.
 */
import type { LinkRecord } from '../directory/types.ts';
import type { TransportAddress } from '../net/address.ts';
import type { RouteChange } from '../routing/index.ts';
import type { BackboneTuning } from './defaults.ts';
import type { EndToEndLoss } from './end-to-end.ts';
import type { FrameDecodeError } from './frame.ts';
import type { KeyRing } from './key-ring.ts';

export interface BackboneCoreOptions {
  readonly id: string;
  /** Where this relay is, to pick the nearest peers to probe in a large mesh. */
  readonly lat: number;
  readonly lon: number;
  readonly keys: KeyRing;
  /**
   * This relay process's run id (RUN_ID_BYTES random bytes, drawn at start; its record's
   * `backboneRun` in hex): its frames are sealed with the keys of this run.
   */
  readonly run: Uint8Array;
  readonly tuning: BackboneTuning;
  /** This core's thread of the relay (--workers N): 0 (the default) leads, the others follow. */
  readonly thread?: number;
  /**
   * The shell sends or copies every frame `route` returns before it calls the core again (native
   * UDP I/O copies on send): data frames are then built in one buffer reused for each, not in
   * fresh memory per frame. Off by default (dgram reads the bytes after send returns).
   */
  readonly reuseFrameBuffer?: boolean;
}

/**
 * Data frames one thread sent to and received from one peer relay since it started: per link
 * (`sent`, `received`: the delivery check) and end to end (`endSent`: originated toward the peer;
 * `endReceived`: originated by the peer, arrived here as the final hop; the end-to-end check).
 */
export interface PeerCounts {
  readonly id: string;
  readonly sent: number;
  readonly received: number;
  readonly endSent: number;
  readonly endReceived: number;
}

/** Why a frame or packet was not carried; the shell counts them by reason. */
export type BackboneDropReason =
  | FrameDecodeError
  | 'ERR_TOO_LONG'
  | 'ERR_UNKNOWN_ADDRESS'
  | 'ERR_WRONG_ADDRESS'
  | 'ERR_UNKNOWN_SENDER'
  | 'ERR_WRONG_TARGET'
  | 'ERR_REPLAYED'
  | 'ERR_TOO_OLD'
  | 'ERR_NO_ROUTE'
  /** Fault injection: a gray relay's transit (setGrayTransit). */
  | 'ERR_FAULT_GRAY';

/** `handover`: a frame for this relay that reached a thread not owning its port, passed to the owner. */
export type SendKind = 'data' | 'forward' | 'handover' | 'probe' | 'reply' | 'bundle';

/** What a data frame became on its way out: sent alone, or queued in a bundle (bundle.ts). */
export type DataKind = 'data' | 'forward' | 'handover';

export type BackboneAction =
  | {
      readonly type: 'send';
      readonly kind: SendKind;
      readonly peer: string;
      readonly to: TransportAddress;
      /** The frame, in parts to be sent one after the other in one datagram (a vectored write). */
      readonly parts: readonly Uint8Array[];
      /** Data frames in it: more than one for a bundle. */
      readonly frames?: number;
    }
  /** A data frame queued in a bundle for `peer`: call flush() before the event loop turn ends. */
  | { readonly type: 'queued'; readonly kind: DataKind; readonly peer: string }
  /** What each frame of a bundle received came to, in order. */
  | { readonly type: 'each'; readonly actions: readonly BackboneAction[] }
  | {
      readonly type: 'deliver';
      /** addressKey of the local relayed address the datagram is for. */
      readonly relayed: string;
      readonly peerIp: string;
      readonly peerPort: number;
      readonly data: Uint8Array;
    }
  /** Send the packet as plain UDP; `reason` says why it could not take the backbone, if it should have. */
  | { readonly type: 'direct'; readonly reason?: 'ERR_FRAME_TOO_LARGE' }
  | { readonly type: 'drop'; readonly reason: BackboneDropReason }
  | { readonly type: 'none' }
  | { readonly type: 'read-directory' }
  | { readonly type: 'publish-links'; readonly links: readonly LinkRecord[]; readonly announce: boolean }
  | { readonly type: 'measured'; readonly links: readonly LinkRecord[] }
  | { readonly type: 'path-changed'; readonly change: RouteChange }
  /** Data from this relay toward `loss.to` is lost past the path's first link: its transit relays are avoided. */
  | { readonly type: 'end-to-end-loss'; readonly loss: EndToEndLoss }
  | { readonly type: 'skipped-relay'; readonly id: string; readonly why: string };

export const DIRECT: BackboneAction = Object.freeze({ type: 'direct' });
export const TOO_LARGE: BackboneAction = Object.freeze({ type: 'direct', reason: 'ERR_FRAME_TOO_LARGE' });
export const NONE: BackboneAction = Object.freeze({ type: 'none' });

const drops = new Map<BackboneDropReason, BackboneAction>();

/** The drop action for `reason`, one shared object per reason. */
export const drop = (reason: BackboneDropReason): BackboneAction => {
  let a = drops.get(reason);
  if (!a) {
    a = Object.freeze({ type: 'drop', reason });
    drops.set(reason, a);
  }
  return a;
};
