/**
 * Userspace impairment for backbone links (this kernel has no netem): added delay, jitter, loss
 * or a blackhole on the frames a relay sends to chosen peers. Used by tests and demos to make a
 * link slow or dead without touching the network. The spec is parsed here; `impair` decides per
 * frame, with randomness passed in, so it is deterministic under a seeded generator.
 *
 * Spec: `PEER:delay=40,jitter=5,loss=2,blackhole` (delay and jitter in ms, loss in percent), or
 * several separated by ';'. `PEER` is a relay id, or `*` for every link. `gray` is not a link's
 * fault but the relay's: frames it forwards as transit toward PEER are dropped inside it, before
 * its counters see them, while probes are still answered (a gray relay; the backbone core applies
 * it, src/backbone/core.ts `setGrayTransit`).
 */
export interface LinkFault {
  readonly delayMs: number;
  readonly jitterMs: number;
  /** 0..1 */
  readonly loss: number;
  readonly blackhole: boolean;
  /** Transit toward this peer is dropped inside the relay (see above); other frames are untouched. */
  readonly gray: boolean;
}

export const NO_FAULT: LinkFault = { delayMs: 0, jitterMs: 0, loss: 0, blackhole: false, gray: false };

export type FaultParse = { ok: true; value: Map<string, LinkFault> } | { ok: false; error: string };

export function parseLinkFaults(spec: string): FaultParse {
  const out = new Map<string, LinkFault>();
  for (const part of spec
    .split(';')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const colon = part.indexOf(':');
    const peer = colon < 0 ? part : part.slice(0, colon);
    if (!/^(\*|[A-Za-z0-9._-]{1,64})$/.test(peer)) return { ok: false, error: `bad relay id "${peer}"` };
    let fault: LinkFault = NO_FAULT;
    for (const item of colon < 0 ? [] : part.slice(colon + 1).split(',')) {
      const [key, raw = ''] = item.split('=').map((x) => x.trim());
      const n = Number(raw);
      if (key === 'blackhole' && raw === '') fault = { ...fault, blackhole: true };
      else if (key === 'gray' && raw === '') fault = { ...fault, gray: true };
      else if ((key === 'delay' || key === 'jitter') && raw !== '' && n >= 0 && n <= 10_000) {
        fault = key === 'delay' ? { ...fault, delayMs: n } : { ...fault, jitterMs: n };
      } else if (key === 'loss' && raw !== '' && n >= 0 && n <= 100) fault = { ...fault, loss: n / 100 };
      else
        return {
          ok: false,
          error: `bad fault "${item}" for ${peer} (delay=MS, jitter=MS, loss=PCT, blackhole, gray)`,
        };
    }
    out.set(peer, fault);
  }
  return { ok: true, value: out };
}

/** The peers ('*': all) whose `gray` fault is set: transit toward them is dropped inside the relay. */
export function grayTransit(faults: ReadonlyMap<string, LinkFault>): Set<string> {
  return new Set([...faults].filter(([, f]) => f.gray).map(([peer]) => peer));
}

/** The fault for frames to `peer`: its own entry, else the `*` entry, else none. */
export function faultFor(faults: ReadonlyMap<string, LinkFault>, peer: string): LinkFault {
  return faults.get(peer) ?? faults.get('*') ?? NO_FAULT;
}

/**
 * What happens to one frame: 'drop', or the delay in ms before it leaves (0 = now). Jitter is
 * uniform in [-jitter, +jitter] around the delay, never below zero.
 */
export function impair(fault: LinkFault, random: () => number): number | 'drop' {
  if (fault.blackhole) return 'drop';
  if (fault.loss > 0 && random() < fault.loss) return 'drop';
  if (fault.delayMs === 0 && fault.jitterMs === 0) return 0;
  return Math.max(0, fault.delayMs + (random() * 2 - 1) * fault.jitterMs);
}
