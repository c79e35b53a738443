/**
 * The simulated world: relays at the largest metros of a real city list, client network prefixes
 * placed in cities by population, each with a carrier, an access network (delay, jitter, loss),
 * how busy it is, and where GeoIP believes it is. Large per-prefix tables are typed arrays; the
 * prefix-to-relay distances are one Float32Array (prefixes x relays) and, per prefix, the relays
 * in order of distance (used to stop the search for the best relay early: see internet.ts).
 * Pure: the city list and the seed come in.
 */
import { greatCircleKm } from '../directory/geo.ts';
import type { RelayRecord } from '../directory/types.ts';
import type { SimConfig } from './config.ts';
import { createRng, exponential, logNormal, type Rng, weightedSampler } from './random.ts';

/** One place of the input data set. */
export interface City {
  readonly name: string;
  /** ISO 3166 alpha-2. */
  readonly country: string;
  readonly lat: number;
  readonly lon: number;
  readonly population: number;
}

export interface SimRelay {
  readonly index: number;
  readonly id: string;
  readonly city: string;
  readonly country: string;
  readonly lat: number;
  readonly lon: number;
  readonly population: number;
}

export interface Prefixes {
  readonly count: number;
  readonly city: Int32Array;
  readonly country: Int32Array;
  readonly carrier: Int32Array;
  readonly mobile: Uint8Array;
  /** Where the clients are. */
  readonly lat: Float64Array;
  readonly lon: Float64Array;
  /** Where GeoIP puts them. */
  readonly geoLat: Float64Array;
  readonly geoLon: Float64Array;
  readonly accessRttMs: Float32Array;
  readonly accessJitterMs: Float32Array;
  readonly accessLoss: Float32Array;
  /** A second access network within the prefix (see `mixedAccess`), and its clients' share (0: none). */
  readonly altAccessRttMs: Float32Array;
  readonly altAccessJitterMs: Float32Array;
  readonly altAccessLoss: Float32Array;
  readonly altShare: Float32Array;
  /** Relative allocation rate (median 1). */
  readonly activity: Float32Array;
}

/** `P` prefixes with every column zeroed, for a world builder to fill. */
export function emptyPrefixes(P: number): Prefixes {
  return {
    count: P,
    city: new Int32Array(P),
    country: new Int32Array(P),
    carrier: new Int32Array(P),
    mobile: new Uint8Array(P),
    lat: new Float64Array(P),
    lon: new Float64Array(P),
    geoLat: new Float64Array(P),
    geoLon: new Float64Array(P),
    accessRttMs: new Float32Array(P),
    accessJitterMs: new Float32Array(P),
    accessLoss: new Float32Array(P),
    altAccessRttMs: new Float32Array(P),
    altAccessJitterMs: new Float32Array(P),
    altAccessLoss: new Float32Array(P),
    altShare: new Float32Array(P),
    activity: new Float32Array(P),
  };
}

export interface World {
  readonly cities: readonly City[];
  readonly countries: readonly string[];
  readonly relays: readonly SimRelay[];
  /** The relays as the directory lists them, for rankRelays. */
  readonly records: readonly RelayRecord[];
  readonly prefixes: Prefixes;
  readonly carriers: number;
  /** km from prefix p to relay r at [p * relays + r]. */
  readonly km: Float32Array;
  /** Relay indices of prefix p by distance, nearest first, at [p * relays .. (p + 1) * relays). */
  readonly order: Uint16Array;
  /** km between relays i and j at [i * relays + j]. */
  readonly relayKm: Float64Array;
}

/** The point `km` away from (lat, lon) along `bearing` (radians), on a sphere. */
export function offsetPoint(lat: number, lon: number, km: number, bearing: number): [number, number] {
  const rad = Math.PI / 180;
  const d = km / 6372.797560856;
  const p1 = lat * rad;
  const l1 = lon * rad;
  const p2 = Math.asin(Math.sin(p1) * Math.cos(d) + Math.cos(p1) * Math.sin(d) * Math.cos(bearing));
  const l2 =
    l1 +
    Math.atan2(Math.sin(bearing) * Math.sin(d) * Math.cos(p1), Math.cos(d) - Math.sin(p1) * Math.sin(p2));
  const lonDeg = ((((l2 / rad + 180) % 360) + 360) % 360) - 180;
  return [p2 / rad, lonDeg];
}

function slug(s: string): string {
  const out = s
    .normalize('NFKD')
    .replace(/[^\w\s-]/g, '')
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
  return out || 'site';
}

/** The `n` largest metros: cities by population, skipping any within `dedupKm` of one already taken. */
export function pickRelaySites(cities: readonly City[], n: number, dedupKm: number): SimRelay[] {
  const byPop = [...cities].sort((a, b) => b.population - a.population || (a.name < b.name ? -1 : 1));
  const sites: SimRelay[] = [];
  const ids = new Set<string>();
  for (const c of byPop) {
    if (sites.length >= n) break;
    if (sites.some((s) => greatCircleKm(s.lat, s.lon, c.lat, c.lon) < dedupKm)) continue;
    let id = `${c.country.toLowerCase()}-${slug(c.name)}`;
    if (ids.has(id)) id = `${id}-${sites.length}`;
    ids.add(id);
    sites.push({
      index: sites.length,
      id,
      city: c.name,
      country: c.country,
      lat: c.lat,
      lon: c.lon,
      population: c.population,
    });
  }
  return sites;
}

