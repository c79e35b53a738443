/**
 * Backbone forwarding benchmark: what carrying media between relays over the backbone costs
 * against plain relay-to-relay UDP, in one run, with the same clients. Pairs of TURN clients, one
 * on each of two relays, send to each other's relayed address; the second client echoes. Three
 * set-ups on loopback, all with real relay processes and a real Redis, all alive for the whole run
 * (every measurement shares the machine with the same processes):
 *   plain     PA and PB, relays without a backbone: PA's relayed socket sends straight to PB's
 *   1 hop     A <-> B over the backbone, direct
 *   2 hops    A <-> D over the backbone, with A-D and B-D blackholed so frames go A -> C -> D
 * Each set-up runs at a fixed rate (latency) and with a window of packets in flight per pair
 * (saturation), with the same payload (100 bytes, or --size) from the same client process. The set-ups take
 * turns for several rounds; the table gives medians over rounds of the round-trip rate, of the
 * relays' CPU time per round trip (the six relay processes, read from /proc, less what they use
 * idle, measured for 2 s each round; it holds up better than the rate when the machine is shared)
 * and of each backbone set-up's ratio to plain UDP in the same round. Beside the total, the CPU
 * per round trip of the set-up's busiest relay: with a CPU per relay (relays on machines of their
 * own) that relay caps the rate, so plain's busiest over the set-up's busiest is the rate the
 * set-up reaches against plain UDP where the relays' CPU is the limit ("CPU-limited rate").
 *
 * With `--workers-b N` (N > 1) a fourth set-up, "1 hop, B2 with N workers": A <-> B2, a relay like
 * B run with --workers N (on a Node with dgram reusePort: test/support/newer-node.ts), its clients
 * spread over its threads by the kernel, each frame sent to the thread owning its port.
 *
 * Every relay runs the --udp-io given here, dgram unless asked (passed explicitly: the relay's own
 * default, auto, would take native where the addon is built), and each relay's /healthz must say
 * so before the run starts. With `--udp-io native` every relay, plain ones included, runs on the
 * native addon (npm run build:native): TURN listeners, relayed sockets and backbone ports.
 * `--backbone-mac` is the backbone relays' (auto: the addon's OpenSSL MAC when it is built;
 * node-crypto), to compare the two on the same code. `--cpu-prof DIR` runs every relay under
 * `node --cpu-prof` and leaves each one's profile in DIR/<relay id>/ when it stops (the figures
 * of such a run are the profiler's too: read them for where the time goes, not as results).
 * `--node-flags` adds flags to every relay's Node (--perf-basic-prof, for `perf record -p`).
 *
 *   node --import tsx bench/backbone-forwarding.ts [--duration 3] [--pairs 20] [--rounds 5] [--workers-b N] [--size 100] [--udp-io dgram|native] [--backbone-mac auto|node-crypto] [--cpu-prof DIR] [--node-flags="--perf-basic-prof ..."] [--out bench/results/backbone-forwarding.json]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import type { BackboneMacMode } from '../relay/config-options.ts';
import { nativeUdpIo, type UdpIoMode } from '../relay/udp-io.ts';
import {
  relayBackboneIo,
  relayBackboneMac,
  relayMetric,
  relayRoute,
  relayUdpIo,
  setRelayFaults,
  startTestRelay,
  stopTestRelays,
  type TestRelay,
  until,
} from '../test/support/backbone-relays.ts';
import { newerNode } from '../test/support/newer-node.ts';
import { deleteKeys, redisUrl, uniquePrefix } from '../test/support/redis.ts';
import { TurnTestClient } from '../test/support/turn-client.ts';

const CRED = { username: 'a', password: 'b', realm: 'r' };
/** No per-allocation caps: this measures the relays, not their limits. */
const UNCAPPED = ['--max-alloc-pps', '0', '--max-alloc-bps', '0', '--user-quota', '10000', '--no-tcp'];
const PATTERNS = ['50 pps per pair', '8 in flight per pair'] as const;
type Pattern = (typeof PATTERNS)[number];
const SETUPS: string[] = ['plain UDP', 'backbone, 1 hop', 'backbone, 2 hops (via C)'];
type Setup = string;
const withWorkers = (n: number) => `backbone, 1 hop, B2 with ${n} workers`;

