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
  ])('refuses a record %s, naming the field', (_name, record, field) => {
    const r = checkRelayRecord(record);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toMatch(new RegExp(`^${field}:`));
  });

  it('accepts http and https ping URLs, with a name, an IPv4 or a bracketed IPv6 host', () => {
    for (const pingUrl of [
      'https://r1.example.net:8443/ping',
      'http://192.0.2.10:9464/ping',
      'https://[2001:db8::1]:443/ping',
    ])
      expect(checkRelayRecord({ ...GOOD, pingUrl }).ok, pingUrl).toBe(true);
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
});
