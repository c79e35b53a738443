/**
 * The two frame MACs (relay/frame-mac.ts): the native addon's (OpenSSL's ChaCha20 and Poly1305
 * from C) and node:crypto's must give byte-identical tags, both the tag docs/BACKBONE.md defines
 * (checked here against node:crypto's chacha20-poly1305 cipher, driven by hand), so relays with
 * and without the addon interoperate. Needs the addon (npm test builds it); without it the native
 * half is skipped and says why.
 */
import { createCipheriv } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { frameMacFor, nativeFrameMac, nodeCryptoMac } from '../../relay/frame-mac.ts';
import { type NativeMacKey, nativeAddon } from '../../relay/native-addon.ts';
import {
  createKeyRing,
  decodeFrame,
  encodeDataFrame,
  encodeProbe,
  FRAME_HEADER_LENGTH,
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

/**
 * The tag by its definition: RFC 8439's AEAD tag under `key` with the nonce sender || seq (the
 * frame's bytes 12-17, then 6-11), the frame up to `end` (hop limit as 0) as additional data and
 * no plaintext.
 */
function reference(key: Uint8Array, frame: Uint8Array, end: number): Uint8Array {
  const covered = frame.slice(0, end);
  covered[FrameOffset.HopLimit] = 0;
  const nonce = Buffer.concat([frame.subarray(12, 18), frame.subarray(6, 12)]);
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  c.setAAD(covered, { plaintextLength: 0 });
  c.final();
  return c.getAuthTag();
}

/** A 16-byte run id for the codec tests below. */
const RUN = new Uint8Array(16).fill(9);
const ring = (keys: string[], mac: FrameMac) => createKeyRing(keys, mac).forRun(RUN);

describe('the node:crypto frame MAC', () => {
  it('computes the tag as docs/BACKBONE.md defines it, leaving the hop limit out', () => {
    const random = rng(7);
    const key = Uint8Array.from({ length: 32 }, () => Math.floor(random() * 256));
    const k = nodeCryptoMac.keyed(key);
    const frame = Uint8Array.from({ length: 300 }, () => Math.floor(random() * 256));
    k.seal(frame, 284);
    expect(frame.subarray(284)).toEqual(new Uint8Array(reference(key, frame, 284)));
    frame[FrameOffset.HopLimit] = frame[FrameOffset.HopLimit]! ^ 0xff;
    expect(k.verify(frame, 284)).toBe(true);
    frame[FrameOffset.HopLimit + 1] = frame[FrameOffset.HopLimit + 1]! ^ 1;
    expect(k.verify(frame, 284)).toBe(false);
  });

  it('refuses a tag position out of range: verify says false, seal throws', () => {
    const k = nodeCryptoMac.keyed(new Uint8Array(32));
    const frame = new Uint8Array(50);
    for (const end of [-1, 0, 3, 23, 35, 50, 1.5]) expect(k.verify(frame, end)).toBe(false);
    expect(() => k.seal(frame, 35)).toThrow(RangeError);
    expect(() => k.seal(frame, 23)).toThrow(RangeError); // the nonce lies in the header
    expect(() => nodeCryptoMac.keyed(new Uint8Array(64))).toThrow(TypeError);
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
        const key = bytes(32);
        // Every length across Poly1305's 16-byte blocks from a bare header, then any up to 1,600.
        const end = FRAME_HEADER_LENGTH + (i < 300 ? i : Math.floor(random() * 1600));
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
      const key = Uint8Array.from({ length: 32 }, () => Math.floor(random() * 256));
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
      const k = mac.keyed(new Uint8Array(32));
      const frame = new Uint8Array(50);
      for (const end of [-1, 0, 3, 23, 35, 50, 2 ** 32]) expect(k.verify(frame, end)).toBe(false);
      expect(() => k.seal(frame, 35)).toThrow(RangeError);
      expect(() => k.seal(frame, 23)).toThrow(RangeError);
      expect(() => mac.keyed(new Uint8Array(31))).toThrow(TypeError);
      expect(() => mac.keyed(new Uint8Array(64))).toThrow(TypeError);
      const loaded = nativeAddon();
      if (!('addon' in loaded)) throw new Error(loaded.error);
      const { macVerify, macSeal } = loaded.addon;
      // Not one of the addon's keys (a plain object, a typed array): false, nothing read through it.
      for (const fake of [{}, new Uint8Array(112), null]) {
        expect(macVerify(fake as unknown as NativeMacKey, new Uint8Array(60), 30)).toBe(false);
        expect(macSeal(fake as unknown as NativeMacKey, new Uint8Array(60), 30)).toBe(false);
      }
      const real = loaded.addon.macKey(new Uint8Array(32));
      expect(macSeal(real, new Uint8Array(60), 30)).toBe(true);
      expect(macVerify(real, new Uint16Array(60) as unknown as Uint8Array, 30)).toBe(false);
      expect(macVerify(real, new Uint8Array(60), '30' as unknown as number)).toBe(false);
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
        const sent = encodeDataFrame(init(1, 1000), ring([OLD], sealer));
        expect(decodeFrame(sent, ring([NEW, OLD], checker))).toMatchObject({ ok: true });
        const rotated = encodeDataFrame(init(2, 100), ring([NEW, OLD], sealer));
        expect(decodeFrame(rotated, ring([OLD, NEW], checker))).toMatchObject({ ok: true });
        expect(decodeFrame(rotated, ring([OLD], checker))).toMatchObject({
          error: 'ERR_UNKNOWN_KEY',
        });
        const probe = encodeProbe({ seq: 3, sender: 1, target: 2, sentAt: 5 }, ring([OLD], sealer));
        probe[probe.length - 1] = probe[probe.length - 1]! ^ 1;
        expect(decodeFrame(probe, ring([OLD], checker))).toMatchObject({ error: 'ERR_BAD_TAG' });
      }
    });
  },
);
