/**
 * The two frame MACs (relay/frame-mac.ts): the native addon's (OpenSSL's SHA-256 from C, midstate
 * per key) and node:crypto's must give byte-identical tags, both the tag docs/BACKBONE.md defines
 * (checked here against createHash), so relays with and without the addon interoperate. Needs the
 * addon (npm test builds it); without it the native half is skipped and says why.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { frameMacFor, nativeFrameMac, nodeCryptoMac } from '../../relay/frame-mac.ts';
import { type NativeMacKey, nativeAddon } from '../../relay/native-addon.ts';
import {
  createKeyRing,
  decodeFrame,
  encodeDataFrame,
  encodeProbe,
  FRAME_TAG_LENGTH,
  type FrameMac,
  FrameOffset,
  relayHash,
  wireAddress,
} from '../../src/backbone/index.ts';
import { rng } from '../support/fuzz.ts';

const native = nativeFrameMac();
const why = 'error' in native ? native.error : '';
const nativeMac = 'mac' in native ? native.mac : undefined;

/** The tag by its definition: SHA-256(key || frame up to `end`, hop limit as 0), first 10 bytes. */
function reference(key: Uint8Array, frame: Uint8Array, end: number): Uint8Array {
  const covered = frame.slice(0, end);
  covered[FrameOffset.HopLimit] = 0;
  return createHash('sha256').update(key).update(covered).digest().subarray(0, FRAME_TAG_LENGTH);
}

describe('the node:crypto frame MAC', () => {
  it('computes the tag as docs/BACKBONE.md defines it, leaving the hop limit out', () => {
    const random = rng(7);
    const key = Uint8Array.from({ length: 64 }, () => Math.floor(random() * 256));
    const k = nodeCryptoMac.keyed(key);
    const frame = Uint8Array.from({ length: 300 }, () => Math.floor(random() * 256));
    k.seal(frame, 290);
    expect(frame.subarray(290)).toEqual(new Uint8Array(reference(key, frame, 290)));
    frame[FrameOffset.HopLimit] = frame[FrameOffset.HopLimit]! ^ 0xff;
    expect(k.verify(frame, 290)).toBe(true);
    frame[FrameOffset.HopLimit + 1] = frame[FrameOffset.HopLimit + 1]! ^ 1;
    expect(k.verify(frame, 290)).toBe(false);
  });

  it('refuses a tag position out of range: verify says false, seal throws', () => {
    const k = nodeCryptoMac.keyed(new Uint8Array(64));
    const frame = new Uint8Array(40);
    for (const end of [-1, 0, 3, 31, 40, 1.5]) expect(k.verify(frame, end)).toBe(false);
    expect(() => k.seal(frame, 31)).toThrow(RangeError);
    expect(() => nodeCryptoMac.keyed(new Uint8Array(32))).toThrow(TypeError);
  });
});

