/**
 * Summaries of simulated samples: quantiles, shares, and CDFs thinned to a fixed number of points
 * for the plots. NaN samples (not applicable) are left out. Pure.
 */

/** The samples without NaN, sorted ascending, as a new Float64Array. */
export function sorted(values: ArrayLike<number>): Float64Array {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i]!)) n++;
  const out = new Float64Array(n);
  let k = 0;
  for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i]!)) out[k++] = values[i]!;
  return out.sort();
}

/** The q-quantile (0..1) of sorted samples, by linear interpolation; NaN when there are none. */
export function quantileSorted(s: ArrayLike<number>, q: number): number {
  if (s.length === 0) return Number.NaN;
  const pos = Math.min(1, Math.max(0, q)) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  const a = s[lo]!;
  const b = s[hi]!;
  return a === b ? a : a + (b - a) * (pos - lo);
}

export function quantile(values: ArrayLike<number>, q: number): number {
  return quantileSorted(sorted(values), q);
}

/** Share of the (non-NaN) samples for which `test` holds. */
export function share(values: ArrayLike<number>, test: (v: number) => boolean): number {
  let n = 0;
  let hit = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) continue;
    n++;
    if (test(v)) hit++;
  }
  return n === 0 ? Number.NaN : hit / n;
}

export function mean(values: ArrayLike<number>): number {
  let n = 0;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isNaN(v)) continue;
    n++;
    sum += v;
  }
  return n === 0 ? Number.NaN : sum / n;
}

/** [value, cumulative share] pairs at `points` evenly spaced shares (and the extremes). */
export function cdf(values: ArrayLike<number>, points = 200): [number, number][] {
  const s = sorted(values);
  if (s.length === 0) return [];
  const out: [number, number][] = [];
  for (let k = 0; k <= points; k++) {
    const q = k / points;
    out.push([round(quantileSorted(s, q)), round(q)]);
  }
  return out;
}

/** Rounded to 4 significant digits, for compact JSON. */
export function round(v: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const digits = 4 - Math.ceil(Math.log10(Math.abs(v)));
  const f = 10 ** Math.max(0, Math.min(10, digits));
  return Math.round(v * f) / f;
}