/** Which of the relays (PA, PB, A, B, C, D, then B2, in that order) each set-up's packets cross. */
const INVOLVED: Record<Setup, readonly number[]> = {
  'plain UDP': [0, 1],
  'backbone, 1 hop': [2, 3],
  'backbone, 2 hops (via C)': [2, 4, 5],
};

/** --backbone-mac of the backbone relays. */
let backboneMac: BackboneMacMode = 'auto';
/** --cpu-prof: each relay runs under `node --cpu-prof`, its profile in DIR/<relay id>/. */
let profileDir: string | undefined;
/** --node-flags: more flags for every relay's Node (--perf-basic-prof for `perf record`...). */
let nodeFlags: string[] = [];

const relay = (
  id: string,
  host: string,
  io: UdpIoMode,
  redis?: { url: string; prefix: string },
  workers?: { n: number; node: string },
) =>
  startTestRelay({
    id,
    host,
    redis,
    extra: [
      ...UNCAPPED,
      '--udp-io',
      io,
      ...(workers ? ['--workers', String(workers.n)] : []),
      ...(redis ? ['--backbone-mac', backboneMac] : []),
    ],
    ...(workers ? { node: workers.node, backbonePorts: workers.n } : {}),
    nodeArgs: [...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', `${profileDir}/${id}`] : []), ...nodeFlags],
  });

/**
 * Waits up to a minute for a set-up's route. A saturation sample can make the direct link lose
 * probes, and the routing's damping switches back only on a gain held 6 s, or a small one held
 * 30 s (src/backbone/defaults.ts), while the probe window still remembers the losses; a route
 * still elsewhere after a minute skips the sample (counted and printed) rather than ending the run.
 */
async function waitRoute(r: TestRelay, to: string, want: string): Promise<boolean> {
  return until(async () => (await relayRoute(r, to)) === want, 60_000, `route to ${to} via ${want}`).then(
    () => true,
    () => false,
  );
}

/** CPU seconds (user + system) a process has used so far, from /proc/PID/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat(5) (utime, stime) are the 12th and 13th after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Sample {
  round: number;
  setup: Setup;
  pattern: Pattern;
  roundTripsPerSecond: number;
  lossPercent: number;
  rttP50Ms: number;
  rttP99Ms: number;
  /** CPU of all relay processes per round trip, in microseconds, their idle CPU taken off. */
  relayCpuUsPerRoundTrip: number;
  /**
   * The same for the busiest relay of the set-up's own (PA or PB; A or B; A, C or D): what caps
   * the rate when each relay has a CPU of its own, as between machines.
   */
  busiestRelayCpuUsPerRoundTrip: number;
}

interface Flow {
  c1: TurnTestClient;
  c2: TurnTestClient;
}

/** Pairs (first relay, second relay) that send to each other; the second side echoes. */
async function connectPairs(a: TestRelay, b: TestRelay, pairs: number): Promise<Flow[]> {
  const flows: Flow[] = [];
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
  return flows;
}

