import { describe, expect, it } from 'vitest';
import { type CostParams, DEFAULT_COST, type LinkStats, linkCost } from '../../src/routing/link-cost.ts';

const INF = Number.POSITIVE_INFINITY;
const base: LinkStats = { rttMs: 40, jitterMs: 2, lossRate: 0.01, ageMs: 500 };
const tweak = (over: Partial<LinkStats>): LinkStats => ({ ...base, ...over });

describe('linkCost', () => {
  it('adds half the RTT, twice the jitter, 30 ms per % of loss, the queueing term and 1 ms per hop', () => {
    // 40/2 + 2*5 + 30*1 + 2*0.5/0.5 + 1
    expect(linkCost({ rttMs: 40, jitterMs: 5, lossRate: 0.01 }, 0.5)).toBeCloseTo(63, 9);
  });

  it('costs only half the RTT plus the hop cost on a clean link into an idle relay', () => {
    expect(linkCost({ rttMs: 30, jitterMs: 0, lossRate: 0 }, 0)).toBe(15 + DEFAULT_COST.hopMs);
  });

  it.each<[string, (x: number) => [LinkStats, number], number[]]>([
    ['RTT', (x) => [tweak({ rttMs: x }), 0.3], [0, 1, 10, 50, 200, 800]],
    ['jitter', (x) => [tweak({ jitterMs: x }), 0.3], [0, 0.5, 2, 10, 40]],
    ['loss', (x) => [tweak({ lossRate: x }), 0.3], [0, 0.001, 0.01, 0.1, 0.3, 0.49]],
    ['load', (x) => [base, x], [0, 0.1, 0.5, 0.8, 0.9, 0.95, 0.98]],
  ])('grows strictly with %s', (_name, make, xs) => {
    const costs = xs.map((x) => linkCost(...make(x)));
    for (let i = 1; i < costs.length; i++) expect(costs[i]).toBeGreaterThan(costs[i - 1]!);
  });

  it.each<[string, (x: number) => [LinkStats, number], number[]]>([
    ['loss, up to and past the broken mark', (x) => [tweak({ lossRate: x }), 0], [0, 0.2, 0.49, 0.5, 1]],
    ['age, up to and past the stale mark', (x) => [tweak({ ageMs: x }), 0], [0, 5_000, 10_000, 10_001]],
    ['load, up to and past capacity', (x) => [base, x], [0.9, 0.99, 1, 3]],
    ['negative inputs, which count as zero', (x) => [tweak({ jitterMs: x, lossRate: x }), x], [-5, -1, 0]],
  ])('never decreases with %s', (_name, make, xs) => {
    const costs = xs.map((x) => linkCost(...make(x)));
    for (let i = 1; i < costs.length; i++) expect(costs[i]).toBeGreaterThanOrEqual(costs[i - 1]!);
  });

  it('grows steeply as the relay the link enters nears capacity (M/M/1 shape)', () => {
    const penalty = (u: number) => linkCost(base, u) - linkCost(base, 0);
    expect(penalty(0.5)).toBeCloseTo(2, 9);
    expect(penalty(0.9)).toBeCloseTo(18, 9);
    expect(penalty(0.9)).toBeGreaterThan(5 * penalty(0.5));
  });

  it.each([
    ['a full relay', 1],
    ['an overloaded relay', 4],
    ['an unknown load', Number.NaN],
  ])('caps the load penalty for %s, so the link stays usable as a last resort', (_name, load) => {
    expect(linkCost(base, load)).toBe(linkCost(base, DEFAULT_COST.maxLoad));
    expect(Number.isFinite(linkCost(base, load))).toBe(true);
  });

  it.each<[string, LinkStats]>([
    ['all probes lost', tweak({ lossRate: 1 })],
    ['loss at the broken mark', tweak({ lossRate: DEFAULT_COST.brokenLoss })],
    ['a stale measurement', tweak({ ageMs: DEFAULT_COST.maxAgeMs + 1 })],
    ['an age that is not a number', tweak({ ageMs: Number.NaN })],
    ['no RTT', tweak({ rttMs: Number.NaN })],
    ['an infinite RTT', tweak({ rttMs: INF })],
    ['a negative RTT', tweak({ rttMs: -1 })],
    ['no jitter estimate', tweak({ jitterMs: Number.NaN })],
    ['no loss estimate', tweak({ lossRate: Number.NaN })],
  ])('is infinite for a link with %s', (_name, link) => {
    expect(linkCost(link, 0)).toBe(INF);
  });

  it.each<[string, LinkStats]>([
    ['loss just under the broken mark', tweak({ lossRate: 0.49 })],
    ['a measurement exactly at the maximum age', tweak({ ageMs: DEFAULT_COST.maxAgeMs })],
    ['no age given', { rttMs: 40, jitterMs: 2, lossRate: 0.01 }],
  ])('is finite for a link with %s', (_name, link) => {
    expect(Number.isFinite(linkCost(link, 0))).toBe(true);
  });

  it('takes its weights and thresholds from the given parameters', () => {
    const p: CostParams = { ...DEFAULT_COST, jitterFactor: 3, lossMsPerPercent: 10, hopMs: 0, maxAgeMs: 100 };
    expect(linkCost({ rttMs: 10, jitterMs: 1, lossRate: 0.02 }, 0, p)).toBeCloseTo(5 + 3 + 20, 9);
    expect(linkCost(tweak({ ageMs: 101 }), 0, p)).toBe(INF);
  });

  it('charges only the loss above a deadband when one is given, and none by default', () => {
    const lossy: LinkStats = { rttMs: 40, jitterMs: 0, lossRate: 0.03 };
    expect(linkCost(lossy, 0)).toBeCloseTo(20 + 90 + 1, 9);
    expect(linkCost(lossy, 0, { ...DEFAULT_COST, lossDeadband: 0.02 })).toBeCloseTo(20 + 30 + 1, 9);
    expect(linkCost({ ...lossy, lossRate: 0.01 }, 0, { ...DEFAULT_COST, lossDeadband: 0.02 })).toBe(21);
  });

  it('lets a 1 % loss weigh as much as 30 ms of extra one-way delay', () => {
    const lossy = linkCost({ rttMs: 40, jitterMs: 0, lossRate: 0.01 }, 0);
    const slow = linkCost({ rttMs: 100, jitterMs: 0, lossRate: 0 }, 0);
    expect(lossy).toBeCloseTo(slow, 9);
  });
});
