/**
 * The soak run's command line (`npm run soak -- --minutes N [--seed N] [--out DIR]`), parsed and
 * validated by one pure function so the script only prints what it says. Flags take a value as
 * `--flag N` or `--flag=N`. Imports nothing.
 */

export interface SoakArgs {
  /** Length of the run in minutes (fractions allowed, e.g. 0.5). */
  readonly minutes: number;
  /** Seed of the churn's random choices. */
  readonly seed: number;
  /** Folder for soak.json and soak.svg. */
  readonly out: string;
}

export type ParsedSoakArgs =
  | { readonly ok: true; readonly help: false; readonly value: SoakArgs }
  | { readonly ok: true; readonly help: true }
  | { readonly ok: false; readonly error: string };

export const SOAK_LIMITS = { minutes: [0.5, 1440], seed: [0, 4_294_967_295] } as const;

export const SOAK_USAGE = `usage: npm run soak -- --minutes N [--seed N] [--out DIR]
  Runs three relays with a backbone, their own redis-server and the Node edge under churn
  (allocations, TCP connections, calls, relay SIGKILL, Redis and edge restarts) while steady calls
  run; samples memory, fds, sockets and steady-call loss; exits 1 if something grows or loses.
  --minutes N  length of the run, ${SOAK_LIMITS.minutes[0]}..${SOAK_LIMITS.minutes[1]} (required)
  --seed N     random seed, 0..${SOAK_LIMITS.seed[1]} (default 1)
  --out DIR    where soak.json and soak.svg go (default soak-report)`;

export function parseSoakArgs(argv: readonly string[]): ParsedSoakArgs {
  let minutes: number | undefined;
  let seed = 1;
  let out = 'soak-report';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return { ok: true, help: true };
    if (!arg.startsWith('--')) return { ok: false, error: `unexpected argument '${arg}'` };
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    if (name !== 'minutes' && name !== 'seed' && name !== 'out')
      return { ok: false, error: `unknown option --${name}` };
    let value = eq < 0 ? undefined : arg.slice(eq + 1);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value.startsWith('--'))
        return { ok: false, error: `--${name} needs a value` };
    }
    if (name === 'out') {
      if (value === '') return { ok: false, error: '--out needs a folder' };
      out = value;
      continue;
    }
    const [lo, hi] = SOAK_LIMITS[name];
    const pattern = name === 'minutes' ? /^\d+(\.\d+)?$/ : /^\d+$/;
    const n = pattern.test(value) ? Number(value) : Number.NaN;
    if (!(n >= lo && n <= hi))
      return {
        ok: false,
        error: `--${name} must be ${name === 'seed' ? 'an integer ' : 'a number '}from ${lo} to ${hi}, got '${value}'`,
      };
    if (name === 'minutes') minutes = n;
    else seed = n;
  }
  if (minutes === undefined) return { ok: false, error: '--minutes is required (try --minutes 2)' };
  return { ok: true, help: false, value: { minutes, seed, out } };
}
