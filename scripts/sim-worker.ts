/**
 * One part of `npm run sim` in a worker thread, so the two parts run side by side and the main
 * thread stays free to show their progress: 'clients' (the world, allocations, calls) or
 * 'backbone' (steady state and failover; it needs only the relays). Posts progress messages and,
 * at the end, its figures.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runAllocations } from '../src/sim/allocations.ts';
import { runBackbone } from '../src/sim/backbone.ts';
import { runCalls } from '../src/sim/calls.ts';
import type { SimConfig } from '../src/sim/config.ts';
import { allocationFigures, backboneFigures, callFigures, prepare, worldFigures } from '../src/sim/run.ts';
import { loadCities } from './sim-cities.ts';

export type WorkerPart = 'clients' | 'backbone';

const { config, part } = workerData as { config: SimConfig; part: WorkerPart };
const progress = (phase: string) => (done: number, total: number) =>
  parentPort?.postMessage({ type: 'progress', phase, done, total });

if (part === 'backbone') {
  // The backbone depends on the relays only: skip building the prefixes.
  const { world, internet } = prepare(loadCities(), { ...config, scale: { ...config.scale, prefixes: 1 } });
  const run = runBackbone(world, internet, config, { progress: progress('backbone') });
  parentPort?.postMessage({ type: 'done', figures: backboneFigures(run) });
} else {
  progress('world')(0, 1);
  const { world, internet } = prepare(loadCities(), config);
  progress('world')(1, 1);
  const allocations = runAllocations(world, internet, config, { progress: progress('allocations') });
  const allocationFigs = allocationFigures(allocations, config);
  const calls = runCalls(world, internet, config, allocations.learnedState, { progress: progress('calls') });
  parentPort?.postMessage({
    type: 'done',
    figures: {
      world: worldFigures(world),
      allocations: allocationFigs,
      calls: callFigures(calls, world),
    },
  });
}
