/**
 * The soak run's verdict (src/soak/verdict.ts, src/soak/report.ts) and its command line
 * (src/soak/args.ts): a leak is told from a sawtooth and from a restart, loss inside a kill window
 * does not count, and bad flags give one clear line.
 */
import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/sim/random.ts';
import { parseSoakArgs } from '../../src/soak/args.ts';
import { judgeSoak, soakSvg } from '../../src/soak/report.ts';
import { fixedEffectsSlope, lossVerdict, type Sample, secondHalfGrowth } from '../../src/soak/verdict.ts';

const MiB = 1024 * 1024;
const RULE = { absolute: 8, relative: 0 };

/** Samples every `step` s over `duration` s from `f(t)`, all from one pid unless `pidAt` says. */
function series(
  duration: number,
  step: number,
  f: (t: number) => number,
  pidAt = (_t: number) => 1,
): Sample[] {
  const out: Sample[] = [];
  for (let t = step; t <= duration; t += step) out.push({ t, pid: pidAt(t), v: f(t) });
  return out;
}

describe('soak verdict: growth over the second half', () => {
  it('fails a count that climbs steadily, and says by how much', () => {
    // One leaked descriptor every 2 s: 15 across the last 30 s of a minute.
    const r = secondHalfGrowth(
      series(60, 2, (t) => 40 + Math.floor(t / 2)),
      60,
      RULE,
    );
    expect(r.ok).toBe(false);
    expect(r.growth).toBeCloseTo(15, 0);
    expect(r.perHour).toBeCloseTo(1800, -1);
  });

  it('passes a count that churns up and down around a level', () => {
    const rng = createRng(3);
    const r = secondHalfGrowth(
      series(60, 2, () => 40 + rng.int(9) - 4),
      60,
      RULE,
    );
    expect(r.ok).toBe(true);
  });

  it('passes growth below the tolerance even when it is clearly there', () => {
    const r = secondHalfGrowth(
      series(600, 5, (t) => 100 * MiB + t * 1000),
      600,
      { absolute: 16 * MiB, relative: 0.1 },
    );
    expect(r.tStat).toBeGreaterThan(3);
    expect(r.ok).toBe(true);
  });

  const RSS = { absolute: 16 * MiB, relative: 0.1, minLifeS: 300 };

  it('reports resident memory of a life too young to judge as not judged, neither failed nor passed', () => {
    // 20 MiB in the last 30 s of a one-minute run: V8 sizing its heap, not judged.
    const short = secondHalfGrowth(
      series(60, 2, (t) => 90 * MiB + (t * 20 * MiB) / 30),
      60,
      RSS,
    );
    expect(short).toMatchObject({ ok: true, judged: false });
    expect(short.note).toMatch(/not judged: its one life is under 300 s/);
    expect(short.lives).toHaveLength(1);
    expect(short.lives![0]).toMatchObject({ judged: false, from: 30, to: 60 });
    expect(short.lives![0]!.note).toMatch(/30 s in the window, under 300 s: too young to judge/);
    // The same pace kept up over the second half of 20 minutes by one process is a leak.
    const long = secondHalfGrowth(
      series(1200, 5, (t) => 90 * MiB + t * 50_000),
      1200,
      RSS,
    );
    expect(long).toMatchObject({ ok: false, judged: true });
    expect(long.growth).toBeCloseTo(600 * 50_000, -3);
  });

  it('judges each life of resident memory on its own span: a relay restarted in the window', () => {
    // Relay up for the whole run, flat; SIGKILLed at 1500 s, its new life climbs fast as it warms.
    const pidAt = (t: number) => (t < 1500 ? 1 : 2);
    const samples = series(1800, 5, (t) => (t < 1500 ? 110 * MiB : 80 * MiB + (t - 1500) * 150_000), pidAt);
    const r = secondHalfGrowth(samples, 1800, RSS);
    expect(r).toMatchObject({
      ok: true,
      judged: true,
      note: '1 of 2 lives judged; 1 under 300 s in the window',
    });
    expect(r.lives!.map((l) => [l.pid, l.judged, l.ok])).toEqual([
      [1, true, true],
      [2, false, true],
    ]);
    expect(r.lives![0]).toMatchObject({ from: 900, to: 1495 });
    expect(r.lives![1]!.note).toMatch(/too young to judge/);
    // The old life leaking 2 MiB a minute fails, however young and calm the new one is.
    const leaking = series(1800, 5, (t) => (t < 1500 ? 110 * MiB + (t * 2 * MiB) / 60 : 80 * MiB), pidAt);
    const bad = secondHalfGrowth(leaking, 1800, RSS);
    expect(bad).toMatchObject({ ok: false, judged: true });
    expect(bad.growth).toBeCloseTo((595 * 2 * MiB) / 60, -4);
    expect(bad.lives!.map((l) => l.ok)).toEqual([false, true]);
  });

  it('does not carry the warm-up of lives restarted every few minutes across the whole window', () => {
    // A process restarted every 400 s that rises 2 MiB a minute in each life and starts over:
    // each life grows about 13 MiB, under its tolerance, and its last life ends where the first did.
    const pidAt = (t: number) => Math.floor(t / 400);
    const samples = series(1800, 5, (t) => 80 * MiB + ((t % 400) * 2 * MiB) / 60, pidAt);
    const r = secondHalfGrowth(samples, 1800, RSS);
    expect(r).toMatchObject({ ok: true, judged: true });
    expect(r.lives!.map((l) => l.judged)).toEqual([false, true, false]);
    expect(r.growth).toBeLessThan(16 * MiB);
    // A common slope carried across the 900 s window (the verdict before per-life judging) failed it.
    const common = secondHalfGrowth(samples, 1800, { absolute: 16 * MiB, relative: 0.1 });
    expect(common.ok).toBe(false);
  });

  it('does not take a restart for shrinking nor its warm-up for a leak; growth within each life counts', () => {
    // A process restarted at 40 s: lower after the restart, flat within each life.
    const flat = series(
      60,
      1,
      (t) => (t < 40 ? 60 : 30),
      (t) => (t < 40 ? 1 : 2),
    );
    expect(fixedEffectsSlope(flat.filter((s) => s.t >= 30)).slope).toBeCloseTo(0, 6);
    expect(secondHalfGrowth(flat, 60, RULE).ok).toBe(true);
    // Each life leaks one per second: the common slope sees it although the level dropped.
    const leaking = series(
      60,
      1,
      (t) => (t < 40 ? 60 + t : t - 40),
      (t) => (t < 40 ? 1 : 2),
    );
    const r = secondHalfGrowth(leaking, 60, RULE, 0);
    expect(r.growth).toBeCloseTo(30, 6);
    expect(r.ok).toBe(false);
    // Samples in a life's first seconds are left out: a fresh process filling up is no leak.
    const warming = series(
      60,
      1,
      (t) => (t < 40 ? 60 : Math.min(60, (t - 40) * 10)),
      (t) => (t < 40 ? 1 : 2),
    );
    expect(secondHalfGrowth(warming, 60, RULE, 10).ok).toBe(true);
  });

  it('gives no verdict on too few samples', () => {
    const r = secondHalfGrowth(
      series(60, 20, (t) => t),
      60,
      RULE,
    );
    expect(r).toMatchObject({ ok: true, judged: false, note: 'too few samples' });
  });
});

