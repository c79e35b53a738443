/**
 * The backbone phase of `npm run sim` in a worker thread, beside the allocation and call phases
 * (it needs only the relays). Reports progress and, at the end, its figures to the parent.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runBackbone } from '../src/sim/backbone.ts';
import type { SimConfig } from '../src/sim/config.ts';
import { backboneFigures, prepare } from '../src/sim/run.ts';
import { loadCities } from './sim-cities.ts';

const config = workerData as SimConfig;
// The backbone depends on the relays only: skip building the prefixes.
const { world, internet } = prepare(loadCities(), { ...config, scale: { ...config.scale, prefixes: 1 } });
const run = runBackbone(world, internet, config, {
  progress: (done, total) => parentPort?.postMessage({ type: 'progress', done, total }),
});
parentPort?.postMessage({ type: 'done', figures: backboneFigures(run) });
