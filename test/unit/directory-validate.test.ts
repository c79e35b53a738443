import { describe, expect, it } from 'vitest';
import { relayHash } from '../../src/backbone/relay-hash.ts';
import { checkLinkRecord, checkRelayRecord, registrationConflict } from '../../src/directory/validate.ts';
import { relayRecord } from '../support/relay-record.ts';

const GOOD = relayRecord('eu-paris', '192.0.2.10', 48.86, 2.35);
const LINK = {
  from: 'a',
  to: 'b',
  rttMs: 10,
  rttP50Ms: 10,
  rttP95Ms: 12,
  jitterMs: 1,
  lossRate: 0,
  samples: 5,
  updatedAt: 1,
};

describe('checkRelayRecord', () => {
  it('accepts a record as relays register it', () => {
    expect(checkRelayRecord(GOOD)).toEqual({ ok: true, value: GOOD });
    expect(checkRelayRecord(JSON.parse(JSON.stringify(GOOD))).ok).toBe(true);
  });

  const { load: _load, ...noLoad } = GOOD;
  it.each([
    ['without load', noLoad, 'load'],
    ['with load as a string', { ...GOOD, load: 'high' }, 'load'],
    ['with a negative allocation count', { ...GOOD, load: { allocations: -1, pps: 0, bps: 0 } }, 'load'],
    ['without an id', { ...GOOD, id: '' }, 'id'],
    ['with an id over 64 bytes', { ...GOOD, id: 'x'.repeat(65) }, 'id'],
    ['with latitude 91', { ...GOOD, lat: 91 }, 'lat'],
    ['with turnUrls not strings', { ...GOOD, turnUrls: [1] }, 'turnUrls'],
    ['with a reversed port range', { ...GOOD, portRange: [60000, 50000] }, 'portRange'],
    ['with a port range of one port number', { ...GOOD, portRange: [50000] }, 'portRange'],
    ['with an unknown state', { ...GOOD, state: 'gone' }, 'state'],
    ['with capacity NaN as null', { ...GOOD, capacity: null }, 'capacity'],
    ['with startedAt missing', { ...GOOD, startedAt: undefined }, 'startedAt'],
    ['with a ping URL of another scheme', { ...GOOD, pingUrl: 'javascript:alert(1)//ping' }, 'pingUrl'],
    ['with a ping URL to another path', { ...GOOD, pingUrl: 'https://192.0.2.10:8443/metrics' }, 'pingUrl'],
    ['with backboneBundles as a string', { ...GOOD, backboneBundles: 'yes' }, 'backboneBundles'],
  ])('refuses a record %s, naming the field', (_name, record, field) => {
    const r = checkRelayRecord(record);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(new RegExp(`^${field}:`));
  });

  it('accepts a record that says it takes backbone bundles, and one from before bundles', () => {
    expect(checkRelayRecord({ ...GOOD, backboneBundles: true }).ok).toBe(true);
    expect(checkRelayRecord({ ...GOOD, backboneBundles: false }).ok).toBe(true);
    expect(checkRelayRecord(GOOD).ok).toBe(true);
  });

  it('accepts http and https ping URLs, with a name, an IPv4 or a bracketed IPv6 host', () => {
    for (const pingUrl of [
      'https://r1.example.net:8443/ping',
      'http://192.0.2.10:9464/ping',
      'https://[2001:db8::1]:443/ping',
    ])
      expect(checkRelayRecord({ ...GOOD, pingUrl }).ok, pingUrl).toBe(true);
  });

  const threads = (list: unknown) => ({ ...GOOD, backboneThreads: list });
  const t0 = { backbone: GOOD.backbone, portRange: [49152, 57343] };
  const t1 = { backbone: '192.0.2.10:7001', portRange: [57344, 65535] };
  it('accepts a record from before backbone threads and one listing each thread', () => {
    expect(GOOD.backboneThreads).toBeUndefined();
    expect(checkRelayRecord(threads([t0, t1])).ok).toBe(true);
    expect(checkRelayRecord(threads([{ ...t0, portRange: GOOD.portRange }])).ok).toBe(true);
  });

  it.each([
    ['not a list', { a: t0 }],
    ['empty', []],
    ['over 64 threads', Array.from({ length: 65 }, () => t0)],
    ['thread 0 away from the record’s backbone address', [{ ...t0, backbone: '192.0.2.10:7009' }, t1]],
    ['with overlapping slices', [t0, { ...t1, portRange: [57343, 65535] }]],
    ['with slices out of order', [t1, t0]],
    ['with a slice outside the record’s port range', [t0, { ...t1, portRange: [57344, 65536] }]],
    ['with a thread without an address', [t0, { portRange: t1.portRange }]],
    ['with a reversed slice', [t0, { ...t1, portRange: [65535, 57344] }]],
  ])('refuses backbone threads %s', (_name, list) => {
    expect(checkRelayRecord(threads(list))).toEqual({
      ok: false,
      error: 'backboneThreads: missing or invalid',
    });
  });

  it('refuses what is not an object', () => {
    for (const v of [null, 1, 'x', [GOOD]])
      expect(checkRelayRecord(v)).toEqual({ ok: false, error: 'not an object' });
  });
});

