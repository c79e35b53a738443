/**
 * TURN relay benchmark: our relay, coturn (one relay thread), Pion's Go server (its example
 * server, built from Debian's source at bench time: bench/lib/pion.ts) and node-turn 0.0.6, side
 * by side in one run, driven by the same load tool (bench/lib/turn-load.ts) against the same echo
 * peer (coturn's turnutils_peer), everything on loopback.
 *
 *   npm run bench:turn -- [--duration 5] [--rounds 1] [--servers ours,coturn,pion,node-turn]
 *                         [--scenarios saturation,latency@1,latency@50,latency@200,churn@50]
 *                         [--out bench/results/turn-relay.json] [--cpu-prof DIR] [--alt-node PATH]
 *                         [--workers N] [--base-root DIR] [--node-flags="--perf-basic-prof ..."]
 *
 * Scenarios per server: saturation (50 allocations, 8 packets in flight each) with ChannelData and
 * with Send indications, and round-trip latency at 1, 50 and 200 allocations sending 50 packets a
 * second each (an audio-like rate), and churn@50: latency@50 while lots of 20 more allocations
 * join every second, send for 300 ms and leave (what calls starting and ending cost the calls
 * already running; only the 50 measured ones' round trips count). With --rounds N the servers
 * take turns N times (the order rotates each round) and the table shows each figure's median over
 * the rounds: the machine's other load then falls on every server alike. Beside the median of
 * the rounds' p99 round trip, the table shows the p99 of all rounds' round trips pooled
 * (steadier: see MedianRow), and the ratios to coturn add the median of each round's own ratio
 * (pairedP99). Prints a table, the ratios to coturn and, for the latency scenarios, which bursts
 * the slowest 1 % of round trips left in (tails), and writes every figure (each round's and the
 * medians) as JSON.
 * --cpu-prof DIR runs our relay under `node --cpu-prof` and leaves its profile in DIR when it
 * stops; --node-flags adds flags to the Node running our relay (for `perf record` with
 * --perf-basic-prof, say). --alt-node PATH adds the server `ours-alt`: our relay run by another
 * Node binary (a newer Node beside the one running this). The server `ours-workers` is our relay with `--workers N` (--workers, default 2) on the
 * --alt-node Node (worker threads on one port with SO_REUSEPORT need Node 22.12 or later); its
 * rows are named `ours-wN`, and its CPU is the whole process's, every thread included.
 * The server `ours-native` is our relay with `--udp-io native` (the recvmmsg/sendmmsg addon; it
 * is built first with npm run build:native). With --workers N above 1, `ours-native-workers` runs
 * it with --workers N on this Node (the addon sets SO_REUSEPORT itself), rows named
 * `ours-native-wN`. With --base-root DIR (another checkout of this project, its node_modules in
 * place), `ours-base` and `ours-native-base` run DIR's relay on dgram and with `--udp-io native`
 * (DIR's addon built first): a before/after in one run. `ours`, `ours-alt`, `ours-workers` and
 * `ours-base` run `--udp-io dgram`, said explicitly: the relay's default, auto, would take native
 * where the addon is built. Every one of our servers is asked its I/O on /healthz once it is up
 * (a base without `udpIo` there: its log must not say the addon is missing), the bench stops when
 * it is not the one named, and the table, the ratios and the JSON carry it beside the server's
 * name (`ours (dgram)`).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import type { TransportAddress } from '../src/net/address.ts';
import { startNodeTurn } from '../test/support/node-turn-server.ts';
import { freePort, waitForStunBinding } from '../test/support/ports.ts';
import { startTurnutilsPeer } from '../test/support/turnutils.ts';
import { type Churn, startChurn } from './lib/churn.ts';
import { buildPionServer, PionUnavailableError } from './lib/pion.ts';
import {
  type LoadMode,
  type LoadOptions,
  type LoadPattern,
  type LoadResult,
  percentile,
  runLoad,
} from './lib/turn-load.ts';

// Pion's example server reads users as word=word: no punctuation in the password.
const CRED = { username: 'bench', password: 'benchpw', realm: 'bench.test' };
const ROOT = new URL('..', import.meta.url).pathname;
type UdpIo = 'dgram' | 'native';
/** --node-flags: more flags for the Node running our relay (--perf-basic-prof, --trace-gc...). */
let nodeFlags: string[] = [];

