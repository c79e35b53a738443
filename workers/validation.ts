/**
 * How the edge says what is wrong with a request: zod's issues (workers/schemas.ts) become one
 * sentence for the client, `probes[0].rttMs must be at most 10000`, answered as RFC 9457 problem
 * JSON (validJson for bodies, the app's defaultHook for app.openapi routes); never zod's own
 * dump. Runtime-free: the Workers bundle imports it.
 * Must not import relay/.
 *
 * Importing this module sets zod's process-wide error map (z.config): every schema's issues read
 * as these sentences, while a message given in a schema itself (a complete sentence) wins.
 */
import { z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { BODY_READER, type BoundBodyReader, webBodyReader } from './body.ts';
import { problem } from './problems.ts';

/** The limit when no app set a reader (validJson mounted on its own): the edge's default. */
const DEFAULT_LIMIT = 16_384;

type Issue = z.core.$ZodRawIssue;

/** `probes[0].rttMs`; `the body` for the root. */
export function pathText(path: readonly PropertyKey[] | undefined): string {
  if (!path || path.length === 0) return 'the body';
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

const plural = (n: number | bigint, one: string) => (n === 1 ? one : `${one}s`);

/** The sentence for one issue; its path is complete when zod finalises the issue. */
export function sentence(iss: Issue): string {
  const path = (iss.path ?? []) as PropertyKey[];
  const where = pathText(path);
  switch (iss.code) {
    case 'invalid_type': {
      if (iss.input === undefined) return `${String(path.at(-1) ?? 'the body')} is required`;
      switch (iss.expected) {
        case 'object':
          return `${where} must be a JSON object`;
        case 'array':
          return `${where} must be an array`;
        case 'string':
          return `${where} must be a string`;
        case 'boolean':
          return `${where} must be true or false`;
        case 'int':
          return typeof iss.input === 'number'
            ? `${where} must be a whole number`
            : `${where} must be a number`;
        default:
          return `${where} must be a ${String(iss.expected)}`;
      }
    }
    case 'too_small':
      if (iss.origin === 'array') return `${where} must hold at least ${iss.minimum} item(s)`;
      if (iss.origin === 'string') return `${where} must have at least ${iss.minimum} character(s)`;
      return `${where} must be at least ${iss.minimum}`;
    case 'too_big':
      if (iss.origin === 'array')
        return `${where} may hold at most ${iss.maximum} ${plural(iss.maximum, 'item')}`;
      if (iss.origin === 'string') return `${where} may have at most ${iss.maximum} characters`;
      return `${where} must be at most ${iss.maximum}`;
    case 'invalid_format':
      if (iss.format === 'regex' && typeof iss.pattern === 'string')
        return `${where} must match ${iss.pattern.replace(/^\/|\/[a-z]*$/g, '')}`;
      return `${where} must be a valid ${iss.format}`;
    case 'invalid_value':
      return `${where} must be one of ${iss.values.map(String).join(', ')}`;
    case 'unrecognized_keys': {
      const shape = (iss.inst as { _zod?: { def?: { shape?: object } } } | undefined)?._zod?.def?.shape;
      const known = shape ? ` (known: ${Object.keys(shape).join(', ')})` : '';
      return `unknown field ${iss.keys.join(', ')}${known}`;
    }
    default:
      return `${where} is not valid`;
  }
}

z.config({ customError: sentence });

/** The first problem of a failed parse: unknown fields first, as a reader would fix them. */
export function firstProblem(error: z.ZodError): string {
  const issues = error.issues;
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0];
  return issue?.message ?? 'the body is not valid';
}

/** The routes' validation hook: a failed parse answers 422 problem JSON with one sentence. */
export function invalidRequest(
  result: { success: true } | { success: false; error: z.ZodError },
  c: Context,
): Response | undefined {
  if (result.success) return undefined;
  return problem(c, 422, 'Invalid request', firstProblem(result.error));
}

/**
 * The body gate and its validation in one step: 415 unless JSON, 413 past the body limit, 400 on
 * malformed JSON, {} for an empty body, 422 with one sentence when `schema` refuses it; the parsed
 * value is the handler's `c.req.valid('json')`. Cheaper per request than the library's chain of
 * middleware (media type gate, hono/validator, an async parse and the hook). The body is read by
 * the reader the app put on the context (workers/body.ts), else from the standard stream.
 */
export function validJson<S extends z.ZodType>(
  schema: S,
): MiddlewareHandler<
  { Variables: object },
  string,
  { in: { json: z.input<S> }; out: { json: z.output<S> } }
> {
  return async (c, next) => {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/json\s*(;|$)/i.test(type))
      return problem(c, 415, 'Unsupported media type', 'send the body as application/json');
    const read = (c.get as (key: string) => BoundBodyReader | undefined)(BODY_READER);
    const text = await (read ? read() : webBodyReader(c, DEFAULT_LIMIT));
    let value: unknown;
    try {
      value = text.trim() === '' ? {} : JSON.parse(text);
    } catch {
      return problem(c, 400, 'Malformed JSON', 'the body is not valid JSON');
    }
    const r = schema.safeParse(value);
    if (!r.success) return problem(c, 422, 'Invalid request', firstProblem(r.error));
    c.req.addValidatedData('json', r.data as object);
    await next();
  };
}
