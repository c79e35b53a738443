/**
 * `relay_info{id,region,version,latitude,longitude,udp_io} 1`: who this relay is and where, and
 * the UDP I/O it actually runs on (`native` or `dgram`, after --udp-io auto chose), in the
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
  /** The UDP I/O in use (relay/udp-io.ts), not the mode asked for. */
  readonly udpIo: 'dgram' | 'native';
}

export function registerRelayInfo(registry: Registry, r: RelayIdentity): void {
  const info = new Gauge({
    name: 'relay_info',
    help: 'This relay: id, region, version, coordinates and the UDP I/O in use (udp_io: native or dgram) as labels; always 1.',
    labelNames: ['id', 'region', 'version', 'latitude', 'longitude', 'udp_io'],
    registers: [registry],
  });
  info.set(
    {
      id: r.id,
      region: r.region,
      version: r.version,
      latitude: String(r.lat),
      longitude: String(r.lon),
      udp_io: r.udpIo,
    },
    1,
  );
}
