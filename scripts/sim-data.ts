/**
 * Reads the measured latency data from a folder laid out as docs/SIMULATION.md ("Measured data")
 * describes, and hands the parsed JSON and bytes to the pure parsers in src/sim/measured.ts. The
 * data is never part of this repository: by default it is read from `../shared/data` (beside the
 * checkout); `--data DIR` points elsewhere. A missing or malformed file: a MeasuredDataError
 * with a one-line message.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  type CheckedMatrix,
  dropImpossible,
  MeasuredDataError,
  type NetLatencyMatrix,
  parseNetLatency,
  parseSlices,
  parseWonderProxy,
  type SliceStack,
} from '../src/sim/measured.ts';

export const DEFAULT_DATA_DIR = join('..', 'shared', 'data');

function readJson(path: string): unknown {
  if (!existsSync(path)) throw new MeasuredDataError(`${path}: no such file (see docs/SIMULATION.md)`);
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new MeasuredDataError(`${path}: not JSON (${(e as Error).message})`);
  }
}

/** WonderProxy's matrix and locations, with impossible pairs dropped and named. */
export function loadWonderProxy(dir = DEFAULT_DATA_DIR): CheckedMatrix {
  const base = join(dir, 'wonderproxy-2020');
  return dropImpossible(
    parseWonderProxy(readJson(join(base, 'rtt_ms.json')), readJson(join(base, 'locations.json'))),
  );
}

export function loadNetLatency(platform: 'planetlab' | 'seattle', dir = DEFAULT_DATA_DIR): NetLatencyMatrix {
  return parseNetLatency(readJson(join(dir, 'netlatency', `${platform}_rtt_ms.json`)), platform);
}

/** Every Seattle time slice (99 nodes x 688 slices unless the summary file says otherwise). */
export function loadSeattleSlices(dir = DEFAULT_DATA_DIR): SliceStack {
  const summary = loadNetLatency('seattle', dir);
  const path = join(dir, 'netlatency', 'seattle_slices_ms.u16.gz');
  if (!existsSync(path)) throw new MeasuredDataError(`${path}: no such file (see docs/SIMULATION.md)`);
  let bytes: Uint8Array;
  try {
    bytes = gunzipSync(readFileSync(path));
  } catch (e) {
    throw new MeasuredDataError(`${path}: not gzip (${(e as Error).message})`);
  }
  return parseSlices(bytes, summary.n, summary.slices);
}

/**
 * A progress callback that writes `phase N% (T s)` once per tenth of each phase, through `write`
 * (T from `elapsed`, in seconds).
 */
export function tenthsProgress(
  write: (line: string) => void,
  elapsed: () => number,
): (phase: string, done: number, total: number) => void {
  const shown = new Map<string, number>();
  return (phase, done, total) => {
    const tenth = Math.floor((total > 0 ? done / total : 1) * 10);
    if (shown.get(phase) === tenth) return;
    shown.set(phase, tenth);
    write(`${phase} ${tenth * 10}% (${elapsed().toFixed(0)} s)\n`);
  };
}
