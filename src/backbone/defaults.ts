/**
 * The backbone's tuning, in one place: the relay's config (relay/config.ts) and the world
 * simulation (src/sim/config.ts) both read these, so what the simulation measures is what the
 * relay runs.
 */
import { DEFAULT_HYSTERESIS } from '../routing/path-choice.ts';

export interface BackboneTuning {
  /** How often each link is probed. 100 ms gives a failover well under a second. */
  readonly probeIntervalMs: number;
  /** A link silent this long (with a probe waiting) is broken, whatever its averages say. */
  readonly deadAfterMs: number;
  /** How often routes are recomputed from the relay's own links and the published ones. */
  readonly recomputeMs: number;
  /** How often the directory is read and this relay's links published (and at once on events). */
  readonly syncMs: number;
  /** How long published links live in the directory unless published again. */
  readonly linkTtlMs: number;
  /** Probes (and replies) per link the loss rate and RTT percentiles look back over. */
  readonly estimatorWindow: number;
  /** A probe without a reply after this long counts as lost. */
  readonly lossTimeoutMs: number;
  /** Relay-to-relay links a path may have: 1 = direct only. */
  readonly maxHops: number;
  /** Switch at once for a gain of at least this many ms of cost AND this share of the current cost. */
  readonly switchGainMs: number;
  readonly switchGainRatio: number;
  /** A smaller gain, held on every recompute for `sustainMs`, also earns a switch. */
  readonly sustainGainMs: number;
  readonly sustainGainRatio: number;
  readonly sustainMs: number;
  /** Routes to a destination first seen less than this long ago follow the best path freely. */
  readonly settleMs: number;
  /** A switch at once also needs a gain of this many ms per ms of jitter on the links that differ. */
  readonly jitterMargin: number;
  /** A gain must hold on every recompute this long before a switch at once (a broken path: none). */
  readonly confirmMs: number;
  /** Loss per link forgiven when weighing a switch at once (one probe of the window is 0.02). */
  readonly lossDeadband: number;
  /** The same for the sustained rule, whose hold time already filters a burst. */
  readonly sustainLossDeadband: number;
  /** Frames per sender the replay window remembers behind the highest seq seen. */
  readonly replayWindow: number;
  /**
   * The largest bundle (bundle.ts): data frames for one next hop in one event-loop turn leave as
   * one datagram of at most this many bytes, to relays that take bundles; 0 sends every frame alone.
   */
  readonly bundleBytes: number;
}

export const BACKBONE_DEFAULTS: BackboneTuning = Object.freeze({
  probeIntervalMs: 100,
  deadAfterMs: 400,
  recomputeMs: 250,
  syncMs: 1000,
  linkTtlMs: 5000,
  estimatorWindow: 50,
  lossTimeoutMs: 1000,
  maxHops: 3,
  ...DEFAULT_HYSTERESIS,
  sustainGainMs: 1,
  sustainGainRatio: 0.03,
  sustainMs: 30_000,
  // 50 probes at 100 ms: the estimator's window is full once, and every relay has published twice.
  settleMs: 5000,
  // Damping for measured Internet links (issue 14, docs/SIMULATION.md "Flaps"): a gain must
  // beat twice the jitter of the links that differ, hold for 6 s (a loss burst stays 5 s in the
  // 50-probe window), and hold with two lost probes per link forgiven; a lasting smaller loss is
  // still left by the sustained rule, which forgives none.
  jitterMargin: 2,
  confirmMs: 6000,
  lossDeadband: 0.04,
  sustainLossDeadband: 0,
  replayWindow: 4096,
  // Under a 1,280-byte IPv6 path MTU with IP and UDP headers: video-size frames go alone.
  bundleBytes: 1200,
});
