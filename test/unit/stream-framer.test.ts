import { describe, expect, it } from 'vitest';
import { encodeChannelData } from '../../src/stun/channel-data.ts';
import { MessageClass, Method } from '../../src/stun/constants.ts';
import { encodeMessage } from '../../src/stun/message.ts';
import { StreamFramer } from '../../src/stun/stream-framer.ts';

/** A deterministic PRNG (mulberry32) so a failing split can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A STUN indication of `total` bytes (header included), the body filled with a pattern. */
function stunOfSize(total: number, fill = 0x5a): Uint8Array {
  const data = new Uint8Array(total - 20 - 4).fill(fill);
  return encodeMessage(Method.Send, MessageClass.Indication, new Uint8Array(12).fill(1), [[0x0013, data]]);
}

function splitAt(bytes: Uint8Array, sizes: () => number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let pos = 0; pos < bytes.length; ) {
    const n = Math.max(1, Math.min(bytes.length - pos, sizes()));
    parts.push(bytes.slice(pos, pos + n));
    pos += n;
  }
  return parts;
}

/**
 * Least wall time of `runs` calls to `fn`, ms: the run that nothing else on the machine preempted
 * (a median still moved by 2x under a load average of 15, and this compares work, not latency).
 */
function leastMs(runs: number, fn: () => void): number {
  let least = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    least = Math.min(least, performance.now() - t0);
  }
  return least;
}

function feed(chunks: readonly Uint8Array[], framer = new StreamFramer()): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const c of chunks) for (const f of framer.push(c)) out.push(f.bytes.slice());
  return out;
}

describe('stream framer cost', () => {
  it('costs the same for one 64 KB frame as for 64 frames of 1 KB when both arrive in 4-byte writes', () => {
    // Same bytes, same number of reads. A framer that copies what it holds on every read does work
    // quadratic in the frame size, so the one large frame costs several times more; a linear one, ~1x.
    const large = splitAt(stunOfSize(65_532), () => 4);
    const kb = stunOfSize(1_024);
    const many = splitAt(
      new Uint8Array(64 * kb.length).map((_, i) => kb[i % kb.length]!),
      () => 4,
    );
    feed(many); // warm up
    const manyMs = leastMs(7, () => feed(many));
    const largeMs = leastMs(7, () => feed(large));
    // Linear: 0.6-0.9x here; a framer that copies what it holds on every push: about 8x.
    expect(largeMs / Math.max(manyMs, 0.05)).toBeLessThan(3);
  });

  it('holds no more than one frame, whatever the chunking', () => {
    const frame = stunOfSize(4_000);
    const f = new StreamFramer();
    let peak = 0;
    for (const c of splitAt(new Uint8Array([...frame, ...frame]), () => 3)) {
      f.push(c);
      peak = Math.max(peak, f.buffered);
    }
    expect(peak).toBeLessThanOrEqual(frame.length);
    expect(f.buffered).toBe(0);
  });
});

describe('stream framer chunking', () => {
  const chan = (n: number, len: number) => encodeChannelData(0x4000 + n, new Uint8Array(len).fill(n), true);
  const stream = new Uint8Array([
    ...stunOfSize(100),
    ...chan(1, 0),
    ...chan(2, 1),
    ...stunOfSize(1_500, 3),
    ...chan(3, 7),
    ...chan(4, 1_200),
    ...stunOfSize(28),
  ]);
  const whole = feed([stream]);

  it('finds the same frames for every seeded random split as in one read', () => {
    expect(whole.map((b) => b.length)).toEqual([100, 4, 5, 1_500, 11, 1_204, 28]);
    for (let seed = 1; seed <= 100; seed++) {
      const r = rng(seed);
      const max = 1 + Math.floor(r() * 64);
      expect(feed(splitAt(stream, () => 1 + Math.floor(r() * max))), `seed ${seed}`).toEqual(whole);
    }
  });

  it('returns frames that stay intact after later pushes reuse no buffer of theirs', () => {
    const f = new StreamFramer();
    const frames = [];
    for (const c of splitAt(stream, () => 5)) frames.push(...f.push(c));
    expect(frames.map((x) => x.bytes.slice())).toEqual(whole);
  });
});

describe('stream framer limits', () => {
  it('refuses a frame past the limit from its header, before buffering its body', () => {
    const f = new StreamFramer(2_048);
    const big = stunOfSize(4_000);
    expect(f.push(big.subarray(0, 4))).toEqual([]);
    expect(f.error).toBe('ERR_FRAME_TOO_LARGE');
    expect(f.buffered).toBe(0);
  });

  it('applies a lowered limit to the frames that follow (pre-authentication reads)', () => {
    const f = new StreamFramer();
    f.limit = 512;
    expect(f.push(stunOfSize(500))).toHaveLength(1);
    expect(f.push(stunOfSize(600))).toEqual([]);
    expect(f.error).toBe('ERR_FRAME_TOO_LARGE');
  });

  it('accepts a large frame once the limit is raised again', () => {
    const f = new StreamFramer();
    f.limit = 512;
    f.limit = 65_535 + 20;
    expect(f.push(stunOfSize(4_000))).toHaveLength(1);
  });
});
