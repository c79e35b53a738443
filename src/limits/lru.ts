/**
 * A map with a fixed capacity that forgets its least recently used entry when full. Reading an
 * entry with `get` makes it the most recent; `peek` does not. Pure: no clock, no I/O. Used where
 * a table is keyed by what strangers send (source addresses, API key ids), so its memory stays
 * bounded however many keys they make up.
 */
export class LruMap<K, V> {
  readonly #map = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`LruMap capacity must be a whole number from 1, got ${capacity}`);
  }

  get size(): number {
    return this.#map.size;
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    if (!this.#map.has(key)) return undefined;
    const value = this.#map.get(key) as V;
    this.#map.delete(key);
    this.#map.set(key, value);
    return value;
  }

  /** The value, leaving the order alone. */
  peek(key: K): V | undefined {
    return this.#map.get(key);
  }

  /** Stores the value as the most recent; returns the key evicted to make room, if any. */
  set(key: K, value: V): K | undefined {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size <= this.capacity) return undefined;
    const oldest = this.#map.keys().next().value as K;
    this.#map.delete(oldest);
    return oldest;
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  /** Entries from least to most recently used. */
  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }
}
