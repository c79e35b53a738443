/**
 * The SDK's one error class. Every call that talks to the edge rejects with an `EdgeError` whose
 * `code` says what went wrong: the edge answered outside 2xx (`ERR_EDGE_HTTP`, with the problem
 * JSON's fields, RFC 9457, and Retry-After in seconds), the request never got an answer
 * (`ERR_EDGE_NETWORK`), the time budget ran out (`ERR_EDGE_TIMEOUT`), the caller's AbortSignal
 * fired (`ERR_EDGE_ABORTED`), or a 2xx body was not the JSON expected (`ERR_EDGE_RESPONSE`). The
 * underlying error travels as `cause`. Runs in browsers and Node: no node:* imports.
 */

export type EdgeErrorCode =
  | 'ERR_EDGE_HTTP'
  | 'ERR_EDGE_NETWORK'
  | 'ERR_EDGE_TIMEOUT'
  | 'ERR_EDGE_ABORTED'
  | 'ERR_EDGE_RESPONSE';

export interface EdgeErrorFields {
  /** HTTP status, for ERR_EDGE_HTTP and ERR_EDGE_RESPONSE. */
  readonly status?: number;
  /** The problem's `type` URI (`about:blank` when the edge names none). */
  readonly type?: string;
  readonly title?: string;
  readonly detail?: string;
  /** Seconds to wait before asking again, from Retry-After (RFC 9110 §10.2.3), when the edge sent it. */
  readonly retryAfter?: number;
  readonly cause?: unknown;
}

export class EdgeError extends Error {
  override readonly name = 'EdgeError';
  readonly status: number | undefined;
  readonly type: string | undefined;
  readonly title: string | undefined;
  readonly detail: string | undefined;
  readonly retryAfter: number | undefined;
  constructor(
    readonly code: EdgeErrorCode,
    message: string,
    fields: EdgeErrorFields = {},
  ) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    this.status = fields.status;
    this.type = fields.type;
    this.title = fields.title;
    this.detail = fields.detail;
    this.retryAfter = fields.retryAfter;
  }
}

/**
 * Retry-After as seconds from `nowMs`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined
 * when absent or unreadable. A date in the past is 0.
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v);
  const at = Date.parse(v);
  if (!/[a-z]/i.test(v) || Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** The EdgeError for a non-2xx answer, with the problem JSON's fields when the body has them. */
export async function httpError(res: Response, what: string): Promise<EdgeError> {
  let problem: { type?: unknown; title?: unknown; detail?: unknown } = {};
  try {
    const body: unknown = JSON.parse(await res.text());
    if (typeof body === 'object' && body !== null) problem = body;
  } catch {
    // not JSON: the status alone says what happened
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const title = str(problem.title);
  const detail = str(problem.detail);
  const retryAfter = parseRetryAfter(res.headers.get('retry-after'), Date.now());
  const text = [title, detail].filter(Boolean).join(': ');
  return new EdgeError('ERR_EDGE_HTTP', `${what}: edge answered ${res.status}${text ? ` ${text}` : ''}`, {
    status: res.status,
    type: str(problem.type) ?? (title !== undefined ? 'about:blank' : undefined),
    title,
    detail,
    retryAfter,
  });
}

/**
 * The EdgeError for a fetch that threw: the caller's signal (ERR_EDGE_ABORTED), the time budget
 * (ERR_EDGE_TIMEOUT) or the network (ERR_EDGE_NETWORK).
 */
export function fetchError(err: unknown, what: string, caller: AbortSignal | undefined): EdgeError {
  if (err instanceof EdgeError) return err;
  if (caller?.aborted)
    return new EdgeError('ERR_EDGE_ABORTED', `${what}: aborted`, { cause: caller.reason ?? err });
  const name = (err as { name?: unknown } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError')
    return new EdgeError('ERR_EDGE_TIMEOUT', `${what}: no answer in time`, { cause: err });
  return new EdgeError('ERR_EDGE_NETWORK', `${what}: the edge could not be reached`, { cause: err });
}

/** Rejects at once with ERR_EDGE_ABORTED when the caller's signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new EdgeError('ERR_EDGE_ABORTED', `${what}: aborted`, { cause: signal.reason });
}

/** Both signals in one (AbortSignal.any, Chromium 116+, Node 20.3+); the budget alone when no caller. */
export function withCaller(budget: AbortSignal, caller: AbortSignal | undefined): AbortSignal {
  return caller ? AbortSignal.any([budget, caller]) : budget;
}

/**
 * POSTs JSON to the edge and reads its JSON answer, every failure as an EdgeError. `signal` is
 * the caller's; `timeoutMs` bounds this one request.
 */
export async function postJson<T>(
  doFetch: typeof fetch,
  url: string,
  headers: Record<string, string>,
  body: unknown,
  o: { readonly signal?: AbortSignal | undefined; readonly timeoutMs: number; readonly what: string },
): Promise<T> {
  throwIfAborted(o.signal, o.what);
  const signal = withCaller(AbortSignal.timeout(Math.max(1, Math.ceil(o.timeoutMs))), o.signal);
  let res: Response;
  try {
    res = await doFetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal });
  } catch (err) {
    throw fetchError(err, o.what, o.signal);
  }
  if (!res.ok) {
    const err = await httpError(res, o.what);
    // reading the problem body may have been cut short by the caller
    throwIfAborted(o.signal, o.what);
    throw err;
  }
  try {
    return (await res.json()) as T;
  } catch (err) {
    if (signal.aborted) throw fetchError(err, o.what, o.signal);
    throw new EdgeError('ERR_EDGE_RESPONSE', `${o.what}: the answer is not JSON`, {
      status: res.status,
      cause: err,
    });
  }
}
