/**
 * A Workers KV namespace held in a Map, for the store contracts that run the KV implementations
 * beside memory and Redis (workerd's own KV is exercised by test/e2e/edge-contract.test.ts).
 */
import type { KvNamespace } from '../../workers/kv-stores.ts';

export function mapKv(): KvNamespace {
  const m = new Map<string, string>();
  return {
    get: (async (key: string, type?: 'json') => {
      const v = m.get(key) ?? null;
      return type === 'json' && v !== null ? JSON.parse(v) : v;
    }) as KvNamespace['get'],
    put: async (key, value) => {
      m.set(key, value);
    },
  };
}
