/**
 * The client SDK (browsers and Node): ask the edge where to probe, measure RTT to those relays
 * within a time budget, ask again with the results, report them for the learned map, and return
 * an RTCConfiguration ready for `new RTCPeerConnection(config)`. Without probes (budget spent,
 * pings refused) it still answers within the budget with the edge's distance-based choice.
 * Probing is pluggable: browsers time an HTTP GET of each relay's /ping (the default); Node can
 * pass a STUN Binding prober. The configuration holds the chosen relay alone unless `relays` asks
 * for more (each relay in it costs a relay-only browser one TURN allocation per URL); the next
 * relays come back as `alternates`, each a ready RTCIceServer for a reconnect.
 * Failures reject with an `EdgeError` (sdk/errors.ts); `signal` aborts the whole exchange, probes
 * included. `keepFresh` (sdk/keep-fresh.ts) renews the credentials of a live RTCPeerConnection.
 */
import { EdgeError, postJson, throwIfAborted } from './errors.ts';

export interface ProbeTarget {
  readonly id: string;
  readonly stun?: string;
  readonly ping?: string;
}

export interface IceServer {
  readonly urls: string[];
  readonly username: string;
  readonly credential: string;
}

export type Transport = 'udp' | 'tcp' | 'tls';

export interface Alternate {
  readonly id: string;
  readonly predictedRttMs: number;
  /** Same credential as iceServers: good for a new allocation until the answer's expiresAt. */
  readonly iceServer: IceServer;
}

export interface AllocateAnswer {
  readonly iceServers: IceServer[];
  readonly relay: { readonly id: string; readonly predictedRttMs: number; readonly basis: string };
  readonly alternates: Alternate[];
  /** UNIX seconds after which the credential no longer creates allocations. */
  readonly expiresAt: number;
  /** The credential's lifetime in seconds. */
  readonly ttl?: number;
  readonly probeTargets: ProbeTarget[];
  /** Signed by the edge: send it back with the probes of these targets. */
  readonly probeTicket?: string;
}

/** Measures one target; resolves with the RTT in ms, or rejects. */
export type Prober = (target: ProbeTarget, signal: AbortSignal) => Promise<number>;

export interface SdkOptions {
  /** Base URL of the edge, e.g. https://edge.example.net */
  readonly edgeUrl: string;
  /**
   * Sent as a bearer token; the edge may require one. In a web page: a client token from
   * POST /v1/tokens (minted by the app's server). On a server: the API key (rbk_...).
   */
  readonly apiKey?: string;
  /** Total time for the whole exchange, probes included. */
  readonly budgetMs?: number;
  readonly room?: string;
  /** The app's name for its user: the client id in the TURN username (random per call otherwise). */
  readonly user?: string;
  readonly region?: string;
  /** Relays in iceServers (1-5); the edge gives 1 unless asked. */
  readonly relays?: number;
  /** TURN transports to receive URLs for; all unless asked. */
  readonly transports?: readonly Transport[];
  /** Credential lifetime in seconds, within what the tenant allows. */
  readonly ttlSeconds?: number;
  readonly prober?: Prober;
  /** Force relay-only candidates (what a backbone-routed call wants). */
  readonly relayOnly?: boolean;
  readonly fetch?: typeof fetch;
  /** Aborts the exchange (requests and probes); the call rejects with ERR_EDGE_ABORTED. */
  readonly signal?: AbortSignal;
}

export interface RtcConfigurationResult {
  readonly configuration: { iceServers: IceServer[]; iceTransportPolicy?: 'relay' | 'all' };
  readonly relay: AllocateAnswer['relay'];
  /** Next relays in rank, not in the configuration: swap one in on a reconnect. */
  readonly alternates: Alternate[];
  readonly expiresAt: number;
  /** The credential's lifetime in seconds, when the edge said. */
  readonly ttl?: number;
  readonly probes: { relay: string; rttMs: number }[];
}

