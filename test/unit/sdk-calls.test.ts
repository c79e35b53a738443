import { describe, expect, it } from 'vitest';
import { callChoice, callReportFromStats, reportCall } from '../../sdk/index.ts';
import { MemoryCallQualityStore } from '../../src/allocation/call-store.ts';
import { MemoryLearnedStore } from '../../src/allocation/learned-store.ts';
import { createEdgeApp } from '../../workers/app.ts';

// A getStats() report as Chromium shapes it, cut to what the SDK reads.
const stats = (localType: string) => [
  { id: 'L', type: 'local-candidate', candidateType: localType },
  { id: 'R', type: 'remote-candidate', candidateType: 'srflx' },
  { id: 'P0', type: 'candidate-pair', state: 'failed', localCandidateId: 'X', remoteCandidateId: 'Y' },
  {
    id: 'P1',
    type: 'candidate-pair',
    state: 'succeeded',
    nominated: true,
    localCandidateId: 'L',
    remoteCandidateId: 'R',
    currentRoundTripTime: 0.0873,
  },
  { id: 'RI', type: 'remote-inbound-rtp', fractionLost: 0.02, jitter: 0.004, roundTripTime: 0.09 },
];

describe('the SDK call report', () => {
  it('reads RTT, loss, jitter and the path from getStats', () => {
    expect(callReportFromStats(stats('host'))).toEqual({
      path: 'direct',
      rttMs: 87.3,
      loss: 0.02,
      jitterMs: 4,
    });
    expect(callReportFromStats(new Map(stats('relay').map((s) => [s.id, s])))?.path).toBe('relay');
  });

  it('falls back to what it received when the remote side said nothing, and gives up without a pair', () => {
    const own = [
      ...stats('host').slice(0, 4),
      { id: 'I1', type: 'inbound-rtp', packetsLost: 5, packetsReceived: 995, jitter: 0.002 },
    ];
    expect(callReportFromStats(own)).toEqual({ path: 'direct', rttMs: 87.3, loss: 0.005, jitterMs: 2 });
    expect(callReportFromStats(stats('host').filter((s) => s.type !== 'candidate-pair'))).toBeUndefined();
  });

  it('asks the edge for the choice and reports to it, and stays quiet when the edge is away', async () => {
    const ip = { current: '203.0.113.7' };
    const app = createEdgeApp({
      relays: async () => [],
      learned: new MemoryLearnedStore(),
      secrets: () => ['s'],
      credentialTtlSeconds: 600,
      clientIp: () => ip.current,
      defaultPlace: { lat: 0, lon: 0 },
      calls: new MemoryCallQualityStore(),
      // Above the 5 % exploration share: the choice is the expected one, every run.
      random: () => 0.5,
    });
    const viaApp = ((url: string, init?: RequestInit) => app.request(url, init)) as typeof fetch;
    const o = { edgeUrl: 'http://edge.test/', room: 'r1', fetch: viaApp };
    expect((await callChoice(o)).reason).toBe('no peer yet');
    ip.current = '198.51.100.9';
    expect((await callChoice(o)).reason).toBe('expected');
    expect(await reportCall(o, { getStats: async () => stats('relay') })).toBe(true);
    expect(await reportCall(o, { getStats: async () => stats('relay') })).toBe(false);
    const down = { ...o, fetch: (async () => Promise.reject(new Error('offline'))) as typeof fetch };
    expect(await callChoice(down)).toEqual({ path: 'direct', forceRelay: false, reason: 'edge unavailable' });
    expect(await reportCall(down, { getStats: async () => stats('host') })).toBe(false);
  });
});
