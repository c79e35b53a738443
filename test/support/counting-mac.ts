/**
 * A frame MAC that counts its calls (seals and verifies), around a real one: for tests that show
 * what is dropped before any MAC work, or how many tags a bundle costs.
 */
import { nodeCryptoMac } from '../../relay/frame-mac.ts';
import type { FrameMac } from '../../src/backbone/frame-mac.ts';

export function countingMac(inner: FrameMac = nodeCryptoMac): { mac: FrameMac; n: { macs: number } } {
  const n = { macs: 0 };
  const mac: FrameMac = {
    name: inner.name,
    hmacSha256: inner.hmacSha256,
    keyed(runKey) {
      const k = inner.keyed(runKey);
      return {
        seal(frame, end) {
          n.macs++;
          k.seal(frame, end);
        },
        verify(frame, end) {
          n.macs++;
          return k.verify(frame, end);
        },
      };
    },
  };
  return { mac, n };
}
