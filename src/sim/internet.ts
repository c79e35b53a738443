/**
 * The simulated Internet: round-trip time, jitter and loss of a client's path to a relay, of the
 * direct path between two clients, and of the backbone links between relays.
 *
 * A wide-area route from carrier c to a destination d (a relay, or another carrier):
 *
 *   rtt = access RTT of the prefix
 *       + fiber(great-circle km) x inflation            10 ms per 1,000 km (src/allocation/learned.ts)
 *       + fiber(trombone km)                            some routes detour through a far exchange
 *       + peering detour                                a few ms of metro and exchange detours
 *   inflation = 1 + (median - 1) x exp(Zcarrier(c,d) + Zprefix(p,d) + Zdrift(c,d,epoch))
 *
 * so inflation >= 1 and the fiber bound is never beaten, the median is exactly `inflationMedian`,
 * and the log-normal terms give a heavy right tail. A route keeps its drift term and trombone for
 * an epoch (12-72 h by default, per pair, with its own phase) and then draws new ones: routes
 * drift over days. Every route property is a hash of (seed, keys, epoch), so it is the same
 * whenever it is asked for, and no matrix of routes is stored. Jitter and loss combine an access
 * part (per prefix) and a wide-area part that grows with distance.
 *
 * Structure beyond the great circle: a share of carriers hand their traffic to transit at the
 * nearest of a few regional hubs (route km = prefix -> hub -> destination), and some prefixes hold
 * two access networks, the current client (`client(p, key)`) sitting on one or the other.
 *
 * Backbone links between relays: fiber x a low, stable inflation plus a fixed cost, low jitter
 * and loss, drawn once per pair. Failures are injected by backbone.ts.
 */
import { fiberRttMs } from '../allocation/learned.ts';
import type { SimConfig } from './config.ts';
import { hash32, hashNormal, hashUnit, type Rng } from './random.ts';
import type { World } from './world.ts';

export interface PathStats {
  rttMs: number;
  jitterMs: number;
  loss: number;
}

const HOUR = 3_600_000;
// Key spaces, so the same integers in two roles draw unrelated numbers.
const K = {
  carrier: 1,
  prefix: 2,
  drift: 3,
  trombone: 4,
  tromboneKm: 5,
  detour: 6,
  epochLen: 7,
  epochPhase: 8,
  jitter: 9,
  loss: 10,
  bbInflation: 11,
  bbJitter: 12,
  bbLoss: 13,
  transit: 14,
  client: 15,
} as const;

export const newStats = (): PathStats => ({ rttMs: 0, jitterMs: 0, loss: 0 });

/** Combine independent impairments in series: RTTs add, jitter variances add, delivery multiplies. */
export function inSeries(out: PathStats, a: PathStats, b: PathStats): PathStats {
  const rtt = a.rttMs + b.rttMs;
  const jitter = Math.sqrt(a.jitterMs ** 2 + b.jitterMs ** 2);
  const loss = 1 - (1 - a.loss) * (1 - b.loss);
  out.rttMs = rtt;
  out.jitterMs = jitter;
  out.loss = loss;
  return out;
}

export class Internet {
  readonly #w: World;
  readonly #c: SimConfig['internet'];
  readonly #seeds: Record<keyof typeof K, number>;
  readonly #R: number;
  /** Backbone link RTT, jitter, loss between relays i and j at [i * R + j] (symmetric). */
  readonly bbRtt: Float64Array;
  readonly bbJitter: Float64Array;
  readonly bbLoss: Float64Array;
  /** Relay indices of the transit hubs, and per prefix the index (into `hubs`) of its nearest. */
  readonly hubs: readonly number[];
  readonly #hubOf: Uint8Array;
  /** Per carrier: 1 when it hands its traffic to transit at a hub. */
  readonly #transit: Uint8Array;
  /** Per prefix: 1 while the current client is on the prefix's second access network. */
  readonly #alt: Uint8Array;

