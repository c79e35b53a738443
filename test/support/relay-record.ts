/**
 * A RelayRecord for tests: a relay at `ip` with TURN over UDP and TCP on 3478 (and TLS on 5349
 * when asked), a ping URL, room for 100 allocations, no load, and a backbone run of its own
 * (testRun). `over` replaces any field.
 */
import { createHash } from 'node:crypto';
import type { RelayRecord } from '../../src/directory/types.ts';

/** The `backboneRun` relayRecord gives relay `id`: fixed per id, so a test can seal as that relay. */
export function testRun(id: string): string {
  return createHash('sha256').update(`run of ${id}`).digest('hex').slice(0, 32);
}

export function relayRecord(
  id: string,
  ip: string,
  lat: number,
  lon: number,
  over: Partial<RelayRecord> & { turnPort?: number; tls?: boolean } = {},
): RelayRecord {
  const { turnPort = 3478, tls = false, ...fields } = over;
  return {
    id,
    region: id.split('-')[0]!,
    lat,
    lon,
    turnUrls: [
      `turn:${ip}:${turnPort}?transport=udp`,
      `turn:${ip}:${turnPort}?transport=tcp`,
      ...(tls ? [`turns:${ip}:5349?transport=tcp`] : []),
    ],
    backbone: `${ip}:7000`,
    relayedAddress: ip,
    portRange: [49152, 65535],
    capacity: 100,
    load: { allocations: 0, pps: 0, bps: 0 },
    state: 'active',
    version: 't',
    startedAt: 0,
    updatedAt: 0,
    pingUrl: `http://${ip}:9464/ping`,
    backboneRun: testRun(id),
    ...fields,
  };
}
