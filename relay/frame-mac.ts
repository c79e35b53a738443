/**
 * The backbone's frame MAC (src/backbone/frame-mac.ts; docs/BACKBONE.md, "The tag"), twice, with
 * identical tags (RFC 8439's ChaCha20-Poly1305 AEAD tag over the frame, nonce from its sender and
 * seq fields):
 * - openssl-native: the native addon (relay/native/frame-mac.c) with ChaCha20 and Poly1305 from
 *   the OpenSSL inside the node binary, each frame read where it lies and its tag compared in C;
 *   one N-API call per frame, no allocation.
 * - node-crypto: node:crypto's chacha20-poly1305 cipher over a copy of the frame (the fallback,
 *   and what runs where the addon is not built): a cipher object per frame, several times the
 *   addon's cost.
 * The relay takes the addon's whenever it loads and finds OpenSSL's symbols, whatever --udp-io
 * (--backbone-mac node-crypto forces the other). Owns: both implementations and the choice.
 */
import { createCipheriv } from 'node:crypto';
import {
  FRAME_HEADER_LENGTH,
  FRAME_TAG_LENGTH,
  FrameOffset,
  MAX_FRAME_LENGTH,
} from '../src/backbone/frame.ts';
import type { FrameMac, KeyedFrameMac } from '../src/backbone/frame-mac.ts';
import { RUN_KEY_BYTES } from '../src/backbone/key-ring.ts';
import type { BackboneMacMode } from './config-options.ts';
import { type MacAddon, nativeAddon } from './native-addon.ts';
import { hmacSha256 } from './platform-crypto.ts';

const HOP = FrameOffset.HopLimit;

/** A frame up to its tag, copied so its hop limit reads as 0; grown to the largest frame once. */
let scratch = new Uint8Array(1500);
const nonce = new Uint8Array(12);

/** The RFC 8439 tag of frame[0..end) (hop limit as 0) as additional data, no plaintext. */
function tagOf(key: Uint8Array, frame: Uint8Array, end: number): Uint8Array {
  if (scratch.length < end) scratch = new Uint8Array(Math.max(end, MAX_FRAME_LENGTH));
  scratch.set(frame.subarray(0, end));
  scratch[HOP] = 0;
  nonce.set(frame.subarray(FrameOffset.Sender, FrameOffset.Sender + 6));
  nonce.set(frame.subarray(FrameOffset.Seq, FrameOffset.Seq + 6), 6);
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: FRAME_TAG_LENGTH });
  cipher.setAAD(scratch.subarray(0, end), { plaintextLength: 0 });
  cipher.final();
  return cipher.getAuthTag();
}

const inRange = (frame: Uint8Array, end: number): boolean =>
  Number.isInteger(end) && end >= FRAME_HEADER_LENGTH && end + FRAME_TAG_LENGTH <= frame.length;

function badEnd(frame: Uint8Array, end: number): RangeError {
  return new RangeError(`frame MAC: no room for a tag at ${end} in a frame of ${frame.length} bytes`);
}

/** node:crypto's chacha20-poly1305: a cipher object and one copy of the frame per tag. */
export const nodeCryptoMac: FrameMac = Object.freeze({
  name: 'node-crypto' as const,
  hmacSha256,
  keyed(runKey: Uint8Array): KeyedFrameMac {
    if (runKey.length !== RUN_KEY_BYTES) throw new TypeError(`frame MAC: a key of ${RUN_KEY_BYTES} bytes`);
    const key = Uint8Array.from(runKey);
    return {
      seal(frame, end) {
        if (!inRange(frame, end)) throw badEnd(frame, end);
        frame.set(tagOf(key, frame, end), end);
      },
      verify(frame, end) {
        if (!inRange(frame, end)) return false;
        const tag = tagOf(key, frame, end);
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
    hmacSha256,
    keyed(runKey: Uint8Array): KeyedFrameMac {
      const k = macKey(runKey);
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
