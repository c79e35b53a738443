/**
 * The soak run's verdict, pure: does a sampled quantity (memory, descriptors, sockets, Redis keys)
 * grow without bound, and did the steady calls lose more than allowed outside the windows where
 * their own relay was killed. Time comes in with the samples (seconds since the run began).
 * Imports nothing.
 *
 * Growth: a least-squares line through the second half of the run. A process restarted during the
 * run (new pid) starts a new life; each life gets its own intercept and all share one slope (a
 * fixed-effects fit), so a restart's drop in memory is not read as shrinking nor its rise as a
 * leak. Samples in the first `warmupS` seconds of a life are left out. The fitted growth across
 * the window fails only when it exceeds the stated tolerance AND stands out of the noise (slope
 * more than three standard errors from zero): a sawtooth garbage-collected heap sampled a dozen
 * times may tilt by chance; a leak tilts every time.
 */

export interface Sample {
  /** Seconds since the run began. */
  readonly t: number;
  /** The process the value came from; a new pid is a new life. */
  readonly pid: number;
  readonly v: number;
}

export interface GrowthRule {
  /** Growth across the window allowed in the quantity's unit (bytes, descriptors, keys). */
  readonly absolute: number;
  /** ... or this share of the window's median, whichever is larger. */
  readonly relative: number;
  /**
   * Judged only when the window spans at least this many seconds (default 0). Resident memory
   * climbs for minutes while V8 sizes a young process's heap, so a short run judges the live heap
   * and says nothing of RSS.
   */
  readonly minWindowS?: number;
}

export interface GrowthResult {
  /** Fitted growth across the window. */
  readonly growth: number;
  /** Growth allowed across the window. */
  readonly allowed: number;
  /** Fitted slope per hour. */
  readonly perHour: number;
  /** Slope over its standard error (Infinity when the fit is exact and the slope is not zero). */
  readonly tStat: number;
  readonly samples: number;
  readonly ok: boolean;
  /** Why no verdict could be made (too few samples); such a result is ok. */
  readonly note?: string;
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0
    ? 0
    : s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Common slope of `v` over `t` with one intercept per pid; its standard error; and point count. */
export function fixedEffectsSlope(samples: readonly Sample[]): {
  slope: number;
  se: number;
  n: number;
  lives: number;
} {
  const lives = new Map<number, Sample[]>();
  for (const s of samples) {
    const life = lives.get(s.pid);
    if (life) life.push(s);
    else lives.set(s.pid, [s]);
  }
  let sxy = 0;
  let sxx = 0;
  const centred: [number, number][] = [];
  for (const life of lives.values()) {
    const mt = life.reduce((a, s) => a + s.t, 0) / life.length;
    const mv = life.reduce((a, s) => a + s.v, 0) / life.length;
    for (const s of life) {
      const x = s.t - mt;
      const y = s.v - mv;
      sxy += x * y;
      sxx += x * x;
      centred.push([x, y]);
    }
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  const dof = samples.length - lives.size - 1;
  const rss = centred.reduce((a, [x, y]) => a + (y - slope * x) ** 2, 0);
  const se = dof > 0 && sxx > 0 ? Math.sqrt(rss / dof / sxx) : Number.POSITIVE_INFINITY;
  return { slope, se, n: samples.length, lives: lives.size };
}

/** Judges `samples` over the second half of a run of `durationS` seconds. */
export function secondHalfGrowth(
  samples: readonly Sample[],
  durationS: number,
  rule: GrowthRule,
  warmupS = 10,
): GrowthResult {
  const from = durationS / 2;
  const born = new Map<number, number>();
  for (const s of samples) if (!born.has(s.pid)) born.set(s.pid, s.t);
  const window = samples.filter((s) => s.t >= from && s.t <= durationS && s.t - born.get(s.pid)! >= warmupS);
  const span = durationS - from;
  const allowed = Math.max(rule.absolute, rule.relative * median(window.map((s) => s.v)));
  const fit = fixedEffectsSlope(window);
  if (span < (rule.minWindowS ?? 0))
    return {
      growth: 0,
      allowed,
      perHour: 0,
      tStat: 0,
      samples: fit.n,
      ok: true,
      note: `window under ${rule.minWindowS} s: not judged`,
    };
  if (fit.n - fit.lives < 3)
    return { growth: 0, allowed, perHour: 0, tStat: 0, samples: fit.n, ok: true, note: 'too few samples' };
  const growth = fit.slope * span;
  const tStat = fit.se === 0 ? (fit.slope === 0 ? 0 : Number.POSITIVE_INFINITY) : fit.slope / fit.se;
  return {
    growth,
    allowed,
    perHour: fit.slope * 3600,
    tStat,
    samples: fit.n,
    ok: !(growth > allowed && tStat > 3),
  };
}

export interface LossInterval {
  /** End of the interval, seconds since the run began. */
  readonly t: number;
  readonly sent: number;
  readonly lost: number;
  /** Inside a window where this call's own relay was down (killed until the call came back). */
  readonly excluded: boolean;
}

export interface LossResult {
  readonly sent: number;
  readonly lost: number;
  /** lost / sent outside the excluded windows. */
  readonly share: number;
  readonly excludedSent: number;
  readonly excludedLost: number;
  readonly ok: boolean;
}

/** Loss outside the excluded windows against `bound` (a share of packets, e.g. 0.005). */
export function lossVerdict(intervals: readonly LossInterval[], bound: number): LossResult {
  let sent = 0;
  let lost = 0;
  let excludedSent = 0;
  let excludedLost = 0;
  for (const i of intervals) {
    if (i.excluded) {
      excludedSent += i.sent;
      excludedLost += i.lost;
    } else {
      sent += i.sent;
      lost += i.lost;
    }
  }
  const share = sent > 0 ? lost / sent : 0;
  return { sent, lost, share, excludedSent, excludedLost, ok: sent > 0 && share <= bound };
}
