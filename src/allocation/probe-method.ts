/**
 * How a client measured its round-trip time to a relay, carried beside each probe so that the
 * edge (and whoever reads its metrics) can tell the figures apart. Pure constants; shared by the
 * SDK and the edge. Must not import workers/ or relay/.
 *
 * - `ice-stun`: a browser's own ICE agent, timed from gathering to the relay's server-reflexive
 *   candidate (a STUN Binding, RFC 8489 §6, over UDP: what the media path sees).
 * - `https`: a GET of the relay's public `https://.../ping` (allowed from any page).
 * - `http`: a GET of `http://.../ping` (an HTTPS page may not, as mixed content).
 * - `stun`: a STUN Binding sent directly over UDP (the Node SDK).
 */
export const PROBE_METHODS = ['ice-stun', 'https', 'http', 'stun'] as const;
export type ProbeMethod = (typeof PROBE_METHODS)[number];

export const isProbeMethod = (v: unknown): v is ProbeMethod =>
  typeof v === 'string' && (PROBE_METHODS as readonly string[]).includes(v);
