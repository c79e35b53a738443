/**
 * The backbone phase of `npm run sim:measured` in a worker thread, beside the clients on the main
 * thread (it needs only the relays: src/sim/trace-run.ts, `traceBackbone`). The main thread is
 * busy until the clients are done, so this thread writes its own progress lines to stderr; it
 * posts the figures at the end.
 */
import { writeSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { SimConfig } from '../src/sim/config.ts';
import type { TraceConfig } from '../src/sim/trace.ts';
import { type TraceData, traceBackbone } from '../src/sim/trace-run.ts';
import { tenthsProgress } from './sim-data.ts';

const { data, config, trace, startedAt } = workerData as {
  data: TraceData;
  config: SimConfig;
  trace: TraceConfig;
  /** performance.timeOrigin + performance.now() when the main thread started. */
  startedAt: number;
};
const progress = tenthsProgress(
  (line) => writeSync(2, line),
  () => (performance.timeOrigin + performance.now() - startedAt) / 1000,
);
parentPort?.postMessage(traceBackbone(data, config, trace, progress));
