/**
 * The edge's configuration: one pure function from the environment (Node's process.env or the
 * Workers bindings) to a typed, validated EdgeConfig, plus the help text and the loggable form.
 * Node and Workers read the same table (workers/config-options.ts), so they agree on every
 * default and every check. An empty variable counts as unset. Errors are one line naming the
 * variable. Nothing here exits or reads files: workers/node.ts prints the error and exits with
 * code 2; workers/cloudflare.ts logs it and answers 500 problems. Runtime-free.
 */
import { OPTIONS, OptionError, type OptionSpec, type ParsedOptions, type Runtime } from './config-options.ts';

export type { GeoHeaders, Runtime } from './config-options.ts';
export { OptionError } from './config-options.ts';

export interface EdgeConfig extends Omit<ParsedOptions, 'corsOrigins'> {
  /** Browser origins allowed to call /v1; undefined: no CORS. */
  readonly corsOrigins: readonly string[] | '*' | undefined;
}

export type ConfigResult =
  | { ok: true; config: EdgeConfig }
  | { ok: true; help: string }
  | { ok: false; error: string };

type Key = keyof typeof OPTIONS;
const SPECS = Object.entries(OPTIONS) as [Key, OptionSpec][];

/** The variable (Node) or binding (Workers) an option is read from. */
const nameOn = (spec: OptionSpec, runtime: Runtime): string =>
  runtime === 'workers' ? (spec.binding ?? spec.env) : spec.env;

const splitList = (s: string): string[] =>
  s
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item !== '');

export function parseEdgeConfig(
  runtime: Runtime,
  env: Readonly<Record<string, unknown>>,
  argv: readonly string[] = [],
): ConfigResult {
  if (argv.some((a) => a === '--help' || a === '-h')) return { ok: true, help: edgeHelpText() };
  const stray = argv[0];
  if (stray !== undefined)
    return {
      ok: false,
      error: `unexpected argument "${stray}": the edge reads its environment (see --help)`,
    };
  try {
    return { ok: true, config: finish(readOptions(runtime, env)) };
  } catch (err) {
    if (err instanceof OptionError) return { ok: false, error: err.message };
    throw err;
  }
}

function readOptions(runtime: Runtime, env: Readonly<Record<string, unknown>>): ParsedOptions {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of SPECS) {
    const name = nameOn(spec, runtime);
    const given = spec.runtimes.includes(runtime) ? env[name] : undefined;
    const raw = typeof given === 'string' && given.trim() !== '' ? given.trim() : undefined;
    if (raw === undefined && spec.required?.includes(runtime))
      throw new OptionError(`${name}: required, ${spec.help}`);
    const source = raw ?? spec.default;
    const items = source === undefined ? [] : spec.kind === 'list' ? splitList(source) : [source];
    const values = items.map((item) => {
      try {
        return spec.parse(item);
      } catch (err) {
        if (err instanceof OptionError) throw new OptionError(`${name}: ${err.message}`);
        throw err;
      }
    });
    if (spec.kind === 'list' && spec.required?.includes(runtime) && values.length === 0)
      throw new OptionError(`${name}: required, ${spec.help}`);
    out[key] = spec.kind === 'list' ? values : values[0];
  }
  // Each entry was produced by its own spec's parser and kind, which is what ParsedOptions spells out.
  return out as ParsedOptions;
}

/** Checks that span several options. */
function finish(v: ParsedOptions): EdgeConfig {
  const { corsOrigins, ...rest } = v;
  if (corsOrigins.includes('*') && corsOrigins.length > 1)
    throw new OptionError('EDGE_CORS_ORIGINS: * allows every origin; give it alone or list origins');
  return {
    ...rest,
    corsOrigins: corsOrigins.length === 0 ? undefined : corsOrigins[0] === '*' ? '*' : corsOrigins,
  };
}

export function edgeHelpText(): string {
  const lines = [
    'Usage: npm run edge            (the Node edge; on Workers the same names are wrangler bindings)',
    '',
    'The edge answers POST /v1/allocate and /v1/measurements. It is configured by environment',
    'variables (Workers: bindings, named in parentheses where they differ); an empty one counts',
    'as unset. Lists are comma-separated. A bad value stops the Node edge with one line, exit 2.',
    '',
    'Environment:',
  ];
  for (const [, spec] of SPECS) {
    const on = spec.runtimes.map((r) => (r === 'node' ? 'Node' : 'Workers'));
    const facts = [on.join(', ')];
    if (spec.required)
      facts.push(
        `required on ${spec.required.map((r) => (r === 'node' ? 'Node' : 'Workers')).join(' and ')}`,
      );
    if (spec.default !== undefined) facts.push(`default ${spec.default}`);
    lines.push(`  ${spec.env}${spec.binding ? ` (${spec.binding})` : ''} ${spec.arg}`);
    lines.push(`      ${spec.help} [${facts.join('; ')}]`);
  }
  lines.push('  --help, -h', '      print this help and exit', '');
  return lines.join('\n');
}

/** The configuration as it may be logged: secrets read <redacted>, CIDRs as text. */
export function redactEdgeConfig(config: EdgeConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  for (const [key, spec] of SPECS) {
    const display = spec.display;
    const value = out[key];
    if (!display || value === undefined) continue;
    out[key] = Array.isArray(value)
      ? value.map((item) => display.call(spec, item))
      : display.call(spec, value);
  }
  return out;
}
