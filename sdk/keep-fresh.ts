/**
 * Keeps a live RTCPeerConnection's TURN credentials fresh. A credential's expiry bounds creating
 * an allocation, not using one (DESIGN), so a call that is up goes on past it; what an aged
 * credential breaks is the next ICE restart, a new allocation on a network change. `keepFresh`
 * asks the edge again before the credential expires, applies the new iceServers with
 * `pc.setConfiguration`, and restarts ICE when the edge now picks another relay or when ICE
 * failed (or stayed disconnected). Failures go to `onError` and are retried with exponential
 * backoff that honours the edge's Retry-After. Returns the function that stops it.
 *
 * An ICE restart needs a new offer/answer: the app's `negotiationneeded` handler sends it through
 * its signalling, as for any renegotiation. The timing (`renewDelayMs`, `retryDelayMs`) is pure
 * and takes the time as a parameter. Runs in browsers and Node: no node:* imports, no DOM types.
 */
import { EdgeError } from './errors.ts';
import { getRtcConfiguration, type RtcConfigurationResult, type SdkOptions } from './index.ts';

/** What keepFresh needs of an RTCPeerConnection. */
export interface FreshPeerConnection {
  getConfiguration(): object;
  setConfiguration(configuration: object): void;
  restartIce(): void;
  readonly iceConnectionState: string;
  addEventListener(type: 'iceconnectionstatechange', listener: () => void): void;
  removeEventListener(type: 'iceconnectionstatechange', listener: () => void): void;
}

/** Time and timers, injectable for tests; the platform's by default. */
export interface Clock {
  /** Milliseconds since the UNIX epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export type RenewReason = 'expiry' | 'ice-failed' | 'ice-disconnected';

export interface Renewal {
  readonly result: RtcConfigurationResult;
  readonly reason: RenewReason;
  readonly relayChanged: boolean;
  /** Whether keepFresh called pc.restartIce(). */
  readonly restarted: boolean;
}

export interface KeepFreshOptions extends SdkOptions {
  /** The answer the connection was set up with: its expiry and relay start the schedule. */
  readonly current: RtcConfigurationResult;
  /** Renew this many seconds before expiry (default: a fifth of the lifetime, within 5 to 60 s). */
  readonly marginSeconds?: number;
  /** How long ICE may stay `disconnected` before a renewal with an ICE restart (default 5000 ms). */
  readonly disconnectedGraceMs?: number;
  /** First retry delay after a failure (default 1000 ms), doubling up to maxRetryMs (default 30 s). */
  readonly initialRetryMs?: number;
  readonly maxRetryMs?: number;
  readonly onRenewed?: (renewal: Renewal) => void;
  readonly onError?: (err: EdgeError | Error) => void;
  /** Where new configurations come from; getRtcConfiguration with these options by default. */
  readonly renew?: (signal: AbortSignal) => Promise<RtcConfigurationResult>;
  readonly clock?: Clock;
  /** A number in [0, 1) for the retry jitter; Math.random by default. */
  readonly random?: () => number;
}

/** The default margin: a fifth of the lifetime, at least 5 s and at most 60 s. */
export const defaultMarginSeconds = (lifetimeSeconds: number): number =>
  Math.min(60, Math.max(5, lifetimeSeconds / 5));

/**
 * Milliseconds from `nowMs` until the renewal of a credential that expires at `expiresAt` (UNIX
 * seconds) and lived `lifetimeSeconds`: `marginSeconds` before the expiry, never negative.
 */
export function renewDelayMs(
  expiresAt: number,
  lifetimeSeconds: number,
  nowMs: number,
  marginSeconds: number = defaultMarginSeconds(lifetimeSeconds),
): number {
  return Math.max(0, Math.round(expiresAt * 1000 - marginSeconds * 1000 - nowMs));
}

/**
 * The wait before retry number `attempt` (0 for the first): exponential from initialMs, capped at
 * maxMs, with jitter in its upper half; never shorter than the edge's Retry-After (seconds).
 */