async function measure(
  round: number,
  setup: Setup,
  pattern: Pattern,
  flows: readonly Flow[],
  pids: readonly number[],
  /** CPU seconds per second each relay uses with no traffic (probes, timers), taken off. */
  idleCpu: readonly number[],
  /** Indices into `pids` of the relays this set-up's packets cross. */
  involved: readonly number[],
  durationMs: number,
  /** ChannelData payload bytes (the first 8 carry the send time). */
  size: number,
): Promise<Sample> {
  const rtts: number[] = [];
  let sent = 0;
  let received = 0;
  let running = true;
  const payload = new Uint8Array(size);
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
  const cpu0 = pids.map(cpuSeconds);
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
  const countedReceived = received;
  await new Promise((r) => setTimeout(r, 300));
  const cpuSpan = (performance.now() - start) / 1000;
  const used = pids.map((p, i) => cpuSeconds(p) - cpu0[i]! - idleCpu[i]! * cpuSpan);
  const cpu = used.reduce((a, b) => a + b, 0);
  const busiest = Math.max(...involved.map((i) => used[i]!));
  for (const { c1 } of flows) c1.onChannelData = undefined;
  rtts.sort((x, y) => x - y);
  const pick = (p: number) => rtts[Math.min(rtts.length - 1, Math.floor(p * rtts.length))] ?? Number.NaN;
  const s: Sample = {
    round,
    setup,
    pattern,
    roundTripsPerSecond: countedReceived / seconds,
    lossPercent: sent ? (100 * Math.max(0, sent - received)) / sent : 0,
    rttP50Ms: pick(0.5),
    rttP99Ms: pick(0.99),
    relayCpuUsPerRoundTrip: received ? (cpu * 1e6) / received : Number.NaN,
    busiestRelayCpuUsPerRoundTrip: received ? (busiest * 1e6) / received : Number.NaN,
  };
  process.stderr.write(
    `  round ${round}, ${setup}, ${pattern}: ${Math.round(s.roundTripsPerSecond)} round trips/s, ` +
      `p50 ${s.rttP50Ms.toFixed(3)} ms, relays ${s.relayCpuUsPerRoundTrip.toFixed(1)} us CPU per round trip, ` +
      `busiest ${s.busiestRelayCpuUsPerRoundTrip.toFixed(1)}\n`,
  );
  return s;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function table(samples: readonly Sample[]): string {
  const rows = [
    '| set-up | load | round trips/s | x plain | relay CPU us per round trip | x plain | busiest relay CPU us per round trip | CPU-limited rate x plain | loss % | RTT p50 ms | RTT p99 ms |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const pattern of PATTERNS) {
    for (const setup of SETUPS) {
      const mine = samples.filter((s) => s.setup === setup && s.pattern === pattern);
      // Ratios are taken round by round (each against the plain run of the same round), then the median.
      const ratio = (f: (s: Sample) => number) =>
        median(
          mine.map((s) => {
            const p = samples.find(
              (x) => x.round === s.round && x.pattern === pattern && x.setup === SETUPS[0],
            )!;
            return f(s) / f(p);
          }),
        );
      const m = (f: (s: Sample) => number) => median(mine.map(f));
      const plain = setup === SETUPS[0];
      rows.push(
        `| ${setup} | ${pattern} | ${Math.round(m((s) => s.roundTripsPerSecond))} | ${plain ? '-' : ratio((s) => s.roundTripsPerSecond).toFixed(2)} | ` +
          `${m((s) => s.relayCpuUsPerRoundTrip).toFixed(1)} | ${plain ? '-' : ratio((s) => s.relayCpuUsPerRoundTrip).toFixed(2)} | ` +
          `${m((s) => s.busiestRelayCpuUsPerRoundTrip).toFixed(1)} | ${plain ? '-' : ratio((s) => 1 / s.busiestRelayCpuUsPerRoundTrip).toFixed(2)} | ` +
          `${m((s) => s.lossPercent).toFixed(2)} | ${m((s) => s.rttP50Ms).toFixed(3)} | ${m((s) => s.rttP99Ms).toFixed(3)} |`,
      );
    }
  }
  return rows.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '3' },
      pairs: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '5' },
      'workers-b': { type: 'string', default: '1' },
      size: { type: 'string', default: '100' },
      'udp-io': { type: 'string', default: 'dgram' },
      'backbone-mac': { type: 'string', default: 'auto' },
      'cpu-prof': { type: 'string' },
      'node-flags': { type: 'string', default: '' },
      out: { type: 'string', default: 'bench/results/backbone-forwarding.json' },
    },
  });
  const durationMs = Number(values.duration) * 1000;
  const pairs = Number(values.pairs);
  const rounds = Number(values.rounds);
  const workersB = Number(values['workers-b']);
  const size = Number(values.size);
  const io = values['udp-io'];
  if (io !== 'dgram' && io !== 'native') {
    process.stderr.write(`bench: --udp-io: expected dgram or native, got "${io}"\n`);
    process.exit(2);
  }
  const mac = values['backbone-mac'];
  if (mac !== 'auto' && mac !== 'node-crypto') {
    process.stderr.write(`bench: --backbone-mac: expected auto or node-crypto, got "${mac}"\n`);
    process.exit(2);
  }
  backboneMac = mac;
  profileDir = values['cpu-prof'];
  nodeFlags = values['node-flags'].split(' ').filter((f) => f !== '');
  if (io === 'native' && !nativeUdpIo()) {
    process.stderr.write('bench: --udp-io native: the addon is not built (npm run build:native)\n');
    process.exit(2);
  }
  if (
    !(durationMs >= 1000 && durationMs <= 60_000) ||
    !(pairs >= 1 && pairs <= 200) ||
    !(Number.isInteger(rounds) && rounds >= 1 && rounds <= 20) ||
    !(Number.isInteger(workersB) && workersB >= 1 && workersB <= 8) ||
    !(Number.isInteger(size) && size >= 8 && size <= 1400)
  ) {
    process.stderr.write(
      'bench: --duration 1..60 seconds, --pairs 1..200, --rounds 1..20, --workers-b 1..8, --size 8..1400 bytes\n',
    );
    process.exit(2);
  }
  if (workersB > 1) {
    SETUPS.push(withWorkers(workersB));
    INVOLVED[withWorkers(workersB)] = [2, 6];
  }
  const url = await redisUrl();
  const prefix = uniquePrefix('bench-backbone');
  const relays: TestRelay[] = [];
  const samples: Sample[] = [];
  const discarded: Sample[] = [];
  const skipped: { round: number; setup: Setup; pattern: Pattern }[] = [];
  const flows: Flow[] = [];
  const bundling: { relay: string; frames: number; datagrams: number }[] = [];
  const macs: Record<string, string | undefined> = {};
  try {
    const pa = await relay('PA', '127.0.0.21', io);
    const pb = await relay('PB', '127.0.0.22', io);
    const a = await relay('A', '127.0.0.23', io, { url, prefix });
    const b = await relay('B', '127.0.0.24', io, { url, prefix });
    const c = await relay('C', '127.0.0.25', io, { url, prefix });
    const d = await relay('D', '127.0.0.26', io, { url, prefix });
    relays.push(pa, pb, a, b, c, d);
    const b2 =
      workersB > 1
        ? await relay('B2', '127.0.0.27', io, { url, prefix }, { n: workersB, node: await newerNode() })
        : undefined;
    if (b2) relays.push(b2);
    // Every row measures the I/O asked for: each relay's TURN side, and each backbone's port.
    for (const r of relays) {
      const got = await relayUdpIo(r);
      if (got !== io) throw new Error(`relay ${r.id}: UDP I/O ${got}, not ${io}`);
    }
    for (const r of relays.slice(2)) {
      const got = await relayBackboneIo(r);
      if (got !== io) throw new Error(`relay ${r.id}: backbone on ${got}, not ${io}`);
      macs[r.id] = await relayBackboneMac(r);
    }
    process.stderr.write(`frame MACs: ${JSON.stringify(macs)}\n`);
    // D is reachable from A and B only through C.
    await Promise.all([
      setRelayFaults(a, 'D:blackhole'),
      setRelayFaults(b, 'D:blackhole'),
      setRelayFaults(d, 'A:blackhole;B:blackhole'),
    ]);
    await Promise.all([
      waitRoute(a, 'B', 'A-B'),
      waitRoute(b, 'A', 'B-A'),
      waitRoute(a, 'D', 'A-C-D'),
      waitRoute(d, 'A', 'D-C-A'),
      ...(b2 ? [waitRoute(a, 'B2', 'A-B2'), waitRoute(b2, 'A', 'B2-A')] : []),
    ]);
    const pids = relays.map((r) => r.child.child.pid!);
    const bySetup = new Map<Setup, Flow[]>([
      [SETUPS[0]!, await connectPairs(pa, pb, pairs)],
      [SETUPS[1]!, await connectPairs(a, b, pairs)],
      [SETUPS[2]!, await connectPairs(a, d, pairs)],
    ]);
    if (b2) bySetup.set(SETUPS[3]!, await connectPairs(a, b2, pairs));
    for (const f of bySetup.values()) flows.push(...f);
    // The route each backbone set-up must keep for its sample to count.
    const routeOf = new Map<Setup, [TestRelay, string, string]>([
      [SETUPS[1]!, [a, 'B', 'A-B']],
      [SETUPS[2]!, [a, 'D', 'A-C-D']],
    ]);
    if (b2) routeOf.set(SETUPS[3]!, [a, 'B2', 'A-B2']);
    for (let round = 1; round <= rounds; round++) {
      // What the six relays burn with no traffic (probing, timers), measured each round: taken off
      // every sample, so a sample's CPU per round trip does not grow when its rate falls.
      const idle0 = pids.map(cpuSeconds);
      const idleStart = performance.now();
      await new Promise((r) => setTimeout(r, 2000));
      const idleSpan = (performance.now() - idleStart) / 1000;
      const idleCpu = pids.map((p, i) => (cpuSeconds(p) - idle0[i]!) / idleSpan);
      for (const pattern of PATTERNS) {
        for (const setup of SETUPS) {
          const route = routeOf.get(setup);
          if (route && !(await waitRoute(...route))) {
            process.stderr.write(
              `  round ${round}, ${setup}, ${pattern}: route not back on ${route[2]} within 60 s, skipped\n`,
            );
            skipped.push({ round, setup, pattern });
            continue;
          }
          const flows = bySetup.get(setup)!;
          const s = await measure(
            round,
            setup,
            pattern,
            flows,
            pids,
            idleCpu,
            INVOLVED[setup]!,
            durationMs,
            size,
          );
          // A sample whose path changed under it (probes slowed by load) is not a sample of this set-up.
          if (route && (await relayRoute(route[0], route[1])) !== route[2]) {
            process.stderr.write(`  (route changed during the sample: not counted)\n`);
            discarded.push(s);
          } else samples.push(s);
        }
      }
    }
    // How full the bundles were over the whole run, on each backbone relay (docs/BACKBONE.md, "Bundles").
    for (const r of relays.slice(2)) {
      const frames = await relayMetric(r, 'backbone_bundled_frames_total');
      const datagrams = await relayMetric(r, 'backbone_bundle_datagrams_total');
      bundling.push({ relay: r.id, frames, datagrams });
      process.stderr.write(
        `  ${r.id}: ${frames} data frames in ${datagrams} datagrams from the bundler (${(frames / Math.max(1, datagrams)).toFixed(2)} per datagram)\n`,
      );
    }
  } finally {
    for (const { c1, c2 } of flows) {
      await Promise.all([c1.refresh(0).catch(() => undefined), c2.refresh(0).catch(() => undefined)]);
      await Promise.all([c1.close(), c2.close()]);
    }
    await stopTestRelays(relays);
    await deleteKeys(url, prefix);
  }
  process.stdout.write(`UDP I/O of every relay (/healthz): ${io}\n${table(samples)}\n`);
  if (discarded.length) process.stdout.write(`${discarded.length} samples not counted: route changed\n`);
  if (skipped.length) process.stdout.write(`${skipped.length} samples skipped: route not back within 60 s\n`);
  mkdirSync(dirname(values.out), { recursive: true });
  writeFileSync(
    values.out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, udpIo: io, backboneMac: macs, durationMs, pairs, rounds, workersB, size, samples, discarded, skipped, bundling }, null, 2)}\n`,
  );
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
