/**
 * The GeoIP source of the Node edge: a MaxMind DB (.mmdb) file read once at startup with
 * mmdb-lib, looked up per request. Node only (node:fs); the Workers bundle never imports it,
 * and workers/geo.ts stays runtime-free. Understands the two city layouts in common use:
 *   GeoIP2/GeoLite2 City and DB-IP's city-lite .mmdb: { location: { latitude, longitude,
 *     accuracy_radius }, country: { iso_code } }
 *   the flat city layout of repackaged databases (ip-location-db): { latitude, longitude,
 *     country_code }
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, RFC 4291 §2.5.5.2, as a dual-stack socket reports
 * them) are looked up as the IPv4 address they carry.
 */
import { readFileSync } from 'node:fs';
import { Reader } from 'mmdb-lib';
import { formatIp, parseIp, unmapIpv4 } from '../src/net/ip.ts';

export interface GeoIpPlace {
  readonly lat: number;
  readonly lon: number;
  /** How far off the answer may be, km (GeoIP2's location.accuracy_radius). */
  readonly accuracyRadiusKm?: number;
  /** ISO 3166-1 alpha-2. */
  readonly country?: string;
}

export interface GeoIpDatabase {
  /** The place of `ip`; undefined for a malformed address, a miss, or a record without coordinates. */
  lookup(ip: string): GeoIpPlace | undefined;
  readonly databaseType: string;
  readonly ipVersion: 4 | 6;
  readonly buildEpoch: Date;
}

export type GeoIpErrorCode = 'ERR_GEOIP_UNREADABLE' | 'ERR_GEOIP_INVALID';

export class GeoIpError extends Error {
  override readonly name = 'GeoIpError';
  constructor(
    readonly code: GeoIpErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const METADATA_MARKER = Buffer.from('\xab\xcd\xefMaxMind.com', 'latin1');
const SEPARATOR_BYTES = 16;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const coordinate = (v: unknown, max: number): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= max ? v : undefined;

/** Coordinates out of one data record in either layout; undefined when it has none. */
export function placeFromRecord(rec: unknown): GeoIpPlace | undefined {
  if (!isObject(rec)) return undefined;
  const loc = isObject(rec.location) ? rec.location : rec;
  const lat = coordinate(loc.latitude, 90);
  const lon = coordinate(loc.longitude, 180);
  if (lat === undefined || lon === undefined) return undefined;
  const radius = loc.accuracy_radius;
  const country =
    (isObject(rec.country) ? rec.country.iso_code : undefined) ??
    (isObject(rec.registered_country) ? rec.registered_country.iso_code : undefined) ??
    rec.country_code;
  return {
    lat,
    lon,
    ...(typeof radius === 'number' && radius >= 0 ? { accuracyRadiusKm: radius } : {}),
    ...(typeof country === 'string' && country !== '' ? { country } : {}),
  };
}

/**
 * A reader over the bytes of a .mmdb file. Throws GeoIpError ERR_GEOIP_INVALID when they are not
 * a MaxMind DB of format version 2 that mmdb-lib can walk.
 */
export function geoIpFromBuffer(db: Buffer, name = 'the database'): GeoIpDatabase {
  const invalid = (why: string, cause?: unknown) =>
    new GeoIpError('ERR_GEOIP_INVALID', `${name} is not a MaxMind DB file: ${why}`, { cause });
  const markerAt = db.lastIndexOf(METADATA_MARKER);
  if (markerAt < 0) throw invalid('no metadata marker');
  let reader: Reader<Record<string, unknown>>;
  try {
    reader = new Reader(db);
  } catch (err) {
    // mmdb-lib walks the tree to the IPv4 root on open; a cut file reads past its end.
    const message = (err as Error).message;
    throw invalid(err instanceof RangeError ? `truncated or damaged (${message})` : message, err);
  }
  const m = reader.metadata;
  if (m.binaryFormatMajorVersion !== 2) throw invalid(`format version ${m.binaryFormatMajorVersion}, not 2`);
  if (m.ipVersion !== 4 && m.ipVersion !== 6) throw invalid(`ip_version ${m.ipVersion}`);
  if (!Number.isInteger(m.nodeCount) || m.nodeCount <= 0) throw invalid(`node_count ${m.nodeCount}`);
  if (m.searchTreeSize + SEPARATOR_BYTES > markerAt) throw invalid('the search tree runs past the data');
  const ipVersion: 4 | 6 = m.ipVersion;
  return {
    databaseType: String(m.databaseType),
    ipVersion,
    buildEpoch: m.buildEpoch,
    lookup(ip) {
      const parsed = parseIp(ip);
      if (!parsed) return undefined;
      const bytes = unmapIpv4(parsed);
      // An IPv4 tree has no IPv6 addresses; walking one would answer for its first 32 bits.
      if (bytes.length === 16 && ipVersion === 4) return undefined;
      try {
        return placeFromRecord(reader.get(formatIp(bytes)));
      } catch {
        return undefined; // a damaged record reads as a miss; the next source answers
      }
    },
  };
}

/**
 * Reads `path` and opens it. Throws GeoIpError: ERR_GEOIP_UNREADABLE when the file cannot be
 * read, ERR_GEOIP_INVALID when it is not a MaxMind DB.
 */
export function openGeoIp(path: string): GeoIpDatabase {
  let db: Buffer;
  try {
    db = readFileSync(path);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new GeoIpError('ERR_GEOIP_UNREADABLE', `cannot read ${path}: ${reason}`, { cause: err });
  }
  return geoIpFromBuffer(db, path);
}
