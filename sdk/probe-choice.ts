/**
 * Which way the SDK times each relay, and the fetch-based ping. The page decides what it may use:
 * an `https://` ping from any page; an `http://` ping only from a page that is not itself HTTPS
 * (an HTTPS page blocks it as mixed content); otherwise, or when the ping fails, STUN through the
 * page's own ICE agent (sdk/ice-probe.ts). Every figure says which method measured it.
 */
import { iceAvailable, iceStunProber } from './ice-probe.ts';
import type { ProbeMeasurement, ProbeMethod, Prober, ProbeTarget } from './index.ts';

/** What a page can use: its own scheme and whether it has WebRTC. */
export interface ProbeContext {
  /** `https:`, `http:`... of the page; undefined outside a page (workers, Node). */
  readonly pageProtocol: string | undefined;
  readonly ice: boolean;
}

export const pageContext = (): ProbeContext => ({
  pageProtocol: (globalThis as { location?: { protocol?: string } }).location?.protocol,
  ice: iceAvailable(),
});

/** The methods to try for one target, best first; empty when this page can measure it no way. */
export function probeMethods(target: ProbeTarget, page: ProbeContext): ProbeMethod[] {
  const methods: ProbeMethod[] = [];
  const scheme = target.ping ? /^(https?):\/\//i.exec(target.ping)?.[1]?.toLowerCase() : undefined;
  if (scheme === 'https') methods.push('https');
  else if (scheme === 'http' && page.pageProtocol !== 'https:') methods.push('http');
  if (page.ice && target.stun) methods.push('ice-stun');
  return methods;
}

/**
 * Times a GET of the target's ping URL (CORS open, no caching). Best of two, to skip the
 * connection set-up (TCP, and TLS for https). The method is the URL's scheme.
 */
export const pingProber =
  (doFetch: typeof fetch = fetch): Prober =>
  async (target, signal) => {
    if (!target.ping) throw new Error(`no ping URL for ${target.id}`);
    const method: ProbeMethod = target.ping.toLowerCase().startsWith('https:') ? 'https' : 'http';
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 2; i++) {
      const t = performance.now();
      // A simple GET: no custom header, so no CORS preflight; the relay answers Cache-Control: no-store.
      const res = await doFetch(target.ping, { signal });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`${target.ping} answered ${res.status}`);
      best = Math.min(best, performance.now() - t);
    }
    return { rttMs: best, method };
  };

/**
 * The SDK's default prober: per target, the methods of probeMethods in turn until one gives a
 * figure (a refused https ping falls back to ICE). Rejects with the last method's error.
 */
export function defaultProber(doFetch: typeof fetch = fetch, page: ProbeContext = pageContext()): Prober {
  const ping = pingProber(doFetch);
  const ice = iceStunProber();
  return async (target, signal): Promise<ProbeMeasurement> => {
    const methods = probeMethods(target, page);
    if (methods.length === 0) throw new Error(`no way to probe ${target.id} from this page`);
    let last: unknown;
    for (const method of methods) {
      if (signal.aborted) break;
      try {
        return await (method === 'ice-stun' ? ice : ping)(target, signal);
      } catch (err) {
        last = err;
      }
    }
    throw last ?? new Error(`probe of ${target.id} aborted`);
  };
}
