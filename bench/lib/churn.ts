/**
 * Calls that start and end beside a measured run (bench/turn-relay.ts, scenario churn@50), in a
 * process of their own: setting up allocations costs the load tool's event loop milliseconds
 * (sockets, challenges, integrity), and in the measuring process that stall would be timed as the
 * server's. This file is both halves: `startChurn` (the bench's side) spawns it, and run as a
 * script it makes a lot of allocations every `everyMs`, has them send for `holdMs` and ends them,
 * until SIGTERM, when it lets the lot in progress end its allocations and exits.
 *
 *   node --import tsx bench/lib/churn.ts '<LoadOptions and Churn as JSON>'
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type LoadOptions, runLoad } from './turn-load.ts';

/** Lots of allocations that come and go: `allocations` new ones every `everyMs`. */
export interface Churn {
  readonly allocations: number;
  readonly everyMs: number;
  /** How long each lot sends (at the measured run's rate) before it ends its allocations. */
  readonly holdMs: number;
}

interface ChurnStart {
  readonly load: Omit<LoadOptions, 'allocations' | 'durationMs'>;
  readonly churn: Churn;
}

const READY = 'churn: ready';

/**
 * Starts the churn process and resolves once it is running; `stop` asks it to end (the lot in
 * progress ends its allocations first) and kills it if it has not within 5 s.
 */
export async function startChurn(load: LoadOptions, churn: Churn): Promise<{ stop(): Promise<void> }> {
  const { allocations: _a, durationMs: _d, ...rest } = load;
  const arg: ChurnStart = { load: rest, churn };
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), JSON.stringify(arg)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(READY)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`churn process exited with ${code} before it started`)));
  });
  return {
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const late = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(late);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

async function main(arg: string): Promise<void> {
  const { load, churn } = JSON.parse(arg) as ChurnStart;
  let stopping = false;
  let wake = (): void => {};
  process.once('SIGTERM', () => {
    stopping = true;
    wake();
  });
  process.stdout.write(`${READY}\n`);
  const t0 = performance.now();
  for (let k = 0; !stopping; k++) {
    await new Promise<void>((r) => {
      wake = r;
      setTimeout(r, Math.max(0, t0 + k * churn.everyMs - performance.now()));
    });
    if (!stopping) await runLoad({ ...load, allocations: churn.allocations, durationMs: churn.holdMs });
  }
  process.exit(0);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv[2] ?? '').catch((err: unknown) => {
    process.stderr.write(`churn: ${(err as Error).message}\n`);
    process.exit(2);
  });
}