interface Server {
  readonly name: string;
  readonly pid: number;
  readonly address: TransportAddress;
  /** ChannelData works end to end (node-turn's does not; see README). */
  readonly channelData: boolean;
  /** Our relay's UDP I/O, as its /healthz said; undefined for the other servers. */
  readonly udpIo?: UdpIo;
  stop(): Promise<void>;
}

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}

function waitForLine(child: ChildProcess, pattern: RegExp, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start:\n${out}`)), 15_000);
    const on = (c: Buffer) => {
      out += c.toString();
      if (pattern.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.once('exit', (code) => reject(new Error(`${what} exited with ${code}:\n${out}`)));
  });
}

const killer = (child: ChildProcess, signal: NodeJS.Signals) => () =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });

async function startOurs(
  io: UdpIo,
  profileDir?: string,
  node = process.execPath,
  name = 'ours',
  workers = 1,
  root = ROOT,
): Promise<Server> {
  const port = await freePort('both');
  const child = spawn(
    node,
    [
      ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : []),
      ...nodeFlags,
      '--import',
      'tsx',
      'relay/main.ts',
      '--workers',
      String(workers),
      '--turn-port',
      String(port),
      '--http-port',
      '0',
      '--no-tcp',
      '--user',
      `${CRED.username}:${CRED.password}`,
      '--realm',
      CRED.realm,
      '--allow-peer',
      '127.0.0.0/8',
      '--log-level',
      'warn',
      '--user-quota',
      '10000',
      // Every flow starts from 127.0.0.1: do not meter their 401 challenges.
      '--unauth-rate',
      '1000000',
      '--unauth-burst',
      '1000000',
      '--max-alloc-pps',
      '0',
      '--max-alloc-bps',
      '0',
      '--min-port',
      '46000',
      '--max-port',
      '47999',
      '--udp-io',
      io,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (d: Buffer) => {
    output += d.toString();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  await waitForLine(child, /"event":"ready"/, 'our relay');
  // The I/O this row measures, from the relay itself.
  const ready = JSON.parse(output.split('\n').find((l) => l.includes('"event":"ready"'))!) as {
    httpPort: number;
  };
  const health = (await (await fetch(`http://127.0.0.1:${ready.httpPort}/healthz`)).json()) as {
    udpIo?: string;
  };
  // A base checkout from before /healthz said `udpIo` ran --udp-io native with a warning when the
  // addon was missing, and dgram when told.
  const runs = health.udpIo ?? (io === 'native' && /addon is not built/.test(output) ? 'dgram' : io);
  if (runs !== io) {
    child.kill('SIGKILL');
    fail(`${name}: asked for --udp-io ${io}, the relay runs ${runs}`);
  }
  return {
    name,
    pid: child.pid!,
    address: addr(port),
    channelData: true,
    udpIo: io,
    stop: killer(child, 'SIGINT'),
  };
}

