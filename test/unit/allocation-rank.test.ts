import { describe, expect, it } from 'vitest';
import {
  areaKey,
  areaSamples,
  DEFAULT_LEARN,
  decayedWeight,
  fiberRttMs,
  INITIAL_INFLATION,
  type InflationEvidence,
  inflationEvidence,
  inflationFactor,
  type LearnedRtt,
  type LearnOptions,
  learn,
  learnInflation,
  learnPathModel,
  networkPrefix,
  onePerRelay,
  pathModelOf,
  sourceOf,
  storedInflation,
  storedLearnedRtt,
} from '../../src/allocation/learned.ts';
import {
  DEFAULT_RANK,
  distanceOffset,
  linkRtts,
  type RankInput,
  rankRelays,
  triangleBound,
} from '../../src/allocation/rank.ts';
import { greatCircleKm } from '../../src/directory/geo.ts';
import type { RelayRecord } from '../../src/directory/types.ts';
import { relayRecord } from '../support/relay-record.ts';

const relay = (id: string, lat: number, lon: number, over: Partial<RelayRecord> = {}): RelayRecord =>
  relayRecord(id, '192.0.2.1', lat, lon, over);

const PARIS = relay('eu-paris', 48.86, 2.35);
const FRANKFURT = relay('eu-frankfurt', 50.11, 8.68);
const NEWYORK = relay('us-newyork', 40.71, -74.0);
const CLIENT_IN_LYON = { lat: 45.76, lon: 4.84 };
const never = () => 0.99;

const input = (over: Partial<RankInput> = {}): RankInput => ({
  relays: [PARIS, FRANKFURT, NEWYORK],
  location: CLIENT_IN_LYON,
  probes: new Map(),
  learned: new Map(),
  inflation: 2.1,
  ...over,
});

const pick = (over: Partial<RankInput>, random = never) => {
  const r = rankRelays(input(over), random);
  return { id: r.chosen?.relay.id, basis: r.chosen?.basis, reason: r.reason };
};

describe('areas', () => {
  it('keys a location by its one-degree cell and takes each probe less the round best', () => {
    expect(areaKey(48.86, 2.35)).toBe('area:48:2');
    expect(areaKey(-23.5, -46.6)).toBe('area:-24:-47');
    expect(areaKey(48.86, 2.35, 5)).toBe('area:45:0');
    expect(
      areaSamples(
        new Map([
          ['a', 30],
          ['b', 22],
          ['c', -1],
        ]),
      ),
    ).toEqual([
      ['a', 8],
      ['b', 0],
    ]);
    expect(areaSamples(new Map())).toEqual([]);
  });
});

