/**
 * The backbone phase alone, on either world: the same `runBackbone` as `npm run sim` and `npm run
 * sim:measured` (it depends on the relays only, so the client phases are skipped), for quick
 * comparisons of the routing's damping and of failures. Takes those commands' options; prints
 * the backbone table and the figures as JSON (failover CDFs left out).
 *
 *   npm run sim:backbone -- synthetic|measured [options of npm run sim / npm run sim:measured]
 */
import { parseSimArgs, parseTraceArgs } from '../src/sim/args.ts';
import { runBackbone } from '../src/sim/backbone.ts';
import { completeSites, MeasuredDataError } from '../src/sim/measured.ts';
import { backboneRows, textTable } from '../src/sim/report.ts';
import { type BackboneFigures, backboneFigures, prepare } from '../src/sim/run.ts';
import { buildTraceWorld, DEFAULT_TRACE_CONFIG } from '../src/sim/trace.ts';
import { loadCities } from './sim-cities.ts';
import { loadWonderProxy } from './sim-data.ts';

function fail(message: string): never {
  process.stderr.write(
    `sim:backbone: ${message}\nusage: npm run sim:backbone -- synthetic|measured [options]\n`,
  );
  process.exit(2);
}

const [world, ...rest] = process.argv.slice(2);
const started = performance.now();
let figures: BackboneFigures;
if (world === 'measured') {
  const p = parseTraceArgs(rest);
  if (!p.ok) fail(p.error);
  if (p.help) fail('see npm run sim:measured -- --help for the options');
  const a = p.value;
  const trace = {
    ...DEFAULT_TRACE_CONFIG,
    pathLoss: { ...DEFAULT_TRACE_CONFIG.pathLoss, median: a.lossMedian },
  };
  try {
    const sites = completeSites(loadWonderProxy(a.data).matrix);
    const tw = buildTraceWorld(sites, a.config, trace, undefined);
    figures = backboneFigures(runBackbone(tw.world, tw.internet, a.config));
  } catch (e) {
    if (!(e instanceof MeasuredDataError)) throw e;
    fail(e.message);
  }
} else if (world === 'synthetic') {
  const p = parseSimArgs(rest);
  if (!p.ok) fail(p.error);
  if (p.help) fail('see npm run sim -- --help for the options');
  const { world: w, internet } = prepare(loadCities(), p.value.config);
  figures = backboneFigures(runBackbone(w, internet, p.value.config));
} else fail(`the first argument must be synthetic or measured, got '${world ?? ''}'`);
const { workingCdf: _w, sourceCdf: _s, ...failover } = figures.failover;
process.stdout.write(`${textTable(backboneRows(figures))}\n`);
process.stdout.write(`${JSON.stringify({ ...figures, failover })}\n`);
process.stderr.write(`${((performance.now() - started) / 1000).toFixed(0)} s\n`);
