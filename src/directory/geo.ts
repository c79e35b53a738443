/**
 * Great-circle distance on a spherical Earth (haversine), the same model Redis GEO uses
 * (radius 6372797.560856 m), so the in-memory store and Redis agree on distances.
 */
const EARTH_RADIUS_KM = 6372.797560856;

export function greatCircleKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(a)));
}
