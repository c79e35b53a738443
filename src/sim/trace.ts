/**
 * The trace-driven world: relays at measured sites, the Internet between sites as measured, and
 * change over time replayed from the Seattle slices. It yields the same World and Internet the
 * synthetic world does (src/sim/world.ts, internet.ts), so the allocation, call and backbone
 * phases run on it unchanged, with the project's own ranking, learning and routing code.
 *
 * Sites: the complete site set of the WonderProxy matrix (measured.ts: impossible pairs dropped,
 * sites without a full row left out). A seeded shuffle splits them into relay sites, fit sites
 * and held-out (test) sites; clients live only at fit and test sites, never at a relay's site.
 *
 * A client prefix sits up to `clientScatterKm` from its site, on one of `carriersPerSite` access
 * networks there (several networks within one place), with the synthetic world's access model
 * (delay, jitter, loss, mobile share, a second access network within some prefixes) and GeoIP
 * error. Its RTT to relay r at time t:
 *
 *   access + metro (fiber to its site x metroInflation)
 *   + fiber(site, relay site) + (measured(site, relay site) - fiber) x carrier(c, r) x drift(t)
 *   + relay processing
 *
 * measured = the mean RTT between the two servers, both directions averaged; the part above the
 * fiber bound is what routing adds, and only it varies, so no path ever beats light in fiber.
 * carrier(c, r) is a log-normal factor per (access network, relay site), median 1
 * (`carrierSigma`: networks in one place route differently; our assumption). drift(t) replays a
 * Seattle node pair's change over its 688 slices: exp(damping x clamp(ln(slice / median))), the
 * slices spread evenly over the simulated days (the data does not say how far apart they are).
 *
 * Jitter of a wide-area part: the pair's measured mean minus minimum RTT (queueing above the
 * floor), at least `minJitterMs`. Loss: log-normal per site pair plus a distance term
 * (`pathLoss`, our assumption for the public Internet; the data has no loss). Backbone links
 * between relays are the same public-Internet paths between data centres: measured RTT, that
 * jitter, that loss. A direct call: the same between the two clients' sites (their access
 * networks on both ends), or the metro model when both are at one site.
 */
import { fiberRttMs } from '../allocation/learned.ts';
import { greatCircleKm } from '../directory/geo.ts';
import type { SimConfig } from './config.ts';
import { Internet, inSeries, newStats, type PathStats } from './internet.ts';
import type { CompleteSites, SliceStack } from './measured.ts';
import { createRng, hash32, hashNormal, logNormal, weightedSampler } from './random.ts';
import {
  type City,
  distanceTables,
  drawAccess,
  emptyPrefixes,
  geoError,
  offsetPoint,
  relayRecord,
  type SimRelay,
  type World,
} from './world.ts';

export interface TraceConfig {
  /** Share of the non-relay sites whose clients allocate from day 0; the rest are held out. */
  readonly fitShare: number;
  /** Held-out sites' clients start allocating after this share of the allocation days. */
  readonly holdoutFrom: number;
  readonly carriersPerSite: number;
  readonly carrierSigma: number;
  readonly clientScatterKm: number;
  readonly metroInflation: number;
  /** RTT between two networks in one metro, beyond fiber (assumption). */
  readonly metroFixedMs: number;
  readonly drift: {
    /** 0: a static Internet; 1: the Seattle pair's relative change in full. */
    readonly damping: number;
    /** Seattle pairs with a median below this are too coarse (10 ms resolution) to drive change. */
    readonly minMedianMs: number;
    /** ln(slice / median) is clamped to [-ln maxDown, ln maxUp]. */
    readonly maxUp: number;
    readonly maxDown: number;
  };
  readonly minJitterMs: number;
  readonly pathLoss: { readonly median: number; readonly sigma: number; readonly perThousandKm: number };
}

export const DEFAULT_TRACE_CONFIG: TraceConfig = {
  fitShare: 0.5,
  holdoutFrom: 0.5,
  carriersPerSite: 3,
  carrierSigma: 0.15,
  clientScatterKm: 50,
  metroInflation: 2,
  metroFixedMs: 1,
  drift: { damping: 0.25, minMedianMs: 50, maxUp: 4, maxDown: 2 },
  minJitterMs: 0.1,
  pathLoss: { median: 0.0005, sigma: 1.2, perThousandKm: 0.0002 },
};

