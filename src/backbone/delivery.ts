/**
 * Data-plane delivery per link: does what a relay sends a peer arrive? Probes and data share a
 * link but not always a fate. A filter, an MTU or a policer that passes small frames, or a NIC
 * queue that drops under load, can lose data while every probe is answered (a gray failure):
 * the probe-based estimate sees nothing, and neither does the routing.
 *
 * The signal is two counters the relays already pass through: the frames a relay sent a peer
 * (data and forwarded) and the data frames the peer received from it, which the peer publishes
 * on its own link record back (`LinkRecord.dataIn`, cumulative since it started, counted at the
 * record's `updatedAt`). This relay notes its own sent count on every probe tick (100 ms) and
 * pairs each new record of the peer's with its sent count at the record's `updatedAt`,
 * interpolated between the two notes around it: both counts then stand for the same instant,
 * within a tick's traffic, whatever the traffic does between directory reads. `loss` compares the two over the last
 * `windowMs`. An earlier pairing, with the sent count at the read before, was off by whatever
 * the traffic did between that read and the peer's publish: traffic that stopped or began inside
 * the window read as up to half lost (found on a quiet machine by bench/backbone-forwarding.ts:
 * A published its link to B at 0.49 loss after a 3-second burst, and B's route stayed off it for
 * the hold). The instants are two relays' clocks, so their skew blurs the pairing by that much
 * traffic, and the interpolation assumes an even rate within a tick: `minLoss` stays well
 * above zero for both. Too little traffic (under `minFrames` sent in the window) says nothing. The
 * core publishes max(probe loss, data loss) as the link's loss, so every relay routes around it.
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
  /** Frames this relay had sent the peer at the peer's `reportedAt` (interpolated, see above). */
  readonly sent: number;
  /** Frames the peer had received from this relay, as it published. */
  readonly delivered: number;
  /** The peer's `updatedAt` of that record (its clock). */
  readonly reportedAt: number;
}

export class DeliveryCheck {
  #samples: Sample[] = [];
  /** This relay's sent count at each report call (each directory read), oldest first. */
  #notes: { at: number; sent: number }[] = [];
  /** The last loss found (at least minLoss) and when. */
  #found: { loss: number; at: number } | undefined;

  constructor(private readonly o: DeliveryOptions = DEFAULT_DELIVERY) {}

  /**
   * Read at `now`, when this relay had sent the peer `sent` frames: the peer's record of its link
   * back says it had received `delivered` data frames from this relay at its time `reportedAt`.
   * A record read again (same `reportedAt`) only notes `sent`; counts going back (the peer or this
   * relay restarted) start over.
   */
  report(delivered: number, reportedAt: number, sent: number, now: number): void {
    if (!(delivered >= 0) || !(sent >= 0) || !Number.isFinite(reportedAt) || !Number.isFinite(now)) return;
    const last = this.#samples[this.#samples.length - 1];
    const lastNote = this.#notes[this.#notes.length - 1];
    if (
      (last && (delivered < last.delivered || reportedAt < last.reportedAt)) ||
      (lastNote && (sent < lastNote.sent || now < lastNote.at))
    ) {
      this.#samples = [];
      this.#notes = [];
      this.#found = undefined;
    }
    this.note(sent, now);
    if (last && reportedAt === last.reportedAt && this.#samples.length > 0) return;
    const sentThen = this.#sentAt(reportedAt);
    if (sentThen === undefined) return;
    this.#samples.push({ at: now, sent: sentThen, delivered, reportedAt });
  }

  /**
   * Forgets the samples and any loss found, keeping the sent-count notes: what is measured from
   * now on is another thing (the end-to-end check's path changed, end-to-end.ts).
   */
  restart(): void {
    this.#samples = [];
    this.#found = undefined;
  }

  /**
   * This relay had sent the peer `sent` frames at `now`. The core notes it on every probe tick
   * (100 ms), so a count is known within a tick of any instant; a flat run keeps only its two
   * ends.
   */
  note(sent: number, now: number): void {
    const n = this.#notes;
    const last = n[n.length - 1];
    if (last && now < last.at) return;
    if (last && last.sent === sent && n[n.length - 2]?.sent === sent) last.at = now;
    else n.push({ at: now, sent });
    while (n.length > 2 && n[1]!.at <= now - 2 * this.o.windowMs) n.shift();
  }

  /** This relay's sent count at `t`, between the notes around it; the newest past them; none before them. */
  #sentAt(t: number): number | undefined {
    const n = this.#notes;
    if (n.length === 0 || t < n[0]!.at) return undefined;
    for (let i = n.length - 1; i >= 0; i--) {
      const a = n[i]!;
      if (a.at > t) continue;
      const b = n[i + 1];
      if (!b || b.at === a.at) return a.sent;
      return a.sent + ((b.sent - a.sent) * (t - a.at)) / (b.at - a.at);
    }
    return undefined;
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
