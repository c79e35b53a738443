/**
 * Backbone forwarding benchmark: what carrying media between relays over the backbone costs
 * against plain relay-to-relay UDP, in one run, with the same clients. Pairs of TURN clients, one
 * on relay A and one on relay B, send to each other's relayed address; B's client echoes. Three
 * set-ups on loopback, all with real relay processes and a real Redis:
 *   plain     relays without a backbone: A's relayed socket sends straight to B's relayed address
 *   1 hop     relays with a backbone, A -> B direct
 *   2 hops    the same relays, with the A-B link blackholed so frames go A -> C -> B
 * Each set-up runs at a fixed rate (latency) and with a window of packets in flight (rate).
 *
 *   node --import tsx bench/backbone-forwarding.ts [--duration 3] [--pairs 20] [--out bench/results/backbone-forwarding.json]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import {
  relayRoute,
  setRelayFaults,
  startTestRelay,
  stopTestRelays,
  type TestRelay,
  until,
} from '../test/support/backbone-relays.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../test/support/redis.ts';
import { TurnTestClient } from '../test/support/turn-client.ts';

const CRED = { username: 'a', password: 'b', realm: 'r' };
/** No per-allocation caps: this measures the relays, not their limits. */
const UNCAPPED = ['--max-alloc-pps', '0', '--max-alloc-bps', '0', '--user-quota', '10000', '--no-tcp'];

const relay = (id: string, host: string, redis?: { url: string; prefix: string }) =>
  startTestRelay({ id, host, redis, extra: UNCAPPED });

async function waitRoute(r: TestRelay, to: string, want: string): Promise<void> {
  await until(async () => (await relayRoute(r, to)) === want, 15_000, `route to ${to} via ${want}`);
}

interface Result {
  setup: string;
  pattern: string;
  pairs: number;
  roundTripsPerSecond: number;
  lossPercent: number;
  rttP50Ms: number;
  rttP99Ms: number;
}

