import { describe, expect, it } from 'vitest';
import {
  channelDataLength,
  channelOf,
  encodeChannelData,
  looksLikeChannelData,
} from '../../src/stun/channel-data.ts';
import { StreamFramer } from '../../src/stun/stream-framer.ts';
import { hex, ipv4Response } from './fixtures/rfc5769.ts';

describe('ChannelData', () => {
  it('frames data with the channel number and length, padding only on streams', () => {
    const data = new Uint8Array([1, 2, 3, 4, 5]);
    expect(encodeChannelData(0x4001, data, false)).toEqual(hex('40010005 0102030405'));
    expect(encodeChannelData(0x4001, data, true)).toEqual(hex('40010005 0102030405000000'));
  });

  it.each([
    ['no padding', hex('40000003 aabbcc'), 3],
    ['UDP padding up to 3 bytes', hex('40000003 aabbcc00'), 3],
    ['an empty payload', hex('4fff0000'), 0],
    ['more data than the header says, beyond padding', hex('40000001 aabbccdd 00'), -1],
    ['less data than the header says', hex('40000008 aabb'), -1],
    ['a short header', hex('4000'), -1],
  ])('reads the length of a message with %s', (_name, buf, length) => {
    expect(channelDataLength(buf)).toBe(length);
  });

  it.each([
    [hex('40000000'), 0x4000],
    [hex('4fff0000'), 0x4fff],
    [hex('50000000'), 0x5000],
    [hex('7fff0000'), 0x7fff],
  ])('accepts channels 0x4000-0x7FFF, as RFC 5766 clients use them (%#)', (buf, channel) => {
    expect(looksLikeChannelData(buf)).toBe(true);
    expect(channelOf(buf)).toBe(channel);
  });

  it('does not take other first bytes for ChannelData', () => {
    expect(looksLikeChannelData(hex('3fff0000'))).toBe(false);
    expect(looksLikeChannelData(hex('80000000'))).toBe(false);
  });
});

describe('stream framing', () => {
  const stun = ipv4Response;
  const chan = encodeChannelData(0x4002, new Uint8Array([9, 9, 9]), true);

  it('returns several messages that arrive in one read, dropping ChannelData padding', () => {
    const f = new StreamFramer();
    const frames = f.push(new Uint8Array([...stun, ...chan, ...stun]));
    expect(frames.map((x) => x.kind)).toEqual(['stun', 'channel', 'stun']);
    expect(frames[0]!.bytes).toEqual(stun);
    expect(frames[1]!.bytes).toEqual(hex('40020003 090909'));
    expect(f.buffered).toBe(0);
  });

  it('reassembles a message split at every possible byte', () => {
    const all = new Uint8Array([...chan, ...stun]);
    for (let cut = 1; cut < all.length; cut++) {
      const f = new StreamFramer();
      const frames = [...f.push(all.slice(0, cut)), ...f.push(all.slice(cut))];
      expect(frames.map((x) => x.kind)).toEqual(['channel', 'stun']);
      expect(frames[1]!.bytes).toEqual(stun);
    }
  });

  it('reassembles a message delivered one byte at a time', () => {
    const f = new StreamFramer();
    const frames = [];
    for (const b of stun) frames.push(...f.push(new Uint8Array([b])));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.bytes).toEqual(stun);
  });

  it('flags a stream whose next byte is neither STUN nor ChannelData and stops reading it', () => {
    const f = new StreamFramer();
    expect(f.push(new Uint8Array([...chan, 0x80, 0, 0, 0]))).toHaveLength(1);
    expect(f.error).toBe('ERR_NOT_TURN_STREAM');
    expect(f.push(stun)).toEqual([]);
  });

  it('flags a frame larger than the limit', () => {
    const f = new StreamFramer(100);
    f.push(hex('4000ffff'));
    expect(f.error).toBe('ERR_FRAME_TOO_LARGE');
  });
});
