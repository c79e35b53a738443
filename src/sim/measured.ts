/**
 * Measured Internet latency data for the trace-driven world: parsers for the files documented in
 * docs/SIMULATION.md ("Measured data"), which take the parsed JSON (or the raw bytes of the Seattle
 * slices) and return typed matrices, and the checks a loader owes its users: impossible entries
 * (faster than light in fiber) are reported by name and dropped, never silently used.
 *
 *   WonderProxy 2020   rtt_ms.json {ids, avg, min} + locations.json [{idx, id, name, lat, lon, ...}]
 *   NetLatency         planetlab_rtt_ms.json / seattle_rtt_ms.json {n, slices, median, p10, p90}
 *   Seattle slices     seattle_slices_ms.u16.gz, gunzipped: slices x n x n little-endian uint16 ms,
 *                      0 (and 65535) = no value
 *
 * Matrices are directed (row = source), n x n in one Float64Array, NaN where unmeasured.
 * The fiber bound: light in fiber covers about 200,000 km/s, so a round trip cannot take less than
 * 1 ms per 100 km of great-circle distance (`fiberRttMs`). Pure: reading and gunzipping the files
 * belong to scripts/sim-data.ts; malformed input throws a MeasuredDataError with a one-line message.
 */
import { fiberRttMs } from '../allocation/learned.ts';
import { greatCircleKm } from '../directory/geo.ts';

export class MeasuredDataError extends Error {
  readonly code = 'ERR_MEASURED_DATA';
  override readonly name = 'MeasuredDataError';
}

export interface MeasuredSite {
  readonly name: string;
  readonly city: string;
  readonly country: string;
  readonly lat: number;
  readonly lon: number;
}

/** A directed RTT matrix in ms: `rtt[i * n + j]` from i to j, NaN where unmeasured. */
export interface RttMatrix {
  readonly n: number;
  readonly names: readonly string[];
  readonly rtt: Float64Array;
}

/** WonderProxy: mean and minimum RTT per directed pair, and where each server is. */
export interface SiteMatrix extends RttMatrix {
  readonly min: Float64Array;
  readonly sites: readonly MeasuredSite[];
}

/** A directed pair whose RTT beats the fiber bound of its sites' distance. */
export interface ImpossiblePair {
  readonly from: string;
  readonly to: string;
  readonly km: number;
  readonly rttMs: number;
  readonly boundMs: number;
}

export interface CheckedMatrix {
  readonly matrix: SiteMatrix;
  /** Directed pairs dropped (set to NaN) because their min or mean RTT beat the fiber bound. */
  readonly impossible: readonly ImpossiblePair[];
  /** Directed off-diagonal pairs without a value before the check. */
  readonly missing: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

function squareMatrix(v: unknown, n: number, what: string): Float64Array {
  if (!Array.isArray(v) || v.length !== n) throw new MeasuredDataError(`${what}: expected ${n} rows`);
  const out = new Float64Array(n * n).fill(Number.NaN);
  for (let i = 0; i < n; i++) {
    const row = v[i] as unknown;
    if (!Array.isArray(row) || row.length !== n) {
      throw new MeasuredDataError(`${what}: row ${i} should have ${n} entries`);
    }
    for (let j = 0; j < n; j++) {
      const x = row[j] as unknown;
      if (x === null) continue;
      if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) {
        throw new MeasuredDataError(`${what}: entry [${i}][${j}] is ${JSON.stringify(x)}, not an RTT in ms`);
      }
      // A zero off the diagonal is no measurement (the NetLatency files mark missing values so).
      if (i !== j && x === 0) continue;
      out[i * n + j] = x;
    }
    out[i * n + i] = 0;
  }
  return out;
}

function site(v: unknown, k: number): MeasuredSite {
  if (!isObject(v)) throw new MeasuredDataError(`locations[${k}] is not an object`);
  const { name, city, country, lat, lon } = v;
  if (typeof name !== 'string' || name === '') throw new MeasuredDataError(`locations[${k}] has no name`);
  if (
    typeof lat !== 'number' ||
    !(Math.abs(lat) <= 90) ||
    typeof lon !== 'number' ||
    !(Math.abs(lon) <= 180)
  ) {
    throw new MeasuredDataError(`locations[${k}] (${name}) has no valid lat/lon`);
  }
  return {
    name,
    city: typeof city === 'string' ? city : name,
    country: typeof country === 'string' ? country : '',
    lat,
    lon,
  };
}

