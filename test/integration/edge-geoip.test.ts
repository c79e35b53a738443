/**
 * The Node edge with a GeoIP database (EDGE_GEOIP_DB), against a real Redis and real relays: a
 * .mmdb file written for the test places loopback clients in Paris and documentation networks in
 * Tokyo and São Paulo. The database answers before the client's hint, trusted CDN headers answer
 * before the database, and a file that cannot be used stops the edge at startup.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRelay, stopTestRelays, type TestRelay } from '../support/backbone-relays.ts';
import { type MmdbMap, uint16, writeMmdb } from '../support/mmdb-writer.ts';
import { type NodeEdge, runToExit, startNodeEdge } from '../support/node-edge.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../support/redis.ts';

const SECRET = 'edge-geoip-secret';
const PARIS = { lat: 48.8566, lon: 2.3522 };
const TOKYO = { lat: 35.6895, lon: 139.6917 };
const SAO_PAULO = { lat: -23.5505, lon: -46.6333 };

const city = (name: string, iso: string, at: { lat: number; lon: number }): MmdbMap => ({
  city: { names: { en: name } },
  country: { iso_code: iso },
  location: { accuracy_radius: uint16(50), latitude: at.lat, longitude: at.lon },
});

let dir: string;
let relays: TestRelay[] = [];
let edge: NodeEdge | undefined;
let base: string;
let prefix: string;
let url: string;

interface Answer {
  relay: { id: string; basis: string };
  alternates: { id: string }[];
  location: { source: string; lat: number; lon: number };
}

const allocate = async (body: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
  const res = await fetch(`${base}/v1/allocate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Answer;
};

const edgeEnv = (over: Record<string, string>) => ({
  ...process.env,
  REDIS_URL: url,
  EDGE_REDIS_PREFIX: prefix,
  EDGE_SECRETS: SECRET,
  // Location is what is under test here, not API keys.
  EDGE_API_KEYS: 'off',
  ...over,
});

/** Runs the edge until it exits; for configurations it must refuse. */
const runEdgeToExit = (env: Record<string, string>) => runToExit(['workers/node.ts'], edgeEnv(env));

describe('the Node edge with a GeoIP database', () => {
  beforeAll(async () => {
    url = await redisUrl();
    prefix = uniquePrefix('edge-geoip');
    dir = mkdtempSync(join(tmpdir(), 'edge-geoip-'));
    writeFileSync(
      join(dir, 'city.mmdb'),
      writeMmdb(
        [
          { network: '127.0.0.0/8', data: city('Paris', 'FR', PARIS) },
          { network: '203.0.113.0/24', data: city('Tokyo', 'JP', TOKYO) },
          { network: '2001:db8::/32', data: city('São Paulo', 'BR', SAO_PAULO) },
        ],
        { ipVersion: 6, databaseType: 'GeoLite2-City' },
      ),
    );
    const relay = (id: string, host: string, at: { lat: number; lon: number }) =>
      startTestRelay({
        id,
        host,
        extra: [
          ...['--redis', url, '--redis-prefix', prefix, '--secret', SECRET],
          ...['--lat', String(at.lat), '--lon', String(at.lon), '--region', id.split('-')[0]!],
        ],
      });
    relays = await Promise.all([
      relay('eu-1', '127.0.0.41', PARIS),
      relay('ap-1', '127.0.0.42', TOKYO),
      relay('sa-1', '127.0.0.43', SAO_PAULO),
    ]);

    edge = await startNodeEdge(
      edgeEnv({
        EDGE_GEOIP_DB: join(dir, 'city.mmdb'),
        // The test client is its own trusted proxy, so it can speak for other addresses.
        EDGE_TRUSTED_PROXIES: '127.0.0.1/32',
        EDGE_GEO_HEADERS: 'cloudflare',
      }),
    );
    base = edge.base;
    // Wait until all three relays are in the directory the edge reads.
    for (let i = 0; ; i++) {
      const r = (await (await fetch(`${base}/readyz`)).json()) as { relays?: number };
      if (r.relays === 3) break;
      if (i > 100) throw new Error('the relays did not register');
      await new Promise((res) => setTimeout(res, 100));
    }
  });

  afterAll(async () => {
    await edge?.stop();
    await stopTestRelays(relays);
    await deleteKeys(url, prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  it('places a client by its address before its own hint, and ranks the nearest relay first', async () => {
    const a = await allocate({ location: TOKYO });
    expect(a.location).toEqual({ source: 'geoip', ...PARIS });
    expect(a.relay).toEqual(expect.objectContaining({ id: 'eu-1', basis: 'distance' }));
    // From Paris, São Paulo (9,400 km) is nearer than Tokyo (9,700 km).
    expect(a.alternates.map((r) => r.id)).toEqual(['sa-1', 'ap-1']);
  });

  it.each([
    ['203.0.113.9', TOKYO, 'ap-1'],
    ['2001:db8:42::7', SAO_PAULO, 'sa-1'],
  ])('places %s, forwarded by a trusted proxy, from the database', async (ip, at, nearest) => {
    const a = await allocate({}, { 'x-forwarded-for': ip });
    expect(a.location).toEqual({ source: 'geoip', ...at });
    expect(a.relay.id).toBe(nearest);
  });

  it("takes a trusted proxy's CDN geo headers over the database", async () => {
    const a = await allocate(
      { location: PARIS },
      { 'cf-iplatitude': String(TOKYO.lat), 'cf-iplongitude': String(TOKYO.lon) },
    );
    expect(a.location).toEqual({ source: 'platform', ...TOKYO });
    expect(a.relay.id).toBe('ap-1');
  });

  it("uses the client's hint when its address is not in the database, else the default", async () => {
    const hinted = await allocate({ location: SAO_PAULO }, { 'x-forwarded-for': '198.51.100.7' });
    expect(hinted.location).toEqual({ source: 'hint', ...SAO_PAULO });
    expect(hinted.relay.id).toBe('sa-1');
    const none = await allocate({}, { 'x-forwarded-for': '198.51.100.7' });
    expect(none.location).toEqual({ source: 'default', lat: 0, lon: 0 });
  });

  it('refuses to start on a database file that is missing, with one line and exit code 2', async () => {
    const missing = join(dir, 'missing.mmdb');
    const r = await runEdgeToExit({ EDGE_GEOIP_DB: missing });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`edge: EDGE_GEOIP_DB: cannot read ${missing}: ENOENT\n`);
  });

  it('refuses to start on a file that is not a MaxMind DB, with one line and exit code 2', async () => {
    const bogus = join(dir, 'bogus.mmdb');
    writeFileSync(bogus, 'GeoIP? no: a text file\n');
    const r = await runEdgeToExit({ EDGE_GEOIP_DB: bogus });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`edge: EDGE_GEOIP_DB: ${bogus} is not a MaxMind DB file: no metadata marker\n`);
  });
});
