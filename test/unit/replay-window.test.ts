import { describe, expect, it } from 'vitest';
import { ReplayWindow } from '../../src/backbone/replay-window.ts';

/** check then commit, as the core does; returns the verdict. */
const take = (w: ReplayWindow, seq: number) => {
  const v = w.check(seq);
  if (v === 'ok') w.commit(seq);
  return v;
};

describe('ReplayWindow', () => {
  it('accepts each seq once, in order or out of order within the window', () => {
    const w = new ReplayWindow(64);
    expect([5, 7, 6, 5, 7, 1, 1].map((s) => take(w, s))).toEqual([
      'ok',
      'ok',
      'ok',
      'ERR_REPLAYED',
      'ERR_REPLAYED',
      'ok',
      'ERR_REPLAYED',
    ]);
  });

  it('refuses what is a whole window behind the highest seq, and forgets slots the window passed', () => {
    const w = new ReplayWindow(64);
    take(w, 100);
    expect(w.check(37)).toBe('ok'); // 63 behind: still inside
    expect(w.check(36)).toBe('ERR_TOO_OLD');
    take(w, 90);
    take(w, 154); // 90 is now 64 behind
    expect(w.check(90)).toBe('ERR_TOO_OLD');
    expect(take(w, 150)).toBe('ok');
    expect(take(w, 1000)).toBe('ok'); // a jump past the window clears it
    expect(take(w, 999)).toBe('ok');
    expect(take(w, 154)).toBe('ERR_TOO_OLD');
  });

  it('counts on past 2^32 with 48-bit seqs, and never wraps to the start', () => {
    const w = new ReplayWindow(32);
    expect(take(w, 0xffff_fffe)).toBe('ok');
    expect(take(w, 0xffff_ffff)).toBe('ok');
    expect(take(w, 2 ** 32)).toBe('ok');
    expect(take(w, 2 ** 32 + 3)).toBe('ok');
    expect(take(w, 0xffff_ffff)).toBe('ERR_REPLAYED');
    expect(take(w, 0xffff_fffd)).toBe('ok');
    // Version 2's 32-bit counter wrapped here; a 48-bit one is far behind, not ahead.
    expect(take(w, 0)).toBe('ERR_TOO_OLD');
    expect(take(w, 2 ** 48 - 1)).toBe('ok');
    expect(take(w, 2 ** 48 - 2)).toBe('ok');
    expect(take(w, 2 ** 48 - 1)).toBe('ERR_REPLAYED');
  });

  it('clears the slots it moves over, so a new seq is not mistaken for the one a window earlier', () => {
    const w = new ReplayWindow(32);
    for (const s of [1, 30, 34]) take(w, s);
    expect(take(w, 33)).toBe('ok'); // slot 1, where seq 1 was
    expect(take(w, 33)).toBe('ERR_REPLAYED');
  });

  it('does not move until a frame is committed', () => {
    const w = new ReplayWindow(32);
    take(w, 10);
    expect(w.check(500)).toBe('ok'); // checked, never committed (say, its tag failed)
    expect(take(w, 11)).toBe('ok');
  });

  it('needs a power of two from 32', () => {
    for (const size of [0, 16, 48, 100, 2 ** 32]) expect(() => new ReplayWindow(size)).toThrow(RangeError);
    expect(() => new ReplayWindow(4096)).not.toThrow();
  });
});
