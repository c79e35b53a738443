/**
 * Per-call direct or relay, for the SDK: ask the edge when the call connects whether to force
 * relaying (`callChoice`, whose `forceRelay` maps to `iceTransportPolicy: 'relay'`), and at the
 * end report what getStats measured on the path taken (`reportCall`). `callReportFromStats` turns
 * a getStats() report into the edge's report: RTT from the nominated candidate pair, loss and
 * jitter from the remote side's view of what we sent (remote-inbound-rtp), else our own receive
 * side (inbound-rtp); the path is 'relay' when either end of the pair is a relay candidate.
 * Reports are best effort: nobody waits for them, a failure is swallowed. `signal` aborts either
 * call; an aborted one rejects with an EdgeError of code ERR_EDGE_ABORTED.
 */
import { throwIfAborted } from './errors.ts';

export interface CallEdge {
  readonly edgeUrl: string;
  readonly apiKey?: string;
  readonly room: string;
  readonly fetch?: typeof fetch;
  readonly signal?: AbortSignal;
}

export interface CallChoiceAnswer {
  readonly path: 'direct' | 'relay';
  readonly forceRelay: boolean;
  readonly reason: string;
}

export interface CallReportBody {
  readonly path: 'direct' | 'relay';
  readonly rttMs: number;
  readonly loss: number;
  readonly jitterMs: number;
}

type Stat = Record<string, unknown> & { readonly type?: unknown; readonly id?: unknown };

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** The edge's call report from a getStats() report (any iterable of stats, or a Map), or undefined. */
export function callReportFromStats(
  stats: Iterable<Stat> | { values(): Iterable<Stat> },
): CallReportBody | undefined {
  const list = [
    ...('values' in stats && typeof stats.values === 'function' ? stats.values() : (stats as Iterable<Stat>)),
  ];
  const byId = new Map(list.map((s) => [s.id, s]));
  const pair =
    list.find((s) => s.type === 'candidate-pair' && s.nominated === true && s.state === 'succeeded') ??
    list.find((s) => s.type === 'candidate-pair' && s.state === 'succeeded');
  if (!pair) return undefined;
  const local = byId.get(pair.localCandidateId);
  const remote = byId.get(pair.remoteCandidateId);
  const path = local?.candidateType === 'relay' || remote?.candidateType === 'relay' ? 'relay' : 'direct';
  const rttS = num(pair.currentRoundTripTime);
  let loss: number | undefined;
  let jitterS: number | undefined;
  let rtt = rttS;
  for (const s of list) {
    if (s.type !== 'remote-inbound-rtp') continue;
    loss = Math.max(loss ?? 0, num(s.fractionLost) ?? 0);
    jitterS = Math.max(jitterS ?? 0, num(s.jitter) ?? 0);
    rtt ??= num(s.roundTripTime);
  }
  if (loss === undefined) {
    let lost = 0;
    let received = 0;
    for (const s of list) {
      if (s.type !== 'inbound-rtp') continue;
      lost += Math.max(0, num(s.packetsLost) ?? 0);
      received += Math.max(0, num(s.packetsReceived) ?? 0);
      jitterS = Math.max(jitterS ?? 0, num(s.jitter) ?? 0);
    }
    if (lost + received > 0) loss = lost / (lost + received);
  }
  if (rtt === undefined || loss === undefined) return undefined;
  return {
    path,
    rttMs: Math.round(rtt * 10_000) / 10,
    loss: Math.min(1, Math.max(0, loss)),
    jitterMs: Math.round((jitterS ?? 0) * 10_000) / 10,
  };
}

function post(o: CallEdge, path: string, body: unknown): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (o.apiKey) headers.authorization = `Bearer ${o.apiKey}`;
  return (o.fetch ?? fetch)(`${o.edgeUrl.replace(/\/$/, '')}${path}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
    ...(o.signal ? { signal: o.signal } : {}),
  });
}

/** Whether to force relaying for this call (`iceTransportPolicy: 'relay'`); direct when the edge cannot say. */
export async function callChoice(o: CallEdge): Promise<CallChoiceAnswer> {
  try {
    const res = await post(o, '/v1/calls/choice', { room: o.room });
    if (res.ok) return (await res.json()) as CallChoiceAnswer;
  } catch {
    // fall through: an edge that cannot answer leaves ICE to decide
  }
  throwIfAborted(o.signal, 'call choice');
  return { path: 'direct', forceRelay: false, reason: 'edge unavailable' };
}

/** At the end of a call: report what getStats measured. Resolves whether or not the edge took it. */
export async function reportCall(
  o: CallEdge,
  pc: { getStats(): Promise<Iterable<Stat> | { values(): Iterable<Stat> }> },
): Promise<boolean> {
  try {
    const report = callReportFromStats(await pc.getStats());
    if (!report) return false;
    const res = await post(o, '/v1/calls/report', { room: o.room, ...report });
    return res.ok;
  } catch {
    throwIfAborted(o.signal, 'call report');
    return false;
  }
}
