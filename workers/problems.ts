/**
 * The edge's errors as problem JSON (RFC 9457), from one place: routes throw `EdgeProblem` (or
 * anything else) and the app's single `onError` turns it into a response. A problem's detail is
 * written for the client and never carries an internal message: the cause (a Redis client error,
 * a stack) goes to the operator through `report`, not over the wire. Runtime-free: the Workers
 * bundle imports this file. Must not import relay/.
 */
import type { Context, TypedResponse } from 'hono';
import { HTTPException } from 'hono/http-exception';

export type ProblemStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 500 | 503;

/** A problem a route decided on; `cause` is for the operator's log only. */
export class EdgeProblem extends Error {
  override readonly name = 'EdgeProblem';
  readonly code = 'ERR_EDGE_PROBLEM';
  constructor(
    readonly status: ProblemStatus,
    readonly title: string,
    readonly detail: string,
    readonly headers: Record<string, string> = {},
    options?: { cause?: unknown },
  ) {
    super(`${status} ${title}: ${detail}`, options);
  }
}

/** A dependency (directory, learned map, key store) failed: 503, Retry-After, the cause kept back. */
export const unavailable = (title: string, cause: unknown): EdgeProblem =>
  new EdgeProblem(
    503,
    title,
    'the edge cannot reach its coordinator just now; retry shortly',
    { 'retry-after': '5' },
    { cause },
  );

/** The body of every problem answer (workers/answers.ts publishes its schema). */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
}

export function problem<S extends ProblemStatus>(
  c: Context,
  status: S,
  title: string,
  detail: string,
  headers: Record<string, string> = {},
): Response & TypedResponse<ProblemBody, S, 'json'> {
  const body: ProblemBody = { type: 'about:blank', title, status, detail };
  return c.json(body, status, { 'content-type': 'application/problem+json', ...headers });
}

export const bodyTooLarge = (limit: number): EdgeProblem =>
  new EdgeProblem(413, 'Body too large', `the body may be at most ${limit} bytes`);

/**
 * The one error handler: an EdgeProblem as itself, Hono's HTTPException by its status, anything
 * else as a bare 500. Every cause is reported to the operator; none reaches the client.
 */
export function errorResponse(
  err: unknown,
  c: Context,
  report: (err: unknown, where: string) => void,
): Response {
  if (err instanceof EdgeProblem) {
    if (err.cause !== undefined) report(err.cause, `${c.req.method} ${c.req.path}`);
    return problem(c, err.status, err.title, err.detail, err.headers);
  }
  if (err instanceof HTTPException && err.status === 413) {
    return problem(c, 413, 'Body too large', 'the body is larger than the edge accepts');
  }
  // Hono's body validator found malformed JSON: say so, not what the parser said.
  if (err instanceof HTTPException && err.status === 400 && err.message.startsWith('Malformed JSON')) {
    return problem(c, 400, 'Malformed JSON', 'the body is not valid JSON');
  }
  if (err instanceof HTTPException && err.status === 415) {
    return problem(c, 415, 'Unsupported media type', 'send the body as application/json');
  }
  if (err instanceof HTTPException && err.status < 500) {
    return problem(c, 400, 'Bad request', 'the edge could not read this request');
  }
  report(err, `${c.req.method} ${c.req.path}`);
  return problem(c, 500, 'Internal error', 'the edge failed to answer this request; retry shortly');
}
