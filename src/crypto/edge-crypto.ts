/**
 * The keyed hashes the edge computes per request (TURN REST credentials: HMAC-SHA-1; probe
 * tickets: HMAC-SHA-256; API keys: SHA-256), behind one interface so each platform fills it with
 * its own cryptography: Web Crypto everywhere (asynchronous: on Node each call is a round trip to
 * the thread pool), node:crypto on the Node edge (synchronous, workers/node-crypto.ts). Callers
 * `await` the result either way. No hand-written hash here. Must not import node:*, workers/ or relay/.
 */

export type HashName = 'SHA-1' | 'SHA-256';

export interface EdgeCrypto {
  /**
   * HMAC (RFC 2104) of `data` under `key`. Callers never change a key array after passing it: a
   * platform may keep the key it imported from that array (workers/node-crypto.ts does).
   */
  hmac(hash: HashName, key: Uint8Array, data: Uint8Array): Uint8Array | Promise<Uint8Array>;
  /** SHA-256 (FIPS 180-4) of `data`. */
  sha256(data: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

/** Web Crypto (Workers, browsers, Node); imported HMAC keys are kept, as importing costs more than signing. */
export function webEdgeCrypto(): EdgeCrypto {
  const keys = new Map<string, Promise<HmacKey>>();
  const importKey = (hash: HashName, raw: Uint8Array): Promise<HmacKey> => {
    const id = `${hash}:${String.fromCharCode(...raw)}`;
    let key = keys.get(id);
    if (!key) {
      key = crypto.subtle.importKey('raw', new Uint8Array(raw), { name: 'HMAC', hash }, false, ['sign']);
      if (keys.size >= 32) keys.clear(); // a handful of secrets at most, during rotation
      keys.set(id, key);
    }
    return key;
  };
  return {
    hmac: async (hash, key, data) =>
      new Uint8Array(await crypto.subtle.sign('HMAC', await importKey(hash, key), new Uint8Array(data))),
    sha256: async (data) => new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array(data))),
  };
}

/** The default where none is injected. */
export const WEB_EDGE_CRYPTO: EdgeCrypto = webEdgeCrypto();
