/**
 * getRtcConfiguration's probing rounds against a scripted edge: the first answer's targets are
 * probed, the answer to those probes may name a second round (probed once, only its new relays),
 * and the final answer and the measurements report carry both rounds under the latest ticket.
 */
import { describe, expect, it } from 'vitest';
import { type AllocateAnswer, getRtcConfiguration, type ProbeTarget } from '../../sdk/index.ts';

const target = (id: string): ProbeTarget => ({ id, ping: `https://${id}.example/ping` });

function answer(relay: string, targets: string[], ticket: string): AllocateAnswer {
  return {
    iceServers: [{ urls: [`turn:${relay}.example:3478`], username: 'u', credential: 'c' }],
    relay: { id: relay, predictedRttMs: 10, basis: 'probe' },
    alternates: [],
    expiresAt: 2_000_000_000,
    probeTargets: targets.map(target),
    probeTicket: ticket,
  };
}

/** An edge that answers by how many probes the request carries, and records every request. */
function scriptedEdge(answers: (probes: { relay: string; rttMs: number }[]) => AllocateAnswer) {
  const requests: {
    path: string;
    body: { probes: { relay: string; rttMs: number }[]; probeTicket?: string };
  }[] = [];
  const doFetch = (async (url: string | URL, init?: RequestInit) => {
    const path = new URL(String(url)).pathname;
    const body = JSON.parse(String(init?.body ?? '{}'));
    requests.push({ path, body });
    const json = path === '/v1/allocate' ? answers(body.probes) : { accepted: body.probes.length };
    return new Response(JSON.stringify(json), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
  }) as typeof fetch;
  return { doFetch, requests };
}

const rtts: Record<string, number> = { paris: 20, frankfurt: 24, london: 15, madrid: 30 };
const prober = (probed: string[]) => async (t: ProbeTarget) => {
  probed.push(t.id);
  return { rttMs: rtts[t.id]!, method: 'https' as const };
};

describe('getRtcConfiguration probing rounds', () => {
  it('probes the second round the edge names and allocates with both', async () => {
    const { doFetch, requests } = scriptedEdge((probes) =>
      probes.length === 0
        ? answer('paris', ['paris', 'frankfurt'], 't1')
        : probes.length === 2
          ? // The second round names London, and Paris again (measured twice: the lower figure stands).
            answer('paris', ['london', 'paris'], 't2')
          : answer('london', [], 't3'),
    );
    const probed: string[] = [];
    const r = await getRtcConfiguration({
      edgeUrl: 'https://edge.example',
      fetch: doFetch,
      prober: prober(probed),
    });
    expect(probed.sort()).toEqual(['frankfurt', 'london', 'paris', 'paris']);
    expect(r.relay.id).toBe('london');
    expect(r.probes.map((p) => p.relay).sort()).toEqual(['frankfurt', 'london', 'paris']);
    const allocs = requests.filter((q) => q.path === '/v1/allocate');
    expect(allocs).toHaveLength(3);
    expect(allocs[1]!.body.probeTicket).toBe('t1');
    expect(allocs[2]!.body.probeTicket).toBe('t2');
    expect(allocs[2]!.body.probes).toHaveLength(3);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const report = requests.find((q) => q.path === '/v1/measurements')!;
    expect(report.body.probeTicket).toBe('t2');
    expect(report.body.probes.map((p) => p.relay).sort()).toEqual(['frankfurt', 'london', 'paris']);
  });

  it('stops after one round when the answer names nothing', async () => {
    const { doFetch, requests } = scriptedEdge((probes) =>
      probes.length === 0 ? answer('paris', ['paris', 'frankfurt'], 't1') : answer('paris', [], 't2'),
    );
    const probed: string[] = [];
    const r = await getRtcConfiguration({
      edgeUrl: 'https://edge.example',
      fetch: doFetch,
      prober: prober(probed),
    });
    expect(probed.sort()).toEqual(['frankfurt', 'paris']);
    expect(r.relay.id).toBe('paris');
    expect(requests.filter((q) => q.path === '/v1/allocate')).toHaveLength(2);
    await new Promise((resolve) => setTimeout(resolve, 0));
    // The first round's ticket covers what was measured (an edge names a second round under its own).
    expect(requests.find((q) => q.path === '/v1/measurements')!.body.probeTicket).toBe('t1');
  });

  it('probes two rounds at most', async () => {
    let n = 0;
    const { doFetch, requests } = scriptedEdge(() =>
      answer('paris', [['paris'], ['london'], ['madrid']][n++ % 3]!, `t${n}`),
    );
    const probed: string[] = [];
    await getRtcConfiguration({ edgeUrl: 'https://edge.example', fetch: doFetch, prober: prober(probed) });
    expect(probed).toEqual(['paris', 'london']);
    expect(requests.filter((q) => q.path === '/v1/allocate')).toHaveLength(3);
  });
});