/** Pairs (A-side, B-side) that send to each other; B echoes every packet back. */
async function measure(
  setup: string,
  a: TestRelay,
  b: TestRelay,
  pairs: number,
  durationMs: number,
): Promise<Result[]> {
  const flows: { c1: TurnTestClient; c2: TurnTestClient }[] = [];
  for (let i = 0; i < pairs; i++) {
    const c1 = await TurnTestClient.connect({ transport: 'udp', server: a.turn, cred: CRED });
    const c2 = await TurnTestClient.connect({ transport: 'udp', server: b.turn, cred: CRED });
    await c1.allocate();
    await c2.allocate();
    await c1.channelBind(0x4000, c2.relayed!);
    await c2.channelBind(0x4000, c1.relayed!);
    c2.onChannelData = (_ch, data) => c2.sendChannel(0x4000, data);
    flows.push({ c1, c2 });
  }
  const results: Result[] = [];
  for (const pattern of ['50 pps per pair', '8 in flight per pair'] as const) {
    const rtts: number[] = [];
    let sent = 0;
    let received = 0;
    let running = true;
    const payload = new Uint8Array(100);
    const view = new DataView(payload.buffer);
    const send = (c: TurnTestClient) => {
      view.setFloat64(0, performance.now());
      c.sendChannel(0x4000, payload);
      sent++;
    };
    for (const { c1 } of flows) {
      c1.onChannelData = (_ch, data) => {
        received++;
        rtts.push(performance.now() - new DataView(data.buffer, data.byteOffset, 8).getFloat64(0));
        if (running && pattern === '8 in flight per pair') send(c1);
      };
    }
    const start = performance.now();
    let timer: NodeJS.Timeout | undefined;
    if (pattern === '50 pps per pair') {
      timer = setInterval(() => {
        for (const f of flows) send(f.c1);
      }, 20);
    } else for (const { c1 } of flows) for (let i = 0; i < 8; i++) send(c1);
    await new Promise((r) => setTimeout(r, durationMs));
    running = false;
    clearInterval(timer);
    const seconds = (performance.now() - start) / 1000;
    await new Promise((r) => setTimeout(r, 300));
    rtts.sort((x, y) => x - y);
    const pick = (p: number) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))] ?? Number.NaN;
    results.push({
      setup,
      pattern,
      pairs,
      roundTripsPerSecond: received / seconds,
      lossPercent: sent ? (100 * Math.max(0, sent - received)) / sent : 0,
      rttP50Ms: pick(0.5),
      rttP99Ms: pick(0.99),
    });
    process.stderr.write(
      `  ${setup}, ${pattern}: ${Math.round(received / seconds)} round trips/s, p50 ${pick(0.5).toFixed(3)} ms\n`,
    );
  }
  for (const { c1, c2 } of flows) {
    await Promise.all([c1.refresh(0).catch(() => undefined), c2.refresh(0).catch(() => undefined)]);
    await Promise.all([c1.close(), c2.close()]);
  }
  return results;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '3' },
      pairs: { type: 'string', default: '20' },
      out: { type: 'string', default: 'bench/results/backbone-forwarding.json' },
    },
  });
  const durationMs = Number(values.duration) * 1000;
  const pairs = Number(values.pairs);
  if (!(durationMs >= 1000 && durationMs <= 60_000) || !(pairs >= 1 && pairs <= 200)) {
    process.stderr.write('bench: --duration 1..60 seconds, --pairs 1..200\n');
    process.exit(2);
  }
  const url = await redisUrl();
  const prefix = uniquePrefix('bench-backbone');
  const relays: TestRelay[] = [];
  const results: Result[] = [];
  try {
    process.stderr.write('plain relay-to-relay UDP (no backbone)...\n');
    const pa = await relay('PA', '127.0.0.21');
    const pb = await relay('PB', '127.0.0.22');
    relays.push(pa, pb);
    results.push(...(await measure('plain UDP', pa, pb, pairs, durationMs)));

    process.stderr.write('backbone...\n');
    const a = await relay('A', '127.0.0.23', { url, prefix });
    const b = await relay('B', '127.0.0.24', { url, prefix });
    const c = await relay('C', '127.0.0.25', { url, prefix });
    relays.push(a, b, c);
    await waitRoute(a, 'B', 'A-B');
    await waitRoute(b, 'A', 'B-A');
    results.push(...(await measure('backbone, 1 hop', a, b, pairs, durationMs)));

    await Promise.all([setRelayFaults(a, 'B:blackhole'), setRelayFaults(b, 'A:blackhole')]);
    await waitRoute(a, 'B', 'A-C-B');
    await waitRoute(b, 'A', 'B-C-A');
    results.push(...(await measure('backbone, 2 hops (via C)', a, b, pairs, durationMs)));
  } finally {
    await stopTestRelays(relays);
    await deleteKeys(url, prefix);
  }
  const base = new Map(results.filter((r) => r.setup === 'plain UDP').map((r) => [r.pattern, r]));
  const table = [
    '| set-up | load | pairs | round trips/s | loss % | RTT p50 ms | RTT p99 ms | added one-way p50 vs plain (ms) |',
    '|---|---|---:|---:|---:|---:|---:|---:|',
    ...results.map((r) => {
      const added = (r.rttP50Ms - base.get(r.pattern)!.rttP50Ms) / 2;
      return `| ${r.setup} | ${r.pattern} | ${r.pairs} | ${Math.round(r.roundTripsPerSecond)} | ${r.lossPercent.toFixed(2)} | ${r.rttP50Ms.toFixed(3)} | ${r.rttP99Ms.toFixed(3)} | ${r.setup === 'plain UDP' ? '-' : added.toFixed(3)} |`;
    }),
  ].join('\n');
  process.stdout.write(`${table}\n`);
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(
    values.out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, durationMs, results }, null, 2)}\n`,
  );
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