describe('relay ranking', () => {
  it.each([
    ['distance alone picks the nearest relay', {}, { id: 'eu-paris', basis: 'distance', reason: 'best' }],
    [
      'learned latency beats distance',
      { learned: new Map([['eu-frankfurt', { rttMs: 8, weight: 5 }]]) },
      { id: 'eu-frankfurt', basis: 'learned', reason: 'best' },
    ],
    [
      'learned latency with too little weight does not count yet',
      { learned: new Map([['eu-frankfurt', { rttMs: 1, weight: 1 }]]) },
      { id: 'eu-paris', basis: 'distance', reason: 'best' },
    ],
    [
      "the client's own probe beats what was learned",
      {
        probes: new Map([['eu-paris', 5]]),
        learned: new Map([
          ['eu-paris', { rttMs: 40, weight: 10 }],
          ['eu-frankfurt', { rttMs: 8, weight: 10 }],
        ]),
      },
      { id: 'eu-paris', basis: 'probe', reason: 'best' },
    ],
    [
      'a draining relay is never chosen',
      { relays: [{ ...PARIS, state: 'draining' as const }, FRANKFURT, NEWYORK] },
      { id: 'eu-frankfurt', basis: 'distance', reason: 'best' },
    ],
    [
      'a full relay is skipped',
      { relays: [{ ...PARIS, load: { allocations: 100, pps: 0, bps: 0 } }, FRANKFURT] },
      { id: 'eu-frankfurt', basis: 'distance', reason: 'best' },
    ],
    [
      'a relay near capacity loses to a slightly farther idle one',
      { relays: [{ ...PARIS, load: { allocations: 99, pps: 0, bps: 0 } }, FRANKFURT] },
      { id: 'eu-frankfurt', basis: 'distance', reason: 'best' },
    ],
    [
      "a room's relay wins when it is close enough",
      { roomRelay: 'eu-frankfurt' },
      { id: 'eu-frankfurt', basis: 'distance', reason: 'room' },
    ],
    [
      "a room's relay across the ocean does not",
      { roomRelay: 'us-newyork' },
      { id: 'eu-paris', basis: 'distance', reason: 'best' },
    ],
    [
      'a preferred region wins a near tie',
      { preferredRegion: 'eu', relays: [relay('us-a', 46, 5), relay('eu-b', 46.05, 5)] },
      { id: 'eu-b', basis: 'distance', reason: 'best' },
    ],
    ['no usable relay gives no answer', { relays: [] }, { id: undefined, basis: undefined, reason: 'none' }],
  ])('%s', (_name, over, want) => {
    expect(pick(over)).toEqual(want);
  });

  it('names alternates and probe targets, and explores one more relay a small share of the time', () => {
    const many = [
      PARIS,
      FRANKFURT,
      NEWYORK,
      relay('ap-tokyo', 35.7, 139.7),
      relay('sa-saopaulo', -23.5, -46.6),
    ];
    const three = { ...DEFAULT_RANK, probeTargets: 3 };
    const plain = rankRelays(input({ relays: many }), never, three);
    expect(plain.alternates.map((r) => r.relay.id)).toEqual(['eu-frankfurt', 'us-newyork']);
    expect(plain.probeTargets.map((r) => r.id)).toEqual(['eu-paris', 'eu-frankfurt', 'us-newyork']);
    let n = 0;
    const explore = () => [0.01, 0.99][n++ % 2]!;
    const explored = rankRelays(input({ relays: many }), explore, three);
    expect(explored.probeTargets).toHaveLength(4);
    expect(['ap-tokyo', 'sa-saopaulo']).toContain(explored.probeTargets[3]!.id);
    expect(DEFAULT_RANK.exploreShare).toBeLessThan(0.1);
  });

  it('draws the explorer from the next relays only when told to', () => {
    const many = [
      PARIS,
      FRANKFURT,
      NEWYORK,
      relay('ap-tokyo', 35.7, 139.7),
      relay('sa-saopaulo', -23.5, -46.6),
    ];
    // From Lyon the rest after the picks is Sao Paulo, then Tokyo; 0.99 would pick the last.
    let n = 0;
    const last = () => [0.01, 0.99][n++ % 2]!;
    const three = { ...DEFAULT_RANK, probeTargets: 3 };
    const within = rankRelays(input({ relays: many }), last, { ...three, exploreWithin: 1 });
    expect(within.probeTargets.map((r) => r.id)).toEqual([
      'eu-paris',
      'eu-frankfurt',
      'us-newyork',
      'sa-saopaulo',
    ]);
    n = 0;
    const all = rankRelays(input({ relays: many }), last, three);
    expect(all.probeTargets[3]!.id).toBe('ap-tokyo');
  });

  const world = [
    PARIS,
    FRANKFURT,
    relay('eu-london', 51.5, -0.12),
    relay('eu-madrid', 40.4, -3.7),
    relay('eu-milan', 45.46, 9.19),
    relay('eu-zurich', 47.37, 8.54),
    relay('eu-vienna', 48.2, 16.37),
    NEWYORK,
    relay('ap-tokyo', 35.7, 139.7),
    relay('sa-saopaulo', -23.5, -46.6),
  ];

  it('prefers a probed relay to an unprobed one predicted a little better', () => {
    const plain = { ...DEFAULT_RANK, calibrateDistance: false };
    const probes = new Map([['eu-paris', 15]]);
    // Frankfurt from Lyon: about 10 ms by distance, unmeasured; Paris measured 15 ms.
    const preferred = rankRelays(input({ relays: [PARIS, FRANKFURT], probes }), never, plain);
    expect(preferred.chosen!.relay.id).toBe('eu-paris');
    const off = rankRelays(input({ relays: [PARIS, FRANKFURT], probes }), never, {
      ...plain,
      probedPreferenceMs: 0,
    });
    expect(off.chosen!.relay.id).toBe('eu-frankfurt');
    // Without probes the distance ranking stands as it was.
    expect(rankRelays(input({ relays: [PARIS, FRANKFURT] }), never, plain).chosen!.relay.id).toBe('eu-paris');
  });

  it(`probes ${DEFAULT_RANK.probeTargets} relays by default, best first`, () => {
    const r = rankRelays(input({ relays: world }), never);
    expect(r.probeTargets).toHaveLength(DEFAULT_RANK.probeTargets);
    expect(r.probeTargets[0]).toBe(r.chosen!.relay);
    expect(r.probeTargets.map((t) => t.id)).not.toContain('ap-tokyo');
  });

  it("keeps the prefix's best learned relays among the targets, however light or far", () => {
    // Tokyo once measured fastest for this prefix (weight far below trust): it stays a target.
    const learned = new Map([
      ['ap-tokyo', { rttMs: 5, weight: 0.2 }],
      ['sa-saopaulo', { rttMs: 400, weight: 0.2 }],
      ['us-newyork', { rttMs: 300, weight: 0.01 }],
    ]);
    const r = rankRelays(input({ relays: world, learned }), never);
    const ids = r.probeTargets.map((t) => t.id);
    expect(ids[1]).toBe('ap-tokyo');
    expect(ids[2]).toBe('sa-saopaulo');
    expect(ids).not.toContain('us-newyork');
    // Not trusted for the choice: the answer still rests on distance.
    expect(r.chosen!.basis).toBe('distance');
    const none = rankRelays(input({ relays: world, learned }), never, { ...DEFAULT_RANK, learnedTargets: 0 });
    expect(none.probeTargets.map((t) => t.id)).not.toContain('ap-tokyo');
  });

  it("adds the relays the client's area found closest to its best", () => {
    const areaLearned = new Map([
      ['sa-saopaulo', { rttMs: 0, weight: 3 }],
      ['ap-tokyo', { rttMs: 2, weight: 3 }],
      ['us-newyork', { rttMs: 1, weight: 0.01 }],
    ]);
    const r = rankRelays(input({ relays: world, areaLearned }), never, {
      ...DEFAULT_RANK,
      learnedTargets: 0,
    });
    const ids = r.probeTargets.map((t) => t.id);
    expect(ids.slice(1, 3)).toEqual(['sa-saopaulo', 'ap-tokyo']);
    expect(ids).not.toContain('us-newyork');
    // Targets only: the nearest relay is still the answer.
    expect(r.chosen!.relay.id).toBe('eu-zurich');
    const off = rankRelays(input({ relays: world, areaLearned }), never, { ...DEFAULT_RANK, areaTargets: 0 });
    expect(off.probeTargets.map((t) => t.id)).not.toContain('sa-saopaulo');
  });

  describe('the second probing round', () => {
    // Links the backbone measured (ms), both directions as relays publish them.
    const linkList = (pairs: [string, string, number][]) =>
      linkRtts(
        pairs.flatMap(([a, b, ms]) =>
          [
            [a, b],
            [b, a],
          ].map(([from, to]) => ({
            from: from!,
            to: to!,
            rttMs: ms,
            rttP50Ms: ms,
            rttP95Ms: ms,
            jitterMs: 0,
            lossRate: 0,
            samples: 10,
            updatedAt: 0,
          })),
        ),
      );
    const links = linkList([
      ['eu-paris', 'eu-london', 8],
      ['eu-paris', 'us-newyork', 75],
      ['eu-paris', 'ap-tokyo', 220],
      ['eu-paris', 'eu-madrid', 20],
      ['eu-frankfurt', 'eu-london', 15],
      ['eu-frankfurt', 'us-newyork', 85],
      ['eu-frankfurt', 'ap-tokyo', 230],
      ['eu-frankfurt', 'eu-madrid', 28],
    ]);
    const probes = new Map([
      ['eu-paris', 20],
      ['eu-frankfurt', 26],
    ]);
    const relays = [
      PARIS,
      FRANKFURT,
      relay('eu-london', 51.5, -0.12),
      relay('eu-madrid', 40.4, -3.7),
      NEWYORK,
      relay('ap-tokyo', 35.7, 139.7),
    ];

    it('bounds an unprobed relay by the triangle inequality over the probed ones', () => {
      // Paris 20 ms from the client and 75 ms from New York: New York is at least 55 ms away.
      expect(triangleBound('us-newyork', probes, links)).toBe(59);
      expect(triangleBound('eu-london', probes, links)).toBe(12);
      expect(triangleBound('nowhere', probes, links)).toBe(0);
      // A probe of the relay itself, or a lost probe, says nothing.
      expect(
        triangleBound(
          'eu-paris',
          new Map([
            ['eu-paris', 20],
            ['eu-london', -1],
          ]),
          links,
        ),
      ).toBe(0);
      // Dead links bound nothing.
      const dead = {
        from: 'a',
        to: 'b',
        rttMs: 5,
        rttP50Ms: 5,
        rttP95Ms: 5,
        jitterMs: 0,
        samples: 1,
        updatedAt: 0,
      };
      expect(linkRtts([{ ...dead, lossRate: 1 }]).size).toBe(0);
      expect(linkRtts([{ ...dead, lossRate: 0, rttMs: Number.NaN }]).size).toBe(0);
      expect(
        linkRtts([{ ...dead, lossRate: 0 }])
          .get('a')
          ?.get('b'),
      ).toBe(5);
    });

    it('names the relays the probes cannot rule out, and none before probing', () => {
      const r = rankRelays(input({ relays, probes, links }), never);
      // London (bound 12 ms) and Madrid (bound 2 ms) may beat Paris's 20 ms; New York and Tokyo cannot.
      expect(r.nextProbeTargets.map((t) => t.id).sort()).toEqual(['eu-london', 'eu-madrid']);
      expect(rankRelays(input({ relays, links }), never).nextProbeTargets).toEqual([]);
      // At most nextTargets, in the ranking's order.
      const one = rankRelays(input({ relays, probes, links }), never, { ...DEFAULT_RANK, nextTargets: 1 });
      expect(one.nextProbeTargets).toHaveLength(1);
      const off = rankRelays(input({ relays, probes, links }), never, { ...DEFAULT_RANK, nextTargets: 0 });
      expect(off.nextProbeTargets).toEqual([]);
      // Without links nothing is ruled out: the next unprobed relays by score.
      const blind = rankRelays(input({ relays, probes }), never, { ...DEFAULT_RANK, nextTargets: 3 });
      expect(blind.nextProbeTargets).toHaveLength(3);
      expect(blind.nextProbeTargets.map((t) => t.id)).not.toContain('eu-paris');
    });

    it('probes again the close probed relays when asked', () => {
      const close = new Map([
        ['eu-paris', 20],
        ['eu-frankfurt', 23],
      ]);
      const o = { ...DEFAULT_RANK, nextTargets: 0, repingTargets: 2, repingWithinMs: 5 };
      const r = rankRelays(input({ relays, probes: close, links }), never, o);
      expect(r.nextProbeTargets.map((t) => t.id)).toEqual(['eu-paris', 'eu-frankfurt']);
      // 6 ms apart: nothing to order again.
      expect(rankRelays(input({ relays, probes, links }), never, o).nextProbeTargets).toEqual([]);
    });
  });

  it('predicts distance-based RTT as fiber RTT times inflation', () => {
    const r = rankRelays(input({ relays: [NEWYORK] }), never).chosen!;
    const km = 6200; // Lyon to New York, roughly
    expect(r.predictedRttMs).toBeGreaterThan(fiberRttMs(km - 300) * 2.1);
    expect(r.predictedRttMs).toBeLessThan(fiberRttMs(km + 300) * 2.1);
  });
});

