/**
 * The GeoIP source against real .mmdb bytes: files written by test/support/mmdb-writer.ts (our
 * own writer, from the MaxMind DB spec) and read back by mmdb-lib, the package the edge uses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Reader } from 'mmdb-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { locateClient } from '../../workers/geo.ts';
import { GeoIpError, geoIpFromBuffer, openGeoIp, placeFromRecord } from '../../workers/geoip.ts';
import {
  encodeValue,
  type MmdbMap,
  type MmdbNetwork,
  uint16,
  uint32,
  writeMmdb,
} from '../support/mmdb-writer.ts';

/** A GeoIP2/GeoLite2 City record. */
const city = (name: string, iso: string, lat: number, lon: number, radius: number): MmdbMap => ({
  city: { geoname_id: uint32(1), names: { en: name } },
  country: { iso_code: iso, names: { en: iso } },
  location: { accuracy_radius: uint16(radius), latitude: lat, longitude: lon, time_zone: 'UTC' },
});

const NETWORKS: MmdbNetwork[] = [
  { network: '127.0.0.0/8', data: city('Paris', 'FR', 48.8566, 2.3522, 20) },
  { network: '203.0.113.0/24', data: city('Tokyo', 'JP', 35.6895, 139.6917, 50) },
  { network: '203.0.113.128/25', data: city('Osaka', 'JP', 34.6937, 135.5023, 100) },
  { network: '2001:db8::/32', data: city('São Paulo', 'BR', -23.5505, -46.6333, 200) },
];

const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const v6 = (over: Partial<Parameters<typeof writeMmdb>[1]> = {}) =>
  buf(writeMmdb(NETWORKS, { ipVersion: 6, databaseType: 'GeoLite2-City', ...over }));

describe('the test MMDB writer, read by mmdb-lib', () => {
  it('encodes data fields as the spec shows them', () => {
    expect(encodeValue('US')).toEqual([0x42, 0x55, 0x53]); // 010 00010: string, 2 bytes
    expect(encodeValue(uint16(0))).toEqual([0xa0]); // 101 00000: uint16 zero is zero bytes long
    expect(encodeValue(uint32(300))).toEqual([0xc2, 0x01, 0x2c]);
    expect(encodeValue(true)).toEqual([0x01, 0x07]); // extended: boolean is 14 - 7
    expect(encodeValue(['a'])).toEqual([0x01, 0x04, 0x41, 0x61]); // extended: array is 11 - 7
    expect(encodeValue('x'.repeat(80)).slice(0, 2)).toEqual([0x5d, 51]); // size 29 + 51
    expect(encodeValue('x'.repeat(13_392)).slice(0, 3)).toEqual([0x5e, 0x33, 0x33]); // 285 + 13,107
  });

  it.each([24, 28, 32] as const)('round-trips records and metadata with %i-bit records', (recordSize) => {
    const reader = new Reader<Record<string, unknown>>(v6({ recordSize, buildEpoch: 1_700_000_000 }));
    expect(reader.metadata).toMatchObject({
      binaryFormatMajorVersion: 2,
      binaryFormatMinorVersion: 0,
      databaseType: 'GeoLite2-City',
      ipVersion: 6,
      recordSize,
      languages: ['en'],
      description: { en: 'test database' },
      buildEpoch: new Date(1_700_000_000_000),
    });
    expect(reader.get('127.1.2.3')).toMatchObject({
      city: { geoname_id: 1, names: { en: 'Paris' } },
      location: { accuracy_radius: 20, latitude: 48.8566, longitude: 2.3522, time_zone: 'UTC' },
    });
    expect(reader.getWithPrefixLength('2001:db8:1::5')).toEqual([
      expect.objectContaining({ city: expect.objectContaining({ names: { en: 'São Paulo' } }) }),
      32,
    ]);
    // A longer prefix inside a shorter one wins for its half only (IPv4 depth counts from ::/96).
    expect(reader.getWithPrefixLength('203.0.113.200')[1]).toBe(25);
    expect(reader.get('203.0.113.200')).toMatchObject({ city: { names: { en: 'Osaka' } } });
    expect(reader.get('203.0.113.7')).toMatchObject({ city: { names: { en: 'Tokyo' } } });
  });

  it('returns nothing for addresses outside every network', () => {
    const reader = new Reader(v6());
    for (const ip of ['8.8.8.8', '128.0.0.1', '203.0.112.255', '2001:db9::1', '::1', 'fe80::1']) {
      expect(reader.get(ip)).toBeNull();
    }
  });

  it('finds IPv4 networks at ::/96 and, aliased, at ::ffff:0:0/96 in an IPv6 tree', () => {
    const reader = new Reader<Record<string, unknown>>(v6());
    expect(reader.get('::127.0.0.1')).toMatchObject({ city: { names: { en: 'Paris' } } });
    expect(reader.get('::ffff:127.0.0.1')).toMatchObject({ city: { names: { en: 'Paris' } } });
    expect(reader.get('::ffff:203.0.113.9')).toMatchObject({ city: { names: { en: 'Tokyo' } } });
    const plain = new Reader(v6({ aliasIpv4Mapped: false }));
    expect(plain.get('127.0.0.1')).not.toBeNull();
    expect(plain.get('::ffff:127.0.0.1')).toBeNull();
  });

  it('writes an IPv4-only database', () => {
    const reader = new Reader<Record<string, unknown>>(
      buf(writeMmdb(NETWORKS.slice(0, 3), { ipVersion: 4, databaseType: 'GeoLite2-City' })),
    );
    expect(reader.metadata.ipVersion).toBe(4);
    expect(reader.get('127.0.0.1')).toMatchObject({ country: { iso_code: 'FR' } });
    expect(reader.get('10.0.0.1')).toBeNull();
  });
});

