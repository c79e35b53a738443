/**
 * Randomness for the simulation, all of it seeded, so a run is reproducible bit for bit.
 *
 * Two kinds:
 * - a stream generator, xoshiro128** (Blackman & Vigna, "Scrambled linear pseudorandom number
 *   generators", 2018): 128 bits of state, 32-bit output, period 2^128 - 1; seeded through
 *   SplitMix32 so nearby seeds give unrelated streams. `fork(label)` derives an independent stream,
 *   so adding draws to one part of the model does not shift the numbers of another.
 * - a counter-based one, `hashUnit(seed, a, b, c)`: a pure function of its integer keys (the
 *   MurmurHash3 finaliser applied over the keys), for properties of pairs that must be the same
 *   whenever they are asked for (the route between a carrier and a relay during one epoch) without
 *   storing a matrix of them.
 * Pure: no clock, no Math.random.
 */

/** MurmurHash3's 32-bit finaliser: a bijection that spreads every input bit over the output. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 32-bit hash of up to four integer keys (each taken modulo 2^32). */
export function hash32(seed: number, a: number, b = 0, c = 0): number {
  let h = fmix32((seed ^ 0x9e3779b9) >>> 0);
  h = fmix32((h ^ Math.imul(a | 0, 0xcc9e2d51)) >>> 0);
  h = fmix32((h + Math.imul(b | 0, 0x1b873593) + 0x6b43a9b5) >>> 0);
  h = fmix32((h ^ Math.imul(c | 0, 0xe6546b64)) >>> 0);
  return h;
}

/** A uniform number in (0, 1) determined by the keys. */
export function hashUnit(seed: number, a: number, b = 0, c = 0): number {
  return (hash32(seed, a, b, c) + 0.5) / 4294967296;
}

/** A standard normal number determined by the keys (Box-Muller over two hashed uniforms). */
export function hashNormal(seed: number, a: number, b = 0, c = 0): number {
  const u = hashUnit(seed, a, b, c);
  const v = hashUnit(seed ^ 0x5bd1e995, a, b, c);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A seeded stream of random numbers. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Standard normal. */
  normal(): number;
  /** An independent stream derived from this one's seed and a label. */
  fork(label: string): Rng;
}

function labelHash(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** xoshiro128** seeded with SplitMix32 from a 32-bit seed. */
export function createRng(seed: number): Rng {
  let x = seed >>> 0;
  const splitmix = (): number => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let s0 = splitmix();
  let s1 = splitmix();
  let s2 = splitmix();
  let s3 = splitmix();
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1; // the all-zero state is the one fixed point
  const nextU32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = rotl(s3, 11);
    return result;
  };
  let spare: number | undefined;
  const rng: Rng = {
    next: () => nextU32() / 4294967296,
    int: (n) => Math.floor((nextU32() / 4294967296) * n),
    normal: () => {
      if (spare !== undefined) {
        const s = spare;
        spare = undefined;
        return s;
      }
      const u = (nextU32() + 0.5) / 4294967296;
      const v = nextU32() / 4294967296;
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
    fork: (label) => createRng(hash32(seed, labelHash(label))),
  };
  return rng;
}

function rotl(v: number, k: number): number {
  return (v << k) | (v >>> (32 - k));
}

/** Exponential with the given mean. */
export function exponential(rng: Rng, mean: number): number {
  return -mean * Math.log(1 - rng.next());
}

/** Log-normal with the given median and log-space standard deviation. */
export function logNormal(rng: Rng, median: number, sigma: number): number {
  return median * Math.exp(sigma * rng.normal());
}

/**
 * Sampling from a discrete distribution by weight: a cumulative table and a binary search,
 * O(log n) per draw, one Float64Array of memory.
 */
export function weightedSampler(weights: ArrayLike<number>): (u: number) => number {
  const cum = new Float64Array(weights.length);
  let total = 0;
  for (let i = 0; i < weights.length; i++) {
    total += Math.max(0, weights[i]!);
    cum[i] = total;
  }
  if (!(total > 0)) throw new RangeError('weightedSampler needs a positive total weight');
  return (u: number) => {
    const target = u * total;
    let lo = 0;
    let hi = cum.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cum[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  };
}

/**
 * Packets lost out of `packets` on a Gilbert-Elliott channel (Gilbert 1960, Elliott 1963): a good
 * state that loses nothing and a bad state that loses each packet with probability `lossInBad`,
 * bad runs lasting `burstPackets` on average, the bad state's share set so the long-run loss is
 * `meanLoss`. Bursty loss: the same mean as independent loss, far more spread from call to call.
 */
export function gilbertElliottLost(
  rng: Rng,
  meanLoss: number,
  packets: number,
  burstPackets = 4,
  lossInBad = 0.5,
): number {
  if (!(meanLoss > 0) || packets <= 0) return 0;
  const badShare = Math.min(0.999, meanLoss / lossInBad);
  const leaveBad = 1 / Math.max(1, burstPackets);
  const enterBad = (leaveBad * badShare) / (1 - badShare);
  const geometric = (p: number) => Math.max(1, Math.ceil(Math.log(1 - rng.next()) / Math.log(1 - p)));
  let bad = rng.next() < badShare;
  let sent = 0;
  let lost = 0;
  while (sent < packets) {
    const run = Math.min(packets - sent, geometric(bad ? leaveBad : Math.min(0.999999, enterBad)));
    if (bad) for (let k = 0; k < run; k++) if (rng.next() < lossInBad) lost++;
    sent += run;
    bad = !bad;
  }
  return lost;
}