describe('learned latency', () => {
  it.each([
    ['203.0.113.77', '203.0.113.0/24'],
    ['::ffff:198.51.100.9', '198.51.100.0/24'],
    ['2001:db8:abcd:12:1::5', '2001:db8:abcd::/48'],
    ['not an ip', undefined],
  ])('puts %s in prefix %s', (ip, prefix) => {
    expect(networkPrefix(ip)).toBe(prefix);
  });

  it.each([
    ['198.51.100.9', '198.51.100.9'],
    ['::ffff:198.51.100.9', '198.51.100.9'],
    ['2001:db8:abcd:12:1::5', '2001:db8:abcd:12::/64'],
    ['2001:db8:abcd:12:ffff::7', '2001:db8:abcd:12::/64'],
    ['nonsense', undefined],
  ])('counts %s as source %s', (ip, source) => {
    expect(sourceOf(ip)).toBe(source);
  });

  it('counts a request once per relay: the median of what it repeats', () => {
    const probes = [
      ...Array.from({ length: 64 }, () => ({ relay: 'ap-tokyo', rttMs: 1 })),
      { relay: 'eu-paris', rttMs: 30 },
      { relay: 'eu-paris', rttMs: 10 },
      { relay: 'eu-paris', rttMs: 20 },
      { relay: 'us-newyork', rttMs: -1 },
    ];
    expect(onePerRelay(probes)).toEqual(
      new Map([
        ['ap-tokyo', 1],
        ['eu-paris', 20],
      ]),
    );
  });

  it('counts one sample per source: a repeated source replaces its own', () => {
    let e = learn(undefined, 100, 0, DEFAULT_LEARN, 'a');
    for (let k = 1; k <= 50; k++) e = learn(e, 1, k * 60_000, DEFAULT_LEARN, 'liar');
    expect(e.samples).toHaveLength(2);
    expect(decayedWeight(e, 50 * 60_000)).toBeLessThanOrEqual(2);
    // A burst of new sources within a minute adds at most maxPerSlot samples.
    let b = learn(undefined, 10, 0, DEFAULT_LEARN, 'h');
    for (let k = 0; k < 40; k++) b = learn(b, 1, 120_000, DEFAULT_LEARN, `s${k}`);
    expect(b.samples).toHaveLength(1 + DEFAULT_LEARN.maxPerSlot);
  });

  it('takes the middle of the window and lets old samples fade', () => {
    const DAY = 24 * 3_600_000;
    let e = learn(undefined, 100, 0);
    e = learn(e, 50, 0);
    expect(e.rttMs).toBe(75);
    expect(decayedWeight(e, DAY)).toBeCloseTo(1, 5);
    // A third sample: the median; past four, the interquartile mean.
    e = learn(e, 20, DAY);
    expect(e.rttMs).toBe(50);
    for (const [k, ms] of [60, 70, 80, 90, 5000].entries()) e = learn(e, ms, DAY + (k + 1) * 60_000);
    // 20 50 | 60 70 80 90 | 100 5000: a quarter cut at each end.
    expect(e.rttMs).toBe(75);
    // A week on, the window is empty of weight.
    expect(decayedWeight(e, 9 * DAY)).toBe(0);
  });

  it('decays a window as the sum of its samples, whatever the clock does', () => {
    const HOUR = 3_600_000;
    // The definition: each sample of the window not older than maxAgeMs, decayed by its age
    // (a sample from the future counts fully), at most maxWeight.
    const reference = (e: LearnedRtt, now: number, o: LearnOptions) => {
      let w = 0;
      for (const s of e.samples!)
        if (now - s.at <= o.maxAgeMs) w += 0.5 ** (Math.max(0, now - s.at) / o.halfLifeMs);
      return Math.min(o.maxWeight, w);
    };
    const near = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b));
    // A sample newer than the entry's last update (another edge's clock ahead) counts fully.
    const skewed = learn(learn(undefined, 10, 10 * HOUR), 20, 0);
    expect(decayedWeight(skewed, HOUR)).toBeCloseTo(1 + 0.5 ** (1 / 24), 12);
    // A sample that has aged out of the window since the last update no longer counts.
    const aged = learn(learn(undefined, 10, 0), 20, 6 * 24 * HOUR);
    expect(decayedWeight(aged, 7.5 * 24 * HOUR)).toBeCloseTo(0.5 ** 1.5, 12);
    // A weight stored at the cap is not decayed from the cap.
    const capped: LearnOptions = { ...DEFAULT_LEARN, maxWeight: 2 };
    let full = learn(undefined, 10, 0, capped);
    for (let k = 0; k < 2; k++) full = learn(full, 10, 0, capped);
    expect(full.weight).toBe(2);
    expect(decayedWeight(full, 12 * HOUR, capped)).toBe(2);
    expect(decayedWeight(full, 24 * HOUR, capped)).toBeCloseTo(1.5, 12);
    // And at random: clocks that step back, gaps past the window's age, sources, bursts, a cap.
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let run = 0; run < 200; run++) {
      const o = run % 2 ? DEFAULT_LEARN : { ...DEFAULT_LEARN, maxWeight: 4, maxSamples: 8 };
      let e: LearnedRtt | undefined;
      let t = 0;
      for (let k = 0; k < 40; k++) {
        const r = rnd();
        t += r < 0.2 ? -rnd() * HOUR : r < 0.3 ? rnd() * 8 * 24 * HOUR : r < 0.4 ? 0 : rnd() * 12 * HOUR;
        e = learn(e, rnd() * 300, t, o, rnd() < 0.5 ? undefined : `s${Math.floor(rnd() * 10)}`);
        expect(near(e.weight, reference(e, t, o))).toBe(true);
        for (const later of [0, rnd() * 24 * HOUR, rnd() * 9 * 24 * HOUR, -rnd() * HOUR])
          expect(near(decayedWeight(e, t + later, o), reference(e, t + later, o))).toBe(true);
      }
    }
  });

  it('learns path inflation from far measurements only, and clamps it', () => {
    expect(inflationFactor(INITIAL_INFLATION)).toBeCloseTo(2.1, 5);
    let i = INITIAL_INFLATION;
    for (let k = 0; k < 200; k++) i = learnInflation(i, 30, 1000); // 3x over 1,000 km
    expect(inflationFactor(i)).toBeGreaterThan(2.9);
    expect(learnInflation(i, 500, 100)).toEqual(i); // too close to say anything
    expect(inflationFactor({ logMean: 5, weight: 1 })).toBe(10);
  });

  it.each<[string, { rttMs: number; km: number }[], InflationEvidence | undefined]>([
    [
      'the farthest minus the nearest probe',
      [
        { rttMs: 25, km: 500 },
        { rttMs: 85, km: 3000 },
        { rttMs: 40, km: 1200 },
      ],
      { rttMs: 60, km: 2500, accessMs: 13 },
    ],
    ['nothing from one probe', [{ rttMs: 85, km: 3000 }], undefined],
    [
      'nothing from probes under 1,000 km apart',
      [
        { rttMs: 25, km: 500 },
        { rttMs: 45, km: 1400 },
      ],
      undefined,
    ],
    [
      'nothing when the farther one answered faster',
      [
        { rttMs: 90, km: 500 },
        { rttMs: 45, km: 4000 },
      ],
      undefined,
    ],
    [
      'nothing from values that are not numbers',
      [
        { rttMs: Number.NaN, km: 500 },
        { rttMs: 45, km: Number.POSITIVE_INFINITY },
      ],
      undefined,
    ],
  ])('takes inflation evidence with the access delay out: %s', (_name, probes, want) => {
    expect(inflationEvidence(probes)).toEqual(want);
  });

  it('reads back stored learned state, and treats anything else as none', () => {
    const e = { rttMs: 12, weight: 3, updatedAt: 5 };
    expect(storedLearnedRtt(e)).toBe(e);
    for (const bad of [undefined, null, 'x', {}, { ...e, rttMs: 'fast' }, { ...e, weight: Number.NaN }])
      expect(storedLearnedRtt(bad)).toBeUndefined();
    const i = { logMean: 1, weight: 4, accessMs: 20, accessWeight: 4 };
    expect(storedInflation(i)).toBe(i);
    for (const bad of [undefined, null, 7, { logMean: 1 }, { logMean: null, weight: 1 }])
      expect(storedInflation(bad)).toBe(INITIAL_INFLATION);
  });

  it('learns the typical access delay from the same evidence, and predicts with it', () => {
    const e = inflationEvidence([
      { rttMs: 40 + 2 * 6, km: 600 },
      { rttMs: 40 + 2 * 40, km: 4000 },
    ])!;
    expect(e).toEqual({ rttMs: 68, km: 3400, accessMs: 40 });
    let m = INITIAL_INFLATION;
    for (let k = 0; k < 50; k++) m = learnPathModel(m, e);
    expect(pathModelOf(m).inflation).toBeCloseTo(2, 2);
    expect(pathModelOf(m).accessMs).toBeCloseTo(40, 5);
    expect(pathModelOf(INITIAL_INFLATION).accessMs).toBe(0);
    // Distance predictions carry it; a client quicker than typical is still never under fiber.
    const base = input({ inflation: 2, accessMs: 40 });
    const plain = rankRelays(base, never).chosen!;
    expect(plain.basis).toBe('distance');
    const km = greatCircleKm(CLIENT_IN_LYON.lat, CLIENT_IN_LYON.lon, plain.relay.lat, plain.relay.lon);
    expect(plain.predictedRttMs).toBeCloseTo(fiberRttMs(km) * 2 + 40, 5);
    const fast = input({ inflation: 2, accessMs: 40, probes: new Map([['us-newyork', 0]]) });
    expect(distanceOffset(fast.relays, fast, DEFAULT_RANK)).toBe(-40);
  });

  it('learns the true inflation whatever the access delay, where single probes would not', () => {
    // Clients with 40 ms of access delay and paths 2x the fiber bound, probing relays 600 and 4,000 km away.
    const measured = (km: number) => 40 + 2 * (km / 100);
    let fromSpans = INITIAL_INFLATION;
    let fromSingles = INITIAL_INFLATION;
    for (let k = 0; k < 300; k++) {
      const probes = [600, 4000].map((km) => ({ km, rttMs: measured(km) }));
      const e = inflationEvidence(probes)!;
      fromSpans = learnInflation(fromSpans, e.rttMs, e.km);
      for (const p of probes) fromSingles = learnInflation(fromSingles, p.rttMs, p.km);
    }
    expect(inflationFactor(fromSpans)).toBeCloseTo(2, 1);
    expect(inflationFactor(fromSingles)).toBeGreaterThan(3);
  });
});