/** Times an HTTP GET of the relay's /ping (CORS open, no caching). Best of two, to skip the connection set-up. */
export const httpPingProber =
  (doFetch: typeof fetch = fetch): Prober =>
  async (target, signal) => {
    if (!target.ping) throw new Error(`no ping URL for ${target.id}`);
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 2; i++) {
      const t = performance.now();
      // A simple GET: no custom header, so no CORS preflight; the relay answers Cache-Control: no-store.
      const res = await doFetch(target.ping, { signal });
      await res.arrayBuffer();
      best = Math.min(best, performance.now() - t);
    }
    return best;
  };

export async function getRtcConfiguration(o: SdkOptions): Promise<RtcConfigurationResult> {
  const doFetch = o.fetch ?? fetch;
  const budget = o.budgetMs ?? 1500;
  const deadline = performance.now() + budget;
  const base = o.edgeUrl.replace(/\/$/, '');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
  const allocate = async (
    probes: { relay: string; rttMs: number }[],
    probeTicket?: string,
  ): Promise<AllocateAnswer> => {
    const body: Record<string, unknown> = { probes };
    if (probeTicket) body.probeTicket = probeTicket;
    if (o.room) body.room = o.room;
    if (o.user) body.user = o.user;
    if (o.region) body.region = o.region;
    if (o.relays !== undefined) body.relays = o.relays;
    if (o.transports) body.transports = o.transports;
    if (o.ttlSeconds !== undefined) body.ttl = o.ttlSeconds;
    return postJson<AllocateAnswer>(doFetch, `${base}/v1/allocate`, headers, body, {
      signal: o.signal,
      timeoutMs: deadline - performance.now(),
      what: 'allocate',
    });
  };

  const first = await allocate([]);
  throwIfAborted(o.signal, 'probe');
  // Spend at most half of what is left on probes, so the second request still fits.
  const probeBudget = Math.max(0, (deadline - performance.now()) / 2);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), probeBudget);
  const onAbort = () => controller.abort();
  o.signal?.addEventListener('abort', onAbort);
  const prober = o.prober ?? httpPingProber(doFetch);
  const results = await Promise.all(
    first.probeTargets.map(async (t) => {
      try {
        return { relay: t.id, rttMs: Math.round((await prober(t, controller.signal)) * 10) / 10 };
      } catch {
        return undefined;
      }
    }),
  );
  clearTimeout(timer);
  o.signal?.removeEventListener('abort', onAbort);
  throwIfAborted(o.signal, 'probe');
  const probes = results.filter((r): r is { relay: string; rttMs: number } => r !== undefined);
  let answer = first;
  if (probes.length > 0 && performance.now() < deadline) {
    // The ticket says the edge asked for these probes; without it they are not learned from.
    const probeTicket = first.probeTicket;
    answer = await allocate(probes, probeTicket).catch((err: unknown) => {
      // The first answer stands when the second fails, unless the caller gave up.
      if (err instanceof EdgeError && err.code === 'ERR_EDGE_ABORTED') throw err;
      return first;
    });
    // Teach the edge what this network measured; nobody waits for it.
    void doFetch(`${base}/v1/measurements`, {
      method: 'POST',
      headers,
      body: JSON.stringify(probeTicket ? { probes, probeTicket } : { probes }),
      ...(o.signal ? { signal: o.signal } : {}),
    }).catch(() => undefined);
  }
  return {
    configuration: {
      iceServers: answer.iceServers,
      ...(o.relayOnly ? { iceTransportPolicy: 'relay' as const } : {}),
    },
    relay: answer.relay,
    alternates: answer.alternates ?? [],
    expiresAt: answer.expiresAt,
    ...(answer.ttl !== undefined ? { ttl: answer.ttl } : {}),
    probes,
  };
}
export {
  type CallChoiceAnswer,
  type CallEdge,
  type CallReportBody,
  callChoice,
  callReportFromStats,
  reportCall,
} from './calls.ts';
export {
  EdgeError,
  type EdgeErrorCode,
  type EdgeErrorFields,
  parseRetryAfter,
} from './errors.ts';
export {
  type Clock,
  type FreshPeerConnection,
  type KeepFreshOptions,
  keepFresh,
  type Renewal,
  type RenewReason,
} from './keep-fresh.ts';
