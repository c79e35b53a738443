/**
 * Where the client is, best source first: the platform (Cloudflare's request.cf, or the
 * configured CDN's geo headers from a trusted proxy), else a GeoIP database lookup of the client's address (Node,
 * when configured: workers/geoip.ts), else the client's own hint, else the configured default.
 * The answer says which source was used. Runtime-free: the Workers bundle imports this file.
 */
export interface ClientPlace {
  readonly lat: number;
  readonly lon: number;
  readonly source: 'platform' | 'geoip' | 'hint' | 'default';
}

export function locateClient(
  platform: ClientPlace | undefined,
  geoip: { lat: number; lon: number } | undefined,
  hint: { lat: number; lon: number } | undefined,
  fallback: { lat: number; lon: number },
): ClientPlace {
  if (platform) return platform;
  if (geoip) return { lat: geoip.lat, lon: geoip.lon, source: 'geoip' };
  if (hint) return { ...hint, source: 'hint' };
  return { ...fallback, source: 'default' };
}

/**
 * The geo headers each CDN sets (Cloudflare's "visitor location headers" managed transform,
 * CloudFront's viewer headers, and for Fastly the names its VCL or Compute service is asked to
 * set from client.geo). A client can write any header, so the edge reads one CDN's pair, the one
 * configured (EDGE_GEO_HEADERS, none by default), and only from a trusted proxy.
 */
export const GEO_HEADER_NAMES = {
  cloudflare: ['cf-iplatitude', 'cf-iplongitude'],
  cloudfront: ['cloudfront-viewer-latitude', 'cloudfront-viewer-longitude'],
  fastly: ['x-client-geo-latitude', 'x-client-geo-longitude'],
} as const;

export function placeFromHeaders(
  header: (name: string) => string | undefined,
  cdn: keyof typeof GEO_HEADER_NAMES | 'none',
): ClientPlace | undefined {
  if (cdn === 'none') return undefined;
  const [latName, lonName] = GEO_HEADER_NAMES[cdn];
  const latText = header(latName)?.trim();
  const lonText = header(lonName)?.trim();
  if (!latText || !lonText) return undefined;
  const lat = Number(latText);
  const lon = Number(lonText);
  if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180)
    return undefined;
  return { lat, lon, source: 'platform' };
}

/** The country header each CDN sets beside its coordinates (same trust rule: configured CDN only). */
export const GEO_COUNTRY_HEADER = {
  cloudflare: 'cf-ipcountry',
  cloudfront: 'cloudfront-viewer-country',
  fastly: 'x-client-geo-country',
} as const;

/**
 * An ISO 3166-1 alpha-2 code, upper-cased, or undefined: Cloudflare's `XX` (unknown) and `T1`
 * (Tor) and anything that is not two letters say nothing about where the client is.
 */
export function countryCode(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const code = value.trim().toUpperCase();
  return /^[A-Z]{2}$/.test(code) && code !== 'XX' ? code : undefined;
}

export function countryFromHeaders(
  header: (name: string) => string | undefined,
  cdn: keyof typeof GEO_HEADER_NAMES | 'none',
): string | undefined {
  return cdn === 'none' ? undefined : countryCode(header(GEO_COUNTRY_HEADER[cdn]));
}