export function retryDelayMs(
  attempt: number,
  retryAfterSeconds: number | undefined,
  random: number,
  initialMs = 1000,
  maxMs = 30_000,
): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  const jittered = Math.round(base / 2 + (random * base) / 2);
  return Math.max(jittered, (retryAfterSeconds ?? 0) * 1000);
}

const platformClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof globalThis.setTimeout>),
};

/** Starts keeping `pc` fresh; returns the function that stops it (and aborts a renewal in flight). */
export function keepFresh(pc: FreshPeerConnection, o: KeepFreshOptions): () => void {
  const clock = o.clock ?? platformClock;
  const random = o.random ?? Math.random;
  const renew = o.renew ?? ((signal: AbortSignal) => getRtcConfiguration({ ...o, signal }));
  const grace = o.disconnectedGraceMs ?? 5000;
  let current = o.current;
  let lifetime = current.ttl ?? Math.max(1, current.expiresAt - clock.now() / 1000);
  let timer: unknown;
  let graceTimer: unknown;
  let inflight: AbortController | undefined;
  let attempt = 0;
  let stopped = false;
  /** A renewal asked for while one was in flight, or a failed one to retry: the strongest reason. */
  let pending: RenewReason | undefined;

  const schedule = (ms: number, reason: RenewReason) => {
    clock.clearTimeout(timer);
    timer = clock.setTimeout(() => void run(reason), ms);
  };
  const scheduleExpiry = () =>
    schedule(renewDelayMs(current.expiresAt, lifetime, clock.now(), o.marginSeconds), 'expiry');

  const run = async (reason: RenewReason): Promise<void> => {
    if (stopped) return;
    if (inflight) {
      if (reason !== 'expiry') pending = reason;
      return;
    }
    clock.clearTimeout(timer);
    const controller = new AbortController();
    inflight = controller;
    // A restart owed from an earlier failed attempt is not forgotten by a later expiry renewal.
    const why: RenewReason = reason === 'expiry' && pending ? pending : reason;
    pending = undefined;
    try {
      const next = await renew(controller.signal);
      if (stopped) return;
      const relayChanged = next.relay.id !== current.relay.id;
      pc.setConfiguration({ ...pc.getConfiguration(), ...next.configuration });
      const restart = relayChanged || why !== 'expiry';
      if (restart) pc.restartIce();
      current = next;
      lifetime = next.ttl ?? Math.max(1, next.expiresAt - clock.now() / 1000);
      attempt = 0;
      o.onRenewed?.({ result: next, reason: why, relayChanged, restarted: restart });
      inflight = undefined;
      if (pending) {
        const again = pending;
        pending = undefined;
        void run(again);
      } else scheduleExpiry();
    } catch (err) {
      inflight = undefined;
      if (stopped) return;
      const e = err instanceof Error ? err : new Error(String(err));
      o.onError?.(e);
      const retryAfter = e instanceof EdgeError ? e.retryAfter : undefined;
      if (why !== 'expiry') pending = why;
      schedule(retryDelayMs(attempt++, retryAfter, random(), o.initialRetryMs, o.maxRetryMs), why);
    }
  };

  const onIce = () => {
    const state = pc.iceConnectionState;
    clock.clearTimeout(graceTimer);
    if (state === 'failed') void run('ice-failed');
    else if (state === 'disconnected')
      graceTimer = clock.setTimeout(() => {
        if (pc.iceConnectionState === 'disconnected') void run('ice-disconnected');
      }, grace);
  };
  pc.addEventListener('iceconnectionstatechange', onIce);
  scheduleExpiry();

  return () => {
    stopped = true;
    clock.clearTimeout(timer);
    clock.clearTimeout(graceTimer);
    inflight?.abort();
    pc.removeEventListener('iceconnectionstatechange', onIce);
  };
}
