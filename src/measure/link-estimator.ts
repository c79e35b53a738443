/**
 * Per-link measurement from probes: each probe has a sequence number and a send time; a reply
 * gives its round-trip time. The estimator keeps
 * - a smoothed RTT as TCP does (RFC 6298 §2: SRTT <- 7/8 SRTT + 1/8 R),
 * - recent RTT percentiles over the last `window` replies,
 * - interarrival jitter as RTP does (RFC 3550 §6.4.1: J <- J + (|D| - J)/16, with D the change
 *   in transit time between consecutive replies; on a round trip the RTT plays the transit time),
 * - loss over a sliding window of the last `window` probes whose reply deadline has passed, from
 *   the link's first answer on (probes sent before the first answered one are not counted: the
 *   link was not up yet). Until `window` probes are decided, the rest of the window counts as
 *   delivered: one early loss weighs what it will weigh in a full window (1/window), not 1 in the
 *   few probes seen so far. Taken at face value, one probe lost among the first 16 read as 6 %
 *   loss, 190 ms of path cost, and moved a young relay's route onto a link eight times slower for
 *   seconds (test/unit/backbone-core "hysteresis"). A dead link still shows at once: the backbone marks a quiet link fully lossy.
 * Pure: probe times and `now` come in as parameters (ms).
 */
import type { LinkMetrics } from '../directory/types.ts';

export interface LinkEstimate extends LinkMetrics {
  /** When the last reply arrived (ms), or undefined before the first. */
  readonly lastReplyAt: number | undefined;
}

export interface EstimatorOptions {
  /** Probes (and replies) the loss rate and the percentiles look back over. */
  readonly window: number;
  /** A probe without a reply after this long counts as lost. */
  readonly lossTimeoutMs: number;
}

export class LinkEstimator {
  readonly #sent = new Map<number, number>();
  /** Outcome of the last `window` decided probes: true = lost. */
  readonly #outcomes: boolean[] = [];
  readonly #recent: number[] = [];
  #srtt: number | undefined;
  #jitter = 0;
  #lastRtt: number | undefined;
  #samples = 0;
  #lastReplyAt: number | undefined;
  /** Send time of the oldest probe sent since the last reply, answered or not yet. */
  #waitingSince: number | undefined;

  constructor(private readonly o: EstimatorOptions = { window: 50, lossTimeoutMs: 1000 }) {}

  /** A probe went out. */
  sent(seq: number, at: number): void {
    this.#sent.set(seq, at);
    this.#waitingSince ??= at;
  }

  /** Its reply came back; replies to unknown or already-expired probes are ignored. */
  replied(seq: number, at: number): void {
    const sentAt = this.#sent.get(seq);
    if (sentAt === undefined || at < sentAt) return;
    this.#sent.delete(seq);
    const rtt = at - sentAt;
    this.#srtt = this.#srtt === undefined ? rtt : (7 * this.#srtt + rtt) / 8;
    if (this.#lastRtt !== undefined) this.#jitter += (Math.abs(rtt - this.#lastRtt) - this.#jitter) / 16;
    this.#lastRtt = rtt;
    this.#push(this.#recent, rtt);
    this.#push(this.#outcomes, false);
    this.#samples++;
    // The link's first answer: probes sent before this one went out before the link was up (a
    // peer drops a new relay's probes until its next directory read tells it the sender, up to a
    // second) and are not losses of the link. Counted, they stayed in the window for seconds
    // after the link answered and kept a new relay's route on a detour for the sustain time.
    if (this.#lastReplyAt === undefined)
      for (const [s, t] of this.#sent) if (t < sentAt) this.#sent.delete(s);
    this.#lastReplyAt = at;
    // Probes sent after this one still wait; older ones are moot now that the link answered.
    let waiting: number | undefined;
    for (const s of this.#sent.values())
      if (s > sentAt && (waiting === undefined || s < waiting)) waiting = s;
    this.#waitingSince = waiting;
  }

  /**
   * Probes whose deadline passed become losses, once the link has answered (before that it has
   * no measurement: loss 1). Call before reading the estimate.
   */
  expire(now: number): void {
    for (const [seq, sentAt] of this.#sent) {
      if (now - sentAt < this.o.lossTimeoutMs) continue;
      this.#sent.delete(seq);
      if (this.#lastReplyAt !== undefined) this.#push(this.#outcomes, true);
    }
  }

  /** Milliseconds since the last reply (Infinity before any): a blackholed link shows here first. */
  silenceMs(now: number): number {
    return this.#lastReplyAt === undefined ? Number.POSITIVE_INFINITY : now - this.#lastReplyAt;
  }

  /**
   * Whether the link has gone quiet: no reply for `limitMs` while a probe has waited longer than
   * twice the smoothed RTT (at least 100 ms). A link probed only now and then (past 32 peers a
   * relay probes far peers in rotation) is silent between probes without being dead: the probe
   * waiting for its answer is what tells a dead link from a quiet one. A link never probed is
   * not quiet; its estimate says it has no measurement (loss 1) instead.
   */
  quiet(now: number, limitMs: number): boolean {
    if (this.#waitingSince === undefined) return false;
    const grace = Math.max(100, 2 * (this.#srtt ?? 0));
    return this.silenceMs(now) > limitMs && now - this.#waitingSince > grace;
  }

  estimate(now: number): LinkEstimate {
    this.expire(now);
    const sorted = [...this.#recent].sort((a, b) => a - b);
    const pick = (p: number) =>
      sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : 0;
    const lost = this.#outcomes.filter(Boolean).length;
    return {
      rttMs: this.#srtt ?? 0,
      rttP50Ms: pick(0.5),
      rttP95Ms: pick(0.95),
      jitterMs: this.#jitter,
      lossRate: this.#outcomes.length
        ? lost / Math.max(this.#outcomes.length, this.o.window)
        : this.#lastReplyAt === undefined
          ? 1
          : 0,
      samples: this.#samples,
      lastReplyAt: this.#lastReplyAt,
    };
  }

  #push<T>(list: T[], item: T): void {
    list.push(item);
    if (list.length > this.o.window) list.shift();
  }
}