/** WonderProxy's rtt_ms.json and locations.json (same order, by `ids` and `idx`). */
export function parseWonderProxy(rttJson: unknown, locationsJson: unknown): SiteMatrix {
  if (!isObject(rttJson) || !Array.isArray(rttJson.ids)) {
    throw new MeasuredDataError('rtt_ms.json: expected an object with ids, avg and min');
  }
  if (!Array.isArray(locationsJson)) throw new MeasuredDataError('locations.json: expected an array');
  const ids = rttJson.ids as unknown[];
  const n = ids.length;
  if (n < 2) throw new MeasuredDataError('rtt_ms.json: fewer than 2 servers');
  if (locationsJson.length !== n) {
    throw new MeasuredDataError(`locations.json has ${locationsJson.length} entries, rtt_ms.json ${n} ids`);
  }
  const byId = new Map<unknown, unknown>();
  for (const l of locationsJson) if (isObject(l)) byId.set(l.id, l);
  const sites = ids.map((id, k) => {
    const l = byId.get(id);
    if (l === undefined) throw new MeasuredDataError(`locations.json has no server with id ${String(id)}`);
    return site(l, k);
  });
  return {
    n,
    names: sites.map((s) => s.name),
    sites,
    rtt: squareMatrix(rttJson.avg, n, 'rtt_ms.json avg'),
    min: squareMatrix(rttJson.min, n, 'rtt_ms.json min'),
  };
}

/** A NetLatency summary (PlanetLab or Seattle): the median over time slices, and p10/p90. */
export interface NetLatencyMatrix extends RttMatrix {
  readonly slices: number;
  readonly p10: Float64Array;
  readonly p90: Float64Array;
}

export function parseNetLatency(json: unknown, label: string): NetLatencyMatrix {
  if (!isObject(json) || typeof json.n !== 'number' || !Number.isInteger(json.n) || json.n < 2) {
    throw new MeasuredDataError(`${label}: expected an object with n, slices, median, p10, p90`);
  }
  const n = json.n;
  const slices = typeof json.slices === 'number' && Number.isInteger(json.slices) ? json.slices : 1;
  return {
    n,
    slices,
    names: Array.from({ length: n }, (_, i) => `${label}-${i}`),
    rtt: squareMatrix(json.median, n, `${label} median`),
    p10: squareMatrix(json.p10, n, `${label} p10`),
    p90: squareMatrix(json.p90, n, `${label} p90`),
  };
}

/** Every time slice of a NetLatency platform: RTT in ms, 0 where none. */
export interface SliceStack {
  readonly n: number;
  readonly slices: number;
  /** `ms[s * n * n + i * n + j]`, 0 = no value. */
  readonly ms: Uint16Array;
}

