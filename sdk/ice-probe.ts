/**
 * RTT probing through the browser's own ICE agent, which any page may use (HTTPS included, where
 * an `http://` ping is blocked as mixed content): one RTCPeerConnection per relay, with the
 * relay's `stun:` URL as its only ICE server, gathers candidates; the relay answers the STUN
 * Binding request (RFC 8489 §6) with the page's reflexive address, which the browser announces as
 * a server-reflexive (`srflx`) candidate. What is timed is a UDP round trip to the relay's TURN
 * port, the one the media will take.
 *
 * The clock starts at the host candidate of the socket that sent the request (libwebrtc announces
 * a UDP port's host candidate, then sends its Binding requests), so socket set-up and the offer
 * are not counted; when the browser hides which socket it was (mDNS names), the first host
 * candidate, else setLocalDescription, starts it. Two rounds, one after the other, and the
 * smaller figure wins: the first may pay a route or ARP look-up. Each peer connection is closed,
 * whatever happens. No media, no data: the data channel only makes the offer gather.
 *
 * On loopback (the tests) the relay sees the page's socket from 127.0.0.1 and answers with it:
 * Chromium still announces that srflx candidate, as it differs from the host address.
 */
import type { ProbeMeasurement, ProbeTarget } from './index.ts';

/** What the probe uses of an RTCIceCandidate (the SDK compiles without the DOM library). */
interface IceCandidateLike {
  readonly type: string | null;
  readonly protocol: string | null;
  readonly port: number | null;
  readonly relatedPort: number | null;
}

/** What the probe uses of an RTCPeerConnection. */
export interface PeerConnectionLike {
  onicecandidate: ((e: { readonly candidate: IceCandidateLike | null }) => void) | null;
  onicecandidateerror:
    | ((e: { readonly url: string; readonly errorCode: number; readonly errorText: string }) => void)
    | null;
  createDataChannel(label: string): unknown;
  createOffer(): Promise<unknown>;
  setLocalDescription(description: unknown): Promise<void>;
  close(): void;
}

/** The constructor the probe uses; the page's own RTCPeerConnection by default. */
export type PeerConnectionClass = new (config: { iceServers: { urls: string }[] }) => PeerConnectionLike;

const pageRtc = (): PeerConnectionClass | undefined =>
  (globalThis as { RTCPeerConnection?: PeerConnectionClass }).RTCPeerConnection;

export class IceProbeError extends Error {
  override readonly name = 'IceProbeError';
  constructor(
    message: string,
    readonly code: 'ERR_NO_WEBRTC' | 'ERR_NO_STUN_URL' | 'ERR_ABORTED' | 'ERR_NO_SRFLX' | 'ERR_STUN',
  ) {
    super(message);
  }
}

/** Whether this runtime can probe through ICE. */
export const iceAvailable = (): boolean => typeof pageRtc() === 'function';

/** One gathering: ms from the start of gathering (see the header) to the relay's srflx candidate. */
export async function iceRound(
  Pc: PeerConnectionClass,
  stunUrl: string,
  signal: AbortSignal,
): Promise<number> {
  if (signal.aborted) throw new IceProbeError(`probe of ${stunUrl} aborted`, 'ERR_ABORTED');
  const pc = new Pc({ iceServers: [{ urls: stunUrl }] });
  let onAbort: (() => void) | undefined;
  try {
    return await new Promise<number>((resolve, reject) => {
      let startedAt: number | undefined;
      let firstHostAt: number | undefined;
      const hostAt = new Map<number, number>();
      onAbort = () => reject(new IceProbeError(`no answer from ${stunUrl} in time`, 'ERR_ABORTED'));
      signal.addEventListener('abort', onAbort, { once: true });
      pc.onicecandidate = (e) => {
        const at = performance.now();
        const c = e.candidate;
        if (!c) {
          // Gathering ended without the relay's answer.
          reject(new IceProbeError(`no server-reflexive candidate from ${stunUrl}`, 'ERR_NO_SRFLX'));
          return;
        }
        if (c.type === 'host' && c.protocol === 'udp') {
          firstHostAt ??= at;
          if (c.port !== null) hostAt.set(c.port, at);
        } else if (c.type === 'srflx') {
          const from = (c.relatedPort !== null ? hostAt.get(c.relatedPort) : undefined) ?? firstHostAt;
          resolve(at - (from ?? startedAt ?? at));
        }
      };
      pc.onicecandidateerror = (e) => {
        // A STUN error answer (or 701: none at all); the relay is the only ICE server.
        reject(new IceProbeError(`${stunUrl}: ${e.errorCode} ${e.errorText}`, 'ERR_STUN'));
      };
      // The data channel gives the offer something to gather for (no media is negotiated).
      pc.createDataChannel('probe');
      pc.createOffer()
        .then((offer) => {
          startedAt = performance.now();
          return pc.setLocalDescription(offer);
        })
        .catch(reject);
    });
  } finally {
    if (onAbort) signal.removeEventListener('abort', onAbort);
    pc.onicecandidate = null;
    pc.onicecandidateerror = null;
    pc.close();
  }
}

/**
 * Probes a target's `stun:` URL through ICE: the better of two rounds (the second may be cut
 * short by the signal; the first then stands). Rejects with IceProbeError.
 */
export const iceStunProber =
  (o: { readonly RTCPeerConnection?: PeerConnectionClass; readonly rounds?: number } = {}) =>
  async (target: ProbeTarget, signal: AbortSignal): Promise<ProbeMeasurement> => {
    const Pc = o.RTCPeerConnection ?? pageRtc();
    if (typeof Pc !== 'function')
      throw new IceProbeError('this runtime has no RTCPeerConnection', 'ERR_NO_WEBRTC');
    if (!target.stun) throw new IceProbeError(`no stun: URL for ${target.id}`, 'ERR_NO_STUN_URL');
    let best = await iceRound(Pc, target.stun, signal);
    for (let i = 1; i < (o.rounds ?? 2); i++) {
      const next = await iceRound(Pc, target.stun, signal).catch(() => undefined);
      if (next === undefined) break;
      best = Math.min(best, next);
    }
    return { rttMs: best, method: 'ice-stun' };
  };
