/**
 * The simulation's command line, parsed and validated into a config: one pure function, so the
 * CLI only prints what it says. Flags take a value as `--flag N` or `--flag=N`.
 */
import { DEFAULT_SIM_CONFIG, type SimConfig, simConfig } from './config.ts';

export interface SimArgs {
  readonly config: SimConfig;
  /** Folder for the report. */
  readonly out: string;
}

export type ParsedArgs =
  | { readonly ok: true; readonly help: false; readonly value: SimArgs }
  | { readonly ok: true; readonly help: true }
  | { readonly ok: false; readonly error: string };

const LIMITS = {
  relays: [2, 2000],
  prefixes: [1, 10_000_000],
  allocations: [1, 100_000_000],
  calls: [1, 10_000_000],
  days: [1, 365],
  seed: [0, 4_294_967_295],
} as const;

type Numeric = keyof typeof LIMITS;

export const USAGE = `usage: npm run sim -- [--relays N] [--prefixes N] [--allocations N] [--calls N] [--days N] [--seed N] [--out DIR]
  --relays N       relay sites at the largest metros (default ${DEFAULT_SIM_CONFIG.scale.relays})
  --prefixes N     client network prefixes (default ${DEFAULT_SIM_CONFIG.scale.prefixes})
  --allocations N  allocation requests (default ${DEFAULT_SIM_CONFIG.scale.allocations})
  --calls N        two-party calls (default ${DEFAULT_SIM_CONFIG.scale.calls})
  --days N         simulated days of allocations (default ${DEFAULT_SIM_CONFIG.scale.days})
  --seed N         random seed, 0..4294967295 (default ${DEFAULT_SIM_CONFIG.seed})
  --out DIR        report folder (default sim-report)`;

export function parseSimArgs(argv: readonly string[]): ParsedArgs {
  const values: Partial<Record<Numeric, number>> = {};
  let out = 'sim-report';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { ok: true, help: true };
    if (!arg.startsWith('--')) return { ok: false, error: `unexpected argument '${arg}'` };
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    let value = eq < 0 ? undefined : arg.slice(eq + 1);
    if (name !== 'out' && !(name in LIMITS)) return { ok: false, error: `unknown option --${name}` };
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) return { ok: false, error: `--${name} needs a value` };
    }
    if (name === 'out') {
      if (value === '') return { ok: false, error: '--out needs a folder name' };
      out = value;
      continue;
    }
    const key = name as Numeric;
    const [lo, hi] = LIMITS[key];
    const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < lo || n > hi) {
      return { ok: false, error: `--${name} must be a whole number from ${lo} to ${hi}, got '${value}'` };
    }
    values[key] = n;
  }
  const { seed, ...scale } = values;
  return { ok: true, help: false, value: { config: simConfig({ seed, scale }), out } };
}