  constructor(world: World, config: SimConfig) {
    this.#w = world;
    this.#c = config.internet;
    this.#R = world.relays.length;
    const seeds = {} as Record<keyof typeof K, number>;
    for (const [name, k] of Object.entries(K)) seeds[name as keyof typeof K] = hash32(config.seed, 0x51, k);
    this.#seeds = seeds;
    const R = this.#R;
    const t = config.internet.transit;
    const hubs: number[] = [];
    for (let r = 0; r < R && hubs.length < t.hubs; r++)
      if (hubs.every((h) => world.relayKm[h * R + r]! >= t.spacingKm)) hubs.push(r);
    this.hubs = hubs;
    const P = world.prefixes.count;
    this.#hubOf = new Uint8Array(P);
    for (let p = 0; p < P; p++) {
      let best = 0;
      for (let h = 1; h < hubs.length; h++)
        if (world.km[p * R + hubs[h]!]! < world.km[p * R + hubs[best]!]!) best = h;
      this.#hubOf[p] = best;
    }
    this.#transit = new Uint8Array(world.carriers);
    if (hubs.length > 0)
      for (let c = 0; c < world.carriers; c++)
        this.#transit[c] = hashUnit(seeds.transit, c) < t.share ? 1 : 0;
    this.#alt = new Uint8Array(P);
    const b = config.backbone;
    this.bbRtt = new Float64Array(R * R);
    this.bbJitter = new Float64Array(R * R);
    this.bbLoss = new Float64Array(R * R);
    for (let i = 0; i < R; i++) {
      for (let j = i + 1; j < R; j++) {
        const infl =
          1 + (b.inflationMedian - 1) * Math.exp(b.inflationSigma * hashNormal(seeds.bbInflation, i, j));
        const rtt = fiberRttMs(world.relayKm[i * R + j]!) * infl + b.fixedMs;
        const jitter = b.jitter.median * Math.exp(b.jitter.sigma * hashNormal(seeds.bbJitter, i, j));
        const loss = Math.min(0.05, b.loss.median * Math.exp(b.loss.sigma * hashNormal(seeds.bbLoss, i, j)));
        for (const [x, y] of [
          [i, j],
          [j, i],
        ] as const) {
          this.bbRtt[x * R + y] = rtt;
          this.bbJitter[x * R + y] = jitter;
          this.bbLoss[x * R + y] = loss;
        }
      }
    }
  }

