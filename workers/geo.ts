/**
 * Where the client is, best source first: the platform (Cloudflare's request.cf, or CDN geo
 * headers from a trusted proxy), else a GeoIP database lookup of the client's address (Node,
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

/** Geo headers set by common CDNs, read only when the request came through a trusted proxy. */
export function placeFromHeaders(header: (name: string) => string | undefined): ClientPlace | undefined {
  const pairs: [string, string][] = [
    ['cf-iplatitude', 'cf-iplongitude'],
    ['cloudfront-viewer-latitude', 'cloudfront-viewer-longitude'],
    ['x-client-geo-latitude', 'x-client-geo-longitude'],
  ];
  for (const [latName, lonName] of pairs) {
    const lat = Number(header(latName));
    const lon = Number(header(lonName));
    if (header(latName) && header(lonName) && Math.abs(lat) <= 90 && Math.abs(lon) <= 180) {
      return { lat, lon, source: 'platform' };
    }
  }
  return undefined;
}