describe('checkLinkRecord', () => {
  it('accepts a link as relays publish it and refuses a bad one, naming the field', () => {
    expect(checkLinkRecord(LINK).ok).toBe(true);
    expect(checkLinkRecord({ ...LINK, lossRate: 2 })).toEqual({
      ok: false,
      error: 'lossRate: missing or invalid',
    });
    expect(checkLinkRecord({ ...LINK, rttMs: '10' })).toEqual({
      ok: false,
      error: 'rttMs: missing or invalid',
    });
    expect(checkLinkRecord({ ...LINK, to: 7 })).toEqual({ ok: false, error: 'to: missing or invalid' });
  });

  it('takes the data counts as optional (a relay before them publishes none) and refuses bad ones', () => {
    expect(checkLinkRecord({ ...LINK, dataIn: 5, endIn: 3 }).ok).toBe(true);
    expect(checkLinkRecord({ ...LINK, dataIn: 5 }).ok).toBe(true);
    for (const endIn of [-1, Number.NaN, '3', null])
      expect(checkLinkRecord({ ...LINK, endIn })).toEqual({ ok: false, error: 'endIn: missing or invalid' });
  });
});

describe('registrationConflict', () => {
  const other = relayRecord('us-newyork', '192.0.2.30', 40.7, -74, { portRange: [50000, 50999] });

  it('allows distinct ids and disjoint or differently addressed port ranges, and re-registration', () => {
    const me = relayRecord('eu-paris', '192.0.2.30', 48.86, 2.35, { portRange: [51000, 51999] });
    expect(registrationConflict(me, [other, me], relayHash)).toBeUndefined();
    const elsewhere = relayRecord('eu-paris', '192.0.2.10', 48.86, 2.35, { portRange: [50000, 50999] });
    expect(registrationConflict(elsewhere, [other], relayHash)).toBeUndefined();
  });

  it('refuses relayed ports overlapping another relay’s on the same address', () => {
    const me = relayRecord('eu-paris', '192.0.2.30', 48.86, 2.35, { portRange: [50999, 51999] });
    expect(registrationConflict(me, [other], relayHash)).toMatch(/overlap us-newyork's 50000-50999/);
  });

  it('refuses an id whose backbone hash another relay already has', () => {
    const me = relayRecord('eu-paris', '192.0.2.10', 48.86, 2.35);
    const collide = (id: string) => (id === 'eu-paris' || id === 'us-newyork' ? 42 : relayHash(id));
    expect(registrationConflict(me, [other], collide)).toMatch(/same backbone hash as us-newyork/);
  });

  it('refuses an id whose threads’ sender ids (hash + thread index) meet another relay’s', () => {
    const two = (id: string, ip: string) =>
      relayRecord(id, ip, 0, 0, {
        backboneThreads: [
          { backbone: `${ip}:7000`, portRange: [49152, 57343] },
          { backbone: `${ip}:7001`, portRange: [57344, 65535] },
        ],
      });
    const hashes = (a: number, b: number) => (id: string) => (id === 'eu-paris' ? a : b);
    const me = two('eu-paris', '192.0.2.10');
    const them = two('us-newyork', '192.0.2.30');
    // Thread 1 of one relay seals as hash + 1: the other's thread 0 when hashes are one apart.
    expect(registrationConflict(me, [them], hashes(41, 42))).toMatch(/same backbone hash/);
    expect(registrationConflict(me, [them], hashes(43, 42))).toMatch(/same backbone hash/);
    expect(registrationConflict(me, [them], hashes(44, 42))).toBeUndefined();
    // One thread each: only equal hashes meet; across the 48-bit wrap too.
    expect(registrationConflict(me, [other], hashes(2 ** 48 - 1, 0))).toMatch(/same backbone hash/);
    const single = relayRecord('eu-paris', '192.0.2.10', 0, 0);
    expect(registrationConflict(single, [other], hashes(41, 42))).toBeUndefined();
  });
});