/** The gunzipped bytes of seattle_slices_ms.u16.gz: little-endian uint16, slices x n x n. */
export function parseSlices(bytes: Uint8Array, n: number, slices: number): SliceStack {
  const count = slices * n * n;
  if (bytes.length !== count * 2) {
    throw new MeasuredDataError(
      `slice file: ${bytes.length} bytes, expected ${count * 2} (${slices} slices of ${n} x ${n} uint16)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ms = new Uint16Array(count);
  for (let k = 0; k < count; k++) {
    const v = view.getUint16(k * 2, true);
    ms[k] = v === 65535 ? 0 : v;
  }
  return { n, slices, ms };
}

/**
 * Drop the directed pairs whose mean or minimum RTT is below the fiber bound of their sites'
 * great-circle distance (a wrong location, or a server that is not where it says), and name them.
 */
export function dropImpossible(m: SiteMatrix): CheckedMatrix {
  const { n, sites } = m;
  const rtt = Float64Array.from(m.rtt);
  const min = Float64Array.from(m.min);
  const impossible: ImpossiblePair[] = [];
  let missing = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const k = i * n + j;
      if (Number.isNaN(rtt[k]!)) {
        missing++;
        min[k] = Number.NaN;
        continue;
      }
      const a = sites[i]!;
      const b = sites[j]!;
      const km = greatCircleKm(a.lat, a.lon, b.lat, b.lon);
      const boundMs = fiberRttMs(km);
      const fastest = Number.isNaN(min[k]!) ? rtt[k]! : Math.min(min[k]!, rtt[k]!);
      if (fastest < boundMs) {
        impossible.push({ from: a.name, to: b.name, km, rttMs: fastest, boundMs });
        rtt[k] = Number.NaN;
        min[k] = Number.NaN;
      }
    }
  }
  return { matrix: { ...m, rtt, min }, impossible, missing };
}

/** How often each site appears in the impossible pairs, most first: where the location is wrong. */
export function impossibleBySite(pairs: readonly ImpossiblePair[]): [string, number][] {
  const count = new Map<string, number>();
  for (const p of pairs) for (const s of [p.from, p.to]) count.set(s, (count.get(s) ?? 0) + 1);
  return [...count].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/** A symmetric, complete matrix over the sites kept, for building a world on. */
export interface CompleteSites {
  /** Indices into the input's sites, in input order. */
  readonly kept: readonly number[];
  readonly sites: readonly MeasuredSite[];
  /** Mean RTT between kept sites a and b at [a * kept.length + b]: the mean of both directions. */
  readonly rtt: Float64Array;
  /** Mean minus minimum RTT (queueing above the floor), both directions averaged: a jitter proxy. */
  readonly excess: Float64Array;
  /** Sites left out, with how many of their pairs had no usable value when they went. */
  readonly dropped: readonly { readonly name: string; readonly missingPairs: number }[];
}

/**
 * Symmetrize (a pair counts when either direction has a value) and drop sites, the one with the
 * most missing pairs first, until every pair among the rest has a value.
 */
export function completeSites(m: SiteMatrix): CompleteSites {
  const { n } = m;
  const has = (i: number, j: number) => !Number.isNaN(m.rtt[i * n + j]!) || !Number.isNaN(m.rtt[j * n + i]!);
  const alive = new Uint8Array(n).fill(1);
  const dropped: { name: string; missingPairs: number }[] = [];
  for (;;) {
    let worst = -1;
    let worstCount = 0;
    for (let i = 0; i < n; i++) {
      if (!alive[i]) continue;
      let c = 0;
      for (let j = 0; j < n; j++) if (j !== i && alive[j] && !has(i, j)) c++;
      if (c > worstCount) {
        worstCount = c;
        worst = i;
      }
    }
    if (worst < 0) break;
    alive[worst] = 0;
    dropped.push({ name: m.names[worst]!, missingPairs: worstCount });
  }
  const kept = Array.from({ length: n }, (_, i) => i).filter((i) => alive[i]);
  const K = kept.length;
  const rtt = new Float64Array(K * K);
  const excess = new Float64Array(K * K);
  const mean2 = (x: number, y: number) => (Number.isNaN(x) ? y : Number.isNaN(y) ? x : (x + y) / 2);
  for (let a = 0; a < K; a++) {
    for (let b = 0; b < K; b++) {
      if (a === b) continue;
      const i = kept[a]!;
      const j = kept[b]!;
      const avg = mean2(m.rtt[i * n + j]!, m.rtt[j * n + i]!);
      const lo = mean2(m.min[i * n + j]!, m.min[j * n + i]!);
      rtt[a * K + b] = avg;
      excess[a * K + b] = Number.isNaN(lo) ? 0 : Math.max(0, avg - lo);
    }
  }
  return { kept, sites: kept.map((i) => m.sites[i]!), rtt, excess, dropped };
}

/**
 * The share of pairs (i, j) for which some third node k gives a shorter two-leg path
 * rtt(i,k) + rtt(k,j) < rtt(i,j), and the median relative gain among them: what an overlay with
 * relays at every node could exploit.
 */
export function detourGain(rtt: Float64Array, n: number): { share: number; medianGain: number } {
  const gains: number[] = [];
  let pairs = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const direct = rtt[i * n + j]!;
      if (i === j || !(direct > 0)) continue;
      pairs++;
      let best = direct;
      for (let k = 0; k < n; k++) {
        if (k === i || k === j) continue;
        const via = rtt[i * n + k]! + rtt[k * n + j]!;
        if (via < best) best = via;
      }
      if (best < direct) gains.push((direct - best) / direct);
    }
  }
  gains.sort((a, b) => a - b);
  return {
    share: pairs === 0 ? 0 : gains.length / pairs,
    medianGain: gains.length === 0 ? 0 : gains[gains.length >> 1]!,
  };
}