/** Which sites do what. Indices into CompleteSites.sites. */
export interface TraceSplit {
  readonly relaySites: readonly number[];
  readonly fitSites: readonly number[];
  readonly testSites: readonly number[];
}

export interface TraceWorld {
  readonly world: World;
  readonly internet: TraceInternet;
  readonly split: TraceSplit;
  /** Per prefix: 1 when its site is held out. */
  readonly heldOut: Uint8Array;
  /** Which prefix allocates at time t (held-out sites join at `holdoutFrom`). */
  readonly pick: (u: number, tMs: number) => number;
  readonly holdoutFromMs: number;
}

const DAY = 86_400_000;

/** Seeded Fisher-Yates over 0..n-1. */
function shuffled(n: number, seed: number): number[] {
  const rng = createRng(seed).fork('trace-split');
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

export function splitSites(count: number, relays: number, fitShare: number, seed: number): TraceSplit {
  if (relays < 2 || relays > count - 2) {
    throw new RangeError(`the measured world has ${count} sites: relays must be 2..${count - 2}`);
  }
  const order = shuffled(count, seed);
  const rest = order.slice(relays);
  const fit = Math.max(1, Math.min(rest.length - 1, Math.round(rest.length * fitShare)));
  const sort = (xs: number[]) => xs.sort((a, b) => a - b);
  return {
    relaySites: sort(order.slice(0, relays)),
    fitSites: sort(rest.slice(0, fit)),
    testSites: sort(rest.slice(fit)),
  };
}

/** ln(slice / median) of the Seattle pairs usable as drift, per pair and slice (0 where missing). */
export interface DriftTable {
  readonly pairs: number;
  readonly slices: number;
  readonly logRatio: Float32Array;
}

export function driftTable(stack: SliceStack, o: TraceConfig['drift']): DriftTable {
  const { n, slices, ms } = stack;
  const lo = -Math.log(o.maxDown);
  const hi = Math.log(o.maxUp);
  const rows: Float32Array[] = [];
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      values.length = 0;
      for (let s = 0; s < slices; s++) {
        const v = ms[s * n * n + i * n + j]!;
        if (v > 0) values.push(v);
      }
      if (values.length < slices / 2) continue;
      values.sort((a, b) => a - b);
      const median = values[values.length >> 1]!;
      if (median < o.minMedianMs) continue;
      const row = new Float32Array(slices);
      for (let s = 0; s < slices; s++) {
        const v = ms[s * n * n + i * n + j]!;
        row[s] = v > 0 ? Math.min(hi, Math.max(lo, Math.log(v / median))) : 0;
      }
      rows.push(row);
    }
  }
  const logRatio = new Float32Array(rows.length * slices);
  for (const [k, r] of rows.entries()) logRatio.set(r, k * slices);
  return { pairs: rows.length, slices, logRatio };
}

/** The measured Internet, shaped as the synthetic one so every phase runs on it unchanged. */
export class TraceInternet extends Internet {
  readonly #sites: CompleteSites;
  readonly #S: number;
  readonly #t: TraceConfig;
  readonly #drift: DriftTable | undefined;
  readonly #sliceMs: number;
  readonly #seed: number;
  readonly #relaySite: Int32Array;
  readonly #site: Int32Array;
  readonly #carrier: Int32Array;
  readonly #metroMs: Float32Array;
  readonly #siteKm: Float64Array;
  readonly #processing: number;
  readonly #wide = newStats();
  readonly #acc = newStats();

