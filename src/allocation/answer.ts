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

/** Whether the relay registered a TURN URL for at least one of the transports. */
export function offersAny(relay: RelayRecord, transports: readonly Transport[]): boolean {
  return relay.turnUrls.some((u) => {
    const t = urlTransport(u);
    return t !== undefined && transports.includes(t);
  });
}

/**
 * The URLs of one relay's RTCIceServer: a `stun:` URL on its UDP address first (when UDP is asked
 * for), then its TURN URLs of the asked transports, in the order it registered them. The stun URL
 * costs no allocation (a Binding request, RFC 8489 §6); it gives a client that is not relay-only
 * its server-reflexive candidate, and it is what probe targets name.
 */
export function relayIceUrls(relay: RelayRecord, transports: readonly Transport[]): string[] {
  const turn = relay.turnUrls.filter((u) => {
    const t = urlTransport(u);
    return t !== undefined && transports.includes(t);
  });
  const udp = turn.find((u) => u.startsWith('turn:') && urlTransport(u) === 'udp');
  const stun = udp ? [`stun:${udp.slice('turn:'.length).replace(/\?.*$/, '')}`] : [];
  return [...stun, ...turn];
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
