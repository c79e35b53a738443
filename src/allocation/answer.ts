/**
 * What goes into one allocation answer: which ranked relays travel in `iceServers`, which of their
 * URLs, and which stay behind as alternates for a reconnect. A relay-only browser makes one TURN
 * allocation for every TURN URL of every entry it is given, so the answer holds only the chosen
 * relay unless the request asks for more (DESIGN: "one relay per answer"). Pure: no clock, no I/O.
 * Must not import workers/ or relay/.
 */
import type { RelayRecord } from '../directory/types.ts';

/** The TURN transports a client may ask for: UDP, TCP and TLS-over-TCP (RFC 8656 §3.1). */
export const TRANSPORTS = ['udp', 'tcp', 'tls'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** Most relays one answer may put into iceServers (the answer before issue 9 carried three). */
export const MAX_RELAYS = 5;

/**
 * The transport of a TURN URL, or undefined when it is none of ours. RFC 7065 §3: `turn:` without
 * a transport parameter means UDP, `turns:` means TCP under TLS (`turns:...?transport=udp`, DTLS,
 * is not offered here).
 */
export function urlTransport(url: string): Transport | undefined {
  const m = /^(turns?):[^?]+(?:\?transport=(udp|tcp))?$/.exec(url);
  if (!m) return undefined;
  if (m[1] === 'turns') return m[2] === 'udp' ? undefined : 'tls';
  return m[2] === 'tcp' ? 'tcp' : 'udp';
}

/**
 * A relay's URL list parsed once (the edge asks per request, for every relay, and a directory
 * copy lives for a second or more): each TURN URL's transport, and the ice URLs per asked set of
 * transports. Keyed by the list itself, so a record given new URLs is parsed again.
 */
interface ParsedUrls {
  readonly transports: readonly (Transport | undefined)[];
  readonly ice: Map<string, readonly string[]>;
}
const parsedUrls = new WeakMap<readonly string[], ParsedUrls>();
function parsed(relay: RelayRecord): ParsedUrls {
  let p = parsedUrls.get(relay.turnUrls);
  if (!p) {
    p = { transports: relay.turnUrls.map(urlTransport), ice: new Map() };
    parsedUrls.set(relay.turnUrls, p);
  }
  return p;
}

/** Whether the relay registered a TURN URL for at least one of the transports. */
export function offersAny(relay: RelayRecord, transports: readonly Transport[]): boolean {
  return parsed(relay).transports.some((t) => t !== undefined && transports.includes(t));
}

/**
 * The URLs of one relay's RTCIceServer: a `stun:` URL on its UDP address first (when UDP is asked
 * for), then its TURN URLs of the asked transports, in the order it registered them. The stun URL
 * costs no allocation (a Binding request, RFC 8489 §6); it gives a client that is not relay-only
 * its server-reflexive candidate, and it is what probe targets name.
 */
export function relayIceUrls(relay: RelayRecord, transports: readonly Transport[]): string[] {
  return [...iceUrls(relay, transports)];
}

/** relayIceUrls, kept per relay and asked set: the caller must not change the array. */
function iceUrls(relay: RelayRecord, transports: readonly Transport[]): readonly string[] {
  const p = parsed(relay);
  const key = transports.join();
  let urls = p.ice.get(key);
  if (!urls) {
    const turn = relay.turnUrls.filter((_, i) => {
      const t = p.transports[i];
      return t !== undefined && transports.includes(t);
    });
    const udp = turn.find((u) => u.startsWith('turn:') && urlTransport(u) === 'udp');
    const stun = udp ? [`stun:${udp.slice('turn:'.length).replace(/\?.*$/, '')}`] : [];
    urls = [...stun, ...turn];
    if (p.ice.size < 16) p.ice.set(key, urls); // the asked sets are few (orders of three transports)
  }
  return urls;
}

/** The relay's `stun:` URL (on its UDP TURN address), as relayIceUrls puts first; undefined without UDP. */
export function relayStunUrl(relay: RelayRecord): string | undefined {
  const first = iceUrls(relay, TRANSPORTS)[0];
  return first?.startsWith('stun:') ? first : undefined;
}

/**
 * Splits the ranking (chosen first) into the relays that go into iceServers (`relays` of them)
 * and the next `alternates`, kept for a reconnect.
 */
export function splitPicks<T>(
  ranked: readonly T[],
  relays: number,
  alternates: number,
): { served: T[]; alternates: T[] } {
  return { served: ranked.slice(0, relays), alternates: ranked.slice(relays, relays + alternates) };
}
