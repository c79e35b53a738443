/**
 * End-to-end delivery per destination: does what this relay originates toward a relay reach it,
 * whatever relays it crosses? The per-link check (delivery.ts) sees a link that loses data, but
 * not a gray relay: a transit relay that answers every probe and takes in every frame (its
 * incoming links look clean) but forwards nothing, and whose own counters say it sent nothing
 * (a stuck forwarding path), so its outgoing links look clean too.
 *
 * The signal: each relay counts, per destination relay, the data frames it originated toward it,
 * and per origin relay, the data frames that reached it as their final hop. The destination
 * publishes the latter on its link record toward the origin (`LinkRecord.endIn`, cumulative,
 * counted at the record's `updatedAt`; a record without it, from a relay before this check, says
 * nothing). The origin pairs it with its own sent count at the record's instant less the path's
 * one-way delay (a frame counted at the destination left the origin that much earlier), using the
 * per-link check's interpolation and thresholds (a `DeliveryCheck` per destination, the same
 * `minFrames`, `minLoss` and window). On a loss found, the origin avoids the path's transit relays
 * for that destination for `avoidMs`: its route computation treats them as down for that
 * destination only (route-table.ts); the direct link stays allowed and other routes are untouched.
 *
 * A route change starts the destination's check over: the samples from before measured another
 * path, and would blame the new one's relays for the old one's loss.
 *
 * Which relays to avoid: the next hop always (forwarding is hop by hop: it is the one choice this
 * relay makes, and beyond it frames follow the next hop's own routes); a later transit relay
 * unless it carries this relay's traffic toward another destination without loss (that
 * destination's check says 0 over enough frames): it does forward. On the three-link paths the
 * default allows that is one or two relays, and innocent ones among them lose that destination's
 * traffic for `avoidMs` (docs/SIMULATION.md measures the cost).
 *
 * Pure: counts and times come in as parameters.
 */
import type { LinkStats } from '../routing/link-cost.ts';
import { DEFAULT_DELIVERY, DeliveryCheck, type DeliveryOptions } from './delivery.ts';

export interface EndToEndOptions extends DeliveryOptions {
  /** How long a lossy path's transit relays are avoided for its destination, ms. */
  readonly avoidMs: number;
}

export const DEFAULT_END_TO_END: EndToEndOptions = Object.freeze({ ...DEFAULT_DELIVERY, avoidMs: 60_000 });

/** A loss found toward a destination, and the transit relays now avoided for it. */
export interface EndToEndLoss {
  readonly to: string;
  readonly loss: number;
  readonly path: readonly string[];
  readonly avoid: readonly string[];
}

interface Destination {
  check: DeliveryCheck;
  /** The route in use (hops), as last given. */
  path: readonly string[];
  /** Transit relay -> until when it is avoided. */
  readonly avoid: Map<string, number>;
}

const NO_HOPS: readonly string[] = [];

/** Round-trip time along `hops` on a snapshot's links (undefined: a link is unknown). */
export function pathRttMs(
  links: ReadonlyMap<string, ReadonlyMap<string, LinkStats>>,
  hops: readonly string[],
): number | undefined {
  let rtt = 0;
  for (let i = 1; i < hops.length; i++) {
    const l = links.get(hops[i - 1]!)?.get(hops[i]!);
    if (!l || !Number.isFinite(l.rttMs)) return undefined;
    rtt += l.rttMs;
  }
  return rtt;
}

export class EndToEndCheck {
  readonly #dest = new Map<string, Destination>();

  constructor(private readonly o: EndToEndOptions = DEFAULT_END_TO_END) {}

  #of(to: string): Destination {
    let d = this.#dest.get(to);
    if (!d) {
      d = { check: new DeliveryCheck(this.o), path: NO_HOPS, avoid: new Map() };
      this.#dest.set(to, d);
    }
    return d;
  }

  /** This relay had originated `sent` data frames toward `to` at `now` (noted every probe tick). */
  note(to: string, sent: number, now: number): void {
    this.#of(to).check.note(sent, now);
  }

  /** The route toward `to` is now `hops` (none: unreachable); a change starts the check over. */
  route(to: string, hops: readonly string[] | undefined): void {
    const d = this.#of(to);
    const next = hops ?? NO_HOPS;
    if (next.length === d.path.length && next.every((h, i) => h === d.path[i])) return;
    d.path = next;
    d.check.restart();
  }

  /**
   * `to`'s record toward this relay, read at `now`: `delivered` frames from this relay had reached
   * it at its time `reportedAt`; this relay had originated `sent` toward it by `now`; `oneWayMs`
   * is the path's one-way delay. A loss found on a path with transit relays avoids them for `to`.
   */
  report(
    to: string,
    delivered: number,
    reportedAt: number,
    sent: number,
    oneWayMs: number,
    now: number,
  ): EndToEndLoss | undefined {
    const d = this.#of(to);
    const shift = Number.isFinite(oneWayMs) && oneWayMs > 0 ? oneWayMs : 0;
    d.check.report(delivered, reportedAt - shift, sent, now);
    const loss = d.check.loss(now);
    if (loss === undefined || loss < this.o.minLoss) return undefined;
    const transit = d.path.slice(1, -1);
    if (transit.length === 0) return undefined; // one link: the per-link check's to see
    // The next hop is always avoided: forwarding is hop by hop, so it is the one choice this relay
    // makes for the frame; a path through it, whatever this relay's table says beyond it, goes
    // where the next hop's own route sends it. A later transit relay that carries this relay's
    // traffic to another destination cleanly does forward, and is spared.
    const avoid = transit.filter((r, i) => i === 0 || !this.#vouched(r, to, now));
    for (const r of avoid) d.avoid.set(r, now + this.o.avoidMs);
    const path = d.path;
    // The route is about to change; the loss on this path is counted once, not on every read.
    d.check.restart();
    return { to, loss, path, avoid };
  }

  /** Whether the route to a destination other than `except` crosses `relay` and delivers (enough traffic, no loss). */
  #vouched(relay: string, except: string, now: number): boolean {
    for (const [to, d] of this.#dest) {
      if (to === except) continue;
      const at = d.path.indexOf(relay);
      if (at > 0 && at < d.path.length - 1 && d.check.loss(now) === 0) return true;
    }
    return false;
  }

  /**
   * Per destination, the relays its route must not pass through at `now` (expired ones dropped).
   * Equal sets are one object, so the route table searches once per set, not per destination (a
   * gray relay on the paths to many destinations).
   */
  avoid(now: number): Map<string, ReadonlySet<string>> {
    const out = new Map<string, ReadonlySet<string>>();
    const sets = new Map<string, ReadonlySet<string>>();
    for (const [to, d] of this.#dest) {
      for (const [r, until] of d.avoid) if (until <= now) d.avoid.delete(r);
      if (d.avoid.size === 0) continue;
      const key = [...d.avoid.keys()].sort().join('\n');
      let set = sets.get(key);
      if (!set) {
        set = new Set(d.avoid.keys());
        sets.set(key, set);
      }
      out.set(to, set);
    }
    return out;
  }

  /** A destination left: its counts and avoid set go. */
  forget(to: string): void {
    this.#dest.delete(to);
  }
}
