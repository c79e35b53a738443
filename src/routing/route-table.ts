/**
 * One relay's routing table kept over time: path-choice.ts's hysteresis plus two rules that keep
 * it from locking in early choices.
 *
 * The switch rule (a gain of 5 ms AND 15 %) keeps whatever a relay chose first. A mesh starts
 * with every link unmeasured, then direct links answer first, so first choices are mostly direct;
 * on the measured WonderProxy matrix a table kept that way took only 37-60 % of the detour gain a
 * table computed fresh takes (issue 11; docs/BACKBONE.md). So:
 * - settling: for `settleMs` after a destination first appears, its route follows the best path
 *   with no hysteresis (the links it depends on are still being measured; nothing is locked in);
 * - sustained gain: after that, a smaller gain (`sustainGainMs` AND `sustainGainRatio`, with the
 *   loss deadband) that holds on every recompute for `sustainMs` also earns a switch. Noise does
 *   not hold one way for that long; a real difference does.
 * A broken path is still left at once, and a clear gain still switches at once.
 *
 * Pure: a snapshot and `now` in, changes out; no clock of its own.
 */
import { DEFAULT_COST } from './link-cost.ts';
import { type Choice, type ChoiceOptions, choosePath, type RouteChange } from './path-choice.ts';
import { bestPathsFrom, type OverlaySnapshot, type Path, pathCost } from './paths.ts';

export interface RouteTableOptions extends ChoiceOptions {
  readonly sustainGainMs: number;
  readonly sustainGainRatio: number;
  readonly sustainMs: number;
  readonly settleMs: number;
  /**
   * A clear gain (not a broken path) switches only once it has held on every recompute for this
   * long; default 0 (at once). Longer than a loss burst's stay in the loss window, a burst that
   * is over by the time it shows earns no switch.
   */
  readonly confirmMs?: number;
  /** The loss deadband of the sustained rule; default `lossDeadband`. */
  readonly sustainLossDeadband?: number;
}

interface Entry {
  /** When the destination was first seen in a snapshot. */
  readonly firstSeen: number;
  /** Since when a path has been better by the sustained margin on every recompute; NaN: not. */
  betterSince: number;
  /** Since when a path has been clearly better (the switch rule) on every recompute; NaN: not. */
  clearSince: number;
}

export class RouteTable {
  readonly #routes = new Map<string, Path>();
  readonly #entries = new Map<string, Entry>();
  readonly #settling: ChoiceOptions;
  readonly #sustained: ChoiceOptions;

  constructor(
    readonly from: string,
    readonly options: RouteTableOptions,
  ) {
    this.#settling = {
      ...options,
      switchGainMs: Number.MIN_VALUE,
      switchGainRatio: 0,
      lossDeadband: 0,
      jitterMargin: 0,
    };
    // Time does what the jitter margin does for a switch at once: noise does not hold for sustainMs.
    this.#sustained = {
      ...options,
      switchGainMs: options.sustainGainMs,
      switchGainRatio: options.sustainGainRatio,
      jitterMargin: 0,
      lossDeadband: options.sustainLossDeadband ?? options.lossDeadband,
    };
  }

  /** The path in use per destination relay. */
  get routes(): ReadonlyMap<string, Path> {
    return this.#routes;
  }

  /**
   * Recomputes every route on snapshot `s` at `now`. Changes come in destination order. A
   * destination that left the snapshot is dropped without a change (the directory reports it).
   *
   * `avoid`: per destination, relays its route may not pass through (an end-to-end loss found on
   * a path through them, src/backbone/end-to-end.ts). A route through one is left at once (reason
   * 'broken') for the best path around them; when there is none, the avoid set is ignored (a
   * lossy path beats none). Other destinations' routes are computed as before.
   */
  update(s: OverlaySnapshot, now: number, avoid?: ReadonlyMap<string, ReadonlySet<string>>): RouteChange[] {
    const best = bestPathsFrom(s, this.from, this.options);
    const around = new Map<ReadonlySet<string>, Map<string, Path>>();
    const pathsAround = (set: ReadonlySet<string>) => {
      let m = around.get(set);
      if (!m) {
        m = bestPathsFrom(s, this.from, this.options, set);
        around.set(set, m);
      }
      return m;
    };
    const destinations = [...new Set(s.relays)].filter((id) => id !== this.from).sort();
    const present = new Set(destinations);
    for (const id of this.#entries.keys()) {
      if (present.has(id)) continue;
      this.#entries.delete(id);
      this.#routes.delete(id);
    }
    const changes: RouteChange[] = [];
    for (const to of destinations) {
      let entry = this.#entries.get(to);
      if (!entry) {
        entry = { firstSeen: now, betterSince: Number.NaN, clearSince: Number.NaN };
        this.#entries.set(to, entry);
      }
      const before = this.#routes.get(to);
      let computed = { best: best.get(to) };
      let leave = false;
      const avoided = avoid?.get(to);
      if (avoided && avoided.size > 0) {
        const detour = pathsAround(avoided).get(to);
        if (detour) {
          computed = { best: detour };
          leave = before?.hops.slice(1, -1).some((h) => avoided.has(h)) === true;
        }
      }
      const settling = now - entry.firstSeen < this.options.settleMs;
      let choice: Choice = leave
        ? { path: computed.best, reason: 'broken' }
        : choosePath(before, computed, s, settling ? this.#settling : this.options);
      if (choice.reason === 'better' && !settling && before && (this.options.confirmMs ?? 0) > 0) {
        if (Number.isNaN(entry.clearSince)) entry.clearSince = now;
        if (now - entry.clearSince < this.options.confirmMs!) {
          const cost = pathCost(s, before.hops, this.options.params ?? DEFAULT_COST);
          choice = { path: { hops: before.hops, cost }, reason: 'kept' };
        }
      } else entry.clearSince = Number.NaN;
      if (choice.reason === 'kept' && !settling && before) {
        const sustained = choosePath(before, computed, s, this.#sustained);
        if (sustained.reason !== 'better') entry.betterSince = Number.NaN;
        else if (Number.isNaN(entry.betterSince)) entry.betterSince = now;
        else if (now - entry.betterSince >= this.options.sustainMs) choice = sustained;
      }
      if (choice.reason !== 'kept') {
        entry.betterSince = Number.NaN;
        entry.clearSince = Number.NaN;
      }
      if (choice.path) this.#routes.set(to, choice.path);
      else this.#routes.delete(to);
      if (choice.reason === 'kept' || (choice.reason === 'unreachable' && !before)) continue;
      changes.push({ to, path: choice.path, previous: before, reason: choice.reason });
    }
    return changes;
  }
}
