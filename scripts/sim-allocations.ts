/**
 * `npm run sim:allocations -- [options of npm run sim:measured]`: the trace-driven world's
 * allocation phase alone (no calls, no backbone), one line of the figures that choose probe
 * targets: misses (more than 5 ms from the best relay) over all sites, fit sites days 7-14 and
 * held-out sites, p95 regret, how often the best relay was probed, the share of misses whose best
 * relay was probed (noise), probes per allocation (mean / p95, both rounds), the share with a
 * second round, the learned answer's misses, and the CPU time of the phase. For sweeping the
 * ranking's options quickly; its figures equal `npm run sim:measured`'s for the same options.
 */
import { runAllocations } from '../src/sim/allocations.ts';
import { parseTraceArgs, TRACE_USAGE, traceRank } from '../src/sim/args.ts';
import { completeSites, MeasuredDataError } from '../src/sim/measured.ts';
import { allocationFigures } from '../src/sim/run.ts';
import { buildTraceWorld, DEFAULT_TRACE_CONFIG, driftTable } from '../src/sim/trace.ts';
import { subsetRun } from '../src/sim/trace-run.ts';
import { loadSeattleSlices, loadWonderProxy } from './sim-data.ts';

const parsed = parseTraceArgs(process.argv.slice(2));
if (!parsed.ok) {
  process.stderr.write(`sim:allocations: ${parsed.error} (see --help)\n`);
  process.exit(2);
}
if (parsed.help) {
  process.stdout.write(`${TRACE_USAGE.replace('sim:measured', 'sim:allocations')}\n`);
  process.exit(0);
}
const args = parsed.value;
const trace = {
  ...DEFAULT_TRACE_CONFIG,
  carrierSigma: args.carrierSigma,
  drift: { ...DEFAULT_TRACE_CONFIG.drift, damping: args.drift },
  pathLoss: { ...DEFAULT_TRACE_CONFIG.pathLoss, median: args.lossMedian },
};
let tw: ReturnType<typeof buildTraceWorld>;
try {
  const checked = loadWonderProxy(args.data);
  const drift = trace.drift.damping > 0 ? driftTable(loadSeattleSlices(args.data), trace.drift) : undefined;
  tw = buildTraceWorld(completeSites(checked.matrix), args.config, trace, drift);
} catch (e) {
  if (!(e instanceof MeasuredDataError || e instanceof RangeError)) throw e;
  process.stderr.write(`sim:allocations: ${e.message}\n`);
  process.exit(2);
}
const rank = traceRank(args);
const before = process.cpuUsage();
const run = runAllocations(tw.world, tw.internet, args.config, { pick: tw.pick }, rank);
const cpu = process.cpuUsage(before);
const all = allocationFigures(run, args.config);
const held = (i: number) => tw.heldOut[run.prefix[i]!] === 1;
const late = (i: number) => run.time[i]! >= tw.holdoutFromMs;
const missOf = (keep: (i: number) => boolean) =>
  allocationFigures(subsetRun(run, keep), args.config).summary.probes.missShare;
const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
process.stdout.write(
  `${[
    `misses ${pct(all.summary.probes.missShare)}`,
    `fit sites days 7-14 ${pct(missOf((i) => !held(i) && late(i)))}`,
    `held-out sites ${pct(missOf(held))}`,
    `p95 regret ${all.summary.probes.p95Ms.toFixed(1)} ms`,
    `best relay probed ${pct(all.oracleProbedShare)}`,
    `misses with the best probed ${pct(all.missesWithBestProbedShare)}`,
    `probes per allocation ${all.probesMean.toFixed(1)} / p95 ${all.probesP95}`,
    `second round ${pct(all.secondRoundShare)}`,
    `learned answer misses ${pct(all.summary.learned.missShare)}`,
    `CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s`,
  ].join(' | ')}\n`,
);
