/**
 * The edge's keyed hashes with node:crypto, synchronously (src/crypto/edge-crypto.ts): the Node
 * edge (workers/node.ts) signs credentials and probe tickets and hashes API keys on its own
 * thread instead of a Web Crypto round trip to the thread pool per call. HMAC keys are imported
 * once per key array (a KeyObject halves an HMAC of a short message against a raw key); callers
 * keep their key arrays (probe tickets, TURN secrets: src/credentials/turn-rest.ts), so this is
 * one entry per secret. Node only: the Workers bundle never imports this file. Must not import relay/.
 */
import { createHash, createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { EdgeCrypto } from '../src/crypto/edge-crypto.ts';

const NODE_NAMES = { 'SHA-1': 'sha1', 'SHA-256': 'sha256' } as const;

const keys = new WeakMap<Uint8Array, KeyObject>();
const keyObject = (raw: Uint8Array): KeyObject => {
  let key = keys.get(raw);
  if (!key) {
    key = createSecretKey(raw);
    keys.set(raw, key);
  }
  return key;
};

export const nodeEdgeCrypto: EdgeCrypto = {
  hmac: (hash, key, data) => createHmac(NODE_NAMES[hash], keyObject(key)).update(data).digest(),
  sha256: (data) => createHash('sha256').update(data).digest(),
};