  constructor(
    world: World,
    config: SimConfig,
    trace: TraceConfig,
    sites: CompleteSites,
    relaySites: readonly number[],
    drift: DriftTable | undefined,
  ) {
    super(world, config);
    this.#sites = sites;
    const S = sites.sites.length;
    this.#S = S;
    this.#t = trace;
    this.#drift = drift && drift.pairs > 0 && trace.drift.damping > 0 ? drift : undefined;
    // The slices cover the allocation days and the day of calls after them.
    this.#sliceMs = ((config.scale.days + 1) * DAY) / (drift?.slices ?? 1);
    this.#seed = hash32(config.seed, 0x7ace);
    this.#relaySite = Int32Array.from(relaySites);
    const pf = world.prefixes;
    this.#site = pf.city;
    this.#carrier = pf.carrier;
    this.#processing = config.internet.relayProcessingMs;
    this.#siteKm = new Float64Array(S * S);
    for (let a = 0; a < S; a++)
      for (let b = 0; b < S; b++) {
        const x = sites.sites[a]!;
        const y = sites.sites[b]!;
        this.#siteKm[a * S + b] = a === b ? 0 : greatCircleKm(x.lat, x.lon, y.lat, y.lon);
      }
    this.#metroMs = new Float32Array(pf.count);
    for (let p = 0; p < pf.count; p++) {
      const s = sites.sites[pf.city[p]!]!;
      this.#metroMs[p] =
        fiberRttMs(greatCircleKm(pf.lat[p]!, pf.lon[p]!, s.lat, s.lon)) * trace.metroInflation;
    }
    // Backbone links: the measured public-Internet paths between the relays' data centres.
    const R = relaySites.length;
    const link = newStats();
    for (let i = 0; i < R; i++)
      for (let j = 0; j < R; j++) {
        if (i === j) continue;
        this.#pair(relaySites[i]!, relaySites[j]!, 1, -1, link);
        this.bbRtt[i * R + j] = link.rttMs;
        this.bbJitter[i * R + j] = link.jitterMs;
        this.bbLoss[i * R + j] = link.loss;
      }
  }