describe('the GeoIP source (workers/geoip.ts)', () => {
  const db = geoIpFromBuffer(v6());

  it('answers coordinates, accuracy and country for a GeoIP2 City record', () => {
    expect(db.lookup('127.0.0.1')).toEqual({
      lat: 48.8566,
      lon: 2.3522,
      accuracyRadiusKm: 20,
      country: 'FR',
    });
    expect(db.lookup('2001:db8:ffff::1')).toEqual({
      lat: -23.5505,
      lon: -46.6333,
      accuracyRadiusKm: 200,
      country: 'BR',
    });
    expect(db).toMatchObject({ databaseType: 'GeoLite2-City', ipVersion: 6 });
  });

  it('looks up an IPv4-mapped address as its IPv4 address, even without the alias in the tree', () => {
    const plain = geoIpFromBuffer(v6({ aliasIpv4Mapped: false }));
    expect(plain.lookup('::ffff:203.0.113.1')).toMatchObject({ lat: 35.6895, country: 'JP' });
  });

  it('misses for unknown and malformed addresses', () => {
    for (const ip of ['8.8.8.8', '2001:db9::1', 'not-an-ip', '', '127.0.0.01', 'fe80::1%eth0', '1.2.3']) {
      expect(db.lookup(ip)).toBeUndefined();
    }
  });

  it('never walks an IPv4 tree with an IPv6 address', () => {
    const v4 = geoIpFromBuffer(
      buf(writeMmdb(NETWORKS.slice(0, 1), { ipVersion: 4, databaseType: 'GeoLite2-City' })),
    );
    expect(v4.lookup('127.0.0.1')).toMatchObject({ country: 'FR' });
    // 7f00::1 starts with the bits of 127.0.0.0/8.
    expect(v4.lookup('7f00::1')).toBeUndefined();
    expect(v4.lookup('::ffff:127.0.0.1')).toMatchObject({ country: 'FR' });
  });

  it('reads the flat city layout of repackaged databases (DB-IP / ip-location-db)', () => {
    const flat = geoIpFromBuffer(
      buf(
        writeMmdb(
          [
            {
              network: '198.51.100.0/24',
              data: {
                country_code: 'DE',
                state1: 'Berlin',
                city: 'Berlin',
                latitude: 52.52,
                longitude: 13.405,
              },
            },
          ],
          { ipVersion: 6, databaseType: 'dbip-city-lite' },
        ),
      ),
    );
    expect(flat.lookup('198.51.100.4')).toEqual({ lat: 52.52, lon: 13.405, country: 'DE' });
  });

  it.each([
    ['a country-only record', { country: { iso_code: 'FR' } }],
    ['a latitude beyond the pole', { location: { latitude: 91, longitude: 0 } }],
    ['a longitude past the antimeridian', { latitude: 0, longitude: -180.5 }],
    ['coordinates as strings', { latitude: '48.8', longitude: '2.3' }],
    ['a string', 'FR'],
    ['null', null],
  ])('finds no place in %s', (_name, rec) => {
    expect(placeFromRecord(rec)).toBeUndefined();
  });

  it.each([
    ['empty bytes', Buffer.alloc(0), 'no metadata marker'],
    ['text', Buffer.from('hello, this is not a database\n'), 'no metadata marker'],
    [
      'a tree larger than the file',
      (() => {
        // Keep the metadata (node_count and all) but drop the tree and data it describes.
        const b = v6();
        return Buffer.concat([
          b.subarray(0, 20),
          b.subarray(b.lastIndexOf(Buffer.from('\xab\xcd\xef', 'latin1'))),
        ]);
      })(),
      'truncated or damaged (',
    ],
    [
      'an IPv4 tree larger than the file',
      (() => {
        const b = buf(writeMmdb(NETWORKS.slice(0, 2), { ipVersion: 4, databaseType: 'GeoLite2-City' }));
        return Buffer.concat([
          b.subarray(0, 20),
          b.subarray(b.lastIndexOf(Buffer.from('\xab\xcd\xef', 'latin1'))),
        ]);
      })(),
      'the search tree runs past the data',
    ],
    [
      'format version 3',
      (() => {
        const b = v6();
        const m = b.lastIndexOf(Buffer.from('binary_format_major_version'));
        b[m + 'binary_format_major_version'.length + 1] = 3;
        return b;
      })(),
      'format version 3, not 2',
    ],
  ])('refuses %s with ERR_GEOIP_INVALID', (_name, bytes, why) => {
    expect(() => geoIpFromBuffer(bytes, 'x.mmdb')).toThrow(
      expect.objectContaining({
        code: 'ERR_GEOIP_INVALID',
        message: expect.stringContaining(`x.mmdb is not a MaxMind DB file: ${why}`),
      }),
    );
  });

  describe('from a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'geoip-unit-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('opens a .mmdb file by path', () => {
      const path = join(dir, 'city.mmdb');
      writeFileSync(path, v6());
      expect(openGeoIp(path).lookup('203.0.113.1')).toMatchObject({ country: 'JP' });
    });

    it('says why a path cannot be opened', () => {
      const missing = join(dir, 'missing.mmdb');
      let err: unknown;
      try {
        openGeoIp(missing);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GeoIpError);
      expect(err).toMatchObject({ code: 'ERR_GEOIP_UNREADABLE', message: `cannot read ${missing}: ENOENT` });
      expect(() => openGeoIp(dir)).toThrow(expect.objectContaining({ code: 'ERR_GEOIP_UNREADABLE' }));
    });
  });
});

describe('locating the client', () => {
  const geo = { lat: 1, lon: 2 };
  const hint = { lat: 3, lon: 4 };
  const fallback = { lat: 5, lon: 6 };
  const platform = { lat: 7, lon: 8, source: 'platform' as const };

  it.each([
    ['the platform over everything', platform, geo, hint, { ...platform }],
    ['GeoIP over the hint', undefined, geo, hint, { ...geo, source: 'geoip' }],
    ['the hint when GeoIP has nothing', undefined, undefined, hint, { ...hint, source: 'hint' }],
    ['the default last', undefined, undefined, undefined, { ...fallback, source: 'default' }],
  ])('takes %s', (_name, p, g, h, want) => {
    expect(locateClient(p, g, h, fallback)).toEqual(want);
  });

  it('keeps only the coordinates of a GeoIP answer', () => {
    expect(
      locateClient(undefined, { lat: 1, lon: 2, country: 'FR' } as typeof geo, undefined, fallback),
    ).toEqual({
      lat: 1,
      lon: 2,
      source: 'geoip',
    });
  });
});
