/**
 * The backbone's frame MAC (src/backbone/frame-mac.ts; docs/BACKBONE.md, "The tag"), twice, with
 * identical tags:
 * - openssl-native: the native addon (relay/native/frame-mac.c) with SHA-256 from the OpenSSL
 *   inside the node binary, the per-key midstate made once, each frame hashed where it lies and
 *   its tag compared in C; one N-API call per frame, no allocation.
 * - node-crypto: node:crypto's one-shot `hash` over the frame key and a copy of the frame (the
 *   fallback, and what runs where the addon is not built).
 * The relay takes the addon's whenever it loads and finds OpenSSL's symbols, whatever --udp-io
 * (--backbone-mac node-crypto forces the other). Owns: both implementations and the choice.
 */
import { FRAME_TAG_LENGTH, FrameOffset, MAX_FRAME_LENGTH } from '../src/backbone/frame.ts';
import type { FrameMac, KeyedFrameMac } from '../src/backbone/frame-mac.ts';
import { FRAME_KEY_BYTES } from '../src/backbone/key-ring.ts';
import type { BackboneMacMode } from './config-options.ts';
import { type MacAddon, nativeAddon } from './native-addon.ts';
import { sha256 } from './platform-crypto.ts';

const HOP = FrameOffset.HopLimit;

/** Frame key || a frame up to its tag, hashed in one call; grown to the largest frame once. */
let scratch = new Uint8Array(FRAME_KEY_BYTES + 1500);

/** SHA-256(key || frame[0..end) with the hop limit as 0), the key wiped from the scratch after. */
function digest(key: Uint8Array, frame: Uint8Array, end: number): Uint8Array {
  const n = FRAME_KEY_BYTES + end;
  if (scratch.length < n) scratch = new Uint8Array(FRAME_KEY_BYTES + Math.max(end, MAX_FRAME_LENGTH));
  scratch.set(key);
  scratch.set(frame.subarray(0, end), FRAME_KEY_BYTES);
  scratch[FRAME_KEY_BYTES + HOP] = 0;
  const d = sha256(scratch.subarray(0, n));
  scratch.fill(0, 0, FRAME_KEY_BYTES);
  return d;
}

const inRange = (frame: Uint8Array, end: number): boolean =>
  Number.isInteger(end) && end > HOP && end + FRAME_TAG_LENGTH <= frame.length;

function badEnd(frame: Uint8Array, end: number): RangeError {
  return new RangeError(`frame MAC: no room for a tag at ${end} in a frame of ${frame.length} bytes`);
}

/** node:crypto (OpenSSL through Node's one-shot hash): one call and one copy of the frame per tag. */
export const nodeCryptoMac: FrameMac = Object.freeze({
  name: 'node-crypto' as const,
  sha256,
  keyed(frameKey: Uint8Array): KeyedFrameMac {
    if (frameKey.length !== FRAME_KEY_BYTES)
      throw new TypeError(`frame MAC: a key of ${FRAME_KEY_BYTES} bytes`);
    const key = Uint8Array.from(frameKey);
    return {
      seal(frame, end) {
        if (!inRange(frame, end)) throw badEnd(frame, end);
        const tag = digest(key, frame, end);
        for (let i = 0; i < FRAME_TAG_LENGTH; i++) frame[end + i] = tag[i]!;
      },
      verify(frame, end) {
        if (!inRange(frame, end)) return false;
        const tag = digest(key, frame, end);
        // Constant-time over the tag: every byte is compared whatever the earlier ones were.
        let diff = 0;
        for (let i = 0; i < FRAME_TAG_LENGTH; i++) diff |= tag[i]! ^ frame[end + i]!;
        return diff === 0;
      },
    };
  },
});

/** The addon's MAC, or why it cannot serve: not built, not loadable, or no OpenSSL symbols in this node. */
export function nativeFrameMac(): { mac: FrameMac; openssl: string } | { error: string } {
  const loaded = nativeAddon();
  if (!('addon' in loaded)) return loaded;
  const addon: MacAddon = loaded.addon;
  if (typeof addon.macInfo !== 'function')
    return { error: 'the native addon predates the frame MAC; rebuild it' };
  const info = addon.macInfo();
  if (!info.available) return { error: info.reason };
  const { macKey, macSeal, macVerify } = addon;
  const mac: FrameMac = Object.freeze({
    name: 'openssl-native' as const,
    sha256,
    keyed(frameKey: Uint8Array): KeyedFrameMac {
      const k = macKey(frameKey);
      return {
        seal(frame, end) {
          if (!macSeal(k, frame, end)) throw badEnd(frame, end);
        },
        verify: (frame, end) => macVerify(k, frame, end),
      };
    },
  });
  return { mac, openssl: info.openssl };
}

export interface FrameMacChoice {
  readonly mac: FrameMac;
  /** Why this one: the OpenSSL version, or why the addon's is not used. */
  readonly why: string;
}

let auto: FrameMacChoice | undefined;

/** The frame MAC for --backbone-mac on this thread (the addon loads once per thread). */
export function frameMacFor(mode: BackboneMacMode): FrameMacChoice {
  if (mode === 'node-crypto') return { mac: nodeCryptoMac, why: '--backbone-mac node-crypto' };
  if (!auto) {
    const native = nativeFrameMac();
    auto =
      'mac' in native ? { mac: native.mac, why: native.openssl } : { mac: nodeCryptoMac, why: native.error };
  }
  return auto;
}
