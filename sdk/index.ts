/**
 * The client SDK (browsers and Node): ask the edge where to probe, measure RTT to those relays
 * within a time budget, ask again with the results, probe the second round that answer names (the
 * relays the first probes could not rule out, once) and ask a third time, report every probe for
 * the learned map under the latest ticket, and return
 * an RTCConfiguration ready for `new RTCPeerConnection(config)`. Without probes (budget spent,
 * pings refused) it still answers within the budget with the edge's distance-based choice.
 * Probing is pluggable: browsers time each relay's HTTPS /ping, its http:// one from pages that
 * are not HTTPS, else STUN through their own ICE (sdk/probe-choice.ts, sdk/ice-probe.ts); Node
 * passes a STUN Binding prober. Each figure says its method. The configuration holds the chosen
 * relay alone unless `relays` asks for more (each relay in it costs a relay-only browser one TURN
 * allocation per URL); the next relays come back as `alternates`, each a ready RTCIceServer for a
 * reconnect. Failures reject with an `EdgeError` (sdk/errors.ts); `signal` aborts the whole
 * exchange, probes included. `keepFresh` (sdk/keep-fresh.ts) renews the credentials of a live
 * RTCPeerConnection.
 */
import { EdgeError, postJson, throwIfAborted } from './errors.ts';
import { defaultProber, pingProber } from './probe-choice.ts';

export interface ProbeTarget {
  readonly id: string;
  readonly stun?: string;
  /** https:// when the relay serves a public HTTPS ping, else http:// */
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

/**
 * How a figure was measured; the same four names as the edge's `src/allocation/probe-method.ts`
 * (a type test keeps them equal). Declared here because the package's types reach nothing
 * outside sdk/.
 */
export type ProbeMethod = 'ice-stun' | 'https' | 'http' | 'stun';

/** One RTT figure and how it was measured. */
export interface ProbeMeasurement {
  readonly rttMs: number;
  readonly method: ProbeMethod;
}

/** One probe as reported to the edge. */
export interface ProbeResult {
  readonly relay: string;
  readonly rttMs: number;
  readonly method: ProbeMethod;
}

/** Measures one target; resolves with the RTT in ms and the method, or rejects. */
export type Prober = (target: ProbeTarget, signal: AbortSignal) => Promise<ProbeMeasurement>;

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
  readonly probes: ProbeResult[];
}

/** Times a GET of the relay's /ping (http or https; the method says which). Kept under its old name. */
export const httpPingProber = pingProber;

export async function getRtcConfiguration(o: SdkOptions): Promise<RtcConfigurationResult> {
  const doFetch = o.fetch ?? fetch;
  const budget = o.budgetMs ?? 1500;
  const deadline = performance.now() + budget;
  const base = o.edgeUrl.replace(/\/$/, '');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
  const allocate = async (probes: ProbeResult[], probeTicket?: string): Promise<AllocateAnswer> => {
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

  const prober = o.prober ?? defaultProber(doFetch);
  // One round: every target measured in parallel within half of what is left, so the next
  // request still fits; a relay measured in both rounds keeps its lower figure.
  const measured = new Map<string, ProbeResult>();
  const probeRound = async (targets: readonly ProbeTarget[]): Promise<void> => {
    const probeBudget = Math.max(0, (deadline - performance.now()) / 2);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), probeBudget);
    const onAbort = () => controller.abort();
    o.signal?.addEventListener('abort', onAbort);
    const results = await Promise.all(
      targets.map(async (t) => {
        try {
          const m = await prober(t, controller.signal);
          return { relay: t.id, rttMs: Math.round(m.rttMs * 10) / 10, method: m.method };
        } catch {
          return undefined;
        }
      }),
    );
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
    throwIfAborted(o.signal, 'probe');
    for (const r of results)
      if (r && !(r.rttMs >= (measured.get(r.relay)?.rttMs ?? Number.POSITIVE_INFINITY)))
        measured.set(r.relay, r);
  };

  const first = await allocate([]);
  throwIfAborted(o.signal, 'probe');
  await probeRound(first.probeTargets);
  let answer = first;
  // The ticket says the edge asked for these probes; without it they are not learned from.
  let probeTicket = first.probeTicket;
  if (measured.size > 0 && performance.now() < deadline) {
    answer = await allocate([...measured.values()], probeTicket).catch((err: unknown) => {
      // The first answer stands when the second fails, unless the caller gave up.
      if (err instanceof EdgeError && err.code === 'ERR_EDGE_ABORTED') throw err;
      return first;
    });
    // A second round, once: the relays the edge cannot rule out as better than the best so far,
    // and the closest measured ones again (it names them in the answer to the probes, under a
    // ticket that covers both rounds); a relay measured twice keeps its lower figure.
    const next = answer === first ? [] : answer.probeTargets;
    if (next.length > 0 && performance.now() < deadline) {
      const second = answer;
      await probeRound(next);
      probeTicket = second.probeTicket ?? probeTicket;
      if (performance.now() < deadline)
        answer = await allocate([...measured.values()], probeTicket).catch((err: unknown) => {
          if (err instanceof EdgeError && err.code === 'ERR_EDGE_ABORTED') throw err;
          return second;
        });
    }
  }
  const probes = [...measured.values()];
  if (probes.length > 0) {
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
export { IceProbeError, iceStunProber } from './ice-probe.ts';
export {
  type Clock,
  type FreshPeerConnection,
  type KeepFreshOptions,
  keepFresh,
  type Renewal,
  type RenewReason,
} from './keep-fresh.ts';
export { defaultProber, pingProber, probeMethods } from './probe-choice.ts';