async function startCoturn(): Promise<Server> {
  const port = await freePort('both');
  const child = spawn(
    'turnserver',
    [
      '-n',
      '--no-cli',
      '--listening-ip',
      '127.0.0.1',
      '--relay-ip',
      '127.0.0.1',
      '--listening-port',
      String(port),
      '--min-port',
      '48000',
      '--max-port',
      '49999',
      '--allow-loopback-peers',
      '--lt-cred-mech',
      '--user',
      `${CRED.username}:${CRED.password}`,
      '--realm',
      CRED.realm,
      '--relay-threads',
      '1',
      '--no-tls',
      '--no-dtls',
      '--no-tcp',
      '--log-file',
      'stdout',
      '--simple-log',
      '--no-software-attribute',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await waitForLine(
    child,
    /Total (UDP|General) servers|listener opened on|IPv4\. UDP listener opened/,
    'coturn',
  );
  await new Promise((r) => setTimeout(r, 500));
  return {
    name: 'coturn',
    pid: child.pid!,
    address: addr(port),
    channelData: true,
    stop: killer(child, 'SIGKILL'),
  };
}

/**
 * Pion's example TURN server (turn-server/simple): UDP, one listener goroutine, a goroutine per
 * relayed socket, Go's default GOMAXPROCS (every core). Relayed sockets on 0.0.0.0, advertised as
 * 127.0.0.1; it has no port range or loopback restriction to configure.
 */
async function startPion(binary: string): Promise<Server> {
  const port = await freePort('udp');
  const child = spawn(
    binary,
    [
      '-public-ip',
      '127.0.0.1',
      '-port',
      String(port),
      '-users',
      `${CRED.username}=${CRED.password}`,
      '-realm',
      CRED.realm,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  try {
    await waitForStunBinding('127.0.0.1', port, 10_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`Pion's server did not answer on ${port}: ${(err as Error).message}\n${out}`);
  }
  return {
    name: 'pion',
    pid: child.pid!,
    address: addr(port),
    channelData: true,
    stop: killer(child, 'SIGINT'),
  };
}

async function startNodeTurnServer(): Promise<Server> {
  const port = await freePort('udp');
  const s = await startNodeTurn({
    listen: '127.0.0.1',
    port,
    users: { [CRED.username]: CRED.password },
    realm: CRED.realm,
    minPort: 50000,
    maxPort: 51999,
  });
  return { name: 'node-turn', pid: s.pid, address: addr(port), channelData: false, stop: s.stop };
}

const addr = (port: number): TransportAddress => ({ family: 4, address: '127.0.0.1', port });

/** CPU seconds (user + system) a process has used, from /proc/PID/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The machine's CPU times so far (/proc/stat, all CPUs): total and stolen by the hypervisor. */
function machineCpu(): { total: number; steal: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: cpu.reduce((a, b) => a + b, 0), steal: cpu[7] ?? 0 };
}

/** Percent of the machine's CPU time stolen by the hypervisor since `start` (a machineCpu()). */
function stealSince(start: { total: number; steal: number }): number {
  const now = machineCpu();
  return (100 * (now.steal - start.steal)) / Math.max(1, now.total - start.total);
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

interface Row extends Omit<LoadResult, 'rtts'> {
  readonly server: string;
  /** Our relay's UDP I/O (from its /healthz); absent for the other servers. */
  readonly udpIo?: UdpIo;
  readonly scenario: string;
  readonly mode: LoadMode;
  readonly round: number;
  readonly serverCpuPercent: number;
  /** Relayed packets per second of CPU the server used (user + system); NaN when it barely ran. */
  readonly packetsPerCpuSecond: number;
  readonly serverRssMb: number;
  /**
   * Share of the machine's CPU time the hypervisor gave to others during the run (/proc/stat
   * steal): on a shared virtual machine, rounds with more of it are noisier for every server.
   */
  readonly stealPercent: number;
}

/** One figure per (server, scenario, mode): the median of each measure over the rounds. */
interface MedianRow {
  readonly server: string;
  readonly udpIo?: UdpIo;
  readonly scenario: string;
  readonly mode: LoadMode;
  readonly allocations: number;
  readonly rounds: number;
  readonly relayedPacketsPerSecond: number;
  readonly packetsPerCpuSecond: number;
  readonly lossPercent: number;
  readonly rttP50Ms: number;
  readonly rttP99Ms: number;
  /**
   * p99 of every round trip of every round together. A round's p99 rests on its worst few
   * moments (at 50 allocations in step, one stall delays 50 round trips at once), so the median of
   * the rounds' p99 moves with a single stall; the pooled one weighs all rounds' stalls alike.
   */
  readonly rttP99PooledMs: number;
  readonly serverCpuPercent: number;
  readonly serverRssMb: number;
}

const SCENARIOS: {
  name: string;
  allocations: number;
  pattern: LoadPattern;
  modes: LoadMode[];
  churn?: Churn;
}[] = [
  {
    name: 'saturation',
    allocations: 50,
    pattern: { kind: 'window', inFlight: 8 },
    modes: ['channel', 'send'],
  },
  { name: 'latency@1', allocations: 1, pattern: { kind: 'rate', pps: 50 }, modes: ['channel', 'send'] },
  { name: 'latency@50', allocations: 50, pattern: { kind: 'rate', pps: 50 }, modes: ['channel', 'send'] },
  { name: 'latency@200', allocations: 200, pattern: { kind: 'rate', pps: 50 }, modes: ['channel', 'send'] },
  // latency@50 while calls join and leave: every second 20 more allocations are made (401,
  // Allocate, ChannelBind or the first Send), send for 300 ms and end (Refresh 0), from another
  // process (bench/lib/churn.ts). Only the 50 measured allocations' round trips count; the
  // server's CPU includes the joiners' work.
  {
    name: 'churn@50',
    allocations: 50,
    pattern: { kind: 'rate', pps: 50 },
    modes: ['channel', 'send'],
    churn: { allocations: 20, everyMs: 1000, holdMs: 300 },
  },
];

function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

const groupKey = (r: { server: string; scenario: string; mode: LoadMode }): string =>
  `${r.server}|${r.scenario}|${r.mode}`;

/** The round trips of several runs as one sorted array. */
function pool(runs: readonly Float64Array[]): Float64Array {
  const all = new Float64Array(runs.reduce((n, r) => n + r.length, 0));
  let at = 0;
  for (const r of runs) {
    all.set(r, at);
    at += r.length;
  }
  return all.sort();
}

/** The rows of each (server, scenario, mode) together, one per round; groups in first-seen order. */
function byGroup(rows: readonly Row[]): Row[][] {
  const groups = new Map<string, Row[]>();
  for (const r of rows) groups.set(groupKey(r), [...(groups.get(groupKey(r)) ?? []), r]);
  return [...groups.values()];
}

function medians(rows: readonly Row[], rtts: ReadonlyMap<string, Float64Array[]>): MedianRow[] {
  return byGroup(rows).map((g) => ({
    server: g[0]!.server,
    ...(g[0]!.udpIo ? { udpIo: g[0]!.udpIo } : {}),
    scenario: g[0]!.scenario,
    mode: g[0]!.mode,
    allocations: g[0]!.allocations,
    rounds: g.length,
    relayedPacketsPerSecond: median(g.map((r) => r.relayedPacketsPerSecond)),
    packetsPerCpuSecond: median(g.map((r) => r.packetsPerCpuSecond)),
    lossPercent: median(g.map((r) => r.lossPercent)),
    rttP50Ms: median(g.map((r) => r.rttMs.p50)),
    rttP99Ms: median(g.map((r) => r.rttMs.p99)),
    rttP99PooledMs: percentile(pool(rtts.get(groupKey(g[0]!)) ?? []), 99),
    serverCpuPercent: median(g.map((r) => r.serverCpuPercent)),
    serverRssMb: median(g.map((r) => r.serverRssMb)),
  }));
}

const fmt = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : '-');

function table(rows: readonly MedianRow[]): string {
  return [
    '| server | scenario | mode | allocations | rounds | relayed pkt/s | pkt per server CPU-s | loss % | RTT p50 ms | RTT p99 ms | RTT p99 pooled ms | server CPU % | server RSS MB |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${label(r)} | ${r.scenario} | ${r.mode} | ${r.allocations} | ${r.rounds} | ${fmt(r.relayedPacketsPerSecond)} | ` +
        `${fmt(r.packetsPerCpuSecond)} | ${fmt(r.lossPercent, 2)} | ${fmt(r.rttP50Ms, 3)} | ${fmt(r.rttP99Ms, 3)} | ` +
        `${fmt(r.rttP99PooledMs, 3)} | ` +
        `${fmt(r.serverCpuPercent)} | ${fmt(r.serverRssMb)} |`,
    ),
  ].join('\n');
}

/** The server's name, with our relay's UDP I/O beside it: `ours (dgram)`, `ours-native (native)`. */
const label = (r: { server: string; udpIo?: UdpIo | undefined }): string =>
  r.udpIo ? `${r.server} (${r.udpIo})` : r.server;

/**
 * The median over rounds of a server's p99 at 50 allocations over coturn's in the same round. The
 * servers take turns within a round, so each pair was measured minutes apart at most: a host that
 * gets busier for a while moves both sides of a ratio, where it moves only one side's median.
 */
function pairedP99(runs: readonly Row[], server: string, mode: LoadMode): number {
  const at = (name: string, round: number) =>
    runs.find(
      (r) => r.server === name && r.scenario === 'latency@50' && r.mode === mode && r.round === round,
    );
  const each = runs
    .filter((r) => r.server === server && r.scenario === 'latency@50' && r.mode === mode)
    .map((r) => r.rttMs.p99 / (at('coturn', r.round)?.rttMs.p99 ?? Number.NaN));
  return median(each);
}

/** Each server's figures as a multiple of coturn's: the goals of issue 11 §4 read off this. */
function ratios(rows: readonly MedianRow[], runs: readonly Row[]): string {
  const find = (server: string, scenario: string, mode: LoadMode) =>
    rows.find((r) => r.server === server && r.scenario === scenario && r.mode === mode);
  const lines = [
    '| server | saturation pkt/s vs coturn | pkt per CPU-s vs coturn | RTT p99 @50 vs coturn | pooled p99 @50 vs coturn | p99 @50 vs coturn, paired by round | pooled p99 churn@50 vs coturn |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const server of new Set(rows.map((r) => r.server))) {
    if (server === 'coturn') continue;
    const io = rows.find((r) => r.server === server)?.udpIo;
    const cells = (['channel', 'send'] as const).map((mode) => {
      const ours = find(server, 'saturation', mode);
      const theirs = find('coturn', 'saturation', mode);
      const lat = find(server, 'latency@50', mode);
      const latC = find('coturn', 'latency@50', mode);
      const churn = find(server, 'churn@50', mode);
      const churnC = find('coturn', 'churn@50', mode);
      return [
        ours && theirs ? ours.relayedPacketsPerSecond / theirs.relayedPacketsPerSecond : Number.NaN,
        ours && theirs ? ours.packetsPerCpuSecond / theirs.packetsPerCpuSecond : Number.NaN,
        lat && latC ? lat.rttP99Ms / latC.rttP99Ms : Number.NaN,
        lat && latC ? lat.rttP99PooledMs / latC.rttP99PooledMs : Number.NaN,
        pairedP99(runs, server, mode),
        churn && churnC ? churn.rttP99PooledMs / churnC.rttP99PooledMs : Number.NaN,
      ];
    });
    const cell = (i: number) => `${fmt(cells[0]![i]!, 2)}x / ${fmt(cells[1]![i]!, 2)}x`;
    lines.push(
      `| ${label({ server, udpIo: io })} (channel / send) | ${cell(0)} | ${cell(1)} | ${cell(2)} | ${cell(3)} | ${cell(4)} | ${cell(5)} |`,
    );
  }
  return lines.join('\n');
}

/**
 * Where each latency run's slowest 1 % came from (LoadResult.tail), summed over the rounds: few
 * bursts each holding many of them means whole bursts were held up (a stall on the path); bursts
 * in a run's first second are its start (new allocations, the load tool's own warm-up).
 */
function tails(runs: readonly Row[]): string {
  const sum = (g: Row[], f: (t: NonNullable<Row['tail']>) => number) => g.reduce((n, r) => n + f(r.tail!), 0);
  return [
    "| server | scenario | mode | bursts sent | bursts holding round trips at or above the run's p99 | of them in the run's first second | p99 after the first second, ms (median) |",
    '|---|---|---|---:|---:|---:|---:|',
    ...byGroup(runs.filter((r) => r.tail)).map(
      (g) =>
        `| ${label(g[0]!)} | ${g[0]!.scenario} | ${g[0]!.mode} | ${sum(g, (t) => t.bursts)} | ` +
        `${sum(g, (t) => t.slow)} | ${sum(g, (t) => t.slowInFirstSecond)} | ` +
        `${fmt(median(g.map((r) => r.tail!.p99AfterFirstSecondMs)), 3)} |`,
    ),
  ].join('\n');
}

/** The 1, 5 and 15 minute load averages (the docs quote them beside every figure). */
const loadAverage = (): number[] => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);

async function main(): Promise<void> {
  const loadStart = loadAverage();
  const machineStart = machineCpu();
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      rounds: { type: 'string', default: '1' },
      servers: { type: 'string', default: 'ours,coturn,pion,node-turn' },
      scenarios: { type: 'string', default: SCENARIOS.map((s) => s.name).join(',') },
      out: { type: 'string', default: 'bench/results/turn-relay.json' },
      'cpu-prof': { type: 'string' },
      'node-flags': { type: 'string', default: '' },
      'alt-node': { type: 'string' },
      workers: { type: 'string', default: '2' },
      'base-root': { type: 'string' },
    },
  });
  const workers = Number(values.workers);
  if (!(Number.isInteger(workers) && workers >= 1 && workers <= 64)) fail('--workers: expected 1 to 64');
  const durationMs = Number(values.duration) * 1000;
  if (!(durationMs >= 1000 && durationMs <= 120_000)) fail('--duration: expected seconds from 1 to 120');
  const rounds = Number(values.rounds);
  if (!(Number.isInteger(rounds) && rounds >= 1 && rounds <= 20)) fail('--rounds: expected 1 to 20');
  let pion: string | undefined;
  const altNode = values['alt-node'];
  nodeFlags = values['node-flags'].split(' ').filter((f) => f !== '');
  const baseRoot = values['base-root'];
  const starters: Record<string, () => Promise<Server>> = {
    ours: () => startOurs('dgram', values['cpu-prof']),
    'ours-alt': () =>
      startOurs('dgram', values['cpu-prof'], altNode ?? fail('ours-alt needs --alt-node PATH'), 'ours-alt'),
    'ours-workers': () =>
      startOurs(
        'dgram',
        values['cpu-prof'],
        altNode ?? fail('ours-workers needs --alt-node PATH (a Node with reusePort)'),
        `ours-w${workers}`,
        workers,
      ),
    'ours-native': () => startOurs('native', values['cpu-prof'], process.execPath, 'ours-native', 1),
    'ours-base': () =>
      startOurs(
        'dgram',
        values['cpu-prof'],
        process.execPath,
        'ours-base',
        1,
        baseRoot ?? fail('ours-base needs --base-root DIR'),
      ),
    'ours-native-base': () =>
      startOurs(
        'native',
        values['cpu-prof'],
        process.execPath,
        'ours-native-base',
        1,
        baseRoot ?? fail('ours-native-base needs --base-root DIR'),
      ),
    'ours-native-workers': () =>
      startOurs('native', values['cpu-prof'], process.execPath, `ours-native-w${workers}`, workers),
    coturn: startCoturn,
    pion: () => startPion(pion!),
    'node-turn': startNodeTurnServer,
  };
  const names = values.servers.split(',');
  for (const n of names)
    if (!starters[n])
      fail(
        `--servers: unknown server "${n}" (ours, ours-base, ours-alt, ours-workers, ours-native, ours-native-base, ours-native-workers, coturn, pion, node-turn)`,
      );
  if (names.some((n) => n.endsWith('-base')) && !baseRoot)
    fail('ours-base and ours-native-base need --base-root DIR');
  const roots = [
    ...(names.some((n) => n.startsWith('ours-native') && n !== 'ours-native-base') ? [ROOT] : []),
    ...(names.includes('ours-native-base') && baseRoot ? [baseRoot] : []),
  ];
  for (const root of roots) {
    const built = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build-native.ts'], {
      cwd: root,
      stdio: 'inherit',
    });
    if (built.status !== 0) fail(`ours-native: npm run build:native failed in ${root}`);
  }
  const scenarios = values.scenarios.split(',').map((name) => {
    const sc = SCENARIOS.find((s) => s.name === name);
    return sc ?? fail(`--scenarios: unknown scenario "${name}" (${SCENARIOS.map((s) => s.name).join(', ')})`);
  });
  if (names.includes('pion')) {
    try {
      pion = buildPionServer();
    } catch (err) {
      if (err instanceof PionUnavailableError) fail(err.message);
      throw err;
    }
  }

  const peerPort = await freePort('udp');
  const peer = await startTurnutilsPeer('127.0.0.1', peerPort);
  const total = rounds * names.length * scenarios.reduce((n, s) => n + s.modes.length, 0);
  const rows: Row[] = [];
  const rtts = new Map<string, Float64Array[]>();
  let step = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      const order = names.map((_, i) => names[(i + round) % names.length]!);
      for (const name of order) {
        const server = await starters[name]!();
        try {
          for (const sc of scenarios) {
            for (const mode of sc.modes) {
              step++;
              if (mode === 'channel' && !server.channelData) continue;
              const label = `[${step}/${total}] round ${round + 1} ${name} ${sc.name} ${mode}`;
              process.stderr.write(`${label} ...`);
              const cpu0 = cpuSeconds(server.pid);
              const machine0 = machineCpu();
              const t0 = performance.now();
              const load: LoadOptions = {
                server: server.address,
                cred: CRED,
                peer: { family: 4, address: peer.host, port: peer.port },
                allocations: sc.allocations,
                mode,
                pattern: sc.pattern,
                payloadBytes: 100,
                durationMs,
              };
              const churn = sc.churn ? await startChurn(load, sc.churn) : undefined;
              const { rtts: measured, ...result } = await runLoad(load, (done) =>
                process.stderr.write(`\r${label} ${Math.round(done * 100)}%`),
              ).finally(() => churn?.stop());
              const wall = (performance.now() - t0) / 1000;
              const cpuPercent = (100 * (cpuSeconds(server.pid) - cpu0)) / wall;
              const stealPercent = stealSince(machine0);
              const row: Row = {
                server: server.name,
                ...(server.udpIo ? { udpIo: server.udpIo } : {}),
                scenario: sc.name,
                mode,
                round: round + 1,
                ...result,
                serverCpuPercent: cpuPercent,
                packetsPerCpuSecond:
                  cpuPercent > 1 ? (100 * result.relayedPacketsPerSecond) / cpuPercent : Number.NaN,
                serverRssMb: rssMb(server.pid),
                stealPercent,
              };
              rows.push(row);
              rtts.set(groupKey(row), [...(rtts.get(groupKey(row)) ?? []), measured]);
              process.stderr.write(
                `\r${label} done: ${Math.round(row.relayedPacketsPerSecond)} pkt/s, steal ${fmt(stealPercent, 1)} %\n`,
              );
            }
          }
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    await peer.stop();
  }

  // Servers in the order of the first round (the order given), scenarios in table order.
  const shown = [...new Set(rows.map((r) => r.server))];
  const summary = medians(rows, rtts).sort(
    (a, b) =>
      shown.indexOf(a.server) - shown.indexOf(b.server) ||
      SCENARIOS.findIndex((s) => s.name === a.scenario) - SCENARIOS.findIndex((s) => s.name === b.scenario),
  );
  process.stdout.write(`${table(summary)}\n\n`);
  if (names.includes('coturn')) process.stdout.write(`${ratios(summary, rows)}\n`);
  if (rows.some((r) => r.tail)) process.stdout.write(`\n${tails(rows)}\n`);
  mkdirSync(dirname(values.out), { recursive: true });
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    altNode: altNode ? spawnSync(altNode, ['--version'], { encoding: 'utf8' }).stdout.trim() : undefined,
    durationMs,
    rounds,
    cpus: availableParallelism(),
    workers: names.some((n) => n === 'ours-workers' || n === 'ours-native-workers') ? workers : undefined,
    loadAverage: { start: loadStart, end: loadAverage() },
    stealPercent: stealSince(machineStart),
    payloadBytes: 100,
  };
  writeFileSync(values.out, `${JSON.stringify({ meta, medians: summary, rows }, null, 2)}\n`);
  process.stderr.write(
    `load average ${loadStart.join(' ')} at start, ${meta.loadAverage.end.join(' ')} at end; ` +
      `CPU stolen by the hypervisor ${fmt(meta.stealPercent, 1)} %\n`,
  );
  process.stderr.write(`wrote ${values.out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
