/**
 * Does a backbone mesh started from nothing converge to the fresh routing table's detour gain, on
 * measured Internet RTTs? Runs src/sim/mesh-start.ts on the WonderProxy matrix (read at run time
 * from ../shared/data/wonderproxy-2020/rtt_ms.json, never copied into the repository) for the
 * switch rule alone (as before issue 11) and for the backbone's defaults, in two scenarios: clean
 * links, and jitter and loss growing with the RTT. Prints a Markdown table for docs/BACKBONE.md.
 *
 *   node --import tsx scripts/backbone-mesh-start.ts [--relays N] [--sources N] [--seconds S] [--data FILE]
 */
import { readFileSync } from 'node:fs';
import { BACKBONE_DEFAULTS } from '../src/backbone/defaults.ts';
import { type MeshLink, meshFromNothing } from '../src/sim/mesh-start.ts';

const USAGE = 'usage: backbone-mesh-start [--relays N] [--sources N] [--seconds S] [--data FILE]';

function fail(message: string): never {
  process.stderr.write(`backbone-mesh-start: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function options(argv: readonly string[]) {
  const o = { relays: 246, sources: 24, seconds: 180, data: '../shared/data/wonderproxy-2020/rtt_ms.json' };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!;
    const value = argv[i + 1];
    if (value === undefined) fail(`${flag}: needs a value`);
    if (flag === '--data') o.data = value;
    else if (flag === '--relays' || flag === '--sources' || flag === '--seconds') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 2) fail(`${flag}: not an integer of at least 2: ${value}`);
      o[flag.slice(2) as 'relays' | 'sources' | 'seconds'] = n;
    } else fail(`unknown option ${flag}`);
  }
  return o;
}

const o = options(process.argv.slice(2));
let avg: (number | null)[][];
try {
  avg = (JSON.parse(readFileSync(o.data, 'utf8')) as { avg: (number | null)[][] }).avg;
} catch (err) {
  fail(`cannot read ${o.data}: ${(err as Error).message}`);
}
if (!Array.isArray(avg) || avg.length < 2) fail(`${o.data}: no "avg" matrix`);
// An evenly spread subset of the servers, and of those the sources.
const pick = (n: number, of: number) =>
  Array.from({ length: Math.min(n, of) }, (_, k) => Math.floor((k * of) / Math.min(n, of)));
const servers = pick(o.relays, avg.length);
const sources = pick(o.sources, servers.length);

function matrix(noise: (rtt: number) => Omit<MeshLink, 'rttMs'>): (MeshLink | undefined)[][] {
  return servers.map((a) =>
    servers.map((b) => {
      const rtt = avg[a]?.[b];
      return a === b || rtt == null || !(rtt > 0) ? undefined : { rttMs: rtt, ...noise(rtt) };
    }),
  );
}

const SWITCH_RULE_ONLY = {
  ...BACKBONE_DEFAULTS,
  settleMs: 0,
  sustainMs: Number.POSITIVE_INFINITY,
  jitterMargin: 0,
  confirmMs: 0,
  lossDeadband: 0.02,
  sustainLossDeadband: 0.02,
};
// Settle and sustained gain (issue 11), before the damping for measured links (issue 14).
const BEFORE_DAMPING = {
  ...BACKBONE_DEFAULTS,
  jitterMargin: 0,
  confirmMs: 0,
  lossDeadband: 0.02,
  sustainLossDeadband: 0.02,
};
const NAMES = [
  'switch rule alone (before issue 11)',
  'settle + sustained gain (before the damping)',
  'with the damping (now)',
];
const scenarios: [string, (rtt: number) => Omit<MeshLink, 'rttMs'>][] = [
  ['jitter 0.3 ms, no loss', () => ({ jitterMs: 0.3, loss: 0 })],
  [
    'jitter 0.3 ms + 1 % of RTT, loss 0.01 % + 0.05 % per 100 ms',
    (rtt) => ({ jitterMs: 0.3 + rtt / 100, loss: 0.0001 + rtt * 0.000005 }),
  ],
];
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const rows = [
  `WonderProxy 2020, ${servers.length} relays, ${sources.length} sources, ${o.seconds} s from nothing (seed 1)`,
  '',
  '| links | rule | fresh table takes | kept table takes | within 1 % after | flaps per flow per hour |',
  '|---|---|---|---|---|---|',
];
for (const [name, noise] of scenarios) {
  const started = Date.now();
  const r = meshFromNothing({
    links: matrix(noise),
    sources,
    seconds: o.seconds,
    denseSeconds: 10,
    cadence: BACKBONE_DEFAULTS,
    rules: [SWITCH_RULE_ONLY, BEFORE_DAMPING, BACKBONE_DEFAULTS],
    seed: 1,
  });
  r.rules.forEach((x, i) => {
    rows.push(
      `| ${name} | ${NAMES[i]} | ${pct(x.freshGainTaken)} | ${pct(x.gainTaken)} | ${x.convergedAfterS} s | ${x.flapsPerFlowHour.toFixed(2)} |`,
    );
  });
  process.stderr.write(
    `${name}: ${r.flows} flows, ${r.detourPairs} with a detour, ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
  );
}
process.stdout.write(`${rows.join('\n')}\n`);
