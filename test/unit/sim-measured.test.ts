import { describe, expect, it } from 'vitest';
import {
  completeSites,
  detourGain,
  dropImpossible,
  impossibleBySite,
  MeasuredDataError,
  parseNetLatency,
  parseSlices,
  parseWonderProxy,
} from '../../src/sim/measured.ts';

// Three made-up servers: Paris and London ~344 km apart (fiber bound 3.4 ms), New York ~5,840 km
// from Paris (58.4 ms). "NewYork" to "London" at 20 ms beats light in fiber: impossible.
const locations = [
  { idx: 0, id: 10, name: 'Paris', city: 'Paris', country: 'France', lat: 48.8566, lon: 2.3522 },
  { idx: 1, id: 11, name: 'London', city: 'London', country: 'United Kingdom', lat: 51.5074, lon: -0.1278 },
  { idx: 2, id: 12, name: 'NewYork', city: 'New York', country: 'United States', lat: 40.7128, lon: -74.006 },
];
const rtt = {
  ids: [10, 11, 12],
  avg: [
    [0, 8, 80],
    [8.4, 0, 20],
    [81, null, 0],
  ],
  min: [
    [0, 7, 75],
    [7.5, 0, 19],
    [76, null, 0],
  ],
};

describe('the WonderProxy parser', () => {
  it('reads the matrices in the order of ids, with NaN where unmeasured', () => {
    const m = parseWonderProxy(rtt, [...locations].reverse());
    expect(m.names).toEqual(['Paris', 'London', 'NewYork']);
    expect(m.rtt[0 * 3 + 1]).toBe(8);
    expect(m.min[2 * 3 + 0]).toBe(76);
    expect(Number.isNaN(m.rtt[2 * 3 + 1]!)).toBe(true);
    expect(m.rtt[4]).toBe(0);
  });

  it.each([
    [{ ids: [10, 11, 12], avg: [[0]], min: rtt.min }, locations, /avg: expected 3 rows/],
    [{ ...rtt, avg: [[0, -1, 2], ...rtt.avg.slice(1)] }, locations, /\[0\]\[1\] is -1/],
    [{ ...rtt, min: [[0, 'x', 2], ...rtt.min.slice(1)] }, locations, /\[0\]\[1\] is "x"/],
    [rtt, locations.slice(0, 2), /2 entries, rtt_ms.json 3 ids/],
    [rtt, [locations[0], locations[1], { ...locations[2], lat: 95 }], /NewYork\) has no valid lat\/lon/],
    [rtt, [locations[0], locations[1], { ...locations[2], id: 99 }], /no server with id 12/],
    [[], locations, /expected an object with ids/],
  ])('refuses malformed input with a one-line error (%#)', (r, l, message) => {
    expect(() => parseWonderProxy(r, l)).toThrow(MeasuredDataError);
    expect(() => parseWonderProxy(r, l)).toThrow(message);
  });
});

describe('the fiber-bound check', () => {
  it('drops and names the pairs faster than light in fiber, and keeps the rest', () => {
    const checked = dropImpossible(parseWonderProxy(rtt, locations));
    expect(checked.impossible.map((p) => `${p.from}>${p.to}`)).toEqual(['London>NewYork']);
    const [pair] = checked.impossible;
    expect(pair!.boundMs).toBeGreaterThan(pair!.rttMs);
    expect(pair!.km).toBeGreaterThan(5000);
    expect(Number.isNaN(checked.matrix.rtt[1 * 3 + 2]!)).toBe(true);
    expect(Number.isNaN(checked.matrix.min[1 * 3 + 2]!)).toBe(true);
    expect(checked.matrix.rtt[0 * 3 + 1]).toBe(8);
    expect(checked.missing).toBe(1);
    expect(impossibleBySite(checked.impossible)[0]).toEqual(['London', 1]);
  });

  it('judges a pair by its minimum: a mean above the bound does not save a minimum below it', () => {
    const fast = { ...rtt, min: [[0, 3, 75], ...rtt.min.slice(1)] };
    const checked = dropImpossible(parseWonderProxy(fast, locations));
    expect(checked.impossible.map((p) => `${p.from}>${p.to}`)).toContain('Paris>London');
  });
});

describe('the complete site set', () => {
  it('symmetrizes and drops the site with the most missing pairs until every pair has a value', () => {
    const checked = dropImpossible(parseWonderProxy(rtt, locations));
    const c = completeSites(checked.matrix);
    // London-NewYork lost both directions (one impossible, one unmeasured): one of them must go.
    expect(c.dropped).toHaveLength(1);
    expect(c.sites).toHaveLength(2);
    const a = c.kept.indexOf(0);
    expect(a).toBeGreaterThanOrEqual(0);
    expect(c.rtt[0 * 2 + 1]).toBe(c.rtt[1 * 2 + 0]);
  });

  it('averages both directions and keeps their mean excess over the minimum', () => {
    const c = completeSites(parseWonderProxy(rtt, locations));
    // Nothing dropped before the check: London>NewYork stands in for the missing reverse.
    expect(c.dropped).toEqual([]);
    const K = c.kept.length;
    expect(c.rtt[0 * K + 1]).toBeCloseTo(8.2, 6);
    expect(c.excess[0 * K + 1]).toBeCloseTo(8.2 - 7.25, 6);
    expect(c.rtt[1 * K + 2]).toBe(20);
  });

  it('finds the pairs a third node shortens', () => {
    // 0-2 direct 100, through 1: 30 + 30.
    const m = Float64Array.from([0, 30, 100, 30, 0, 30, 100, 30, 0]);
    const g = detourGain(m, 3);
    expect(g.share).toBeCloseTo(2 / 6, 6);
    expect(g.medianGain).toBeCloseTo(0.4, 6);
  });
});

describe('the NetLatency parsers', () => {
  it('reads a summary with zeros off the diagonal as missing', () => {
    const m = parseNetLatency(
      {
        n: 2,
        slices: 3,
        median: [
          [0, 10],
          [0, 0],
        ],
        p10: [
          [0, 9],
          [null, 0],
        ],
        p90: [
          [0, 12],
          [null, 0],
        ],
      },
      'seattle',
    );
    expect(m.slices).toBe(3);
    expect(m.rtt[1]).toBe(10);
    expect(Number.isNaN(m.rtt[2]!)).toBe(true);
    expect(() => parseNetLatency({ n: 1 }, 'x')).toThrow(MeasuredDataError);
  });

  it('decodes little-endian slices, 65535 as missing, and checks the size', () => {
    const bytes = new Uint8Array([10, 0, 0x2c, 0x01, 0xff, 0xff, 0, 0, 1, 0, 2, 0, 3, 0, 4, 0]);
    const s = parseSlices(bytes, 2, 2);
    expect(Array.from(s.ms)).toEqual([10, 300, 0, 0, 1, 2, 3, 4]);
    expect(() => parseSlices(bytes.subarray(2), 2, 2)).toThrow(/14 bytes, expected 16/);
  });
});