export function relayRecord(r: SimRelay): RelayRecord {
  return {
    id: r.id,
    region: r.country.toLowerCase(),
    lat: r.lat,
    lon: r.lon,
    turnUrls: [],
    backbone: '',
    relayedAddress: '192.0.2.1',
    portRange: [49152, 65535],
    capacity: 1_000_000,
    load: { allocations: 0, pps: 0, bps: 0 },
    state: 'active',
    version: 'sim',
    startedAt: 0,
    updatedAt: 0,
  };
}

export function geoError(rng: Rng, o: SimConfig['world']['geoError']): number {
  const km =
    rng.next() < o.accurateShare
      ? exponential(rng, o.accurateMeanKm)
      : logNormal(rng, o.wrongMedianKm, o.wrongSigma);
  return Math.min(o.maxKm, km);
}

export function buildWorld(input: readonly City[], config: SimConfig): World {
  const cities = input.filter(
    (c) => c.population > 0 && Number.isFinite(c.lat) && Number.isFinite(c.lon) && c.country,
  );
  const relays = pickRelaySites(cities, config.scale.relays, config.world.relayDedupKm);
  if (relays.length < 2) throw new RangeError('the simulation needs at least 2 relay sites');
  const rng = createRng(config.seed).fork('world');

  const countries = [...new Set(cities.map((c) => c.country))].sort();
  const countryIndex = new Map(countries.map((c, i) => [c, i]));
  const K = config.world.carriersPerCountry;
  const carrierPick = weightedSampler(
    Array.from({ length: K }, (_, k) => 1 / (k + 1) ** config.world.carrierZipf),
  );
  const cityPick = weightedSampler(cities.map((c) => c.population));

  const P = config.scale.prefixes;
  const w = config.world;
  const prefixes = emptyPrefixes(P);
  for (let p = 0; p < P; p++) {
    const ci = cityPick(rng.next());
    const city = cities[ci]!;
    const country = countryIndex.get(city.country)!;
    prefixes.city[p] = ci;
    prefixes.country[p] = country;
    prefixes.carrier[p] = country * K + carrierPick(rng.next());
    const [lat, lon] = offsetPoint(
      city.lat,
      city.lon,
      w.prefixScatterKm * Math.sqrt(rng.next()),
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

  const { km, order, relayKm } = distanceTables(prefixes, relays);

  return {
    cities,
    countries,
    relays,
    records: relays.map(relayRecord),
    prefixes,
    carriers: countries.length * K,
    km,
    order,
    relayKm,
  };
}

/**
 * km from every prefix to every relay, each prefix's relays nearest first, and km between relays.
 */
export function distanceTables(
  prefixes: Pick<Prefixes, 'count' | 'lat' | 'lon'>,
  relays: readonly SimRelay[],
): Pick<World, 'km' | 'order' | 'relayKm'> {
  const P = prefixes.count;
  const R = relays.length;
  const km = new Float32Array(P * R);
  const order = new Uint16Array(P * R);
  const keys = new Float64Array(R);
  for (let p = 0; p < P; p++) {
    const lat = prefixes.lat[p]!;
    const lon = prefixes.lon[p]!;
    for (let r = 0; r < R; r++) {
      const d = greatCircleKm(lat, lon, relays[r]!.lat, relays[r]!.lon);
      km[p * R + r] = d;
      // Distance and index packed in one number, so a plain numeric sort orders both.
      keys[r] = Math.floor(d * 16) * 65536 + r;
    }
    keys.sort();
    for (let k = 0; k < R; k++) order[p * R + k] = keys[k]! % 65536;
  }

  const relayKm = new Float64Array(R * R);
  for (let i = 0; i < R; i++)
    for (let j = 0; j < R; j++)
      relayKm[i * R + j] =
        i === j ? 0 : greatCircleKm(relays[i]!.lat, relays[i]!.lon, relays[j]!.lat, relays[j]!.lon);

  return { km, order, relayKm };
}

/** A prefix's access network (delay, jitter, loss; fixed or mobile) and, for some, a second one. */
export function drawAccess(rng: Rng, w: SimConfig['world'], prefixes: Prefixes, p: number): void {
  const draw = () => {
    const mobile = rng.next() < w.mobileShare;
    const impair = mobile ? w.mobileImpairment : 1;
    return {
      mobile,
      rtt: logNormal(rng, mobile ? w.accessRtt.mobileMedianMs : w.accessRtt.median, w.accessRtt.sigma),
      jitter: impair * logNormal(rng, w.accessJitter.median, w.accessJitter.sigma),
      loss: Math.min(0.2, impair * logNormal(rng, w.accessLoss.median, w.accessLoss.sigma)),
    };
  };
  const main = draw();
  prefixes.mobile[p] = main.mobile ? 1 : 0;
  prefixes.accessRttMs[p] = main.rtt;
  prefixes.accessJitterMs[p] = main.jitter;
  prefixes.accessLoss[p] = main.loss;
  const m = w.mixedAccess;
  if (rng.next() < m.share) {
    const alt = draw();
    prefixes.altAccessRttMs[p] = alt.rtt;
    prefixes.altAccessJitterMs[p] = alt.jitter;
    prefixes.altAccessLoss[p] = alt.loss;
    prefixes.altShare[p] = m.minClients + (m.maxClients - m.minClients) * rng.next();
  }
}
