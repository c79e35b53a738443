/**
 * `relay_info{id,region,version,latitude,longitude} 1`: who this relay is and where, in the
 * Prometheus convention for build and identity facts (a gauge fixed at 1 whose labels carry
 * them). Grafana's Geomap places relays from it, and joining on `instance` names each scraped
 * link metric's source relay: `backbone_link_rtt_seconds * on(instance) group_left(id) relay_info`
 * gives (id, peer) pairs for the Node Graph panel (deploy/grafana/relay-backbone.json).
 */
import { Gauge, type Registry } from 'prom-client';

export interface RelayIdentity {
  readonly id: string;
  readonly region: string;
  readonly version: string;
  readonly lat: number;
  readonly lon: number;
}

export function registerRelayInfo(registry: Registry, r: RelayIdentity): void {
  const info = new Gauge({
    name: 'relay_info',
    help: 'This relay: id, region, version and coordinates as labels; always 1.',
    labelNames: ['id', 'region', 'version', 'latitude', 'longitude'],
    registers: [registry],
  });
  info.set(
    { id: r.id, region: r.region, version: r.version, latitude: String(r.lat), longitude: String(r.lon) },
    1,
  );
}
