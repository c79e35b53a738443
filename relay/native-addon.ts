/**
 * The native addon (relay/native/, `npm run build:native`), loaded once per thread: its batched UDP
 * I/O (relay/udp-io.ts, --udp-io native) and its backbone frame MAC (relay/frame-mac.ts) share one
 * module. Owns: finding and loading the .node file and the addon's typed surface; nothing else.
 */
import { createRequire } from 'node:module';
import type { NativeUdpStats } from './udp-io.ts';

/** relay/native/native-udp.c: batched UDP sockets. */
export interface UdpAddon {
  setup(onBatch: (count: number) => void): {
    data: ArrayBuffer;
    meta: ArrayBuffer;
    slot: number;
    metaInts: number;
  };
  open(family: number, address: string, port: number, reusePort: boolean): number;
  setBuffers(id: number, recvBytes: number, sendBytes: number): void;
  localPort(id: number): number;
  send(id: number, bytes: Uint8Array, port: number, address: string): void;
  flush(): void;
  close(id: number): void;
  stats(): NativeUdpStats;
}

/** A frame key's SHA-256 midstate, held by the addon (an external: opaque to JavaScript). */
export type NativeMacKey = { readonly __brand: 'NativeMacKey' };

/** relay/native/frame-mac.c: the frame tag with the node binary's OpenSSL. */
export interface MacAddon {
  /** Whether OpenSSL's ChaCha20 and Poly1305 were found in this process; `reason` says why not; `openssl` its version. */
  macInfo(): { available: boolean; reason: string; openssl: string };
  /** Throws when unavailable or `runKey` is not 32 bytes. */
  macKey(runKey: Uint8Array): NativeMacKey;
  /** False on bad arguments (not one of our keys, `end` out of range); the tag written otherwise. */
  macSeal(key: NativeMacKey, frame: Uint8Array, end: number): boolean;
  macVerify(key: NativeMacKey, frame: Uint8Array, end: number): boolean;
}

export type NativeAddon = UdpAddon & MacAddon;

let loaded: { addon: NativeAddon } | { error: string } | undefined;

/**
 * The addon of this thread (Node loads it once per environment), or why not: not built (npm run
 * build:native), or it cannot load here.
 */
export function nativeAddon(): { addon: NativeAddon } | { error: string } {
  if (loaded === undefined) {
    try {
      const require = createRequire(import.meta.url);
      loaded = { addon: require('./native/build/native-udp.node') as NativeAddon };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      loaded = {
        error:
          process.platform !== 'linux'
            ? `the native addon is Linux only (this is ${process.platform})`
            : code === 'MODULE_NOT_FOUND'
              ? 'the native addon is not built: run npm run build:native'
              : `the native addon does not load: ${(err as Error).message.split('\n')[0]}`,
      };
    }
  }
  return loaded;
}
