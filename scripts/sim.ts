/**
 * `npm run sim -- --relays N --prefixes N --allocations N --calls N --seed N --out DIR`: runs the
 * world simulation (src/sim), shows progress on stderr, prints the summary tables and writes the
 * report folder (index.html with inline SVG plots, one SVG and one JSON file per figure). The
 * backbone phase runs in a worker thread beside the others. Bad arguments: one line on stderr,
 * exit code 2.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { parseSimArgs, USAGE } from '../src/sim/args.ts';
import { buildReport, summaryText } from '../src/sim/report.ts';
import type { BackboneFigures, SimFigures } from '../src/sim/run.ts';
import type { WorkerPart } from './sim-worker.ts';

const parsed = parseSimArgs(process.argv.slice(2));
if (!parsed.ok) {
  process.stderr.write(`sim: ${parsed.error} (see --help)\n`);
  process.exit(2);
}
if (parsed.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const { config, out } = parsed.value;
const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;

/** Progress of each phase on one stderr line (redrawn on a terminal, every 10 % otherwise). */
const shown = new Map<string, number>();
const state = new Map<string, string>();
function progress(phase: string, done: number, total: number): void {
  const share = total > 0 ? done / total : 1;
  const tenth = Math.floor(share * 10);
  state.set(phase, `${phase} ${(share * 100).toFixed(0).padStart(3)}%`);
  if (process.stderr.isTTY) {
    const width = 20;
    const bar = '#'.repeat(Math.round(share * width)).padEnd(width, '.');
    process.stderr.write(`\r[${bar}] ${[...state.values()].join('  ')}  ${elapsed().toFixed(0)} s   `);
  } else if (shown.get(phase) !== tenth) {
    shown.set(phase, tenth);
    process.stderr.write(`${phase} ${tenth * 10}% (${elapsed().toFixed(0)} s)\n`);
  }
}

type Message =
  | { readonly type: 'progress'; readonly phase: string; readonly done: number; readonly total: number }
  | { readonly type: 'done'; readonly figures: unknown };

// A worker does not inherit the tsx loader: it registers it before loading the TypeScript module.
const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
const entry = JSON.stringify(new URL('./sim-worker.ts', import.meta.url).href);
function part<T>(name: WorkerPart): Promise<T> {
  const worker = new Worker(`import(${tsx}).then((api) => { api.register(); return import(${entry}); });`, {
    eval: true,
    workerData: { config, part: name },
  });
  return new Promise<T>((resolve, reject) => {
    worker.on('message', (m: Message) => {
      if (m.type === 'progress') progress(m.phase, m.done, m.total);
      else {
        resolve(m.figures as T);
        void worker.terminate();
      }
    });
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`the ${name} worker exited with code ${code}`)));
  });
}

const [clients, backbone] = await Promise.all([
  part<Pick<SimFigures, 'world' | 'allocations' | 'calls'>>('clients'),
  part<BackboneFigures>('backbone'),
]);
const figures: SimFigures = {
  seed: config.seed,
  scale: config.scale,
  world: clients.world,
  allocations: clients.allocations,
  calls: clients.calls,
  backbone,
};
const seconds = elapsed();
if (process.stderr.isTTY) process.stderr.write('\n');

const s = config.scale;
const command = `npm run sim -- --relays ${figures.world.relays.length} --prefixes ${s.prefixes} --allocations ${s.allocations} --calls ${s.calls} --days ${s.days} --seed ${config.seed} --transit-share ${config.internet.transit.share} --mixed-share ${config.world.mixedAccess.share} --burst-probes ${config.backbone.burstProbes} --probe-schedule ${config.backbone.probeSchedule} --failures-per-link-day ${config.backbone.failuresPerLinkDay} --partial-share ${config.backbone.partialShare} --gray-share ${config.backbone.grayShare} --site-failures-per-relay-day ${config.backbone.siteFailuresPerRelayDay} --gray-relay-share ${config.backbone.grayRelayShare} --delivery-check ${config.backbone.deliveryCheck ? 'on' : 'off'} --end-to-end-check ${config.backbone.endToEndCheck ? 'on' : 'off'}`;
const report = buildReport(figures, { command, seconds });
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'index.html'), report.html);
for (const [name, svg] of Object.entries(report.svg)) writeFileSync(join(out, `${name}.svg`), `${svg}\n`);
for (const [name, data] of Object.entries(report.json))
  writeFileSync(join(out, `${name}.json`), `${JSON.stringify(data, null, 1)}\n`);

const peakMb = process.resourceUsage().maxRSS / 1024;
process.stdout.write(`${summaryText(figures)}\n\n`);
process.stdout.write(
  `${command}\n${seconds.toFixed(1)} s on ${availableParallelism()} cores, peak resident memory ${peakMb.toFixed(0)} MB; report in ${join(out, 'index.html')}\n`,
);
