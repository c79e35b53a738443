/**
 * The edge's keyed hashes with node:crypto, synchronously (src/crypto/edge-crypto.ts): the Node
 * edge (workers/node.ts) signs credentials and probe tickets and hashes API keys on its own
 * thread instead of a Web Crypto round trip to the thread pool per call. Node only: the Workers
 * bundle never imports this file. Must not import relay/.
 */
import { createHash, createHmac } from 'node:crypto';
import type { EdgeCrypto } from '../src/crypto/edge-crypto.ts';

const NODE_NAMES = { 'SHA-1': 'sha1', 'SHA-256': 'sha256' } as const;

export const nodeEdgeCrypto: EdgeCrypto = {
  hmac: (hash, key, data) => createHmac(NODE_NAMES[hash], key).update(data).digest(),
  sha256: (data) => createHash('sha256').update(data).digest(),
};