  /** Which epoch the route of pair (a, b) is in at time t. */
  epoch(a: number, b: number, tMs: number): number {
    const [lo, hi] = this.#c.routeEpochHours;
    const len = (lo + (hi - lo) * hashUnit(this.#seeds.epochLen, a, b)) * HOUR;
    return Math.floor(tMs / len + hashUnit(this.#seeds.epochPhase, a, b));
  }

  /** The inflation of a route: carrier c to destination d, for prefix-level key p, in epoch e. */
  inflation(c: number, d: number, p: number, e: number): number {
    const s = this.#c.inflationSigma;
    const z =
      s.carrier * hashNormal(this.#seeds.carrier, c, d) +
      s.prefix * hashNormal(this.#seeds.prefix, p, d) +
      s.drift * hashNormal(this.#seeds.drift, c, d, e);
    return 1 + (this.#c.inflationMedian - 1) * Math.exp(z);
  }

  /** Extra km of a trombone route (0 for most routes). */
  tromboneKm(c: number, d: number, e: number): number {
    const t = this.#c.trombone;
    if (hashUnit(this.#seeds.trombone, c, d, e) >= t.share) return 0;
    return Math.min(t.maxKm, t.minKm * hashUnit(this.#seeds.tromboneKm, c, d, e) ** (-1 / t.alpha));
  }

  /** The wide-area part of a route of `km` from carrier c to destination d, for prefix key p. */
  #route(c: number, d: number, p: number, km: number, tMs: number, out: PathStats): PathStats {
    const e = this.epoch(c, d, tMs);
    const extraKm = this.tromboneKm(c, d, e);
    const detour = -this.#c.peeringDetourMeanMs * Math.log(hashUnit(this.#seeds.detour, c, d));
    out.rttMs = fiberRttMs(km) * this.inflation(c, d, p, e) + fiberRttMs(extraKm) + detour;
    const j = this.#c.pathJitter;
    const l = this.#c.pathLoss;
    const far = (km + extraKm) / 1000;
    out.jitterMs =
      j.median * Math.exp(j.sigma * hashNormal(this.#seeds.jitter, c, d, e)) + j.perThousandKm * far;
    out.loss = Math.min(
      0.3,
      l.median * Math.exp(l.sigma * hashNormal(this.#seeds.loss, c, d, e)) + l.perThousandKm * far,
    );
    return out;
  }

  /**
   * Which client of prefix p asks now (`key`: the request): it sits on the prefix's second access
   * network with the probability of that network's share. Holds for p until the next call.
   */
  client(p: number, key: number): void {
    const share = this.#w.prefixes.altShare[p]!;
    this.#alt[p] = share > 0 && hashUnit(this.#seeds.client, p, key) < share ? 1 : 0;
  }

  /** The access network of the current client of prefix p. */
  accessOf(p: number, out: PathStats): PathStats {
    const pf = this.#w.prefixes;
    const alt = this.#alt[p] === 1;
    out.rttMs = alt ? pf.altAccessRttMs[p]! : pf.accessRttMs[p]!;
    out.jitterMs = alt ? pf.altAccessJitterMs[p]! : pf.accessJitterMs[p]!;
    out.loss = alt ? pf.altAccessLoss[p]! : pf.accessLoss[p]!;
    return out;
  }

  /** Whether prefix p's carrier routes through transit at a hub. */
  viaTransit(p: number): boolean {
    return this.#transit[this.#w.prefixes.carrier[p]!] === 1;
  }

  /** km from prefix p to relay r along its carrier's route: through its hub when on transit. */
  routeKm(p: number, r: number): number {
    const R = this.#R;
    if (!this.viaTransit(p)) return this.#w.km[p * R + r]!;
    const hub = this.hubs[this.#hubOf[p]!]!;
    return this.#w.km[p * R + hub]! + this.#w.relayKm[hub * R + r]!;
  }

  /** km between two prefixes along their carriers' routes (great circle unless on transit). */
  directKm(pa: number, pb: number, km: number): number {
    const ta = this.viaTransit(pa);
    const tb = this.viaTransit(pb);
    if (!ta && !tb) return km;
    const R = this.#R;
    const w = this.#w;
    const ha = this.hubs[this.#hubOf[pa]!]!;
    const hb = this.hubs[this.#hubOf[pb]!]!;
    if (ta && tb) return w.km[pa * R + ha]! + w.relayKm[ha * R + hb]! + w.km[pb * R + hb]!;
    if (ta) return w.km[pa * R + ha]! + w.km[pb * R + ha]!;
    return w.km[pa * R + hb]! + w.km[pb * R + hb]!;
  }

  readonly #a = newStats();
  readonly #b = newStats();

  /** Client prefix p to relay r at time t: mean RTT, jitter, loss. */
  clientRelay(p: number, r: number, tMs: number, out: PathStats = newStats()): PathStats {
    this.#route(this.#w.prefixes.carrier[p]!, r, p, this.routeKm(p, r), tMs, this.#b);
    this.#b.rttMs += this.#c.relayProcessingMs;
    return inSeries(out, this.accessOf(p, this.#a), this.#b);
  }

  /** Mean RTT only (the allocation phase needs nothing else). */
  clientRelayRtt(p: number, r: number, tMs: number): number {
    return this.clientRelay(p, r, tMs, this.#scratch).rttMs;
  }

  readonly #scratch = newStats();

  /** The least RTT prefix p's current client can have to relay r: its access plus fiber, no inflation. */
  lowerBound(p: number, r: number): number {
    return this.accessOf(p, this.#lb).rttMs + fiberRttMs(this.#w.km[p * this.#R + r]!);
  }

  readonly #lb = newStats();

  /**
   * The relay with the least RTT from prefix p at time t, and that RTT. Relays are tried nearest
   * first and the search stops once the fiber bound of the next is no better than the best so far.
   */
  bestRelay(p: number, tMs: number): { relay: number; rttMs: number } {
    const R = this.#R;
    const order = this.#w.order;
    let best = -1;
    let bestRtt = Number.POSITIVE_INFINITY;
    for (let k = 0; k < R; k++) {
      const r = order[p * R + k]!;
      if (this.lowerBound(p, r) >= bestRtt) break;
      const rtt = this.clientRelayRtt(p, r, tMs);
      if (rtt < bestRtt) {
        bestRtt = rtt;
        best = r;
      }
    }
    return { relay: best, rttMs: bestRtt };
  }

  /** The direct Internet path between two prefixes (a call without relays). */
  direct(pa: number, pb: number, km: number, tMs: number, out: PathStats = newStats()): PathStats {
    const pf = this.#w.prefixes;
    const ca = pf.carrier[pa]!;
    const cb = pf.carrier[pb]!;
    const R = this.#R;
    // Destinations of direct routes are carriers, numbered after the relays.
    const [c, d] = ca <= cb ? [ca, R + cb] : [cb, R + ca];
    this.#route(c, d, Math.min(pa, pb) * 7919 + Math.max(pa, pb), this.directKm(pa, pb, km), tMs, this.#b);
    inSeries(out, this.accessOf(pa, this.#a), this.#b);
    return inSeries(out, out, this.accessOf(pb, this.#a));
  }

  /** A client's probe of a relay: the best of `pings` HTTP pings, each with jitter and overhead. */
  probe(p: number, r: number, tMs: number, rng: Rng, pings: number, overheadMeanMs: number): number {
    const s = this.clientRelay(p, r, tMs, this.#scratch);
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < pings; i++) {
      const noise = -s.jitterMs * Math.log(1 - rng.next()) - overheadMeanMs * Math.log(1 - rng.next());
      best = Math.min(best, s.rttMs + noise);
    }
    return best;
  }

  backboneLink(i: number, j: number, out: PathStats = newStats()): PathStats {
    const k = i * this.#R + j;
    out.rttMs = this.bbRtt[k]!;
    out.jitterMs = this.bbJitter[k]!;
    out.loss = this.bbLoss[k]!;
    return out;
  }
}