describe('soak verdict: steady-call loss', () => {
  it('counts loss only outside the excluded windows, against the bound', () => {
    const intervals = [
      { t: 2, sent: 1000, lost: 1, excluded: false },
      { t: 4, sent: 300, lost: 300, excluded: true },
      { t: 6, sent: 1000, lost: 2, excluded: false },
    ];
    const r = lossVerdict(intervals, 0.005);
    expect(r).toMatchObject({ sent: 2000, lost: 3, excludedSent: 300, excludedLost: 300, ok: true });
    expect(r.share).toBeCloseTo(0.0015, 6);
    expect(lossVerdict([{ t: 2, sent: 1000, lost: 6, excluded: false }], 0.005).ok).toBe(false);
  });

  it('fails a call that sent nothing outside its windows', () => {
    expect(lossVerdict([{ t: 2, sent: 10, lost: 10, excluded: true }], 0.005).ok).toBe(false);
  });

  it('judges every series and call and draws them on one page', () => {
    const leak = { process: 'relay A', metric: 'fds' as const, samples: series(60, 2, (t) => 40 + t) };
    const calm = { process: 'relay B', metric: 'fds' as const, samples: series(60, 2, () => 40) };
    const calls = [{ name: 'A-B #1', intervals: [{ t: 2, sent: 100, lost: 0, excluded: false }] }];
    const v = judgeSoak([leak, calm], calls, 60);
    expect(v.growth.map((g) => [g.process, g.ok])).toEqual([
      ['relay A', false],
      ['relay B', true],
    ]);
    expect(v.ok).toBe(false);
    expect(judgeSoak([calm], calls, 60).ok).toBe(true);
    const svg = soakSvg([leak, calm], calls, [{ t: 9, what: 'relay C SIGKILLed' }], 60);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('relay C SIGKILLed');
    expect(svg.match(/<svg /g)).toHaveLength(7);
  });
});

describe('soak command line', () => {
  it('reads minutes, seed and out, in both flag forms', () => {
    expect(parseSoakArgs(['--minutes', '2'])).toEqual({
      ok: true,
      help: false,
      value: { minutes: 2, seed: 1, out: 'soak-report' },
    });
    expect(parseSoakArgs(['--minutes=0.5', '--seed=7', '--out', 'r'])).toMatchObject({
      value: { minutes: 0.5, seed: 7, out: 'r' },
    });
    expect(parseSoakArgs(['--help'])).toEqual({ ok: true, help: true });
  });

  it.each([
    [[], '--minutes is required (try --minutes 2)'],
    [['--minutes'], '--minutes needs a value'],
    [['--minutes', '0.1'], "--minutes must be a number from 0.5 to 1440, got '0.1'"],
    [['--minutes', 'ten'], "--minutes must be a number from 0.5 to 1440, got 'ten'"],
    [['--minutes', '1', '--seed', '1.5'], "--seed must be an integer from 0 to 4294967295, got '1.5'"],
    [['--minutes', '1', '--hours', '2'], 'unknown option --hours'],
    [['--minutes', '1', 'extra'], "unexpected argument 'extra'"],
    [['--out', '--minutes', '1'], '--out needs a value'],
  ])('refuses %j with one line', (argv, error) => {
    expect(parseSoakArgs(argv)).toEqual({ ok: false, error });
  });
});
