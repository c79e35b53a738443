/**
 * `npm run sim:measured -- [--relays N] [--prefixes N] [--allocations N] [--calls N] [--days N]
 * [--seed N] [--data DIR] [--drift X] [--carrier-sigma X] [--loss-median X] [--out DIR]`: the
 * trace-driven world (src/sim/trace.ts) on the measured data read at run time from `--data`
 * (default ../shared/data, never part of this repository). Progress on stderr, the tables on
 * stdout, the report folder as `npm run sim` writes it plus trace.json. The backbone phase runs
 * in a worker thread beside the others (scripts/sim-measured-worker.ts). Bad arguments or data:
 * one line on stderr, exit code 2.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { parseTraceArgs, TRACE_USAGE, traceRank } from '../src/sim/args.ts';
import { completeSites, MeasuredDataError } from '../src/sim/measured.ts';
import { buildReport } from '../src/sim/report.ts';
import type { BackboneFigures } from '../src/sim/run.ts';
import { DEFAULT_TRACE_CONFIG, driftTable } from '../src/sim/trace.ts';
import { traceSummaryText } from '../src/sim/trace-report.ts';
import { runTraceClients, type TraceData, withBackbone } from '../src/sim/trace-run.ts';
import { loadSeattleSlices, loadWonderProxy, tenthsProgress } from './sim-data.ts';

const parsed = parseTraceArgs(process.argv.slice(2));
if (!parsed.ok) {
  process.stderr.write(`sim:measured: ${parsed.error} (see --help)\n`);
  process.exit(2);
}
if (parsed.help) {
  process.stdout.write(`${TRACE_USAGE}\n`);
  process.exit(0);
}
const args = parsed.value;
const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;
const progress = tenthsProgress((line) => process.stderr.write(line), elapsed);

const trace = {
  ...DEFAULT_TRACE_CONFIG,
  carrierSigma: args.carrierSigma,
  drift: { ...DEFAULT_TRACE_CONFIG.drift, damping: args.drift },
  pathLoss: { ...DEFAULT_TRACE_CONFIG.pathLoss, median: args.lossMedian },
};
let data: TraceData;
try {
  progress('data', 0, 1);
  const checked = loadWonderProxy(args.data);
  const drift = trace.drift.damping > 0 ? driftTable(loadSeattleSlices(args.data), trace.drift) : undefined;
  data = {
    sites: completeSites(checked.matrix),
    impossible: checked.impossible,
    missing: checked.missing,
    drift,
  };
  progress('data', 1, 1);
} catch (e) {
  if (!(e instanceof MeasuredDataError)) throw e;
  process.stderr.write(`sim:measured: ${e.message}\n`);
  process.exit(2);
}
const sites = data.sites.sites.length;
if (args.config.scale.relays > sites - 2) {
  process.stderr.write(`sim:measured: --relays must be at most ${sites - 2} (${sites} usable sites)\n`);
  process.exit(2);
}
const rank = traceRank(args);
// The backbone phase in a worker thread beside the clients (it needs only the relays); a worker
// does not inherit the tsx loader: it registers it before loading the TypeScript module.
const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'));
const entry = JSON.stringify(new URL('./sim-measured-worker.ts', import.meta.url).href);
const worker = new Worker(`import(${tsx}).then((api) => { api.register(); return import(${entry}); });`, {
  eval: true,
  workerData: { data, config: args.config, trace, startedAt: performance.timeOrigin + started },
});
const backbone = new Promise<BackboneFigures>((resolve, reject) => {
  worker.on('message', (figures: BackboneFigures) => {
    resolve(figures);
    void worker.terminate();
  });
  worker.on('error', reject);
  worker.on('exit', (code) => reject(new Error(`the backbone worker exited with code ${code}`)));
});
const figures = withBackbone(runTraceClients(data, args.config, trace, progress, rank), await backbone);
const seconds = elapsed();

const s = args.config.scale;
const command = `npm run sim:measured -- --relays ${s.relays} --prefixes ${s.prefixes} --allocations ${s.allocations} --calls ${s.calls} --days ${s.days} --seed ${args.config.seed} --drift ${args.drift} --carrier-sigma ${args.carrierSigma} --loss-median ${args.lossMedian} --probe-targets ${args.probeTargets} --learned-targets ${args.learnedTargets} --area-targets ${args.areaTargets} --pings ${args.pings} --explore-share ${args.exploreShare} --min-learned-weight ${args.minLearnedWeight} --explore-within ${args.exploreWithin} --next-targets ${args.nextTargets} --next-bound-slack ${args.nextBoundSlack} --reping-targets ${args.repingTargets} --burst-probes ${args.config.backbone.burstProbes} --probe-schedule ${args.config.backbone.probeSchedule} --failures-per-link-day ${args.config.backbone.failuresPerLinkDay} --partial-share ${args.config.backbone.partialShare} --gray-share ${args.config.backbone.grayShare} --site-failures-per-relay-day ${args.config.backbone.siteFailuresPerRelayDay} --gray-relay-share ${args.config.backbone.grayRelayShare} --delivery-check ${args.config.backbone.deliveryCheck ? 'on' : 'off'} --end-to-end-check ${args.config.backbone.endToEndCheck ? 'on' : 'off'}`;
const report = buildReport(figures.sim, { command, seconds });
mkdirSync(args.out, { recursive: true });
writeFileSync(join(args.out, 'index.html'), report.html);
for (const [name, svg] of Object.entries(report.svg))
  writeFileSync(join(args.out, `${name}.svg`), `${svg}\n`);
for (const [name, json] of Object.entries(report.json))
  writeFileSync(join(args.out, `${name}.json`), `${JSON.stringify(json, null, 1)}\n`);
const { sim: _, ...traceOnly } = figures;
writeFileSync(join(args.out, 'trace.json'), `${JSON.stringify(traceOnly, null, 1)}\n`);

const peakMb = process.resourceUsage().maxRSS / 1024;
process.stdout.write(`${traceSummaryText(figures)}\n\n`);
process.stdout.write(
  `${command}\n${seconds.toFixed(1)} s on ${availableParallelism()} cores, peak resident memory ${peakMb.toFixed(0)} MB; report in ${join(args.out, 'index.html')}\n`,
);