describe('distance predictions calibrated to the client', () => {
  // From Lyon at 2.1x: Paris ~8 ms, Frankfurt ~11 ms by distance. The client's access adds ~17 ms.
  const estimate = (r: RelayRecord) =>
    fiberRttMs(greatCircleKm(CLIENT_IN_LYON.lat, CLIENT_IN_LYON.lon, r.lat, r.lon)) * 2.1;
  const probedParis = new Map([['eu-paris', 25]]);

  it('does not pass over a probed relay for an unprobed one that only looks closer', () => {
    const r = rankRelays(input({ relays: [PARIS, FRANKFURT], probes: probedParis }), never);
    expect(r.chosen?.relay.id).toBe('eu-paris');
    const frankfurt = r.alternates[0]!;
    expect(frankfurt.basis).toBe('distance');
    // Its distance estimate plus the client's offset.
    expect(frankfurt.predictedRttMs).toBeCloseTo(estimate(FRANKFURT) + 25 - estimate(PARIS), 9);
  });

  it('ranks as before with calibrateDistance off', () => {
    const r = rankRelays(input({ relays: [PARIS, FRANKFURT], probes: probedParis }), never, {
      ...DEFAULT_RANK,
      calibrateDistance: false,
    });
    expect(r.chosen?.relay.id).toBe('eu-frankfurt');
  });

  it('still moves to an unprobed relay that is clearly better', () => {
    const r = rankRelays(input({ relays: [PARIS, NEWYORK], probes: new Map([['us-newyork', 300]]) }), never);
    expect(r.chosen?.relay.id).toBe('eu-paris');
  });

  it.each<[string, Partial<RankInput>, number]>([
    ['no measurements', {}, 0],
    ['no location', { location: undefined, probes: probedParis }, 0],
    ['measurements below the distance estimate', { probes: new Map([['eu-paris', 2]]) }, 0],
    [
      'the median over probes and trusted learned RTTs (untrusted ones left out)',
      {
        probes: new Map([['eu-paris', estimate(PARIS) + 10]]),
        learned: new Map([
          ['eu-frankfurt', { rttMs: estimate(FRANKFURT) + 20, weight: 5 }],
          ['us-newyork', { rttMs: estimate(NEWYORK) + 500, weight: 5 }],
          ['eu-paris', { rttMs: 1000, weight: 0.1 }],
        ]),
      },
      20,
    ],
  ])('offset with %s', (_name, over, want) => {
    const i = input(over);
    expect(distanceOffset(i.relays, i, DEFAULT_RANK)).toBeCloseTo(want, 9);
  });
});