describe.skipIf(nativeMac === undefined)(
  `the OpenSSL native frame MAC${why ? ` (skipped: ${why})` : ''}`,
  () => {
    const mac = nativeMac as FrameMac;

    it('is what --backbone-mac auto picks when the addon is built, and node-crypto when asked', () => {
      expect(mac.name).toBe('openssl-native');
      expect(frameMacFor('auto').mac.name).toBe('openssl-native');
      expect(frameMacFor('auto').why).toMatch(/^OpenSSL \d/);
      expect(frameMacFor('node-crypto').mac).toBe(nodeCryptoMac);
    });

    it('gives byte-identical tags to node:crypto and to the definition on 5,000 random keys and frames', () => {
      const random = rng(11);
      const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
      const mismatches: string[] = [];
      for (let i = 0; i < 5000; i++) {
        const key = bytes(64);
        // Every length across the block boundaries (55/56/64 bytes with the key's block) up to 1,600.
        const end = 4 + (i < 300 ? i : Math.floor(random() * 1600));
        const frame = bytes(end + FRAME_TAG_LENGTH);
        const a = frame.slice();
        const b = frame.slice();
        mac.keyed(key).seal(a, end);
        nodeCryptoMac.keyed(key).seal(b, end);
        const want = reference(key, frame, end);
        // Each verifies the other's, whatever the hop limit says.
        a[FrameOffset.HopLimit] = Math.floor(random() * 256);
        b[FrameOffset.HopLimit] = a[FrameOffset.HopLimit]!;
        const same =
          Buffer.compare(a, b) === 0 &&
          Buffer.compare(a.subarray(end), want) === 0 &&
          nodeCryptoMac.keyed(key).verify(a, end) &&
          mac.keyed(key).verify(b, end);
        if (!same) mismatches.push(`#${i}: ${end} bytes`);
      }
      expect(mismatches).toEqual([]);
    });

    it('refuses every single-bit change outside the hop limit, and never changes the frame it checks', () => {
      const random = rng(3);
      const key = Uint8Array.from({ length: 64 }, () => Math.floor(random() * 256));
      const k = mac.keyed(key);
      const frame = Uint8Array.from({ length: 120 }, () => Math.floor(random() * 256));
      const end = frame.length - FRAME_TAG_LENGTH;
      k.seal(frame, end);
      const sealed = frame.slice();
      for (let at = 0; at < frame.length; at++) {
        for (let bit = 0; bit < 8; bit++) {
          frame[at] = frame[at]! ^ (1 << bit);
          const before = frame.slice();
          expect(k.verify(frame, end)).toBe(at === FrameOffset.HopLimit);
          expect(frame).toEqual(before);
          frame[at] = frame[at]! ^ (1 << bit);
        }
      }
      expect(frame).toEqual(sealed);
      // Another key, or the same frame with its tag moved: refused.
      expect(mac.keyed(key.map((b) => b ^ 1)).verify(frame, end)).toBe(false);
      expect(k.verify(frame, end - 1)).toBe(false);
    });

    it('refuses bad arguments without throwing on verify, and throws on seal or a bad key', () => {
      const k = mac.keyed(new Uint8Array(64));
      const frame = new Uint8Array(40);
      for (const end of [-1, 0, 3, 31, 40, 2 ** 32]) expect(k.verify(frame, end)).toBe(false);
      expect(() => k.seal(frame, 31)).toThrow(RangeError);
      expect(() => mac.keyed(new Uint8Array(63))).toThrow(TypeError);
      const loaded = nativeAddon();
      if (!('addon' in loaded)) throw new Error(loaded.error);
      const { macVerify, macSeal } = loaded.addon;
      // Not one of the addon's keys (a plain object, a typed array): false, nothing read through it.
      for (const fake of [{}, new Uint8Array(112), null]) {
        expect(macVerify(fake as unknown as NativeMacKey, new Uint8Array(40), 20)).toBe(false);
        expect(macSeal(fake as unknown as NativeMacKey, new Uint8Array(40), 20)).toBe(false);
      }
      const real = loaded.addon.macKey(new Uint8Array(64));
      expect(macVerify(real, new Uint16Array(40) as unknown as Uint8Array, 20)).toBe(false);
      expect(macVerify(real, new Uint8Array(40), '20' as unknown as number)).toBe(false);
    });

    it('interoperates through the codec: frames sealed by one ring decode under the other, across a key rotation', () => {
      const OLD = 'mesh-key-2026-01-aaaaaaaa';
      const NEW = 'mesh-key-2026-02-bbbbbbbb';
      const init = (seq: number, n: number) => ({
        seq,
        sender: relayHash('A'),
        target: relayHash('B'),
        source: wireAddress({ family: 4, address: '203.0.113.10', port: 50_000 }),
        destination: wireAddress({ family: 6, address: '2001:db8::7', port: 61_234 }),
        payload: new Uint8Array(n).fill(seq),
      });
      const pairs: [FrameMac, FrameMac][] = [
        [mac, nodeCryptoMac],
        [nodeCryptoMac, mac],
      ];
      for (const [sealer, checker] of pairs) {
        const sent = encodeDataFrame(init(1, 1000), createKeyRing([OLD], sealer));
        expect(decodeFrame(sent, createKeyRing([NEW, OLD], checker))).toMatchObject({ ok: true });
        const rotated = encodeDataFrame(init(2, 100), createKeyRing([NEW, OLD], sealer));
        expect(decodeFrame(rotated, createKeyRing([OLD, NEW], checker))).toMatchObject({ ok: true });
        expect(decodeFrame(rotated, createKeyRing([OLD], checker))).toMatchObject({
          error: 'ERR_UNKNOWN_KEY',
        });
        const probe = encodeProbe({ seq: 3, sender: 1, target: 2, sentAt: 5 }, createKeyRing([OLD], sealer));
        probe[probe.length - 1] = probe[probe.length - 1]! ^ 1;
        expect(decodeFrame(probe, createKeyRing([OLD], checker))).toMatchObject({ error: 'ERR_BAD_TAG' });
      }
    });
  },
);
