/**
 * TURN relay benchmark: our relay, coturn (one relay thread) and node-turn 0.0.6, side by side in
 * one run, driven by the same load tool (bench/lib/turn-load.ts) against the same echo peer
 * (coturn's turnutils_peer), everything on loopback.
 *
 *   npm run bench:turn -- [--duration 5] [--servers ours,coturn,node-turn] [--out bench/results/turn-relay.json]
 *
 * Scenarios per server: saturation (50 allocations, 8 packets in flight each) with ChannelData and
 * with Send indications, and round-trip latency at 1, 50 and 200 allocations sending 50 packets a
 * second each (an audio-like rate). Prints a table and writes every figure as JSON.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import type { TransportAddress } from '../src/net/address.ts';
import { startNodeTurn } from '../test/support/node-turn-server.ts';
import { freePort } from '../test/support/ports.ts';
import { startTurnutilsPeer } from '../test/support/turnutils.ts';
import { type LoadMode, type LoadPattern, type LoadResult, runLoad } from './lib/turn-load.ts';

const CRED = { username: 'bench', password: 'bench-pw', realm: 'bench.test' };
const ROOT = new URL('..', import.meta.url).pathname;

interface Server {
  readonly name: string;
  readonly pid: number;
  readonly address: TransportAddress;
  /** ChannelData works end to end (node-turn's does not; see README). */
  readonly channelData: boolean;
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

async function startOurs(): Promise<Server> {
  const port = await freePort('both');
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'relay/main.ts',
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
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  await waitForLine(child, /"event":"ready"/, 'our relay');
  return {
    name: 'ours',
    pid: child.pid!,
    address: addr(port),
    channelData: true,
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

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

interface Row extends LoadResult {
  readonly server: string;
  readonly scenario: string;
  readonly mode: LoadMode;
  readonly serverCpuPercent: number;
  readonly serverRssMb: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '5' },
      servers: { type: 'string', default: 'ours,coturn,node-turn' },
      out: { type: 'string', default: 'bench/results/turn-relay.json' },
    },
  });
  const durationMs = Number(values.duration) * 1000;
  if (!(durationMs >= 1000 && durationMs <= 120_000)) fail('--duration: expected seconds from 1 to 120');
  const starters: Record<string, () => Promise<Server>> = {
    ours: startOurs,
    coturn: startCoturn,
    'node-turn': startNodeTurnServer,
  };
  const names = values.servers.split(',');
  for (const n of names) if (!starters[n]) fail(`--servers: unknown server "${n}" (ours, coturn, node-turn)`);

  const peerPort = await freePort('udp');
  const peer = await startTurnutilsPeer('127.0.0.1', peerPort);
  const scenarios: { name: string; allocations: number; pattern: LoadPattern; modes: LoadMode[] }[] = [
    {
      name: 'saturation',
      allocations: 50,
      pattern: { kind: 'window', inFlight: 8 },
      modes: ['channel', 'send'],
    },
    { name: 'latency @1', allocations: 1, pattern: { kind: 'rate', pps: 50 }, modes: ['channel', 'send'] },
    { name: 'latency @50', allocations: 50, pattern: { kind: 'rate', pps: 50 }, modes: ['channel', 'send'] },
    {
      name: 'latency @200',
      allocations: 200,
      pattern: { kind: 'rate', pps: 50 },
      modes: ['channel', 'send'],
    },
  ];
  const total = names.length * scenarios.reduce((n, s) => n + s.modes.length, 0);
  const rows: Row[] = [];
  let step = 0;
  try {
    for (const name of names) {
      const server = await starters[name]!();
      try {
        for (const sc of scenarios) {
          for (const mode of sc.modes) {
            step++;
            if (mode === 'channel' && !server.channelData) continue;
            const label = `[${step}/${total}] ${name} ${sc.name} ${mode}`;
            process.stderr.write(`${label} ...`);
            const cpu0 = cpuSeconds(server.pid);
            const t0 = performance.now();
            const result = await runLoad(
              {
                server: server.address,
                cred: CRED,
                peer: { family: 4, address: peer.host, port: peer.port },
                allocations: sc.allocations,
                mode,
                pattern: sc.pattern,
                payloadBytes: 100,
                durationMs,
              },
              (done) => process.stderr.write(`\r${label} ${Math.round(done * 100)}%`),
            );
            const wall = (performance.now() - t0) / 1000;
            const row: Row = {
              server: name,
              scenario: sc.name,
              mode,
              ...result,
              serverCpuPercent: (100 * (cpuSeconds(server.pid) - cpu0)) / wall,
              serverRssMb: rssMb(server.pid),
            };
            rows.push(row);
            process.stderr.write(`\r${label} done: ${Math.round(row.relayedPacketsPerSecond)} pkt/s\n`);
          }
        }
      } finally {
        await server.stop();
      }
    }
  } finally {
    await peer.stop();
  }

  const table = [
    '| server | scenario | mode | allocations | relayed pkt/s | pkt per server CPU-s | loss % | RTT p50 ms | RTT p99 ms | server CPU % | server RSS MB |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.server} | ${r.scenario} | ${r.mode} | ${r.allocations} | ${Math.round(r.relayedPacketsPerSecond)} | ` +
        `${r.serverCpuPercent > 1 ? Math.round((100 * r.relayedPacketsPerSecond) / r.serverCpuPercent) : '-'} | ` +
        `${r.lossPercent.toFixed(2)} | ${r.rttMs.p50.toFixed(3)} | ${r.rttMs.p99.toFixed(3)} | ` +
        `${r.serverCpuPercent.toFixed(0)} | ${r.serverRssMb.toFixed(0)} |`,
    ),
  ].join('\n');
  process.stdout.write(`${table}\n`);
  mkdirSync(dirname(values.out), { recursive: true });
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    durationMs,
    cpus: 2,
    payloadBytes: 100,
  };
  writeFileSync(values.out, `${JSON.stringify({ meta, rows }, null, 2)}\n`);
  process.stderr.write(`wrote ${values.out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
