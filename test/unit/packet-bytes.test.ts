import { describe, expect, it } from 'vitest';
import { encodeChannelData } from '../../src/stun/channel-data.ts';
import { packetBytes } from '../../src/stun/packet-bytes.ts';

describe('packetBytes', () => {
  it('hands out zeroed regions that never overlap, across slab boundaries', () => {
    const seen: Uint8Array[] = [];
    // 2,000 x 140 bytes is more than four 64 KiB slabs.
    for (let i = 0; i < 2000; i++) {
      const b = packetBytes(140);
      expect(b.length).toBe(140);
      expect(b.every((x) => x === 0)).toBe(true);
      b.fill(i & 0xff || 1);
      seen.push(b);
    }
    // Writing each region did not touch any other: every one still holds its own mark.
    seen.forEach((b, i) => {
      expect(b.every((x) => x === (i & 0xff || 1))).toBe(true);
    });
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1]!, seen[i]!];
      if (a.buffer === b.buffer) expect(b.byteOffset).toBeGreaterThanOrEqual(a.byteOffset + a.length);
    }
  });

  it('gives a packet over 4 KiB a buffer of its own, and an empty one for 0 bytes', () => {
    const big = packetBytes(4097);
    expect(big.byteOffset).toBe(0);
    expect(big.buffer.byteLength).toBe(4097);
    expect(packetBytes(0).length).toBe(0);
  });

  it('backs ChannelData whose bytes stay put while later packets are built', () => {
    const first = encodeChannelData(0x4000, new Uint8Array([1, 2, 3]), true);
    for (let i = 0; i < 1000; i++) encodeChannelData(0x4001, new Uint8Array(100).fill(9), false);
    expect([...first]).toEqual([0x40, 0x00, 0x00, 0x03, 1, 2, 3, 0]);
  });
});
