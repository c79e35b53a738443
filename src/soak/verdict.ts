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
 *
 * Resident memory is judged per life instead (`minLifeS`): V8 grows a young process's heap for
 * minutes, so the common slope of lives restarted every few minutes measures that warm-up, and
 * carried across the whole window it reads as a leak. Each life is fitted on its own samples and
 * its growth is its slope times its own span in the window; a life spanning less than `minLifeS`
 * is too young to judge and is reported as such (not failed, and not counted as passed).
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
   * When set, each process life is judged alone, on its own span within the window, and only
   * lives spanning at least this many seconds there; younger ones are reported as not judged.
   * Unset: one fit over all lives (a common slope), carried across the whole window.
   */
  readonly minLifeS?: number;
}

/** One process life's part of a per-life verdict. */
export interface LifeGrowth {
  readonly pid: number;
  /** First and last sample of the life within the window, seconds since the run began. */
  readonly from: number;
  readonly to: number;
  readonly samples: number;
  /** False when the life spans less than the rule's `minLifeS` in the window (or has too few samples). */
  readonly judged: boolean;
  /** Fitted growth across the life's own span in the window (0 when not judged). */
  readonly growth: number;
  readonly allowed: number;
  readonly perHour: number;
  readonly tStat: number;
  /** False only for a judged life that grew beyond its tolerance and out of the noise. */
  readonly ok: boolean;
  readonly note?: string;
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
  /**
   * False when nothing was judged (too few samples, or every life too young): `ok` is then true
   * but means "no verdict", and `note` says why. Per-life rules: true when at least one life was.
   */
  readonly judged: boolean;
  /** Why no verdict, or only a partial one, could be made. */
  readonly note?: string;
  /** Per-life rules (`minLifeS`): every life in the window; the figures above are the worst judged one's. */
  readonly lives?: readonly LifeGrowth[];
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

/** The fitted rise of `fit` across `span` seconds, its t statistic, and whether it fails `allowed`. */
function judgeFit(fit: { slope: number; se: number }, span: number, allowed: number) {
  const growth = fit.slope * span;
  const tStat = fit.se === 0 ? (fit.slope === 0 ? 0 : Number.POSITIVE_INFINITY) : fit.slope / fit.se;
  return { growth, perHour: fit.slope * 3600, tStat, ok: !(growth > allowed && tStat > 3) };
}

/** Each life in `window` judged on its own span, lives shorter than `minLifeS` reported unjudged. */
function perLifeGrowth(window: readonly Sample[], rule: GrowthRule, minLifeS: number): GrowthResult {
  const byPid = new Map<number, Sample[]>();
  for (const s of window) {
    const life = byPid.get(s.pid);
    if (life) life.push(s);
    else byPid.set(s.pid, [s]);
  }
  const lives: LifeGrowth[] = [];
  for (const [pid, life] of byPid) {
    const from = life[0]!.t;
    const to = life.at(-1)!.t;
    const allowed = Math.max(rule.absolute, rule.relative * median(life.map((s) => s.v)));
    const base = { pid, from, to, samples: life.length, allowed };
    const young = to - from < minLifeS;
    if (young || life.length < 4) {
      const note = young
        ? `${(to - from).toFixed(0)} s in the window, under ${minLifeS} s: too young to judge`
        : 'too few samples';
      lives.push({ ...base, judged: false, growth: 0, perHour: 0, tStat: 0, ok: true, note });
      continue;
    }
    lives.push({ ...base, judged: true, ...judgeFit(fixedEffectsSlope(life), to - from, allowed) });
  }
  const judged = lives.filter((l) => l.judged);
  const unjudged = lives.length - judged.length;
  const allowed = Math.max(rule.absolute, rule.relative * median(window.map((s) => s.v)));
  const summary = { samples: window.length, lives };
  if (judged.length === 0)
    return {
      ...summary,
      growth: 0,
      allowed,
      perHour: 0,
      tStat: 0,
      ok: true,
      judged: false,
      note:
        lives.length === 0
          ? 'no samples in the window'
          : `not judged: ${lives.length === 1 ? 'its one life is' : `all ${lives.length} lives are`} under ${minLifeS} s in the window`,
    };
  // The figures shown are the life that came nearest its tolerance (a failing one first).
  const nearness = (l: LifeGrowth) => (l.ok ? 0 : 1e9) + l.growth / l.allowed;
  const worst = judged.reduce((w, l) => (nearness(l) > nearness(w) ? l : w));
  return {
    ...summary,
    growth: worst.growth,
    allowed: worst.allowed,
    perHour: worst.perHour,
    tStat: worst.tStat,
    ok: judged.every((l) => l.ok),
    judged: true,
    ...(unjudged > 0
      ? {
          note: `${judged.length} of ${lives.length} lives judged; ${unjudged} under ${minLifeS} s in the window`,
        }
      : {}),
  };
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
  if (rule.minLifeS !== undefined) return perLifeGrowth(window, rule, rule.minLifeS);
  const span = durationS - from;
  const allowed = Math.max(rule.absolute, rule.relative * median(window.map((s) => s.v)));
  const fit = fixedEffectsSlope(window);
  if (fit.n - fit.lives < 3)
    return {
      growth: 0,
      allowed,
      perHour: 0,
      tStat: 0,
      samples: fit.n,
      ok: true,
      judged: false,
      note: 'too few samples',
    };
  return { ...judgeFit(fit, span, allowed), allowed, samples: fit.n, judged: true };
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
