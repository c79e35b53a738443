/**
 * Data-plane delivery per link: does what a relay sends a peer arrive? Probes and data share a
 * link but not always a fate. A filter, an MTU or a policer that passes small frames, or a NIC
 * queue that drops under load, can lose data while every probe is answered (a gray failure):
 * the probe-based estimate sees nothing, and neither does the routing.
 *
 * The signal is two counters the relays already pass through: the frames a relay sent a peer
 * (data and forwarded) and the data frames the peer received from it, which the peer publishes
 * on its own link record back (`LinkRecord.dataIn`, cumulative since it started). Each time a
 * new record of the peer's arrives (its `updatedAt` moved), `report` pairs it with this relay's
 * sent count at the read before, which every frame counted had had time to arrive for (the peer
 * published after that read); `loss` compares the two over the last `windowMs`. Pairing with the
 * count at this read instead called a link that just began to carry traffic lossy (the frames
 * sent between the peer's publish and our read look lost): a relay that moved its traffic onto a
 * detour found the detour broken (test/unit/backbone-delivery.test.ts, found there). What varies
 * (the traffic over one sync period) is why `minLoss` is well above zero. Too little traffic
 * (under `minFrames` sent in the window) says nothing. The core
 * publishes max(probe loss, data loss) as the link's loss, so every relay routes around it.
 *
 * Not covered: a relay that drops frames inside itself before it sends them (its counters say
 * nothing was sent, so nothing was lost). Pure: counts and times come in as parameters.
 */

export interface DeliveryOptions {
  /** How far back the loss looks, ms. */
  readonly windowMs: number;
  /** Frames sent in the window below which no verdict is given. */
  readonly minFrames: number;
  /** Data loss below this counts as none (the read lag's noise). */
  readonly minLoss: number;
  /**
   * A loss found stands this long while too little traffic crosses the link to say more: routes
   * leave a lossy link, so its traffic stops, and the link must not look clean again for that.
   */
  readonly holdMs: number;
}

export const DEFAULT_DELIVERY: DeliveryOptions = Object.freeze({
  windowMs: 10_000,
  minFrames: 100,
  minLoss: 0.2,
  holdMs: 60_000,
});

interface Sample {
  /** This relay's clock when the report was read. */
  readonly at: number;
  /**
   * Frames this relay had sent the peer by the read before (the previous report's): the peer
   * published this record after that read, so all of them had had time to arrive.
   */
  readonly sent: number;
  /** Frames the peer had received from this relay, as it published. */
  readonly delivered: number;
  /** The peer's `updatedAt` of that record (its clock). */
  readonly reportedAt: number;
}

export class DeliveryCheck {
  #samples: Sample[] = [];
  /** The last loss found (at least minLoss) and when. */
  #found: { loss: number; at: number } | undefined;
  /** Our sent count at the last report taken. */
  #lastSent: number | undefined;

  constructor(private readonly o: DeliveryOptions = DEFAULT_DELIVERY) {}

  /**
   * The peer's record of its link back says it had received `delivered` data frames from this
   * relay at its time `reportedAt`; this relay had sent `sent` by `now`. A record read again
   * (same `reportedAt`) is ignored; counts going back (the peer or this relay restarted) start over.
   */
  report(delivered: number, reportedAt: number, sent: number, now: number): void {
    if (!(delivered >= 0) || !(sent >= 0) || !Number.isFinite(reportedAt)) return;
    const last = this.#samples[this.#samples.length - 1];
    if (last && reportedAt === last.reportedAt) return;
    if (
      last &&
      (delivered < last.delivered || sent < (this.#lastSent ?? 0) || reportedAt < last.reportedAt)
    ) {
      this.#samples = [];
      this.#found = undefined;
      this.#lastSent = undefined;
    }
    this.#samples.push({ at: now, sent: this.#lastSent ?? sent, delivered, reportedAt });
    this.#lastSent = sent;
  }

  /**
   * Data loss over the last `windowMs` (0 below `minLoss`); with too little traffic to say, the
   * last loss found within `holdMs`, else undefined.
   */
  loss(now: number): number | undefined {
    const s = this.#samples;
    while (s.length > 2 && s[1]!.at <= now - this.o.windowMs) s.shift();
    const a = s[0];
    const b = s[s.length - 1];
    const held = this.#found && now - this.#found.at <= this.o.holdMs ? this.#found.loss : undefined;
    if (!a || !b || a === b || now - b.at > this.o.windowMs) return held;
    const sent = b.sent - a.sent;
    if (sent < this.o.minFrames) return held;
    const loss = Math.min(1, Math.max(0, 1 - (b.delivered - a.delivered) / sent));
    if (loss < this.o.minLoss) {
      this.#found = undefined;
      return 0;
    }
    this.#found = { loss, at: now };
    return loss;
  }
}