  /** The drift factor of site pair (a, b) at time t. */
  drift(a: number, b: number, tMs: number): number {
    const d = this.#drift;
    if (!d) return 1;
    const [x, y] = a < b ? [a, b] : [b, a];
    const pair = hash32(this.#seed, x, y) % d.pairs;
    const slice = Math.min(d.slices - 1, Math.max(0, Math.floor(tMs / this.#sliceMs)));
    return Math.exp(this.#t.drift.damping * d.logRatio[pair * d.slices + slice]!);
  }

  /**
   * The wide-area part between sites a and b: measured RTT with its part above the fiber bound
   * scaled by `factor` and the drift at t (t < 0: none, the mean over time), its jitter and loss.
   */
  #pair(a: number, b: number, factor: number, tMs: number, out: PathStats): PathStats {
    const S = this.#S;
    const k = a * S + b;
    const km = this.#siteKm[k]!;
    const fiber = fiberRttMs(km);
    const measured = this.#sites.rtt[k]!;
    const scale = factor * (tMs >= 0 ? this.drift(a, b, tMs) : 1);
    out.rttMs = fiber + Math.max(0, measured - fiber) * scale;
    out.jitterMs = Math.max(this.#t.minJitterMs, this.#sites.excess[k]!);
    const l = this.#t.pathLoss;
    const [x, y] = a < b ? [a, b] : [b, a];
    out.loss = Math.min(
      0.3,
      l.median * Math.exp(l.sigma * hashNormal(this.#seed ^ 0x1055, x, y)) + (l.perThousandKm * km) / 1000,
    );
    return out;
  }

  #accessOf(p: number, out: PathStats): PathStats {
    this.accessOf(p, out);
    out.rttMs += this.#metroMs[p]!;
    return out;
  }

  override clientRelay(p: number, r: number, tMs: number, out: PathStats = newStats()): PathStats {
    const rs = this.#relaySite[r]!;
    const c = this.#carrier[p]!;
    const factor = Math.exp(this.#t.carrierSigma * hashNormal(this.#seed ^ 0xca11, c, rs));
    this.#pair(this.#site[p]!, rs, factor, tMs, this.#wide);
    this.#wide.rttMs += this.#processing;
    return inSeries(out, this.#accessOf(p, this.#acc), this.#wide);
  }

  override direct(pa: number, pb: number, km: number, tMs: number, out: PathStats = newStats()): PathStats {
    const sa = this.#site[pa]!;
    const sb = this.#site[pb]!;
    if (sa === sb) {
      this.#wide.rttMs = fiberRttMs(km) * this.#t.metroInflation + this.#t.metroFixedMs;
      this.#wide.jitterMs = this.#t.minJitterMs;
      this.#wide.loss = this.#t.pathLoss.median;
    } else {
      const ca = this.#carrier[pa]!;
      const cb = this.#carrier[pb]!;
      const factor = Math.exp(this.#t.carrierSigma * hashNormal(this.#seed ^ 0xd1ec, ca, cb));
      this.#pair(sa, sb, factor, tMs, this.#wide);
    }
    inSeries(out, this.#accessOf(pa, this.#acc), this.#wide);
    return inSeries(out, out, this.#accessOf(pb, this.#acc));
  }
}

/** Relays, prefixes and the measured Internet between them. */
export function buildTraceWorld(
  sites: CompleteSites,
  config: SimConfig,
  trace: TraceConfig = DEFAULT_TRACE_CONFIG,
  drift?: DriftTable,
): TraceWorld {
  const S = sites.sites.length;
  const split = splitSites(S, config.scale.relays, trace.fitShare, config.seed);
  const cities: City[] = sites.sites.map((s) => ({
    name: s.name,
    country: s.country,
    lat: s.lat,
    lon: s.lon,
    population: 1,
  }));
  const countries = [...new Set(cities.map((c) => c.country))].sort();
  const countryIndex = new Map(countries.map((c, i) => [c, i]));
  const ids = new Set<string>();
  const relays: SimRelay[] = split.relaySites.map((s, index) => {
    const site = sites.sites[s]!;
    let id = `wp-${site.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
    if (ids.has(id)) id = `${id}-${index}`;
    ids.add(id);
    return { index, id, city: site.city, country: site.country, lat: site.lat, lon: site.lon, population: 1 };
  });

  const clientSites = [...split.fitSites, ...split.testSites];
  const testSet = new Set(split.testSites);
  const P = config.scale.prefixes;
  const w = config.world;
  const rng = createRng(config.seed).fork('trace-world');
  const prefixes = emptyPrefixes(P);
  const heldOut = new Uint8Array(P);
  for (let p = 0; p < P; p++) {
    // Every client site gets its share of prefixes in turn: held-out sites as many as fit sites.
    const s = clientSites[p % clientSites.length]!;
    const site = sites.sites[s]!;
    prefixes.city[p] = s;
    prefixes.country[p] = countryIndex.get(site.country)!;
    prefixes.carrier[p] = s * trace.carriersPerSite + rng.int(trace.carriersPerSite);
    heldOut[p] = testSet.has(s) ? 1 : 0;
    const [lat, lon] = offsetPoint(
      site.lat,
      site.lon,
      trace.clientScatterKm * Math.sqrt(rng.next()),
      rng.next() * 2 * Math.PI,
    );
    prefixes.lat[p] = lat;
    prefixes.lon[p] = lon;
    const [gLat, gLon] = offsetPoint(lat, lon, geoError(rng, w.geoError), rng.next() * 2 * Math.PI);
    prefixes.geoLat[p] = gLat;
    prefixes.geoLon[p] = gLon;
    drawAccess(rng, w, prefixes, p);
    prefixes.activity[p] = logNormal(rng, 1, w.activitySigma);
  }
  const world: World = {
    cities,
    countries,
    relays,
    records: relays.map(relayRecord),
    prefixes,
    carriers: S * trace.carriersPerSite,
    ...distanceTables(prefixes, relays),
  };
  const internet = new TraceInternet(world, config, trace, sites, split.relaySites, drift);

  const all = weightedSampler(prefixes.activity);
  const fitOnly = weightedSampler(Float32Array.from(prefixes.activity, (a, p) => (heldOut[p] ? 0 : a)));
  const holdoutFromMs = trace.holdoutFrom * config.scale.days * DAY;
  const pick = (u: number, tMs: number) => (tMs < holdoutFromMs ? fitOnly(u) : all(u));
  return { world, internet, split, heldOut, pick, holdoutFromMs };
}
